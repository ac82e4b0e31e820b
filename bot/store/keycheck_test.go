package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// makeV1Store creates a store at path as the first release left it: schema
// version 1, no key check; with wechatID a grant sealed with key.
func makeV1Store(t *testing.T, path string, key []byte, wechatID string) {
	t.Helper()
	ctx := context.Background()
	sqlDB, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	if err := applyMigration(ctx, db{DB: sqlDB}, 0); err != nil {
		t.Fatal(err)
	}
	if wechatID == "" {
		return
	}
	seal, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sqlDB.ExecContext(ctx, `INSERT INTO grants (app_id, wechat_hash, wechat_sealed, wechat_masked, userstr, requester,
		thread_channel, thread_parent_ts, thread_ts, created_at, expires_at, state)
		VALUES ('wxapp', ?, ?, ?, '', 'U1', '', '', '', ?, ?, 'active')`,
		seal.hash(wechatID), seal.seal(wechatID), bot.MaskWechatID(wechatID), unixNano(t0), unixNano(t0.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func keyCheckOf(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'meta'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables == 0 {
		return "" // version 1
	}
	v, err := readKeyCheck(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantWrongKey checks that Open of path with key fails, saying why and what to do.
func wantWrongKey(t *testing.T, path string, key []byte) {
	t.Helper()
	s, err := Open(context.Background(), path, key)
	if err == nil {
		s.Close()
		t.Fatal("Open with another key succeeded")
	}
	if !errors.Is(err, ErrWrongKey) {
		t.Errorf("error %v does not wrap ErrWrongKey", err)
	}
	for _, w := range []string{path, "the store key does not match this database", "restore the key file or BINDTESTER_STORE_KEY used to create it"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func TestOpenChecksTheKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bindtester.db")
	ctx := context.Background()
	s := openTest(t, path, testKey)
	g, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", ExpiresAt: t0.Add(time.Hour)}, "tester_one")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	check := keyCheckOf(t, path)
	if check == "" {
		t.Fatal("a new store has no key check")
	}

	wantWrongKey(t, path, otherKey)
	if got := keyCheckOf(t, path); got != check {
		t.Error("opening with another key changed the key check")
	}

	s = openTest(t, path, testKey)
	if got, err := s.FindGrant(ctx, "wxapp", "tester_one"); err != nil || got.ID != g.ID {
		t.Errorf("with the right key FindGrant = %+v, %v", got, err)
	}
}

func TestOpenChecksTheKeyOfAnEmptyStore(t *testing.T) {
	// Nothing is sealed yet, but the first key is the store's key all the same.
	path := filepath.Join(t.TempDir(), "bindtester.db")
	openTest(t, path, testKey).Close()
	wantWrongKey(t, path, otherKey)
	openTest(t, path, testKey).Close()
}

func TestVersion1StoreGetsAKeyCheck(t *testing.T) {
	tests := []struct {
		name     string
		sealedBy []byte // the key of the grant already stored; nil for none
		openWith []byte
		wantErr  bool
	}{
		{"empty store", nil, testKey, false},
		{"grant sealed with the same key", testKey, testKey, false},
		{"grant sealed with another key", otherKey, testKey, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bindtester.db")
			ctx := context.Background()
			wechatID := ""
			if tc.sealedBy != nil {
				wechatID = "tester_one"
			}
			makeV1Store(t, path, tc.sealedBy, wechatID)
			if keyCheckOf(t, path) != "" {
				t.Fatal("the version 1 store already has a key check")
			}

			if tc.wantErr {
				wantWrongKey(t, path, tc.openWith)
				if keyCheckOf(t, path) != "" {
					t.Error("a key check was written for the wrong key")
				}
				if v := userVersion(t, path); v != 1 {
					t.Errorf("a refused open migrated the store to version %d; the release before could no longer open it", v)
				}
				return
			}
			s := openTest(t, path, tc.openWith)
			var version int
			s.db.QueryRow("PRAGMA user_version").Scan(&version)
			if version != len(sqliteMigrations) {
				t.Errorf("user_version %d, want %d", version, len(sqliteMigrations))
			}
			if wechatID != "" {
				if _, err := s.FindGrant(ctx, "wxapp", wechatID); err != nil {
					t.Errorf("FindGrant after the upgrade: %v", err)
				}
			}
			s.Close()
			if keyCheckOf(t, path) == "" {
				t.Fatal("no key check written on first open")
			}
			wantWrongKey(t, path, otherKey)
			openTest(t, path, tc.openWith).Close()
		})
	}
}

func TestConcurrentFirstOpensAgreeOnTheKeyCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bindtester.db")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(context.Background(), path, testKey)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}
	wantWrongKey(t, path, otherKey)
}
