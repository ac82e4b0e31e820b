package slackfake_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/bindtester/bindtester/bot/slackfake"
)

const (
	botToken = "xoxb-test-bot"
	appToken = "xapp-test-app"
	wait     = 5 * time.Second
)

// bot runs slack-go's real Socket Mode client against a fake, acks every request first and
// hands it to the test.
type bot struct {
	events chan socketmode.Event
	done   chan error // RunContext's result
}

func newFake(t *testing.T) *slackfake.Server {
	t.Helper()
	fake := slackfake.NewServer(botToken, appToken)
	t.Cleanup(fake.Close)
	return fake
}

func newAPI(fake *slackfake.Server, token string) *slack.Client {
	return slack.New(token, slack.OptionAppLevelToken(appToken), slack.OptionAPIURL(fake.URL))
}

func startBot(t *testing.T, fake *slackfake.Server, appTok string, opts ...socketmode.Option) *bot {
	t.Helper()
	client := socketmode.New(slack.New(botToken, slack.OptionAppLevelToken(appTok), slack.OptionAPIURL(fake.URL)), opts...)
	ctx, cancel := context.WithCancel(context.Background())
	b := &bot{events: make(chan socketmode.Event, 100), done: make(chan error, 1)}
	go func() { b.done <- client.RunContext(ctx) }()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-client.Events:
				switch evt.Type {
				case socketmode.EventTypeSlashCommand, socketmode.EventTypeEventsAPI, socketmode.EventTypeInteractive:
					_ = client.Ack(*evt.Request)
					b.events <- evt
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-b.done:
		case <-time.After(wait):
			t.Error("RunContext did not return after cancel")
		}
	})
	return b
}

func (b *bot) next(t *testing.T, want socketmode.EventType) socketmode.Event {
	t.Helper()
	select {
	case evt := <-b.events:
		if evt.Type != want {
			t.Fatalf("event type = %q, want %q", evt.Type, want)
		}
		return evt
	case <-time.After(wait):
		t.Fatalf("no %q event", want)
	}
	return socketmode.Event{}
}

func TestSlashCommandIsDeliveredAndAcked(t *testing.T) {
	fake := newFake(t)
	// Sent before any connection: must wait for the client.
	queued := fake.SlashCommand(slackfake.SlashCommand{Text: "early", UserID: "U1", ChannelID: "C1"})
	b := startBot(t, fake, appToken)

	evt := b.next(t, socketmode.EventTypeSlashCommand)
	if cmd := evt.Data.(slack.SlashCommand); cmd.Text != "early" || evt.Request.EnvelopeID != queued {
		t.Fatalf("queued command = %+v (envelope %s), want text early, envelope %s", cmd, evt.Request.EnvelopeID, queued)
	}

	id := fake.SlashCommand(slackfake.SlashCommand{
		Text: "wx1234567890abcdef alice_wx", UserID: "U2", UserName: "bob", ChannelID: "C2", ChannelName: "qa",
	})
	evt = b.next(t, socketmode.EventTypeSlashCommand)
	cmd := evt.Data.(slack.SlashCommand)
	if cmd.Command != "/bindtester" || cmd.Text != "wx1234567890abcdef alice_wx" || cmd.UserID != "U2" ||
		cmd.UserName != "bob" || cmd.ChannelID != "C2" || cmd.TeamID != slackfake.TeamID ||
		cmd.TriggerID == "" || !evt.Request.AcceptsResponsePayload {
		t.Fatalf("slash command = %+v", cmd)
	}
	if !fake.WaitAck(id, wait) || !fake.WaitAck(queued, wait) {
		t.Fatal("acks not seen")
	}
	if n := fake.AckCount(id); n != 1 {
		t.Fatalf("AckCount = %d, want 1", n)
	}

	// The response_url points at the fake, which records what is posted to it.
	if !strings.HasPrefix(cmd.ResponseURL, "http://127.0.0.1:") {
		t.Fatalf("response_url = %q", cmd.ResponseURL)
	}
	if err := slack.PostWebhook(cmd.ResponseURL, &slack.WebhookMessage{Text: "bound", ResponseType: "ephemeral"}); err != nil {
		t.Fatal(err)
	}
	api := newAPI(fake, botToken)
	if _, _, err := api.PostMessage("", slack.MsgOptionText("replaced", false), slack.MsgOptionReplaceOriginal(cmd.ResponseURL)); err != nil {
		t.Fatal(err)
	}
	got := fake.Messages()
	if len(got) != 2 {
		t.Fatalf("messages = %+v", got)
	}
	if m := got[0]; m.Method != "response_url" || m.Text != "bound" || m.ResponseType != "ephemeral" || m.Channel != "C2" || m.User != "U2" {
		t.Fatalf("webhook recorded as %+v", m)
	}
	if m := got[1]; m.Text != "replaced" || !m.ReplaceOriginal {
		t.Fatalf("replace_original recorded as %+v", m)
	}
}

