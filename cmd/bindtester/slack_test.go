package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot/slackbot"
	"github.com/bindtester/bindtester/bot/slackfake"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

func TestRunSlackNeedsSettings(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want [][]string // each: words that one line of the error must hold
	}{
		{
			name: "no tokens: run",
			args: []string{"run"},
			env:  map[string]string{"BINDTESTER_APPID": testAppID, "WECHAT_APP_SECRET": testAppSecret},
			want: [][]string{{"SLACK_APP_TOKEN", "console"}, {"SLACK_BOT_TOKEN", "console"}},
		},
		{
			name: "no tokens: no command means run",
			env:  map[string]string{},
			want: [][]string{{"SLACK_APP_TOKEN", "console"}, {"SLACK_BOT_TOKEN", "console"}, {"WECHAT_APP_SECRET"}},
		},
		{
			name: "tokens but no app",
			args: []string{"run"},
			env:  map[string]string{"SLACK_APP_TOKEN": testAppToken, "SLACK_BOT_TOKEN": testBotToken, "WECHAT_APP_SECRET": testAppSecret},
			want: [][]string{{"BINDTESTER_APPID"}},
		},
		{
			name: "tokens and app but no WeChat credentials",
			args: []string{"run"},
			env:  map[string]string{"SLACK_APP_TOKEN": testAppToken, "SLACK_BOT_TOKEN": testBotToken, "BINDTESTER_APPID": testAppID},
			want: [][]string{{"WECHAT_APP_SECRET"}},
		},
		{
			name: "tokens swapped",
			args: []string{"run"},
			env:  merge(goodEnv(), map[string]string{"SLACK_APP_TOKEN": testBotToken, "SLACK_BOT_TOKEN": testAppToken}),
			want: [][]string{{"SLACK_APP_TOKEN", "xapp-"}, {"SLACK_BOT_TOKEN", "xoxb-"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err := run(ctx, tt.args, env(withDB(t, tt.env)), nil, &stdout, &stderr)
			if err == nil {
				t.Fatal("run started without the settings it needs")
			}
			for _, words := range tt.want {
				if !lineWithAll(err.Error(), words) {
					t.Errorf("no line of the error has all of %q:\n%v", words, err)
				}
			}
			assertNoSecrets(t, testSecrets, map[string]string{"error": err.Error(), "stdout": stdout.String(), "stderr": stderr.String()})
		})
	}
}

// slackRun is `bindtester run` against a fake Slack and a fake WeChat.
type slackRun struct {
	slack  *slackfake.Server
	wechat *wechattest.Server
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

const (
	e2eBotToken = "xoxb-test"
	e2eAppToken = "xapp-test"
	e2eBinder   = "U0TESTER1"
	e2eChannel  = "C0SHOP"
)

func startRun(t *testing.T, extra map[string]string) *slackRun {
	t.Helper()
	r := &slackRun{slack: slackfake.NewServer(e2eBotToken, e2eAppToken), wechat: wechattest.NewServer(),
		stderr: &syncBuffer{}, done: make(chan error, 1)}
	t.Cleanup(r.slack.Close)
	t.Cleanup(r.wechat.Close)
	r.wechat.AddApp(testAppID, testAppSecret)
	e := withDB(t, merge(map[string]string{
		"SLACK_APP_TOKEN":           e2eAppToken,
		"SLACK_BOT_TOKEN":           e2eBotToken,
		"SLACK_API_URL":             r.slack.URL,
		"WECHAT_API_BASE":           r.wechat.URL,
		"WECHAT_APP_SECRET":         testAppSecret,
		"BINDTESTER_APPID":          testAppID,
		"BINDTESTER_APP_NAME":       "Shop",
		"BINDTESTER_BINDERS":        e2eBinder,
		"BINDTESTER_ADMINS":         "UADMIN",
		"BINDTESTER_SHUTDOWN_GRACE": "2s",
		"LOG_LEVEL":                 "debug", // every log line, to check none shows a secret
	}, extra))
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("run did not return after cleanup")
		}
	})
	go func() { r.done <- run(ctx, []string{"run"}, env(e), strings.NewReader(""), &bytes.Buffer{}, r.stderr) }()
	return r
}

// wait returns run's result, failing the test when it takes longer than d.
func (r *slackRun) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for Cleanup
		return err
	case <-time.After(d):
		t.Fatalf("run did not return within %v; log:\n%s", d, r.stderr.String())
		return nil
	}
}

func (r *slackRun) connected(t *testing.T) {
	t.Helper()
	if !r.slack.WaitConnections(1, 10*time.Second) {
		t.Fatalf("the bot never connected over Socket Mode; log:\n%s", r.stderr.String())
	}
}

