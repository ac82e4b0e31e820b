package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLostStoreKeyFileIsNotReplaced: a database that holds data never gets a
// new key file beside it; every command refuses to start, saying which key
// is missing and how to bring it back, and works again once it is back.
func TestLostStoreKeyFileIsNotReplaced(t *testing.T) {
	db := filepath.Join(t.TempDir(), "bindtester.db")
	keyFile := db + ".key"
	e := storeFailureEnv(t, db) // Slack, WeChat and one app, for every command
	if out, errOut, err := cli(t, e, "bind", "--admin", testAppID, "tester_one"); err != nil || !strings.Contains(out, "Done:") {
		t.Fatalf("first bind = %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	keyText, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatalf("no key file after the first bind: %v", err)
	}
	key := strings.TrimSpace(string(keyText))
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}

	for _, args := range storeCommands {
		t.Run("key file missing: "+strings.Join(args, " "), func(t *testing.T) {
			out, err := runFails(t, e, args...)
			for _, w := range []string{"BINDTESTER_STORE_KEY", keyFile, db, "missing"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error = %v, want it to name %q", err, w)
				}
			}
			assertNoSecrets(t, []string{key, e2eBotToken, e2eAppToken, testAppSecret}, map[string]string{"error": err.Error(), "output": out})
			if _, err := os.Stat(keyFile); err == nil {
				t.Fatal("a new key file was created beside the database")
			}
		})
	}

	t.Run("another key in the key file", func(t *testing.T) {
		other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))
		if err := os.WriteFile(keyFile, []byte(other+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(keyFile)
		_, err := runFails(t, e, "bind", "--admin", testAppID, "tester_two")
		for _, w := range []string{keyFile, db, "the store key does not match this database", "restore the key file"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error = %v, want it to say %q", err, w)
			}
		}
	})

	t.Run("the same key in BINDTESTER_STORE_KEY", func(t *testing.T) {
		withKey := merge(e, map[string]string{"BINDTESTER_STORE_KEY": key})
		out, errOut, err := cli(t, withKey, "unbind", "--admin", testAppID, "tester_one")
		if err != nil || !strings.Contains(out, "no longer an experiencer") {
			t.Fatalf("unbind = %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		if _, err := os.Stat(keyFile); err == nil {
			t.Error("a key file was created although BINDTESTER_STORE_KEY is set")
		}
	})

	t.Run("the key file restored", func(t *testing.T) {
		if err := os.WriteFile(keyFile, keyText, 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, err := cli(t, e, "bind", "--admin", testAppID, "tester_one")
		if err != nil || !strings.Contains(out, "Done:") {
			t.Fatalf("bind = %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		rows := auditJSON(t, e)
		if kinds(rows) != "bound,allowed,unbound,bound,allowed" {
			t.Errorf("audit kinds = %s: the refused commands left records, or the earlier ones are gone", kinds(rows))
		}
	})
}

// TestWrongStoreKeyIsRefused: BINDTESTER_STORE_KEY other than the one the
// database was made with is refused before anything is done.
func TestWrongStoreKeyIsRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "bindtester.db")
	keyA := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	keyB := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	e := merge(storeFailureEnv(t, db), map[string]string{"BINDTESTER_STORE_KEY": keyA})
	if out, _, err := cli(t, e, "bind", "--admin", testAppID, "tester_one"); err != nil || !strings.Contains(out, "Done:") {
		t.Fatalf("bind with key A = %v\n%s", err, out)
	}
	wrong := merge(e, map[string]string{"BINDTESTER_STORE_KEY": keyB})
	for _, args := range storeCommands {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, err := runFails(t, wrong, args...)
			for _, w := range []string{"BINDTESTER_STORE_KEY", db, "the store key does not match this database", "restore the key file or BINDTESTER_STORE_KEY used to create it"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error = %v, want it to say %q", err, w)
				}
			}
			assertNoSecrets(t, []string{keyA, keyB}, map[string]string{"error": err.Error(), "output": out})
		})
	}
	if out, _, err := cli(t, e, "testers", "--admin", testAppID); err != nil || !strings.Contains(out, "1 of 15") {
		t.Errorf("testers with key A = %v\n%s", err, out)
	}
}
