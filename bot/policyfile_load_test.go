package bot_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bindtester/bindtester/bot"
)

func writePolicy(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadPolicyFileValid(t *testing.T) {
	path := writePolicy(t, `
admins: [UADMIN, SADMINS]
apps:
  - appid: wx0123456789abcdef
    name: Shop
    aliases: [shop, Store]
    binders: [UALICE, W0BOB, SQA]
    channels: [CSHOP, GPRIVATE]
    qr_path: pages/index/index?from=bot
    secret_env: SHOP_SECRET
  - appid: wxfedcba9876543210
    aliases: [games]
    binders: [UBOB]
    slots: 100
    refresh_token_env: GAMES_REFRESH
`)
	p, err := bot.LoadPolicyFile(path)
	if err != nil {
		t.Fatalf("LoadPolicyFile: %v", err)
	}
	if !slices.Equal(p.Admins, []string{"UADMIN", "SADMINS"}) {
		t.Errorf("admins = %v", p.Admins)
	}
	if len(p.Apps) != 2 {
		t.Fatalf("%d apps, want 2", len(p.Apps))
	}
	for _, c := range []struct {
		key  string
		want string // appid; "" for not found
	}{
		{"shop", appShop}, {"SHOP", appShop}, {"store", appShop}, {"Store", appShop},
		{appShop, appShop}, {"games", appGames}, {appGames, appGames},
		{"nosuch", ""}, {"WX0123456789ABCDEF", ""},
	} {
		a, ok := p.App(c.key)
		switch {
		case c.want == "" && ok:
			t.Errorf("App(%q) found %s, want none", c.key, a.ID)
		case c.want != "" && (!ok || a.ID != c.want):
			t.Errorf("App(%q) = %v, %v; want %s", c.key, a, ok, c.want)
		}
	}
	shop, games := p.Apps[0], p.Apps[1]
	if shop.Name != "Shop" || shop.Slots != bot.DefaultSlots || bot.DefaultSlots != 15 ||
		!slices.Equal(shop.Binders, []string{"UALICE", "W0BOB", "SQA"}) ||
		!slices.Equal(shop.Channels, []string{"CSHOP", "GPRIVATE"}) ||
		shop.QRPath != "pages/index/index?from=bot" || shop.SecretEnv != "SHOP_SECRET" {
		t.Errorf("shop = %+v", shop)
	}
	if games.Name != appGames || games.Slots != 100 || len(games.Channels) != 0 || games.RefreshTokenEnv != "GAMES_REFRESH" {
		t.Errorf("games = %+v (name defaults to the appid, slots as set, any channel)", games)
	}
	if got := p.AdminOnlyApps(); len(got) != 0 {
		t.Errorf("AdminOnlyApps = %v, want none", got)
	}
}

// An invalid file reports every problem at once; each names the entry and the
// field, and the error names the file.
func TestLoadPolicyFileReportsEveryProblem(t *testing.T) {
	path := writePolicy(t, `
admins: [UADMIN, alice]
apps:
  - appid: wx0123456789abcdef
    aliases: [shop]
    binders: [UALICE]
  - appid: wxBAD
    aliases: [Shop, help, wxgames, 9lives]
    binders: [UBOB, "@bob"]
    channels: [CGAMES, general]
    slots: -1
`)
	_, err := bot.LoadPolicyFile(path)
	if err == nil {
		t.Fatal("LoadPolicyFile accepted an invalid file")
	}
	msg := err.Error()
	if !strings.Contains(msg, path) {
		t.Errorf("error does not name the file %s:\n%s", path, msg)
	}
	const bad = "apps[1] (wxBAD)"
	problems := []struct{ entry, field, value string }{
		{"admins[1]", "admins", `"alice"`},
		{bad, "appid", `"wxBAD"`},
		{bad, "aliases", `"Shop" is already used by apps[0] (wx0123456789abcdef)`},
		{bad, "aliases", `"help" is a command name`},
		{bad, "aliases", `"wxgames"`},
		{bad, "aliases", `"9lives"`},
		{bad, "binders", `"@bob"`},
		{bad, "channels", `"general"`},
		{bad, "slots", "-1"},
	}
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if !strings.Contains(l, path) {
			t.Errorf("problem line does not name the file: %q", l)
		}
		lines = append(lines, l)
	}
	for _, p := range problems {
		found := slices.ContainsFunc(lines, func(l string) bool {
			return strings.Contains(l, p.entry+": "+p.field+":") && strings.Contains(l, p.value)
		})
		if !found {
			t.Errorf("no line names %s, field %s and %s:\n%s", p.entry, p.field, p.value, msg)
		}
	}
	if len(lines) != len(problems) {
		t.Errorf("%d problem lines, want %d (valid values must not be reported):\n%s", len(lines), len(problems), msg)
	}
	for _, ok := range []string{`"UADMIN"`, `"UBOB"`, `"CGAMES"`, `"shop"`} {
		if strings.Contains(msg, ok) {
			t.Errorf("valid value %s reported as a problem:\n%s", ok, msg)
		}
	}
}

