package main

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/wechat/wechattest"
)

// consoleRun runs `bindtester console args…` on the input lines.
func consoleRun(t *testing.T, args []string, e map[string]string, lines ...string) (stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	in := strings.NewReader(strings.Join(lines, "\n") + "\n")
	if err := run(ctxTimeout(t), append([]string{"console"}, args...), env(withDB(t, e)), in, &out, &errb); err != nil {
		t.Fatalf("console = %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

// postedLines are the lines Slack users would see in the channel: parent, thread, updates.
var postedLine = regexp.MustCompile(`(?m)^.*\[(#C[A-Z0-9]+, message \d+|thread of \d+|message \d+ updated)\].*$`)

func TestConsoleSandbox(t *testing.T) {
	script := []string{
		"help",
		"demo my_wechat_id",
		"demo not_found_user",
		"demo <!channel>",
		"wx12 abc",
		"/bindtester demo busy_wechat",
		"quit",
		"demo never_handled_after_quit",
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    []string
		notWant []string
	}{
		{
			name: "english",
			want: []string{
				"*** SANDBOX",
				"Bind your WeChat account", "Demo Mini Program", // help
				"[#C0CONSOLE, message 1] @U0CONSOLE asked to bind `my***id`",      // parent, masked
				"[thread of 1] Done: `my***id` is now an experiencer",             // thread reply
				"[thread of 1] [file wx0123456789abcdef-trial.jpg",                // the QR code
				"[thread of 1]   Open the trial version by scanning this QR code", // and what it is for
				"[message 1 updated] ✅",
				"WeChat cannot find `no***er`", "Privacy", // 85001
				"`<!channel>` is not a valid WeChat ID", // unescaped for the terminal
				"`wx12` is not a valid appid",
				"could not tell whether WeChat did it (WeChat busy)", "ask WeChat again", // -1: it may have worked
			},
			notWant: []string{"&lt;", "&gt;", "ne***er", "message 4"},
		},
		{
			name: "chinese",
			args: []string{"--lang", "zh"},
			want: []string{
				"*** SANDBOX",
				"把微信号绑定为小程序的体验者",
				"[#C0CONSOLE, message 1] @U0CONSOLE 申请将 `my***id`",
				"[thread of 1] 完成：`my***id` 已成为",
				"微信找不到 `no***er`",
				"`<!channel>` 不是有效的微信号",
				"`wx12` 不是有效的 appid",
				"我无法确定微信是否已经完成（微信繁忙）", "再问一次微信",
			},
			notWant: []string{"&lt;", "WeChat cannot find"},
		},
		{
			name: "chinese from BINDTESTER_LANG",
			env:  map[string]string{"BINDTESTER_LANG": "zh"},
			want: []string{"把微信号绑定为小程序的体验者", "微信找不到"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _ := consoleRun(t, tt.args, tt.env, script...)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q", w)
				}
			}
			for _, l := range postedLine.FindAllString(out, -1) {
				if strings.Contains(l, "my_wechat_id") || strings.Contains(l, "not_found_user") || strings.Contains(l, "busy_wechat") {
					t.Errorf("a posted line shows a full WeChat ID: %q", l)
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s", out)
			}
		})
	}
}

func TestConsolePermissions(t *testing.T) {
	const appid = "wx00000000000000aa"
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		line    string
		want    []string
		notWant []string
	}{
		{
			name:    "another user is not a binder of the configured app",
			args:    []string{"--user", "UOTHER"},
			env:     map[string]string{"BINDTESTER_APPID": appid, "BINDTESTER_APP_NAME": "Shop", "BINDTESTER_BINDERS": "U0TESTER1", "BINDTESTER_ADMINS": "UADMIN"},
			line:    appid + " my_wechat_id",
			want:    []string{"*** SANDBOX", "[only you] You may not bind testers to *Shop*", "@UADMIN"},
			notWant: []string{"message 1", "Done:"},
		},
		{
			name:    "an app with no binders is admins only",
			args:    []string{"--user", "U0TESTER1"},
			env:     map[string]string{"BINDTESTER_APPID": appid, "BINDTESTER_APP_NAME": "Shop", "BINDTESTER_ADMINS": "UADMIN"},
			line:    appid + " my_wechat_id",
			want:    []string{"*Shop* is open to admins only", "@UADMIN"},
			notWant: []string{"message 1"},
		},
		{
			name: "a binder of the configured app binds in the sandbox",
			args: []string{"--user", "U0TESTER1", "--channel", "C0SHOP"},
			env:  map[string]string{"BINDTESTER_APPID": appid, "BINDTESTER_APP_NAME": "Shop", "BINDTESTER_BINDERS": "U0TESTER1"},
			line: appid + " my_wechat_id",
			want: []string{"*** SANDBOX", "[#C0SHOP, message 1] @U0TESTER1 asked to bind `my***id`", "Done:"},
		},
		{
			name:    "an admin binds anywhere",
			args:    []string{"--user", "UADMIN"},
			env:     map[string]string{"BINDTESTER_APPID": appid, "BINDTESTER_CHANNELS": "C0SHOP", "BINDTESTER_BINDERS": "U0TESTER1", "BINDTESTER_ADMINS": "UADMIN"},
			line:    appid + " my_wechat_id",
			want:    []string{"Done:"},
			notWant: []string{"You may not"},
		},
		{
			name: "a binder in the wrong channel is sent to the right one",
			args: []string{"--user", "U0TESTER1", "--channel", "C0RANDOM"},
			env:  map[string]string{"BINDTESTER_APPID": appid, "BINDTESTER_APP_NAME": "Shop", "BINDTESTER_CHANNELS": "C0SHOP", "BINDTESTER_BINDERS": "U0TESTER1"},
			line: appid + " my_wechat_id",
			want: []string{"bound in #C0SHOP only"},
		},
		{
			// The demo app lets the default console user bind and denies everyone else,
			// so both sides of the policy can be tried.
			name:    "demo app: another user is denied",
			args:    []string{"--user", "UOTHER"},
			line:    "demo my_wechat_id",
			want:    []string{"[only you] You may not bind testers to *Demo Mini Program*", "@U0ADMIN"},
			notWant: []string{"message 1"},
		},
		{
			name: "demo app: the sandbox admin binds",
			args: []string{"--user", "U0ADMIN"},
			line: "demo my_wechat_id",
			want: []string{"@U0ADMIN asked to bind `my***id`", "Done:"},
		},
		{
			name:    "unknown app",
			line:    "nosuchapp my_wechat_id",
			want:    []string{"I don't know a Mini Program called `nosuchapp`"},
			notWant: []string{"message 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _ := consoleRun(t, tt.args, tt.env, tt.line, "quit")
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q", w)
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s", out)
			}
		})
	}
}

