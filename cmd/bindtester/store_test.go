package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot/slackfake"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

// storeFailureEnv is a complete setup for run, console and the admin commands,
// every URL on 127.0.0.1, with db as BINDTESTER_DB.
func storeFailureEnv(t *testing.T, db string) map[string]string {
	t.Helper()
	sl := slackfake.NewServer(e2eBotToken, e2eAppToken)
	t.Cleanup(sl.Close)
	wx := wechattest.NewServer()
	t.Cleanup(wx.Close)
	wx.AddApp(testAppID, testAppSecret)
	return map[string]string{
		"SLACK_APP_TOKEN":   e2eAppToken,
		"SLACK_BOT_TOKEN":   e2eBotToken,
		"SLACK_API_URL":     sl.URL,
		"WECHAT_API_BASE":   wx.URL,
		"WECHAT_APP_SECRET": testAppSecret,
		"BINDTESTER_APPID":  testAppID,
		"BINDTESTER_ADMINS": "U0ADMIN",
		"BINDTESTER_DB":     db,
	}
}

// runFails runs args and returns its error, failing the test if it succeeds or hangs.
func runFails(t *testing.T, e map[string]string, args ...string) (output string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, env(e), strings.NewReader("help\nquit\n"), &out, &errb) }()
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("%v did not return", args)
	}
	if err == nil {
		t.Fatalf("%v succeeded with a bad database; stdout:\n%s", args, out.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("%v ran until its context ended instead of failing at startup: %v", args, err)
	}
	t.Logf("%v: %v", args, err)
	return out.String() + errb.String(), err
}

var storeCommands = [][]string{
	{"run"},
	{"console"},
	{"console", "--user", "U0ADMIN"},
	{"audit", "--admin"},
	{"bind", "--admin", testAppID, "tester_one"},
}

func TestStartupFailsOnAGarbageDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "garbage.db")
	garbage := bytes.Repeat([]byte("this is not a SQLite database\x00\xff"), 200)
	if err := os.WriteFile(db, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range storeCommands {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			e := storeFailureEnv(t, db) // console with credentials: the real database
			out, err := runFails(t, e, args...)
			if !strings.Contains(err.Error(), "BINDTESTER_DB") || !strings.Contains(err.Error(), db) {
				t.Errorf("error = %v, want it to name BINDTESTER_DB and %s", err, db)
			}
			if !strings.Contains(err.Error(), "not a SQLite database") {
				t.Errorf("error = %v, want it to say the file is not a database", err)
			}
			assertNoSecrets(t, []string{e2eBotToken, e2eAppToken, testAppSecret}, map[string]string{"error": err.Error(), "output": out})
			if got, _ := os.ReadFile(db); !bytes.Equal(got, garbage) {
				t.Error("the garbage file was changed")
			}
		})
	}
}

func TestStartupFailsWhenTheDatabaseDirectoryIsMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no", "such", "dir")
	db := filepath.Join(dir, "bindtester.db")
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	for _, withKey := range []bool{false, true} {
		for _, args := range storeCommands {
			name := strings.Join(args, " ")
			if withKey {
				name += " with BINDTESTER_STORE_KEY"
			}
			t.Run(name, func(t *testing.T) {
				e := storeFailureEnv(t, db)
				if withKey {
					e["BINDTESTER_STORE_KEY"] = key
				}
				out, err := runFails(t, e, args...)
				if !strings.Contains(err.Error(), dir) {
					t.Errorf("error = %v, want it to name %s", err, dir)
				}
				if !strings.Contains(err.Error(), "BINDTESTER_DB") || !strings.Contains(err.Error(), "does not exist") {
					t.Errorf("error = %v, want it to name BINDTESTER_DB and say the directory does not exist", err)
				}
				assertNoSecrets(t, []string{e2eBotToken, e2eAppToken, testAppSecret, key}, map[string]string{"error": err.Error(), "output": out})
				if _, err := os.Stat(filepath.Dir(dir)); err == nil {
					t.Errorf("%s was created", filepath.Dir(dir))
				}
			})
		}
	}
}

func TestCheckConfigStoreKey(t *testing.T) {
	tests := []struct{ name, key string }{
		{"not base64", "short"},
		{"too short", base64.StdEncoding.EncodeToString([]byte("sixteen-byte-key"))},
		{"too long", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 48))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := withDB(t, merge(goodEnv(), map[string]string{"BINDTESTER_STORE_KEY": tt.key}))
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), []string{"check-config"}, env(e), nil, &stdout, &stderr)
			if err == nil {
				t.Fatalf("check-config passed with BINDTESTER_STORE_KEY=%q:\n%s", tt.key, stdout.String())
			}
			if !hasProblem(problemLines(err), "BINDTESTER_STORE_KEY") {
				t.Errorf("no problem names BINDTESTER_STORE_KEY:\n%v", err)
			}
			assertNoSecrets(t, append(testSecrets, tt.key), map[string]string{"error": err.Error(), "stdout": stdout.String(), "stderr": stderr.String()})
		})
	}
	t.Run("a good key passes", func(t *testing.T) {
		key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
		e := withDB(t, merge(goodEnv(), map[string]string{"BINDTESTER_STORE_KEY": key}))
		var stdout bytes.Buffer
		if err := run(t.Context(), []string{"check-config"}, env(e), nil, &stdout, &bytes.Buffer{}); err != nil {
			t.Fatalf("check-config = %v", err)
		}
		assertNoSecrets(t, []string{key}, map[string]string{"stdout": stdout.String()})
	})
}