// thread finds the parent message about masked and what was posted in its thread.
func thread(msgs []slackfake.Message, masked string) (parent slackfake.Message, replies, files, updates []slackfake.Message) {
	for _, m := range msgs {
		if m.Method == "chat.postMessage" && m.ThreadTS == "" && strings.Contains(m.Text, masked) {
			parent = m
			break
		}
	}
	if parent.TS == "" {
		return
	}
	for _, m := range msgs {
		switch {
		case m.Method == "chat.postMessage" && m.ThreadTS == parent.TS:
			replies = append(replies, m)
		case m.Method == "file" && m.ThreadTS == parent.TS:
			files = append(files, m)
		case m.Method == "chat.update" && m.TS == parent.TS:
			updates = append(updates, m)
		}
	}
	return
}

func TestRunSlackEndToEnd(t *testing.T) {
	r := startRun(t, nil)
	r.connected(t)

	env := r.slack.SlashCommand(slackfake.SlashCommand{Text: testAppID + " tester_one", UserID: e2eBinder, ChannelID: e2eChannel})
	if !r.slack.WaitAck(env, 3*time.Second) {
		t.Fatal("the slash command was not acked within 3s")
	}
	msgs, ok := r.slack.WaitMessages(10*time.Second, func(m []slackfake.Message) bool {
		_, replies, files, updates := thread(m, "te***ne")
		return len(replies) > 0 && len(files) > 0 && len(updates) > 0
	})
	if !ok {
		t.Fatalf("no parent, thread reply, QR code and update; messages: %+v\nlog:\n%s", msgs, r.stderr.String())
	}
	parent, replies, files, updates := thread(msgs, "te***ne")
	if parent.Channel != e2eChannel || !strings.Contains(parent.Text, "<@"+e2eBinder+">") || !strings.Contains(parent.Text, "*Shop*") {
		t.Errorf("parent = %+v", parent)
	}
	if !strings.Contains(replies[0].Text, "Done: `te***ne` is now an experiencer of *Shop*") {
		t.Errorf("thread reply = %q", replies[0].Text)
	}
	if !bytes.Equal(files[0].FileBytes, wechattest.QRCodeJPEG()) || !strings.HasPrefix(files[0].FileName, testAppID) {
		t.Errorf("QR code file = %s, %d bytes", files[0].FileName, len(files[0].FileBytes))
	}
	if !strings.Contains(updates[len(updates)-1].Text, "✅") {
		t.Errorf("update = %q", updates[len(updates)-1].Text)
	}
	if got := r.wechat.Experiencers(testAppID); len(got) != 1 || r.wechat.UserStr(testAppID, "tester_one") == "" {
		t.Errorf("fake WeChat experiencers = %v, want tester_one bound", got)
	}

	t.Run("a user who is not a binder is told privately", func(t *testing.T) {
		r.slack.SlashCommand(slackfake.SlashCommand{Text: testAppID + " someone_else", UserID: "U0STRANGER", ChannelID: e2eChannel})
		m, ok := r.slack.WaitMessages(10*time.Second, func(m []slackfake.Message) bool {
			for _, x := range m {
				if x.Method == "response_url" && x.User == "U0STRANGER" {
					return true
				}
			}
			return false
		})
		if !ok {
			t.Fatalf("no private answer; messages: %+v", m)
		}
		for _, x := range m {
			if x.Method == "response_url" && x.User == "U0STRANGER" && !strings.Contains(x.Text, "You may not bind") {
				t.Errorf("private answer = %q", x.Text)
			}
			if x.Method != "response_url" && strings.Contains(x.Text, "so***se") {
				t.Errorf("a denied request was posted in the channel: %+v", x)
			}
		}
		if len(r.wechat.Experiencers(testAppID)) != 1 {
			t.Error("a denied request reached WeChat")
		}
	})

	r.cancel()
	start := time.Now()
	if err := r.wait(t, 5*time.Second); err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("run took %v to stop with nothing in flight (grace 2s)", d)
	}

	for _, m := range r.slack.Messages() {
		for _, full := range []string{"tester_one", "someone_else"} {
			if strings.Contains(m.Text, full) {
				t.Errorf("Slack message shows the full WeChat ID %q: %+v", full, m)
			}
		}
	}
	log := r.stderr.String()
	assertNoSecrets(t, []string{e2eBotToken, e2eAppToken, testAppSecret, "tester_one"}, map[string]string{"log": log})
	if !strings.Contains(log, "slack: connected") {
		t.Errorf("log lacks the connection line:\n%s", log)
	}
}

