package slackfake_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/bindtester/bindtester/bot/slackfake"
)

// apiWith is a Web API client on its own HTTP transport, so its connections are its own.
func apiWith(fake *slackfake.Server, keepAlive bool) (*slack.Client, *http.Transport) {
	tr := &http.Transport{DisableKeepAlives: !keepAlive}
	return slack.New(botToken, slack.OptionAppLevelToken(appToken), slack.OptionAPIURL(fake.URL),
		slack.OptionHTTPClient(&http.Client{Transport: tr})), tr
}

func TestNewConnectionsCountsEveryAcceptedConnection(t *testing.T) {
	tests := []struct {
		name      string
		keepAlive bool
		want      int
	}{
		{"keep-alive: one connection for three calls", true, 1},
		{"no keep-alive: one connection per call", false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			api, tr := apiWith(fake, tt.keepAlive)
			defer tr.CloseIdleConnections()
			for range 3 {
				if _, err := api.AuthTestContext(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if got := fake.NewConnections(); got != tt.want {
				t.Errorf("NewConnections = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestNewConnectionsCountsTheWebsocket(t *testing.T) {
	fake := newFake(t)
	startBot(t, fake, appToken)
	if !fake.WaitConnections(1, wait) {
		t.Fatal("no Socket Mode connection")
	}
	// apps.connections.open on one connection, the websocket on another.
	if got := fake.NewConnections(); got < 2 {
		t.Errorf("NewConnections = %d after a Socket Mode connection, want at least 2", got)
	}
}

func TestSetRoundTripDelaysEveryRequest(t *testing.T) {
	const rtt = 60 * time.Millisecond
	fake := newFake(t)
	fake.SetRoundTrip(rtt)
	api, tr := apiWith(fake, true)
	defer tr.CloseIdleConnections()
	ctx := context.Background()

	short, cancel := context.WithTimeout(ctx, rtt/4)
	defer cancel()
	if _, err := api.AuthTestContext(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("auth.test within a quarter of the round trip: %v, want a deadline error", err)
	}

	// A call on a new connection pays the handshake and the round trip; one on a reused
	// connection pays the round trip. Only lower bounds are checked.
	tr.CloseIdleConnections()
	begin := time.Now()
	if _, err := api.AuthTestContext(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < 2*rtt {
		t.Errorf("auth.test on a new connection took %v, want at least handshake + round trip = %v", took, 2*rtt)
	}
	begin = time.Now()
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hi", false)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < rtt {
		t.Errorf("chat.postMessage took %v, want at least the round trip %v", took, rtt)
	}

	// SetLatency adds to the round trip; a response_url post waits too.
	fake.SetLatency("auth.test", time.Second)
	short2, cancel2 := context.WithTimeout(ctx, time.Second)
	defer cancel2()
	if _, err := api.AuthTestContext(short2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("auth.test with latency 1s on top of the round trip, within 1s: %v", err)
	}
	b := startBot(t, fake, appToken)
	fake.SlashCommand(slackfake.SlashCommand{Text: "x", UserID: "U1", ChannelID: "C2"})
	url := b.next(t, socketmode.EventTypeSlashCommand).Data.(slack.SlashCommand).ResponseURL
	begin = time.Now()
	if err := slack.PostWebhook(url, &slack.WebhookMessage{Text: "answer"}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < rtt {
		t.Errorf("response_url post took %v, want at least the round trip %v", took, rtt)
	}
}

func TestOnMessageAndEnvelopeTimes(t *testing.T) {
	fake := newFake(t)
	var (
		mu  sync.Mutex
		got []slackfake.Message
	)
	fake.OnMessage(func(m slackfake.Message) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m)
	})
	b := startBot(t, fake, appToken)

	before := time.Now()
	id := fake.SlashCommand(slackfake.SlashCommand{Text: "x", UserID: "U1", ChannelID: "C1"})
	cmd := b.next(t, socketmode.EventTypeSlashCommand).Data.(slack.SlashCommand)
	if !fake.WaitAck(id, wait) {
		t.Fatal("no ack")
	}
	sent, acked := fake.EnvelopeTimes(id)
	if sent.Before(before) || acked.Before(sent) {
		t.Errorf("EnvelopeTimes = sent %v, acked %v; sent before the command at %v or acked before sent", sent, acked, before)
	}
	if s, a := fake.EnvelopeTimes("unknown"); !s.IsZero() || !a.IsZero() {
		t.Errorf("EnvelopeTimes of an unknown envelope = %v, %v", s, a)
	}

	api := newAPI(fake, botToken)
	ctx := context.Background()
	_, parent, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("parent", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("reply", false), slack.MsgOptionTS(parent)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C1", parent, slack.MsgOptionText("done", false)); err != nil {
		t.Fatal(err)
	}
	if err := slack.PostWebhook(cmd.ResponseURL, &slack.WebhookMessage{Text: "only you"}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.UploadFileContext(ctx, slack.UploadFileParameters{
		Filename: "qr.jpg", Content: "JPEG", FileSize: 4, Channel: "C1", ThreadTimestamp: parent,
	}); err != nil {
		t.Fatal(err)
	}

	recorded := fake.Messages()
	mu.Lock()
	defer mu.Unlock()
	wantMethods := []string{"chat.postMessage", "chat.postMessage", "chat.update", "response_url", "file"}
	if len(got) != len(wantMethods) || len(recorded) != len(wantMethods) {
		t.Fatalf("OnMessage saw %+v; recorded %+v", got, recorded)
	}
	for i, m := range got {
		r := recorded[i]
		if m.Method != wantMethods[i] || r.Method != m.Method || r.Text != m.Text || !r.At.Equal(m.At) {
			t.Errorf("message %d: hook saw %s %q at %v, recorded %s %q at %v", i, m.Method, m.Text, m.At, r.Method, r.Text, r.At)
		}
		if m.At.Before(sent) || i > 0 && m.At.Before(got[i-1].At) {
			t.Errorf("message %d recorded at %v, before the envelope (%v) or the message before it", i, m.At, sent)
		}
	}
	if f := got[4]; f.ThreadTS != parent || string(f.FileBytes) != "JPEG" {
		t.Errorf("file recorded as %+v", f)
	}
}

func TestWaitMessagesMayCallTheFake(t *testing.T) {
	fake := newFake(t)
	api := newAPI(fake, botToken)
	go func() { _, _, _ = api.PostMessage("C1", slack.MsgOptionText("hi", false)) }()
	// done calling back into the fake must not deadlock it.
	if _, ok := fake.WaitMessages(wait, func([]slackfake.Message) bool { return len(fake.Messages()) == 1 }); !ok {
		t.Fatal("message not seen")
	}
}