// TestStoreKeyFileIsReused: without BINDTESTER_STORE_KEY, the key file beside the
// database is created once (owner-only) and reused, so a later command can find
// grants an earlier one made; a different key is refused before anything is done.
func TestStoreKeyFileIsReused(t *testing.T) {
	fake, e := adminEnv(t)
	db := e["BINDTESTER_DB"]
	if _, _, err := cli(t, e, "bind", "--admin", testAppID, "tester_one"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(db + ".key")
	if err != nil {
		t.Fatalf("no key file beside the database: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(db)
	if bytes.Contains(raw, []byte("tester_one")) {
		t.Error("the database file holds the WeChat ID in plain text")
	}

	// Another key could not find the grant by WeChat ID: it is refused outright.
	otherKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
	other := merge(e, map[string]string{"BINDTESTER_STORE_KEY": otherKey})
	out, _, err := cli(t, other, "unbind", "--user", "U0BINDER", testAppID, "tester_one")
	if err == nil || !strings.Contains(err.Error(), "BINDTESTER_STORE_KEY") || !strings.Contains(err.Error(), "the store key does not match this database") {
		t.Errorf("unbind with another key = %v, want an error saying BINDTESTER_STORE_KEY does not match", err)
	}
	assertNoSecrets(t, []string{otherKey}, map[string]string{"stdout": out})
	if c := fake.Calls("/wxa/unbind_tester"); c != 0 {
		t.Errorf("with another key WeChat saw %d unbind calls", c)
	}

	out, _, err = cli(t, e, "unbind", "--admin", testAppID, "tester_one")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "no longer an experiencer") || len(fake.Experiencers(testAppID)) != 0 {
		t.Errorf("unbind with the key file:\n%s", out)
	}
	// The grant was found (by the key file's hash), so it is ended: mine-style listing is empty.
	out, _, err = cli(t, e, "testers", "--admin", testAppID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "0 of 15") || strings.Contains(out, "(#1)") {
		t.Errorf("testers after unbind:\n%s", out)
	}
}

// The sandbox console never touches BINDTESTER_DB: its fake WeChat would "unbind"
// real grants. It says so and keeps its records in a temporary database.
func TestSandboxConsoleIgnoresTheDatabaseSetting(t *testing.T) {
	db := filepath.Join(t.TempDir(), "real.db")
	garbage := []byte("a real database stands here")
	if err := os.WriteFile(db, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err := run(t.Context(), []string{"console"}, env(map[string]string{"BINDTESTER_DB": db}),
		strings.NewReader("demo my_wechat_id\nquit\n"), &out, &errb)
	if err != nil {
		t.Fatalf("console: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "BINDTESTER_DB is ignored") || !strings.Contains(out.String(), "Done:") {
		t.Errorf("output:\n%s", out.String())
	}
	if got, _ := os.ReadFile(db); !bytes.Equal(got, garbage) {
		t.Error("the sandbox wrote to BINDTESTER_DB")
	}
	if _, err := os.Stat(db + ".key"); err == nil {
		t.Error("the sandbox created a key file beside BINDTESTER_DB")
	}
}

// check-config looks at the database without changing it.
func TestCheckConfigChecksTheDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(db, []byte("not a database at all, not at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := storeFailureEnv(t, db)
	var out bytes.Buffer
	err := run(t.Context(), []string{"check-config"}, env(e), strings.NewReader(""), &out, &out)
	if err == nil || !strings.Contains(err.Error(), "BINDTESTER_DB") || !strings.Contains(err.Error(), db) {
		t.Errorf("check-config with a garbage database: %v", err)
	}
	e["BINDTESTER_DB"] = filepath.Join(t.TempDir(), "missing", "b.db")
	err = run(t.Context(), []string{"check-config"}, env(e), strings.NewReader(""), &out, &out)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("check-config with a missing folder: %v", err)
	}
	e["BINDTESTER_DB"] = filepath.Join(t.TempDir(), "new.db")
	if err := run(t.Context(), []string{"check-config"}, env(e), strings.NewReader(""), &out, &out); err != nil {
		t.Errorf("check-config with a new database: %v", err)
	}
	if _, err := os.Stat(e["BINDTESTER_DB"]); err == nil {
		t.Error("check-config created the database")
	}
}