func TestConsoleRealWeChat(t *testing.T) {
	fake := wechattest.NewServer()
	defer fake.Close()
	fake.AddApp(testAppID, testAppSecret)
	e := map[string]string{
		"WECHAT_API_BASE":    fake.URL,
		"WECHAT_APP_SECRET":  testAppSecret,
		"BINDTESTER_APPID":   testAppID,
		"BINDTESTER_BINDERS": "U0CONSOLE, U0TESTER1",
		"LOG_LEVEL":          "debug", // every log line, to check none shows the secret
	}
	out, errOut := consoleRun(t, nil, e, testAppID+" real_tester", "quit")
	if strings.Contains(out, "SANDBOX") {
		t.Errorf("a console with credentials shows the sandbox banner:\n%s", out)
	}
	for _, w := range []string{"real WeChat (app secret)", fake.URL, "`re***er`", "Done:"} {
		if !strings.Contains(out, w) {
			t.Errorf("stdout lacks %q:\n%s", w, out)
		}
	}
	if got := fake.Experiencers(testAppID); len(got) != 1 {
		t.Errorf("fake WeChat experiencers = %v, want one", got)
	}
	if fake.UserStr(testAppID, "real_tester") == "" {
		t.Error("real_tester is not bound in the fake WeChat")
	}
	if fake.Calls("/cgi-bin/stable_token") == 0 {
		t.Error("the console never fetched a stable_token from the fake")
	}
	assertNoSecrets(t, []string{testAppSecret}, map[string]string{"stdout": out, "stderr": errOut})

	t.Run("credentials but no app configured", func(t *testing.T) {
		var out, errb bytes.Buffer
		err := run(ctxTimeout(t), []string{"console"}, env(withDB(t, map[string]string{"WECHAT_APP_SECRET": testAppSecret})),
			strings.NewReader("quit\n"), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), "BINDTESTER_APPID") {
			t.Errorf("console = %v, want an error naming BINDTESTER_APPID", err)
		}
		assertNoSecrets(t, []string{testAppSecret}, map[string]string{"error": err.Error(), "stdout": out.String(), "stderr": errb.String()})
	})
	t.Run("bad settings stop the console", func(t *testing.T) {
		err := run(ctxTimeout(t), []string{"console"}, env(withDB(t, map[string]string{"WECHAT_TIMEOUT": "abc"})),
			strings.NewReader("quit\n"), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "WECHAT_TIMEOUT") {
			t.Errorf("console = %v, want an error naming WECHAT_TIMEOUT", err)
		}
	})
}

