package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testAppToken  = "xapp-1-A0001-s3cretAppToken"
	testBotToken  = "xoxb-0001-s3cretBotToken"
	testAppSecret = "s3cret-app-secret-0123456789"
	testAppID     = "wx1234567890abcdef"
)

// goodEnv is a complete one-app setup.
func goodEnv() map[string]string {
	return map[string]string{
		"SLACK_APP_TOKEN":   testAppToken,
		"SLACK_BOT_TOKEN":   testBotToken,
		"BINDTESTER_APPID":  testAppID,
		"WECHAT_APP_SECRET": testAppSecret,
	}
}

var testSecrets = []string{testAppToken, testBotToken, testAppSecret}

// problemLines returns the "  - VAR: …" lines of a settings error.
func problemLines(err error) []string {
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "- ") {
			out = append(out, strings.TrimPrefix(l, "- "))
		}
	}
	return out
}

// hasProblem reports whether a problem line names variable and contains every word.
func hasProblem(lines []string, variable string, words ...string) bool {
	for _, l := range lines {
		if !strings.Contains(l, variable) {
			continue
		}
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return true
		}
	}
	return false
}

func TestCheckConfigProblems(t *testing.T) {
	type want struct {
		variable string
		words    []string
	}
	tests := []struct {
		name string
		env  map[string]string
		want []want
	}{
		{
			name: "empty environment: every problem at once",
			env:  map[string]string{},
			want: []want{{"SLACK_APP_TOKEN", nil}, {"SLACK_BOT_TOKEN", nil}, {"BINDTESTER_APPID", nil}, {"WECHAT_APP_SECRET", nil}},
		},
		{
			name: "bot token in the app token's place",
			env:  merge(goodEnv(), map[string]string{"SLACK_APP_TOKEN": "xoxb-wrong"}),
			want: []want{{"SLACK_APP_TOKEN", []string{"xapp-"}}},
		},
		{
			name: "app token in the bot token's place",
			env:  merge(goodEnv(), map[string]string{"SLACK_BOT_TOKEN": "xapp-wrong"}),
			want: []want{{"SLACK_BOT_TOKEN", []string{"xoxb-"}}},
		},
		{
			name: "short appid",
			env:  merge(goodEnv(), map[string]string{"BINDTESTER_APPID": "wx12"}),
			want: []want{{"BINDTESTER_APPID", []string{"wx12", "16 hex"}}},
		},
		{
			name: "bad timeout",
			env:  merge(goodEnv(), map[string]string{"WECHAT_TIMEOUT": "abc"}),
			want: []want{{"WECHAT_TIMEOUT", []string{"abc"}}},
		},
		{
			name: "negative grace",
			env:  merge(goodEnv(), map[string]string{"BINDTESTER_SHUTDOWN_GRACE": "-1s"}),
			want: []want{{"BINDTESTER_SHUTDOWN_GRACE", nil}},
		},
		{
			name: "the old worker pool setting",
			env:  merge(goodEnv(), map[string]string{"BINDTESTER_WORKERS": "8"}),
			want: []want{{"BINDTESTER_WORKERS", []string{"BINDTESTER_MAX_IN_FLIGHT", "BINDTESTER_WECHAT_PER_APP"}}},
		},
		{
			name: "in-flight bound not a number",
			env:  merge(goodEnv(), map[string]string{"BINDTESTER_MAX_IN_FLIGHT": "lots", "BINDTESTER_WECHAT_PER_APP": "0"}),
			want: []want{{"BINDTESTER_MAX_IN_FLIGHT", []string{"lots"}}, {"BINDTESTER_WECHAT_PER_APP", []string{"0"}}},
		},
		{
			name: "unknown language",
			env:  merge(goodEnv(), map[string]string{"BINDTESTER_LANG": "fr"}),
			want: []want{{"BINDTESTER_LANG", []string{"fr", "en", "zh"}}},
		},
		{
			name: "binder is a name, not a Slack ID",
			env:  merge(goodEnv(), map[string]string{"BINDTESTER_BINDERS": "alice"}),
			want: []want{{"BINDTESTER_BINDERS", []string{"alice"}}},
		},
		{
			name: "admin is a name, not a Slack ID",
			env:  merge(goodEnv(), map[string]string{"BINDTESTER_ADMINS": "bob"}),
			want: []want{{"BINDTESTER_ADMINS", []string{"bob"}}},
		},
		{
			name: "two credential modes",
			env:  merge(goodEnv(), map[string]string{"WECHAT_ACCESS_TOKEN": "static-token-s3cret"}),
			want: []want{{"WECHAT_APP_SECRET", []string{"WECHAT_ACCESS_TOKEN"}}},
		},
		{
			name: "component without its secret, with two tickets, and no refresh token without discovery",
			env: merge(goodEnv(), map[string]string{"WECHAT_APP_SECRET": "", "WECHAT_COMPONENT_APPID": "wxcomponent0000001",
				"WECHAT_COMPONENT_VERIFY_TICKET": "t", "WECHAT_COMPONENT_VERIFY_TICKET_FILE": "/tmp/t", "BINDTESTER_DISCOVERY_EVERY": "off"}),
			want: []want{{"WECHAT_COMPONENT_SECRET", nil}, {"WECHAT_COMPONENT_VERIFY_TICKET", nil}, {"WECHAT_AUTHORIZER_REFRESH_TOKEN", nil}},
		},
		{
			name: "the platform endpoint without its message token and key, and a bad discovery interval",
			env: merge(goodEnv(), map[string]string{"WECHAT_APP_SECRET": "", "WECHAT_COMPONENT_APPID": "wxcomponent0000001",
				"WECHAT_COMPONENT_SECRET": "s", "BINDTESTER_PLATFORM_LISTEN": "127.0.0.1:0", "WECHAT_COMPONENT_AES_KEY": "short",
				"BINDTESTER_DISCOVERY_EVERY": "sometimes"}),
			want: []want{{"WECHAT_COMPONENT_MSG_TOKEN", nil}, {"WECHAT_COMPONENT_AES_KEY", nil}, {"BINDTESTER_DISCOVERY_EVERY", nil}},
		},
		{
			name: "every bad value at once",
			env: merge(goodEnv(), map[string]string{
				"SLACK_APP_TOKEN": "xoxb-wrong", "BINDTESTER_APPID": "wx12", "WECHAT_TIMEOUT": "abc",
				"BINDTESTER_LANG": "fr", "BINDTESTER_BINDERS": "alice", "WECHAT_ACCESS_TOKEN": "static-token-s3cret",
			}),
			want: []want{
				{"SLACK_APP_TOKEN", []string{"xapp-"}}, {"BINDTESTER_APPID", []string{"wx12"}}, {"WECHAT_TIMEOUT", []string{"abc"}},
				{"BINDTESTER_LANG", []string{"fr"}}, {"BINDTESTER_BINDERS", []string{"alice"}},
				{"WECHAT_APP_SECRET", []string{"WECHAT_ACCESS_TOKEN"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), []string{"check-config"}, env(tt.env), nil, &stdout, &stderr)
			if err == nil {
				t.Fatalf("check-config passed; stdout:\n%s", stdout.String())
			}
			lines := problemLines(err)
			for _, w := range tt.want {
				if !hasProblem(lines, w.variable, w.words...) {
					t.Errorf("no problem names %s (with %q); problems:\n  %s", w.variable, w.words, strings.Join(lines, "\n  "))
				}
			}
			if strings.Contains(stdout.String(), "Settings OK") {
				t.Errorf("stdout says OK despite problems:\n%s", stdout.String())
			}
			assertNoSecrets(t, append(testSecrets, "static-token-s3cret"), map[string]string{
				"error": err.Error(), "stdout": stdout.String(), "stderr": stderr.String()})
		})
	}
}

