package slackbot_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot/slackfake"
)

// Nobody waits behind a slow WeChat: with more binds held at WeChat than the
// bot once had workers, help and a denial are still answered, while every
// bind is still waiting.
func TestHeldWeChatDelaysNeitherHelpNorDenial(t *testing.T) {
	e := start(t)
	release := e.wechat.Hold("/wxa/bind_tester")
	defer release()
	const binds = 12
	for i := range binds {
		e.slash(binder, channel, fmt.Sprintf("shop held_%02d", i))
	}
	waitCalls(t, e, "/wxa/bind_tester", binds)

	e.slash(binder, channel, "help")
	e.waitFor(t, "help while binds are held", func(m slackfake.Message) bool {
		return m.Method == "response_url" && strings.Contains(m.Text, "/bindtester")
	})
	e.slash("U0STRANGER", channel, "shop someone_else")
	e.waitFor(t, "denial while binds are held", func(m slackfake.Message) bool {
		return m.Method == "response_url" && m.User == "U0STRANGER"
	})
	if n := len(find(e.slack.Messages(), "chat.update")); n != 0 {
		t.Fatalf("%d binds answered while WeChat held them all", n)
	}
	release()
	waitCount(t, e, "chat.update", binds)
}

// The status message does not wait for WeChat: it is in the channel while
// the bind is still held there; the outcome follows once WeChat answers.
func TestStatusPostedWhileWeChatHeld(t *testing.T) {
	e := start(t)
	release := e.wechat.Hold("/wxa/bind_tester")
	defer release()
	e.slash(binder, channel, "shop tester_one")
	waitCalls(t, e, "/wxa/bind_tester", 1)
	msgs := e.waitFor(t, "status message", func(m slackfake.Message) bool {
		return m.Method == "chat.postMessage" && m.ThreadTS == "" && strings.Contains(m.Text, "working")
	})
	if n := len(find(msgs, "chat.postMessage")); n != 1 {
		t.Fatalf("%d posts while the bind is held, want the status message alone: %+v", n, msgs)
	}
	release()
	e.waitFor(t, "outcome", func(m slackfake.Message) bool {
		return m.Method == "chat.postMessage" && m.ThreadTS != "" && strings.Contains(m.Text, "now an experiencer")
	})
}

// The outcome is posted before the QR code is fetched: a held QR code fetch
// does not hold the answer, and a failed one still leaves it in the thread.
func TestOutcomeBeforeQRCode(t *testing.T) {
	e := start(t)
	release := e.wechat.Hold("/wxa/get_qrcode")
	defer release()
	e.slash(binder, channel, "shop tester_one")
	waitCalls(t, e, "/wxa/get_qrcode", 1)
	e.waitFor(t, "outcome while the QR code is held", func(m slackfake.Message) bool {
		return m.Method == "chat.postMessage" && m.ThreadTS != "" && strings.Contains(m.Text, "now an experiencer")
	})
	if n := len(find(e.slack.Messages(), "file")); n != 0 {
		t.Fatalf("%d files before the QR code was fetched", n)
	}
	release()
	e.waitFor(t, "QR code", func(m slackfake.Message) bool { return m.Method == "file" })

	e.wechat.FailNext("/wxa/get_qrcode", 1, 48001)
	e.slash(binder, channel, "shop tester_two")
	msgs := e.waitFor(t, "how to open it without a QR code", func(m slackfake.Message) bool {
		return m.Method == "chat.postMessage" && strings.Contains(m.Text, "Version Management")
	})
	found := false
	for _, m := range msgs {
		found = found || (m.Method == "chat.postMessage" && strings.Contains(m.Text, "`te***wo` is now an experiencer"))
	}
	if !found {
		t.Errorf("a failed QR code fetch lost the outcome: %+v", msgs)
	}
}

// Past MaxInFlight, a command is answered at once that the bot is busy, and
// nothing is done for it; once the others finish, commands are taken again.
func TestInFlightBoundAnswersBusy(t *testing.T) {
	e := startWith(t, options{maxInFlight: 2})
	release := e.wechat.Hold("/wxa/bind_tester")
	defer release()
	e.slash(binder, channel, "shop held_one")
	e.slash(binder, channel, "shop held_two")
	waitCalls(t, e, "/wxa/bind_tester", 2)

	e.slash(binder, channel, "shop third_one")
	e.waitFor(t, "busy answer", func(m slackfake.Message) bool {
		return m.Method == "response_url" && strings.Contains(m.Text, "try again in a minute")
	})
	if n := e.wechat.Calls("/wxa/bind_tester"); n != 2 {
		t.Errorf("bind_tester called %d times, want 2: a busy answer does nothing", n)
	}
	release()
	waitCount(t, e, "file", 2)
	// The two are all but over (their last store write may still be going):
	// asking again soon is taken.
	for busy := 1; ; busy++ {
		e.slash(binder, channel, "shop third_one")
		msgs := e.waitFor(t, "an answer to asking again", func(m slackfake.Message) bool {
			return m.Method == "chat.postMessage" && strings.Contains(m.Text, "th***ne")
		}, func(ms []slackfake.Message) bool { return countBusy(ms) > busy })
		if countBusy(msgs) <= busy {
			break
		}
		if busy > 20 {
			t.Fatal("still busy long after the held commands finished")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.waitFor(t, "the command taken once there is room", func(m slackfake.Message) bool {
		return m.Method == "chat.update" && strings.Contains(m.Text, "th***ne")
	})
	if e.wechat.UserStr(appID, "third_one") == "" {
		t.Error("third_one is not an experiencer after the retry")
	}
}

// waitCalls waits until WeChat has received n calls to path.
func waitCalls(t *testing.T, e *env, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.wechat.Calls(path) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s called %d times, want %d", path, e.wechat.Calls(path), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitCount waits until the fake Slack has recorded n messages of method.
func waitCount(t *testing.T, e *env, method string, n int) {
	t.Helper()
	if _, ok := e.slack.WaitMessages(10*time.Second, func(ms []slackfake.Message) bool { return len(find(ms, method)) >= n }); !ok {
		t.Fatalf("fewer than %d %s recorded", n, method)
	}
}

func countBusy(ms []slackfake.Message) int {
	n := 0
	for _, m := range ms {
		if m.Method == "response_url" && strings.Contains(m.Text, "try again in a minute") {
			n++
		}
	}
	return n
}

// Connections to Slack are reused, uploads included (slack-go closes the
// upload's answer unread, which alone would cost a connection per QR code):
// binds one after another need the Socket Mode connection and a couple of
// Web API connections, however many binds there are. The same for WeChat.
func TestConnectionsReused(t *testing.T) {
	e := start(t)
	e.wechat.SetSlotLimit(appID, 100)
	const binds = 10
	before := e.slack.NewConnections()
	for i := range binds {
		e.slash(binder, channel, fmt.Sprintf("shop reuse_%02d", i))
		waitCount(t, e, "file", i+1)
	}
	if got := e.slack.NewConnections() - before; got > 2 {
		t.Errorf("%d binds with QR codes opened %d new connections to Slack, want at most 2", binds, got)
	}
	if got := e.wechat.NewConnections(); got > 3 {
		t.Errorf("%d binds opened %d connections to WeChat, want at most 3", binds, got)
	}
}
