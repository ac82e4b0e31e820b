package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bindtester/bindtester/wechat"
)

const (
	tokApp   = "wx00000000000000aa"
	tokOther = "wx00000000000000bb"
)

func TestRefreshTokens(t *testing.T) {
	// Each step runs against the same store, in order; restart reopens it.
	type step struct {
		name    string
		seeds   map[string]string
		restart bool
		save    string // save this token for tokApp first
		want    string // RefreshToken(tokApp)
		wantErr bool   // want wechat.ErrNoCredentials
	}
	steps := []step{
		{name: "no seed and nothing stored", seeds: nil, wantErr: true},
		{name: "the seed when nothing is stored", seeds: map[string]string{tokApp: "seed-1"}, want: "seed-1"},
		{name: "a rotated token replaces the seed", seeds: map[string]string{tokApp: "seed-1"}, save: "rotated-2", want: "rotated-2"},
		{name: "the rotated token survives a restart", seeds: map[string]string{tokApp: "seed-1"}, restart: true, want: "rotated-2"},
		{name: "rotated again", seeds: map[string]string{tokApp: "seed-1"}, save: "rotated-3", want: "rotated-3"},
		{name: "without a seed the stored token", seeds: nil, want: "rotated-3"},
		{name: "a new seed wins", seeds: map[string]string{tokApp: "seed-4"}, restart: true, want: "seed-4"},
		{name: "and replaces what was stored", seeds: map[string]string{tokApp: "seed-4"}, restart: true, want: "seed-4"},
		{name: "tokens rotated from the new seed are kept", seeds: map[string]string{tokApp: "seed-4"}, save: "rotated-5", want: "rotated-5"},
		{name: "the new seed's rotation survives a restart", seeds: map[string]string{tokApp: "seed-4"}, restart: true, want: "rotated-5"},
		{name: "another app's seed does not count", seeds: map[string]string{tokApp: "seed-4", tokOther: "other-seed"}, want: "rotated-5"},
	}
	eachEngineDSN(t, func(t *testing.T, path string) {
		ctx := context.Background()
		outer := t // stores opened in a step live until the whole test ends
		s := openTest(outer, path, testKey)
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				if st.restart {
					s.Close()
					s = openTest(outer, path, testKey)
				}
				rt := s.RefreshTokens(st.seeds)
				if st.save != "" {
					if err := rt.SaveRefreshToken(ctx, tokApp, st.save); err != nil {
						t.Fatal(err)
					}
				}
				got, err := rt.RefreshToken(ctx, tokApp)
				if st.wantErr {
					var nc wechat.ErrNoCredentials
					if !errors.As(err, &nc) || nc.AppID != tokApp {
						t.Fatalf("RefreshToken = %q, %v; want ErrNoCredentials for %s", got, err, tokApp)
					}
					return
				}
				if err != nil || got != st.want {
					t.Fatalf("RefreshToken = %q, %v; want %q", got, err, st.want)
				}
			})
		}
		if got, err := s.RefreshTokens(map[string]string{tokOther: "other-seed"}).RefreshToken(ctx, tokOther); err != nil || got != "other-seed" {
			t.Errorf("the other app's token = %q, %v; want its own seed", got, err)
		}
	})
}

func TestRefreshTokensSeedsAreCopied(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		seeds := map[string]string{tokApp: "seed-1"}
		rt := s.RefreshTokens(seeds)
		seeds[tokApp] = "changed"
		if got, err := rt.RefreshToken(context.Background(), tokApp); err != nil || got != "seed-1" {
			t.Errorf("RefreshToken = %q, %v; want seed-1", got, err)
		}
	})
}

func TestRefreshTokenIsBoundToItsApp(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		rt := s.RefreshTokens(map[string]string{tokApp: "seed-a", tokOther: "seed-b"})
		for app, tok := range map[string]string{tokApp: "rotated-a", tokOther: "rotated-b"} {
			if err := rt.SaveRefreshToken(ctx, app, tok); err != nil {
				t.Fatal(err)
			}
		}
		// One app's sealed token copied into the other's row must not unseal.
		if _, err := s.db.ExecContext(ctx, `UPDATE refresh_tokens SET token_sealed =
		(SELECT token_sealed FROM refresh_tokens WHERE app_id = ?) WHERE app_id = ?`, tokApp, tokOther); err != nil {
			t.Fatal(err)
		}
		if got, err := rt.RefreshToken(ctx, tokOther); err == nil {
			t.Errorf("RefreshToken = %q, want an error: the token was sealed for another app", got)
		}
		if err := rt.SaveRefreshToken(ctx, tokApp, ""); err == nil {
			t.Error("SaveRefreshToken accepted an empty token")
		}
	})
}

func TestNoPlainRefreshTokenInFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bindtester.db")
	ctx := context.Background()
	s := openTest(t, path, testKey)
	const seed, rotated, reseeded = "refreshtoken@@@seed-0123456789", "refreshtoken@@@rotated-0123456789", "refreshtoken@@@reseeded-0123456789"
	if err := s.RefreshTokens(map[string]string{tokApp: seed}).SaveRefreshToken(ctx, tokApp, rotated); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RefreshTokens(map[string]string{tokOther: reseeded}).RefreshToken(ctx, tokOther); err != nil || got != reseeded {
		t.Fatalf("RefreshToken = %q, %v", got, err)
	}
	if err := s.RefreshTokens(map[string]string{tokOther: "x"}).SaveRefreshToken(ctx, tokOther, reseeded); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(path + "*")
	var total int
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		total += len(raw)
		for _, secret := range []string{seed, rotated, reseeded, "refreshtoken@@@"} {
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("%s holds %q in plain text", filepath.Base(f), secret)
			}
		}
	}
	if total == 0 {
		t.Fatal("database files are empty")
	}
	if got, err := s.RefreshTokens(map[string]string{tokApp: seed}).RefreshToken(ctx, tokApp); err != nil || got != rotated {
		t.Errorf("RefreshToken = %q, %v; want the rotated token", got, err)
	}
}