func TestCheckConfigOK(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    []string
		notWant []string
	}{
		{
			name: "one app, no binders: admins only",
			env:  goodEnv(),
			want: []string{"Settings OK", "app secret", testAppID, "admins only"},
		},
		{
			name: "one app with binders, a name and slots",
			env: merge(goodEnv(), map[string]string{"BINDTESTER_BINDERS": "U0TESTER1, S0TESTERS", "BINDTESTER_APP_NAME": "Shop",
				"BINDTESTER_SLOTS": "25", "BINDTESTER_ADMINS": "UADMIN"}),
			want:    []string{"Settings OK", testAppID, `"Shop"`, "bind: U0TESTER1,S0TESTERS", "25 slots", "grants 2w by default (at most 30d)"},
			notWant: []string{"admins only"},
		},
		{
			name: "fixed access token",
			env:  merge(goodEnv(), map[string]string{"WECHAT_APP_SECRET": "", "WECHAT_ACCESS_TOKEN": "static-token-s3cret"}),
			want: []string{"Settings OK", "fixed access token"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(t.Context(), []string{"check-config"}, env(tt.env), nil, &stdout, &stderr); err != nil {
				t.Fatalf("check-config = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(stdout.String(), w) {
					t.Errorf("stdout has %q:\n%s", w, stdout.String())
				}
			}
			assertNoSecrets(t, append(testSecrets, "static-token-s3cret"), map[string]string{
				"stdout": stdout.String(), "stderr": stderr.String()})
		})
	}
}