// TestConsoleStopsOnCancel: Ctrl-C (ctx cancelled) must end the console even while it
// waits for the next line; a terminal sends no EOF.
func TestConsoleStopsOnCancel(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	var out syncBuffer
	e := env(withDB(t, nil))
	go func() { done <- run(ctx, []string{"console"}, e, pr, &out, io.Discard) }()
	if _, err := io.WriteString(pw, "demo my_wechat_id\n"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Done:") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("console after cancel = %v, want nil", err)
		}
	case <-time.After(3 * time.Second):
		pw.Close() // unblock the reader so the goroutine ends
		<-done
		t.Error("console did not return within 3s of ctx being cancelled while waiting for input (Ctrl-C hangs until Enter)")
	}
}

// The console keeps every feature: an empty line is the request form asked
// field by field (a wrong field asked again with the command's words), and
// `home` is App Home with its buttons, which `:extend` and `:end` press.
func TestConsoleFormAndHome(t *testing.T) {
	out, _ := consoleRun(t, []string{"--user", "U0ADMIN"}, nil,
		"", "1", "ab", "", "", "form_tester", // the form: a bad WeChat ID, then a good one
		"home", ":extend 1:3d", ":end 1", "home", "quit")
	for _, want := range []string{
		"[form] Request access", "1) Demo Mini Program",
		"✗ ab is not a valid WeChat ID", // asked again, in the command's words
		"asked to bind `fo***er`", "Done: `fo***er` is now an experiencer",
		"*Your access (1)*", "[+3d] (type :extend 1:3d)", "[End now] (type :end 1)", "[Request access] (type :request)",
		"*Admin: Mini Programs*", "1 of 3 slots",
		"Extended: `fo***er`",
		"is no longer an experiencer", "*Your access (0)*", "0 of 3 slots",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console output lacks %q:\n%s", want, out)
		}
	}
}

// Input that ends in the middle of the form ends the console, as it does
// anywhere else, instead of leaving it waiting for a line that never comes.
func TestConsoleInputEndingInTheForm(t *testing.T) {
	done := make(chan string, 1)
	go func() { out, _ := consoleRun(t, nil, nil, "", "1"); done <- out }()
	select {
	case out := <-done:
		if !strings.Contains(out, "[form] Request access") || !strings.Contains(out, "(Cancel)") {
			t.Errorf("output:\n%s\nwant the form, given up at the end of input", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the console still waits for input after it ended in the form")
	}
}
