package slackfake_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/bindtester/bindtester/bot/slackfake"
)

func TestWebAPIRoundTrip(t *testing.T) {
	fake := newFake(t)
	api := newAPI(fake, botToken)
	ctx := context.Background()

	auth, err := api.AuthTestContext(ctx)
	if err != nil || auth.UserID != slackfake.BotUserID || auth.BotID != slackfake.BotID || auth.TeamID != slackfake.TeamID {
		t.Fatalf("auth.test = %+v, %v", auth, err)
	}

	parentCh, parentTS, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("parent", false),
		slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*parent*", false, false), nil, nil)))
	if err != nil || parentCh != "C1" || parentTS == "" {
		t.Fatalf("postMessage = %q %q %v", parentCh, parentTS, err)
	}
	_, replyTS, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("reply", false), slack.MsgOptionTS(parentTS))
	if err != nil || replyTS <= parentTS {
		t.Fatalf("reply ts %q after %q, %v", replyTS, parentTS, err)
	}
	dmCh, _, err := api.PostMessageContext(ctx, "U9", slack.MsgOptionText("dm", false))
	if err != nil || dmCh != "DU9" {
		t.Fatalf("DM to user landed in %q, %v", dmCh, err)
	}
	im, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U9"}})
	if err != nil || im.ID != dmCh {
		t.Fatalf("conversations.open = %+v, %v", im, err)
	}
	if _, err := api.PostEphemeralContext(ctx, "C1", "U2", slack.MsgOptionText("only you", false)); err != nil {
		t.Fatal(err)
	}
	if _, ts, _, err := api.UpdateMessageContext(ctx, "C1", parentTS, slack.MsgOptionText("parent, edited", false)); err != nil || ts != parentTS {
		t.Fatalf("update = %q, %v", ts, err)
	}
	file, err := api.UploadFileContext(ctx, slack.UploadFileParameters{
		Filename: "qr.jpg", Title: "Trial QR", Content: "JPEGDATA", FileSize: 8,
		Channel: "C1", ThreadTimestamp: parentTS, InitialComment: "scan me",
	})
	if err != nil || file.ID == "" || file.Title != "Trial QR" {
		t.Fatalf("upload = %+v, %v", file, err)
	}

	want := []slackfake.Message{
		{Method: "chat.postMessage", Channel: "C1", Text: "parent", TS: parentTS},
		{Method: "chat.postMessage", Channel: "C1", Text: "reply", ThreadTS: parentTS, TS: replyTS},
		{Method: "chat.postMessage", Channel: "DU9", Text: "dm"},
		{Method: "chat.postEphemeral", Channel: "C1", User: "U2", Text: "only you"},
		{Method: "chat.update", Channel: "C1", Text: "parent, edited", TS: parentTS},
		{Method: "file", Channel: "C1", ThreadTS: parentTS, Text: "scan me", FileName: "qr.jpg", FileTitle: "Trial QR"},
	}
	got, ok := fake.WaitMessages(time.Second, func(m []slackfake.Message) bool { return len(m) == len(want) })
	if !ok {
		t.Fatalf("messages = %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.Method != w.Method || g.Channel != w.Channel || g.User != w.User || g.Text != w.Text ||
			g.ThreadTS != w.ThreadTS || (w.TS != "" && g.TS != w.TS) || g.FileName != w.FileName || g.FileTitle != w.FileTitle {
			t.Errorf("message %d = %+v, want %+v", i, g, w)
		}
	}
	if !strings.Contains(got[0].Blocks, `"*parent*"`) || got[1].Blocks != "" {
		t.Errorf("blocks = %q, %q", got[0].Blocks, got[1].Blocks)
	}
	if string(got[5].FileBytes) != "JPEGDATA" {
		t.Errorf("file bytes = %q", got[5].FileBytes)
	}
	if n := fake.Calls("chat.postMessage"); n != 3 {
		t.Errorf("Calls(chat.postMessage) = %d, want 3", n)
	}
}

func TestUsersAndGroups(t *testing.T) {
	fake := newFake(t)
	fake.SetUser("U1", "alice", "zh-CN")
	fake.SetUserGroup("S1", []string{"U1", "U2"})
	api := newAPI(fake, botToken)

	u, err := api.GetUserInfo("U1")
	if err != nil || u.ID != "U1" || u.Name != "alice" || u.Locale != "zh-CN" {
		t.Fatalf("users.info = %+v, %v", u, err)
	}
	if _, err := api.GetUserInfo("U404"); err == nil || err.Error() != "user_not_found" {
		t.Fatalf("unknown user: %v", err)
	}
	members, err := api.GetUserGroupMembers("S1")
	if err != nil || strings.Join(members, ",") != "U1,U2" {
		t.Fatalf("usergroups.users.list = %v, %v", members, err)
	}
	if _, err := api.GetUserGroupMembers("S404"); err == nil || err.Error() != "no_such_subteam" {
		t.Fatalf("unknown group: %v", err)
	}
	if n := fake.Calls("usergroups.users.list"); n != 2 {
		t.Fatalf("Calls = %d, want 2", n)
	}
}

