package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain fails the run when a test left a database or key file in the package
// directory: every test must point BINDTESTER_DB at a temporary directory.
func TestMain(m *testing.M) {
	stray := []string{"bindtester.db", "bindtester.db.key", "bindtester.db-wal", "bindtester.db-shm"}
	before := map[string]bool{}
	for _, f := range stray {
		_, err := os.Stat(f)
		before[f] = err == nil
	}
	code := m.Run()
	for _, f := range stray {
		if _, err := os.Stat(f); err == nil && !before[f] {
			fmt.Fprintf(os.Stderr, "a test created %s in the package directory: set BINDTESTER_DB to a t.TempDir() path\n", f)
			code = 1
		}
	}
	os.Exit(code)
}

// env is a map-backed getenv: tests never read the real environment.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// withDB returns a copy of m whose BINDTESTER_DB is a new file in t.TempDir(),
// unless m names one already: no test may write ./bindtester.db.
func withDB(t testing.TB, m map[string]string) map[string]string {
	t.Helper()
	if _, ok := m["BINDTESTER_DB"]; ok {
		return merge(m, nil)
	}
	return merge(m, map[string]string{"BINDTESTER_DB": filepath.Join(t.TempDir(), "bindtester.db")})
}

// merge returns a copy of base with extra laid over it; an empty value unsets.
func merge(base, extra map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		if v == "" {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// assertNoSecrets fails when any text shows any of the secrets.
func assertNoSecrets(t *testing.T, secrets []string, texts map[string]string) {
	t.Helper()
	for name, text := range texts {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%s shows the secret %q:\n%s", name, s, text)
			}
		}
	}
}

func TestRunSimpleCommands(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    error // nil: success
		wantStdout []string
		wantStderr []string
		emptyOut   bool
	}{
		{name: "version", args: []string{"version"}, wantStdout: []string{"bindtester dev\n"}},
		{name: "--version", args: []string{"--version"}, wantStdout: []string{"bindtester dev"}},
		{name: "help", args: []string{"help"}, wantStdout: []string{"usage:", "bindtester console", "check-config", "bindtester version"}},
		{name: "-h", args: []string{"-h"}, wantStdout: []string{"usage:"}},
		{name: "--help", args: []string{"--help"}, wantStdout: []string{"usage:"}},
		{name: "unknown command", args: []string{"frobnicate"}, wantErr: errUsage,
			wantStderr: []string{"usage:", "bindtester console"}, emptyOut: true},
		{name: "unknown console flag", args: []string{"console", "--bogus"}, wantErr: errUsage,
			wantStderr: []string{"bogus"}, emptyOut: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), tt.args, env(withDB(t, nil)), strings.NewReader(""), &stdout, &stderr)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("run(%q) = %v, want nil", tt.args, err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("run(%q) = %v, want an error wrapping %v", tt.args, err, tt.wantErr)
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if tt.emptyOut && stdout.Len() != 0 {
				t.Errorf("stdout should be empty on a usage error, got:\n%s", stdout.String())
			}
		})
	}
	t.Run("unknown command names it", func(t *testing.T) {
		err := run(t.Context(), []string{"frobnicate"}, env(withDB(t, nil)), nil, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "frobnicate") {
			t.Errorf("error %v does not name the command", err)
		}
	})
}

func TestDotenv(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, ".env")
	if err := os.WriteFile(file, []byte("A=file\nB=file\n# a comment\nC=\"quoted value\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	realEnv := map[string]string{"A": "env", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := realEnv[k]; return v, ok }

	tests := []struct {
		name, file, key, want string
	}{
		{"real environment wins", file, "A", "env"},
		{"file fills the gaps", file, "B", "file"},
		{"quoted value", file, "C", "quoted value"},
		{"set but empty in the environment still wins", file, "EMPTY", ""},
		{"unknown", file, "NOPE", ""},
		{"missing file is fine: env", filepath.Join(dir, "missing.env"), "A", "env"},
		{"missing file is fine: unknown", filepath.Join(dir, "missing.env"), "B", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dotenv(tt.file, lookup)(tt.key); got != tt.want {
				t.Errorf("dotenv(%s)(%q) = %q, want %q", filepath.Base(tt.file), tt.key, got, tt.want)
			}
		})
	}
}

// ctxTimeout is a helper for tests that must not hang.
func ctxTimeout(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return ctx, cancel
}