func TestAppMentionAndRedelivery(t *testing.T) {
	fake := newFake(t)
	b := startBot(t, fake, appToken)

	id := fake.AppMention(slackfake.AppMention{UserID: "U1", ChannelID: "C1", Text: "<@UBOT> wx1 alice", ThreadTS: "1699999999.000100"})
	evt := b.next(t, socketmode.EventTypeEventsAPI)
	outer := evt.Data.(slackevents.EventsAPIEvent)
	mention, ok := outer.InnerEvent.Data.(*slackevents.AppMentionEvent)
	if !ok || outer.Type != slackevents.CallbackEvent {
		t.Fatalf("event = %+v", outer)
	}
	if mention.User != "U1" || mention.Channel != "C1" || mention.Text != "<@UBOT> wx1 alice" ||
		mention.ThreadTimeStamp != "1699999999.000100" || mention.TimeStamp == "" {
		t.Fatalf("app_mention = %+v", mention)
	}
	eventID := outer.Data.(*slackevents.EventsAPICallbackEvent).EventID
	if !fake.WaitAck(id, wait) {
		t.Fatal("ack not seen")
	}

	again := fake.Redeliver(id)
	evt = b.next(t, socketmode.EventTypeEventsAPI)
	redelivered := evt.Data.(slackevents.EventsAPIEvent).Data.(*slackevents.EventsAPICallbackEvent)
	if again == id || evt.Request.EnvelopeID != again || redelivered.EventID != eventID ||
		evt.Request.RetryAttempt != 1 || evt.Request.RetryReason != "timeout" {
		t.Fatalf("redelivery: envelope %s (was %s), event %s (was %s), retry %d %q",
			evt.Request.EnvelopeID, id, redelivered.EventID, eventID, evt.Request.RetryAttempt, evt.Request.RetryReason)
	}

	// Any other inner event goes through Event.
	fake.Event(map[string]any{"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "1700000001.000100"})
	evt = b.next(t, socketmode.EventTypeEventsAPI)
	if msg, ok := evt.Data.(slackevents.EventsAPIEvent).InnerEvent.Data.(*slackevents.MessageEvent); !ok || msg.Text != "hi" {
		t.Fatalf("message event = %+v", evt.Data)
	}
}

func TestBlockActionIsInteractive(t *testing.T) {
	fake := newFake(t)
	b := startBot(t, fake, appToken)

	id := fake.BlockAction(slackfake.BlockAction{
		UserID: "U1", ChannelID: "C1", MessageTS: "1700000000.000100", ActionID: "unbind", BlockID: "b1", Value: "wx1",
	})
	evt := b.next(t, socketmode.EventTypeInteractive)
	cb := evt.Data.(slack.InteractionCallback)
	if cb.Type != slack.InteractionTypeBlockActions || cb.User.ID != "U1" || cb.Channel.ID != "C1" ||
		cb.Container.MessageTs != "1700000000.000100" || cb.Message.Timestamp != "1700000000.000100" ||
		cb.ResponseURL == "" || cb.TriggerID == "" || len(cb.ActionCallback.BlockActions) != 1 {
		t.Fatalf("callback = %+v", cb)
	}
	if a := cb.ActionCallback.BlockActions[0]; a.ActionID != "unbind" || a.BlockID != "b1" || a.Value != "wx1" {
		t.Fatalf("action = %+v", a)
	}
	if !fake.WaitAck(id, wait) {
		t.Fatal("ack not seen")
	}
}

func TestClientReconnects(t *testing.T) {
	tests := []struct {
		name string
		cut  func(*slackfake.Server)
	}{
		{"dropped connection", (*slackfake.Server).DropConnection},
		{"disconnect refresh_requested", func(s *slackfake.Server) { s.Disconnect("refresh_requested") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			b := startBot(t, fake, appToken)
			if !fake.WaitConnections(1, wait) {
				t.Fatal("no first connection")
			}
			tt.cut(fake)
			if !fake.WaitConnections(2, wait) {
				t.Fatalf("Connections() = %d, want 2", fake.Connections())
			}
			id := fake.SlashCommand(slackfake.SlashCommand{Text: "after", UserID: "U1", ChannelID: "C1"})
			if cmd := b.next(t, socketmode.EventTypeSlashCommand).Data.(slack.SlashCommand); cmd.Text != "after" {
				t.Fatalf("text = %q", cmd.Text)
			}
			if !fake.WaitAck(id, wait) {
				t.Fatal("ack not seen")
			}
			if n := fake.Connections(); n != 2 {
				t.Fatalf("Connections() = %d, want 2", n)
			}
		})
	}
}

func TestPingsKeepConnectionAlive(t *testing.T) {
	fake := newFake(t)
	fake.SetPingInterval(50 * time.Millisecond)
	startBot(t, fake, appToken, socketmode.OptionPingInterval(250*time.Millisecond))
	if !fake.WaitConnections(1, wait) {
		t.Fatal("no connection")
	}
	time.Sleep(800 * time.Millisecond) // several of the client's ping checks
	if n := fake.Connections(); n != 1 {
		t.Fatalf("Connections() = %d: the client thought pings stopped", n)
	}
}

func TestInvalidAppTokenStopsRunContext(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		revoked bool
	}{
		{"wrong app token", "xapp-wrong", false},
		{"revoked app token", appToken, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			fake.SetAppTokenRevoked(tt.revoked)
			b := startBot(t, fake, tt.token)
			select {
			case err := <-b.done:
				var slackErr slack.SlackErrorResponse
				if !errors.As(err, &slackErr) || slackErr.Err != "invalid_auth" {
					t.Fatalf("RunContext = %v (%T), want invalid_auth", err, err)
				}
				b.done <- err // for the cleanup
			case <-time.After(wait):
				t.Fatal("RunContext kept running")
			}
			if fake.Connections() != 0 || fake.Calls("apps.connections.open") != 1 {
				t.Fatalf("connections %d, opens %d", fake.Connections(), fake.Calls("apps.connections.open"))
			}
		})
	}
}
