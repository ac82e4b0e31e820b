package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/slackfake"
	"github.com/bindtester/bindtester/bot/store"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

// SIGTERM while a WeChat call is still running: when the grace period ends,
// the bind is recorded as "outcome unknown" (the record outlives the
// cancelled work), and the bot started again on the same database finds out
// and answers in the original thread.
func TestShutdownLeavesAnUnknownOutcomeThatIsResolvedAfterRestart(t *testing.T) {
	sl := slackfake.NewServer(e2eBotToken, e2eAppToken)
	t.Cleanup(sl.Close)
	wx := wechattest.NewServer()
	t.Cleanup(wx.Close)
	wx.AddApp(testAppID, testAppSecret)
	db := filepath.Join(t.TempDir(), "bindtester.db")
	e := map[string]string{
		"SLACK_APP_TOKEN": e2eAppToken, "SLACK_BOT_TOKEN": e2eBotToken, "SLACK_API_URL": sl.URL,
		"WECHAT_API_BASE": wx.URL, "WECHAT_APP_SECRET": testAppSecret,
		"BINDTESTER_APPID": testAppID, "BINDTESTER_APP_NAME": "Shop", "BINDTESTER_BINDERS": e2eBinder,
		"BINDTESTER_DB": db, "BINDTESTER_SHUTDOWN_GRACE": "500ms",
		"BINDTESTER_JOB_LEASE": "3s", "BINDTESTER_SWEEP_INTERVAL": "200ms",
	}
	start := func() (stop func() error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"run"}, env(e), strings.NewReader(""), &bytes.Buffer{}, &syncBuffer{})
		}()
		return func() error {
			cancel()
			select {
			case err := <-done:
				return err
			case <-time.After(10 * time.Second):
				t.Fatal("run did not return")
				return nil
			}
		}
	}

	stop := start()
	if !sl.WaitLiveConnections(1, 10*time.Second) {
		t.Fatal("never connected")
	}
	release := wx.HoldAnswers("/wxa/bind_tester") // WeChat binds; the bot never hears
	sl.SlashCommand(slackfake.SlashCommand{Text: testAppID + " tester_sigterm", UserID: e2eBinder, ChannelID: e2eChannel})
	waitFor(t, "the bind reaching WeChat", func() bool { return wx.Calls("/wxa/bind_tester") > 0 })
	if err := stop(); err != nil { // SIGTERM: the grace period ends with the call still held
		t.Fatalf("run = %v", err)
	}
	release()

	key, err := store.LoadOrCreateKey(db + ".key")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), db, key)
	if err != nil {
		t.Fatal(err)
	}
	events, _ := st.Events(context.Background(), bot.AuditFilter{})
	st.Close()
	if len(events) == 0 || events[0].Kind != bot.EventUnknown || !strings.Contains(events[0].Detail, "outcome unknown") {
		t.Fatalf("audit after the shutdown: %+v; want an outcome unknown record last", events)
	}

	stop = start()
	defer stop()
	masked := bot.MaskWechatID("tester_sigterm")
	waitFor(t, "the resumed answer", func() bool {
		_, replies, _, updates := thread(sl.Messages(), masked)
		return len(updates) > 0 && strings.HasPrefix(updates[len(updates)-1].Text, "✅") && len(replies) >= 2
	})
	_, replies, _, _ := thread(sl.Messages(), masked)
	if !strings.Contains(replies[0].Text, "could not tell whether WeChat did it") || !strings.Contains(replies[len(replies)-1].Text, bot.English.T("job.resumed")) {
		t.Errorf("thread replies %q: want the unknown outcome, then the resumed answer", texts(replies))
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func texts(ms []slackfake.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}