func TestRunSlackFinishesInFlightWork(t *testing.T) {
	r := startRun(t, nil)
	r.connected(t)
	release := r.wechat.Hold("/wxa/bind_tester")
	defer release()

	r.slack.SlashCommand(slackfake.SlashCommand{Text: testAppID + " tester_two", UserID: e2eBinder, ChannelID: e2eChannel})
	deadline := time.Now().Add(10 * time.Second)
	for r.wechat.Calls("/wxa/bind_tester") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("bind_tester never called; log:\n%s", r.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	r.cancel() // shutdown starts while WeChat holds the call
	select {
	case err := <-r.done:
		r.done <- err
		t.Fatalf("run returned %v while a command was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	if err := r.wait(t, 5*time.Second); err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
	_, replies, _, updates := thread(r.slack.Messages(), "te***wo")
	if len(replies) == 0 || !strings.Contains(replies[0].Text, "Done: `te***wo`") {
		t.Errorf("the in-flight command lost its answer: replies %+v\nmessages: %+v\nlog:\n%s", replies, r.slack.Messages(), r.stderr.String())
	}
	if len(updates) == 0 {
		t.Error("the in-flight command's status message was never updated")
	}
	if r.wechat.UserStr(testAppID, "tester_two") == "" {
		t.Error("tester_two is not bound in the fake WeChat")
	}
}

func TestRunSlackGraceEnds(t *testing.T) {
	r := startRun(t, map[string]string{"BINDTESTER_SHUTDOWN_GRACE": "500ms"})
	r.connected(t)
	release := r.wechat.Hold("/wxa/bind_tester")
	defer release()
	r.slack.SlashCommand(slackfake.SlashCommand{Text: testAppID + " tester_three", UserID: e2eBinder, ChannelID: e2eChannel})
	deadline := time.Now().Add(10 * time.Second)
	for r.wechat.Calls("/wxa/bind_tester") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("bind_tester never called")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.cancel() // never released: the grace period must end the wait
	start := time.Now()
	if err := r.wait(t, 5*time.Second); err != nil {
		t.Errorf("run after the grace period = %v, want nil", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 3*time.Second {
		t.Errorf("run returned %v after cancel, want about the 500ms grace", d)
	}
}

func TestRunSlackRefusedTokens(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(*slackRun)
		extra    map[string]string
		variable string
		token    string
	}{
		{
			name:     "revoked app token",
			setup:    func(r *slackRun) { r.slack.SetAppTokenRevoked(true) },
			variable: "SLACK_APP_TOKEN",
			token:    e2eAppToken,
		},
		{
			name:     "wrong bot token",
			extra:    map[string]string{"SLACK_BOT_TOKEN": "xoxb-not-the-right-one"},
			variable: "SLACK_BOT_TOKEN",
			token:    "xoxb-not-the-right-one",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The fakes start before run: setup must apply before the first connection.
			r := &slackRun{slack: slackfake.NewServer(e2eBotToken, e2eAppToken), wechat: wechattest.NewServer(),
				stderr: &syncBuffer{}, done: make(chan error, 1)}
			defer r.slack.Close()
			defer r.wechat.Close()
			if tt.setup != nil {
				tt.setup(r)
			}
			e := withDB(t, merge(map[string]string{
				"SLACK_APP_TOKEN": e2eAppToken, "SLACK_BOT_TOKEN": e2eBotToken, "SLACK_API_URL": r.slack.URL,
				"WECHAT_API_BASE": r.wechat.URL, "WECHAT_APP_SECRET": testAppSecret, "BINDTESTER_APPID": testAppID,
				"BINDTESTER_SHUTDOWN_GRACE": "2s", "LOG_LEVEL": "debug",
			}, tt.extra))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			go func() { r.done <- run(ctx, nil, env(e), nil, &bytes.Buffer{}, r.stderr) }()
			var err error
			select {
			case err = <-r.done:
			case <-time.After(5 * time.Second):
				cancel()
				<-r.done
				t.Fatalf("run kept going with a refused token (apps.connections.open called %d times)", r.slack.Calls("apps.connections.open"))
			}
			if err == nil || !errors.Is(err, slackbot.ErrAuth) || !strings.Contains(err.Error(), tt.variable) {
				t.Fatalf("run = %v, want an ErrAuth naming %s", err, tt.variable)
			}
			if n := r.slack.Calls("apps.connections.open"); n > 2 {
				t.Errorf("apps.connections.open called %d times: run spins on a refused token", n)
			}
			assertNoSecrets(t, []string{tt.token, e2eAppToken, e2eBotToken, testAppSecret},
				map[string]string{"error": err.Error(), "log": r.stderr.String()})
		})
	}
}