const goodPolicy = `admins: [UADMIN]
apps:
  - appid: wx1111111111111111
    name: Shop
    aliases: [shop]
    binders: [U0TESTER1, S0TESTERS]
    channels: [C0SHOP]
    slots: 20
    secret_env: SHOP_SECRET
  - appid: wx2222222222222222
    name: Admin Tools
    aliases: [tools]
    secret_env: TOOLS_SECRET
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckConfigPolicyFile(t *testing.T) {
	good := writeFile(t, "policy.yaml", goodPolicy)
	broken := writeFile(t, "broken.yaml", `apps:
  - appid: wx1111111111111111
    name: Shop
    secret_env: SHOP_SECRET
  - appid: wx22
    binders: [bob]
    channels: [general]
    secret_env: TOOLS_SECRET
`)
	secretInFile := writeFile(t, "secret.yaml", `apps:
  - appid: wx1111111111111111
    secret: literal-s3cret-in-file
`)
	base := map[string]string{"SLACK_APP_TOKEN": testAppToken, "SLACK_BOT_TOKEN": testBotToken,
		"SHOP_SECRET": "shop-s3cret", "TOOLS_SECRET": "tools-s3cret"}
	secrets := append(testSecrets, "shop-s3cret", "tools-s3cret", "literal-s3cret-in-file")

	tests := []struct {
		name    string
		env     map[string]string
		wantOK  []string // stdout, when it should pass
		wantErr []string // each must be in the error, when it should fail
		lineErr [][]string
		notErr  []string // none may be in the error
	}{
		{
			name:   "several apps with secret_env",
			env:    merge(base, map[string]string{"BINDTESTER_POLICY_FILE": good}),
			wantOK: []string{"Settings OK", "app secret", "wx1111111111111111", `"Shop"`, "bind: U0TESTER1,S0TESTERS; only in C0SHOP", "20 slots", "wx2222222222222222", "admins only"},
		},
		{
			name:    "secret_env names an unset variable",
			env:     merge(base, map[string]string{"BINDTESTER_POLICY_FILE": good, "TOOLS_SECRET": ""}),
			lineErr: [][]string{{"TOOLS_SECRET", "wx2222222222222222"}},
		},
		{
			name:    "broken file names the file, the entry and the field",
			env:     merge(base, map[string]string{"BINDTESTER_POLICY_FILE": broken}),
			wantErr: []string{"BINDTESTER_POLICY_FILE", broken},
			lineErr: [][]string{{"apps[1]", "appid", "wx22"}, {"apps[1]", "binders", "bob"}, {"apps[1]", "channels", "general"}},
		},
		{
			name:    "missing file",
			env:     merge(base, map[string]string{"BINDTESTER_POLICY_FILE": filepath.Join(t.TempDir(), "nope.yaml")}),
			wantErr: []string{"BINDTESTER_POLICY_FILE", "nope.yaml"},
		},
		{
			name:    "unknown field (a secret typed into the file) is refused without echoing it",
			env:     merge(base, map[string]string{"BINDTESTER_POLICY_FILE": secretInFile}),
			wantErr: []string{"BINDTESTER_POLICY_FILE", secretInFile, "secret"},
		},
		{
			name:    "BINDTESTER_ADMINS is checked with a policy file too",
			env:     merge(base, map[string]string{"BINDTESTER_POLICY_FILE": good, "BINDTESTER_ADMINS": "bob"}),
			lineErr: [][]string{{"BINDTESTER_ADMINS", "bob"}},
		},
		{
			name:    "a broken file is the only problem: no made-up credential problem",
			env:     merge(base, map[string]string{"BINDTESTER_POLICY_FILE": broken}),
			wantErr: []string{"BINDTESTER_POLICY_FILE"},
			notErr:  []string{"WECHAT_APP_SECRET"},
		},
		{
			name:    "policy file and BINDTESTER_APPID together",
			env:     merge(base, map[string]string{"BINDTESTER_POLICY_FILE": good, "BINDTESTER_APPID": testAppID}),
			lineErr: [][]string{{"BINDTESTER_APPID", "BINDTESTER_POLICY_FILE"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), []string{"check-config"}, env(tt.env), nil, &stdout, &stderr)
			texts := map[string]string{"stdout": stdout.String(), "stderr": stderr.String()}
			if tt.wantOK != nil {
				if err != nil {
					t.Fatalf("check-config = %v", err)
				}
				for _, w := range tt.wantOK {
					if !strings.Contains(stdout.String(), w) {
						t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
					}
				}
			} else {
				if err == nil {
					t.Fatalf("check-config passed; stdout:\n%s", stdout.String())
				}
				texts["error"] = err.Error()
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				for _, w := range tt.notErr {
					if strings.Contains(err.Error(), w) {
						t.Errorf("error mentions %q, which is not a problem here:\n%v", w, err)
					}
				}
				for _, words := range tt.lineErr {
					if !lineWithAll(err.Error(), words) {
						t.Errorf("no line of the error has all of %q:\n%v", words, err)
					}
				}
			}
			assertNoSecrets(t, secrets, texts)
		})
	}
}

func lineWithAll(text string, words []string) bool {
	for _, l := range strings.Split(text, "\n") {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return true
		}
	}
	return false
}
