package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.key")
	key, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != KeySize {
		t.Fatalf("key is %d bytes", len(key))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file permissions %o, want 600", perm)
	}
	raw, _ := os.ReadFile(path)
	if want := base64.StdEncoding.EncodeToString(key) + "\n"; string(raw) != want {
		t.Errorf("key file holds %q, want %q", raw, want)
	}
	again, err := LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(again, key) {
		t.Errorf("reload = %x, %v; want the same key %x", again, err, key)
	}
	if other, _ := LoadOrCreateKey(filepath.Join(t.TempDir(), "store.key")); bytes.Equal(other, key) {
		t.Error("two new key files hold the same key")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".store-key-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestLoadOrCreateKeyErrors(t *testing.T) {
	dir := t.TempDir()
	const secretish = "c2VjcmV0LXRoYXQtaXMtdG9vLXNob3J0" // 24 bytes: must not be echoed
	for _, tc := range []struct {
		name, content, want string
	}{
		{"short key", secretish + "\n", "decodes to 24 bytes, want 32"},
		{"not base64", "not*base64!\n", "not standard base64"},
		{"empty", "", "decodes to 0 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			os.WriteFile(path, []byte(tc.content), 0o600)
			_, err := LoadOrCreateKey(path)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q should name %s and say %q", err, path, tc.want)
			}
			if strings.Contains(err.Error(), secretish) {
				t.Errorf("error %q echoes the key", err)
			}
		})
	}
	if _, err := LoadOrCreateKey(filepath.Join(dir, "missing", "store.key")); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing", "store.key")) {
		t.Errorf("key in a missing directory: %v, want an error naming the file", err)
	}
}

func TestParseKey(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(testKey)
	for _, tc := range []struct {
		in      string
		wantErr string
	}{
		{good, ""},
		{" " + good + "\n", ""},
		{base64.StdEncoding.EncodeToString(testKey[:31]), "decodes to 31 bytes"},
		{base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32)), "not standard base64"},
		{"", "decodes to 0 bytes"},
	} {
		key, err := ParseKey(tc.in)
		switch {
		case tc.wantErr == "" && (err != nil || !bytes.Equal(key, testKey)):
			t.Errorf("ParseKey(%q) = %x, %v", tc.in, key, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseKey(%q) error %v, want %q", tc.in, err, tc.wantErr)
		case err != nil && tc.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.in)):
			t.Errorf("ParseKey error %q echoes the value", err)
		}
	}
}

func TestSealer(t *testing.T) {
	s, err := newSealer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	a, b := s.seal("wechat_a"), s.seal("wechat_a")
	if bytes.Equal(a, b) {
		t.Error("sealing twice gives the same bytes: the nonce is not random")
	}
	if got, err := s.unseal(a); err != nil || got != "wechat_a" {
		t.Errorf("unseal = %q, %v", got, err)
	}
	tampered := bytes.Clone(a)
	tampered[len(tampered)-1] ^= 1
	if _, err := s.unseal(tampered); err == nil {
		t.Error("unseal accepted a tampered value")
	}
	again, _ := newSealer(testKey) // the same key after a restart
	if again.hash("wechat_a") != s.hash("wechat_a") || s.hash("wechat_a") == s.hash("wechat_b") {
		t.Error("hash is not a stable function of the key and the WeChat ID")
	}
	other, _ := newSealer(otherKey)
	if other.hash("wechat_a") == s.hash("wechat_a") {
		t.Error("hash does not depend on the key")
	}
}

func TestWrongKeyCannotReadWechatIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bindtester.db")
	ctx := context.Background()
	s := openTest(t, path, testKey)
	g, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", ExpiresAt: t0.Add(time.Hour)}, "tester_one")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateApproval(ctx, bot.Approval{AppID: "wxapp", ExpiresAt: t0.Add(time.Hour)}, "tester_one")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, path, otherKey); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with another key: %v, want ErrWrongKey", err)
	}

	// Were the key check bypassed, sealed values still would not open.
	other, err := newSealer(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	s = &Store{db: s.db, name: s.name, seal: other, eng: s.eng}
	if _, err := s.GrantWechatID(ctx, g.ID); err == nil || !strings.Contains(err.Error(), "store key") {
		t.Errorf("GrantWechatID with another key: %v, want an error about the key", err)
	}
	if _, err := s.ApprovalWechatID(ctx, a.ID); err == nil || !strings.Contains(err.Error(), "store key") {
		t.Errorf("ApprovalWechatID with another key: %v, want an error about the key", err)
	}
	if _, err := s.FindGrant(ctx, "wxapp", "tester_one"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("FindGrant with another key: %v, want not found", err)
	}
}