func TestFailures(t *testing.T) {
	fake := newFake(t)
	fake.SetChannelError("C2", "not_in_channel")
	api := newAPI(fake, botToken)
	ctx := context.Background()

	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"postMessage to a channel without the bot", func() error {
			_, _, err := api.PostMessageContext(ctx, "C2", slack.MsgOptionText("x", false))
			return err
		}, "not_in_channel"},
		{"postEphemeral to a channel without the bot", func() error {
			_, err := api.PostEphemeralContext(ctx, "C2", "U1", slack.MsgOptionText("x", false))
			return err
		}, "not_in_channel"},
		{"upload to a channel without the bot", func() error {
			_, err := api.UploadFileContext(ctx, slack.UploadFileParameters{Filename: "a", Content: "a", FileSize: 1, Channel: "C2"})
			return err
		}, "CompleteUploadExternal: not_in_channel"},
		{"wrong bot token", func() error {
			_, err := newAPI(fake, "xoxb-wrong").AuthTestContext(ctx)
			return err
		}, "invalid_auth"},
		{"app token on the Web API", func() error {
			_, err := newAPI(fake, appToken).AuthTestContext(ctx)
			return err
		}, "invalid_auth"},
		{"unknown method", func() error {
			_, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "C1"})
			return err
		}, "unknown_method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	var slackErr slack.SlackErrorResponse
	_, _, err := api.PostMessageContext(ctx, "C2", slack.MsgOptionText("x", false))
	if !errors.As(err, &slackErr) || slackErr.Err != "not_in_channel" {
		t.Fatalf("err = %#v, want SlackErrorResponse", err)
	}
	if got := fake.Messages(); len(got) != 0 {
		t.Fatalf("failed calls were recorded: %+v", got)
	}
}

func TestRateLimitAndLatency(t *testing.T) {
	fake := newFake(t)
	api := newAPI(fake, botToken)
	ctx := context.Background()

	fake.RateLimit("chat.postMessage", 1, 7)
	_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false))
	var limited *slack.RateLimitedError
	if !errors.As(err, &limited) || limited.RetryAfter != 7*time.Second {
		t.Fatalf("err = %v, want RateLimitedError after 7s", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false)); err != nil {
		t.Fatalf("second call: %v", err)
	}
	if n := fake.Calls("chat.postMessage"); n != 2 {
		t.Fatalf("Calls = %d, want 2", n)
	}

	fake.SetLatency("auth.test", time.Second)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := api.AuthTestContext(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow auth.test: %v", err)
	}
}

func TestResponseURLUseLimit(t *testing.T) {
	fake := newFake(t)
	b := startBot(t, fake, appToken)
	fake.SlashCommand(slackfake.SlashCommand{Text: "x", UserID: "U1", ChannelID: "C1"})
	url := b.next(t, "slash_commands").Data.(slack.SlashCommand).ResponseURL
	for i := range 6 {
		err := slack.PostWebhook(url, &slack.WebhookMessage{Text: "hi"})
		var status slack.StatusCodeError
		if i < 5 && err != nil || i == 5 && (!errors.As(err, &status) || status.Code != http.StatusNotFound) {
			t.Fatalf("post %d: %v", i+1, err)
		}
	}
}

func TestMessagesInThread(t *testing.T) {
	fake := newFake(t)
	api := newAPI(fake, botToken)
	ctx := context.Background()

	_, parent, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("parent", false))
	if err != nil {
		t.Fatal(err)
	}
	_, reply, _ := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("reply 1", false), slack.MsgOptionTS(parent))
	_, _, _ = api.PostMessageContext(ctx, "C1", slack.MsgOptionText("reply 2", false), slack.MsgOptionTS(parent))
	_, _, _, _ = api.UpdateMessageContext(ctx, "C1", reply, slack.MsgOptionText("reply 1, edited", false))
	_, _, _, _ = api.UpdateMessageContext(ctx, "C1", parent, slack.MsgOptionText("parent, edited", false))
	_, _, _ = api.PostMessageContext(ctx, "C2", slack.MsgOptionText("elsewhere", false), slack.MsgOptionTS(parent))
	_, _, _ = api.PostMessageContext(ctx, "U9", slack.MsgOptionText("dm", false))

	texts := func(ms []slackfake.Message) string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Method+":"+m.Text)
		}
		return strings.Join(out, ",")
	}
	tests := []struct{ channel, thread, want string }{
		{"C1", parent, "chat.postMessage:reply 1,chat.postMessage:reply 2,chat.update:reply 1, edited"},
		{"C1", "", "chat.postMessage:parent,chat.update:parent, edited"},
		{"C2", parent, "chat.postMessage:elsewhere"},
		{"U9", "", "chat.postMessage:dm"},
		{"DU9", "", "chat.postMessage:dm"},
		{"C3", "", ""},
	}
	for _, tt := range tests {
		if got := texts(fake.MessagesIn(tt.channel, tt.thread)); got != tt.want {
			t.Errorf("MessagesIn(%q, %q) = %q, want %q", tt.channel, tt.thread, got, tt.want)
		}
	}
}