func TestLoadPolicyFileErrors(t *testing.T) {
	const ok = "  - appid: wx0123456789abcdef\n    aliases: [shop]\n    binders: [UALICE]\n"
	for _, c := range []struct {
		name string
		yaml string
		want []string // in the error, besides the path
	}{
		{
			name: "unknown top-level field",
			yaml: "admins: [UADMIN]\nadmin_chanel: CADMIN\napps:\n" + ok,
			want: []string{"admin_chanel"},
		},
		{
			name: "misspelt app field",
			yaml: "apps:\n  - appid: wx0123456789abcdef\n    binder: [UALICE]\n",
			want: []string{"binder", "line 3"},
		},
		{
			name: "duplicate alias across apps, any case",
			yaml: "apps:\n" + ok + "  - appid: wxfedcba9876543210\n    aliases: [SHOP]\n",
			want: []string{"apps[1] (wxfedcba9876543210): aliases:", `"SHOP" is already used by apps[0] (wx0123456789abcdef)`},
		},
		{
			name: "alias equal to another app's appid",
			yaml: "apps:\n" + ok + "  - appid: wxfedcba9876543210\n    aliases: [wx0123456789abcdef]\n",
			want: []string{"apps[1] (wxfedcba9876543210): aliases:", `"wx0123456789abcdef"`},
		},
		{
			name: "same appid twice",
			yaml: "apps:\n" + ok + ok,
			want: []string{"apps[1] (wx0123456789abcdef)", "already used by apps[0]"},
		},
		{
			name: "alias help",
			yaml: "apps:\n  - appid: wx0123456789abcdef\n    aliases: [help]\n",
			want: []string{"apps[0] (wx0123456789abcdef): aliases:", `"help" is a command name`},
		},
		{
			name: "alias HELP",
			yaml: "apps:\n  - appid: wx0123456789abcdef\n    aliases: [HELP]\n",
			want: []string{"aliases:", `"HELP" is a command name`},
		},
		{
			name: "alias starting with wx",
			yaml: "apps:\n  - appid: wx0123456789abcdef\n    aliases: [wxshop]\n",
			want: []string{"aliases:", `"wxshop" must start with a letter (not wx)`},
		},
		{
			name: "alias starting with WX",
			yaml: "apps:\n  - appid: wx0123456789abcdef\n    aliases: [WXshop]\n",
			want: []string{"aliases:", `"WXshop"`},
		},
		{
			name: "alias with a space",
			yaml: "apps:\n  - appid: wx0123456789abcdef\n    aliases: [\"my shop\"]\n",
			want: []string{"aliases:", `"my shop"`},
		},
		{
			name: "no apps",
			yaml: "admins: [UADMIN]\n",
			want: []string{"apps: apps: no Mini Program is configured"},
		},
		{
			name: "not YAML",
			yaml: "apps: [unclosed\n",
			want: []string{"yaml"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writePolicy(t, c.yaml)
			p, err := bot.LoadPolicyFile(path)
			if err == nil {
				t.Fatalf("accepted:\n%s\ngot %+v", c.yaml, p)
			}
			wantContains(t, "error", err.Error(), append(c.want, path)...)
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope", "policy.yaml")
		_, err := bot.LoadPolicyFile(path)
		if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("LoadPolicyFile(missing) = %v; want a not-exist error naming %s", err, path)
		}
	})
}

func TestPolicyAdminOnlyApps(t *testing.T) {
	p := testPolicy()
	if got := p.AdminOnlyApps(); !slices.Equal(got, []string{appVault}) {
		t.Errorf("AdminOnlyApps = %v, want [%s]", got, appVault)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("the test policy is invalid: %v", err)
	}
}

func TestLoadPolicyFileEmptyAndDuplicateAppID(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := bot.LoadPolicyFile(empty); err == nil || !strings.Contains(err.Error(), "empty") || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty file: %v", err)
	}
	dup := filepath.Join(dir, "dup.yaml")
	if err := os.WriteFile(dup, []byte("apps:\n  - appid: wx0123456789abcdef\n  - appid: wx0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := bot.LoadPolicyFile(dup)
	if err == nil || !strings.Contains(err.Error(), "apps[1] (wx0123456789abcdef): appid: \"wx0123456789abcdef\" is already used by apps[0]") {
		t.Errorf("duplicate appid: %v", err)
	}
}
