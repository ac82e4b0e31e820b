package slackbot_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/slackbot"
	"github.com/bindtester/bindtester/bot/slackfake"
	"github.com/bindtester/bindtester/bot/store"
	"github.com/bindtester/bindtester/wechat"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

const (
	appID    = "wx0123456789abcdef"
	binder   = "U0BINDER"
	admin    = "U0ADMIN"
	channel  = "C0QA"
	botToken = "xoxb-test-token"
	appToken = "xapp-test-token"
)

type env struct {
	slack  *slackfake.Server
	wechat *wechattest.Server
	bot    *bot.Bot
	store  *store.Store
	done   chan error
	cancel context.CancelFunc
}

// options changes what start builds: the app's policy, the bot's clock, the
// handler the adapter runs (the bot, unless wrap says otherwise), the store
// and the fakes.
type options struct {
	app  func(*bot.App)
	now  func() time.Time
	wrap func(*bot.Bot) slackbot.Handler
	// dsn is what the store opens (a postgres:// URL, or a SQLite path);
	// default a fresh SQLite file.
	dsn string
	// replicaOf, if set, makes this env another replica beside it: its own
	// adapter (a Socket Mode connection more), bot and store, on the same fake
	// Slack and fake WeChat, whose setup and cleanup stay with replicaOf.
	replicaOf *env
	// maxInFlight is the adapter's MaxInFlight (default its own).
	maxInFlight int
}

// start runs the real bot against a fake Slack and a fake WeChat.
func start(t testing.TB) *env { return startWith(t, options{}) }

// startWith runs the real adapter, bot and store (SQLite unless o.dsn says
// otherwise) against a fake Slack and a fake WeChat.
func startWith(t testing.TB, o options) *env {
	t.Helper()
	var sl *slackfake.Server
	var wx *wechattest.Server
	if o.replicaOf != nil {
		sl, wx = o.replicaOf.slack, o.replicaOf.wechat
	} else {
		sl = slackfake.NewServer(botToken, appToken)
		wx = wechattest.NewServer()
		t.Cleanup(wx.Close)
		t.Cleanup(sl.Close)
		wx.AddApp(appID, "app-secret")
		sl.SetUserGroup("S0QATEAM", nil)
	}
	live := len(sl.LiveConnections())
	dsn := o.dsn
	if dsn == "" {
		dsn = filepath.Join(t.TempDir(), "bindtester.db")
	}
	st, err := store.Open(context.Background(), dsn, bytes.Repeat([]byte{7}, store.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // runs after Run has returned (cleanups run last-in first-out)
	// Wired as bindtester run wires it: tokens shared through the store,
	// redeliveries recognized across replicas.
	tr := wechat.NewTransport(wechat.Config{BaseURL: wx.URL, Backoff: time.Millisecond})
	client := wechat.NewClient(tr, wechat.NewTokenCache(wechat.SharedTokens{Store: st.Tokens(), Prefix: "app:",
		Fetcher: wechat.StableTokens{T: tr, Secret: func(string) (string, bool) { return "app-secret", true }}}, 0))
	adapter := slackbot.New(slackbot.Config{BotToken: botToken, AppToken: appToken, APIURL: sl.URL, Grace: 5 * time.Second,
		MaxInFlight: o.maxInFlight,
		Seen:        func(ctx context.Context, key string) (bool, error) { return st.FirstSeen(ctx, key, time.Now()) },
		HomeViewers: st})
	app := bot.App{ID: appID, Name: "Shop", Aliases: []string{"shop"}, Binders: []string{binder, "S0QATEAM"}, Slots: 15}
	if o.app != nil {
		o.app(&app)
	}
	policy := &bot.Policy{Admins: []string{admin}, Apps: []bot.App{app}}
	b := bot.New(bot.Options{Policy: policy, WeChat: client, Timeout: 5 * time.Second,
		Groups:  bot.NewGroupCache(slackbot.GroupMembers{API: adapter.API()}, time.Minute, 15*time.Minute),
		Locales: &slackbot.Locales{API: adapter.API()}, Store: st, Messenger: adapter, Homes: adapter, Now: o.now})
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{slack: sl, wechat: wx, bot: b, store: st, done: make(chan error, 1), cancel: cancel}
	var h slackbot.Handler = b
	if o.wrap != nil {
		h = o.wrap(b)
	}
	go func() { e.done <- adapter.Run(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-e.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	if !sl.WaitLiveConnections(live+1, 5*time.Second) {
		t.Fatal("bot never connected")
	}
	return e
}

func (e *env) slash(user, ch, text string) string {
	return e.slack.SlashCommand(slackfake.SlashCommand{Text: text, UserID: user, ChannelID: ch})
}

// waitFor waits until a message matching pred has been recorded, or one of
// or holds for all messages, and returns all messages.
func (e *env) waitFor(t testing.TB, what string, pred func(slackfake.Message) bool, or ...func([]slackfake.Message) bool) []slackfake.Message {
	t.Helper()
	msgs, ok := e.slack.WaitMessages(10*time.Second, func(ms []slackfake.Message) bool {
		for _, m := range ms {
			if pred(m) {
				return true
			}
		}
		for _, f := range or {
			if f(ms) {
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("no %s; messages: %+v", what, msgs)
	}
	return msgs
}

func find(msgs []slackfake.Message, method string) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range msgs {
		if m.Method == method {
			out = append(out, m)
		}
	}
	return out
}

func isUpdate(m slackfake.Message) bool { return m.Method == "chat.update" }

func TestPermittedBindAnswersInAThread(t *testing.T) {
	e := start(t)
	id := e.slash(binder, channel, "shop tester_one")
	if !e.slack.WaitAck(id, 5*time.Second) {
		t.Fatal("envelope not acked")
	}
	e.waitFor(t, "summary update", isUpdate)
	msgs := e.waitFor(t, "QR code", func(m slackfake.Message) bool { return m.Method == "file" })
	posts := find(msgs, "chat.postMessage")
	if len(posts) < 2 {
		t.Fatalf("want parent and thread reply, got %+v", posts)
	}
	parent, reply := posts[0], posts[1]
	if parent.Channel != channel || parent.ThreadTS != "" || !strings.Contains(parent.Text, "<@"+binder+">") ||
		!strings.Contains(parent.Text, "te***ne") || !strings.Contains(parent.Text, "Shop") || !strings.Contains(parent.Text, "working") {
		t.Errorf("parent = %+v", parent)
	}
	if reply.ThreadTS != parent.TS || !strings.Contains(reply.Text, "now an experiencer") {
		t.Errorf("thread reply = %+v (parent ts %s)", reply, parent.TS)
	}
	files := find(msgs, "file")
	if len(files) != 1 || files[0].ThreadTS != parent.TS || len(files[0].FileBytes) == 0 || !strings.Contains(files[0].Text, "QR code") {
		t.Errorf("QR code file = %+v", files)
	}
	upd := find(msgs, "chat.update")[0]
	if upd.TS != parent.TS || !strings.HasPrefix(upd.Text, "✅") {
		t.Errorf("update = %+v", upd)
	}
	for _, m := range msgs {
		if strings.Contains(m.Text, "tester_one") {
			t.Errorf("full WeChat ID shown in Slack: %+v", m)
		}
	}
	if got := e.wechat.UserStr(appID, "tester_one"); got == "" {
		t.Error("WeChat has no binding")
	}
}

func TestOutcomesAreExplainedInTheThread(t *testing.T) {
	tests := []struct {
		name, wechatID string
		setup          func(*wechattest.Server)
		want           string
		ok             bool
	}{
		{"85001 not found", "hidden_user", func(f *wechattest.Server) { f.SetOutcome("hidden_user", 85001) }, "Add Me By", false},
		{"85002 slots full", "late_tester", func(f *wechattest.Server) { f.SetSlotLimit(appID, 1); f.AddExperiencer(appID, "early_tester") }, "no free experiencer slots", false},
		{"85003 too many apps", "busy_person", func(f *wechattest.Server) { f.SetOutcome("busy_person", 85003) }, "50 Mini Programs", false},
		{"85004 already bound", "old_tester", func(f *wechattest.Server) { f.AddExperiencer(appID, "old_tester") }, "Nothing to do", true},
		{"-1 busy: may have worked, asked again later", "any_tester", func(f *wechattest.Server) { f.FailNext("/wxa/bind_tester", 3, -1) }, "could not tell whether WeChat did it", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t)
			tt.setup(e.wechat)
			e.slash(binder, channel, "shop "+tt.wechatID)
			msgs := e.waitFor(t, "summary update", isUpdate)
			posts := find(msgs, "chat.postMessage")
			if len(posts) < 2 || !strings.Contains(posts[1].Text, tt.want) || posts[1].ThreadTS != posts[0].TS {
				t.Fatalf("thread reply does not say %q: %+v", tt.want, posts)
			}
			upd := find(msgs, "chat.update")[0].Text
			if strings.HasPrefix(upd, "✅") != tt.ok {
				t.Errorf("summary %q, want ok=%v", upd, tt.ok)
			}
		})
	}
}

func TestDeniedUserGetsEphemeralReasonAndWeChatSeesNothing(t *testing.T) {
	e := start(t)
	id := e.slash("U0STRANGER", channel, "shop tester_one")
	msgs := e.waitFor(t, "ephemeral denial", func(m slackfake.Message) bool { return m.Method == "response_url" })
	deny := find(msgs, "response_url")[0]
	if deny.ResponseType != "ephemeral" || !strings.Contains(deny.Text, "may not bind testers to *Shop*") || !strings.Contains(deny.Text, "<@"+admin+">") {
		t.Errorf("denial = %+v", deny)
	}
	if !e.slack.WaitAck(id, time.Second) {
		t.Error("not acked")
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(find(e.slack.Messages(), "chat.postMessage")); n != 0 {
		t.Errorf("%d public messages for a denied request", n)
	}
	if c := e.wechat.Calls("/wxa/bind_tester"); c != 0 {
		t.Errorf("WeChat saw %d bind calls", c)
	}
}

func TestMalformedInputGetsUsageAndEscaping(t *testing.T) {
	tests := []struct{ text, want, mustNot string }{
		{"wx12 tester_one", "not a valid appid", ""},
		{"shop 12345", "not a valid WeChat ID", ""},
		{"shop tester_one extra", "Too many words", ""},
		{"frobnicate", "don't know the command", ""},
		{"shop <!channel>", "&lt;!channel&gt;", "<!channel>"},
		{"shop <@U123>", "&lt;@U123&gt;", "<@U123>"},
		{"<!here> x", "&lt;!here&gt;", "<!here>"},
	}
	e := start(t)
	for _, tt := range tests {
		before := len(e.slack.Messages())
		e.slash(binder, channel, tt.text)
		msgs := e.waitFor(t, "usage for "+tt.text, func(m slackfake.Message) bool {
			return false || m.Method == "response_url" && strings.Contains(m.Text, tt.want)
		})
		for _, m := range msgs[before:] {
			if tt.mustNot != "" && strings.Contains(m.Text, tt.mustNot) {
				t.Errorf("%q: raw input reached Slack: %q", tt.text, m.Text)
			}
			if m.Method != "response_url" {
				t.Errorf("%q: public message %+v", tt.text, m)
			}
		}
	}
	if c := e.wechat.Calls("/wxa/bind_tester"); c != 0 {
		t.Errorf("WeChat saw %d bind calls", c)
	}
}

func TestAckedWhileWeChatIsBlocked(t *testing.T) {
	e := start(t)
	release := e.wechat.Hold("/wxa/bind_tester")
	id := e.slash(binder, channel, "shop tester_one")
	if !e.slack.WaitAck(id, 2*time.Second) {
		t.Fatal("envelope not acked while WeChat was blocked")
	}
	// And a second command is acked too while the first is still stuck.
	id2 := e.slash(binder, channel, "help")
	if !e.slack.WaitAck(id2, 2*time.Second) {
		t.Fatal("second envelope not acked")
	}
	if n := len(find(e.slack.Messages(), "chat.update")); n != 0 {
		t.Fatal("answered before WeChat did")
	}
	release()
	e.waitFor(t, "summary after release", isUpdate)
}

func TestReconnectsAfterDropAndRefresh(t *testing.T) {
	e := start(t)
	e.slack.DropConnection()
	if !e.slack.WaitConnections(2, 10*time.Second) {
		t.Fatal("no reconnect after a dropped socket")
	}
	id := e.slash(binder, channel, "shop tester_one")
	if !e.slack.WaitAck(id, 5*time.Second) {
		t.Fatal("command after reconnect not acked")
	}
	e.waitFor(t, "answer after reconnect", isUpdate)

	e.slack.Disconnect("refresh_requested")
	if !e.slack.WaitConnections(3, 10*time.Second) {
		t.Fatal("no reconnect after refresh_requested")
	}
	id = e.slash(binder, channel, "shop tester_two")
	if !e.slack.WaitAck(id, 5*time.Second) {
		t.Fatal("command after refresh not acked")
	}
	e.waitFor(t, "second answer", func(m slackfake.Message) bool { return isUpdate(m) && strings.Contains(m.Text, "te***wo") })
}

func TestNotInChannelFallsBackToResponseURL(t *testing.T) {
	e := start(t)
	e.slack.SetChannelError("C0PRIVATE", "not_in_channel")
	e.slash(binder, "C0PRIVATE", "shop tester_one")
	e.waitFor(t, "summary via response_url", func(m slackfake.Message) bool {
		return m.Method == "response_url" && strings.HasPrefix(m.Text, "✅")
	})
	msgs := e.waitFor(t, "note about the QR code via response_url", func(m slackfake.Message) bool {
		return m.Method == "response_url" && strings.Contains(m.Text, "invite me")
	})
	var texts []string
	for _, m := range find(msgs, "response_url") {
		texts = append(texts, m.Text)
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"working", "now an experiencer", "invite me"} {
		if !strings.Contains(all, want) {
			t.Errorf("response_url answers lack %q:\n%s", want, all)
		}
	}
	if e.wechat.UserStr(appID, "tester_one") == "" {
		t.Error("not bound")
	}
}

// Whatever stops the bot posting in the channel, the requester still gets
// the outcome, through the slash command's response_url.
func TestAnyPostErrorFallsBackToResponseURL(t *testing.T) {
	e := start(t)
	e.slack.SetChannelError("C0BROKEN", "fatal_error")
	e.slash(binder, "C0BROKEN", "shop tester_one")
	msgs := e.waitFor(t, "summary via response_url", func(m slackfake.Message) bool {
		return m.Method == "response_url" && strings.HasPrefix(m.Text, "✅")
	})
	var texts []string
	for _, m := range find(msgs, "response_url") {
		texts = append(texts, m.Text)
	}
	if all := strings.Join(texts, "\n"); !strings.Contains(all, "now an experiencer") {
		t.Errorf("response_url answers lack the outcome:\n%s", all)
	}
	if e.wechat.UserStr(appID, "tester_one") == "" {
		t.Error("not bound")
	}
}

// panicky panics on the command "panic" and hands the rest to the bot.
type panicky struct{ *bot.Bot }

func (p panicky) Handle(ctx context.Context, req bot.Request, conv bot.Conversation) error {
	if req.Text == "panic" {
		panic("a bug")
	}
	return p.Bot.Handle(ctx, req, conv)
}

// A panic in one command is logged and the bot keeps serving.
func TestPanicInACommandKeepsServing(t *testing.T) {
	e := startWith(t, options{wrap: func(b *bot.Bot) slackbot.Handler { return panicky{b} }})
	for range 9 { // more than the 8 workers: each panic gives its slot back
		if id := e.slash(binder, channel, "panic"); !e.slack.WaitAck(id, 5*time.Second) {
			t.Fatal("not acked")
		}
	}
	e.slash(binder, channel, "shop tester_one")
	e.waitFor(t, "summary after the panics", isUpdate)
}

func TestMentionInsideAThreadAnswersThere(t *testing.T) {
	e := start(t)
	id := e.slack.AppMention(slackfake.AppMention{UserID: binder, ChannelID: channel, Text: "<@" + slackfake.BotUserID + "> shop tester_one", ThreadTS: "1700000000.000001"})
	if !e.slack.WaitAck(id, 5*time.Second) {
		t.Fatal("event not acked")
	}
	msgs := e.waitFor(t, "summary", isUpdate)
	for _, m := range find(msgs, "chat.postMessage") {
		if m.ThreadTS != "1700000000.000001" {
			t.Errorf("answer outside the thread: %+v", m)
		}
	}
	// Redelivery of the same event is acked but handled once.
	re := e.slack.Redeliver(id)
	if !e.slack.WaitAck(re, 5*time.Second) {
		t.Fatal("redelivery not acked")
	}
	time.Sleep(200 * time.Millisecond)
	if c := e.wechat.Calls("/wxa/bind_tester"); c != 1 {
		t.Errorf("bind calls = %d, want 1", c)
	}
}

func TestMentionUsageErrorIsEphemeralInThread(t *testing.T) {
	e := start(t)
	e.slack.AppMention(slackfake.AppMention{UserID: binder, ChannelID: channel, Text: "<@" + slackfake.BotUserID + "> shop x", ThreadTS: "1700000000.000002"})
	msgs := e.waitFor(t, "ephemeral", func(m slackfake.Message) bool { return m.Method == "chat.postEphemeral" })
	m := find(msgs, "chat.postEphemeral")[0]
	if m.User != binder || m.ThreadTS != "1700000000.000002" || !strings.Contains(m.Text, "not a valid WeChat ID") {
		t.Errorf("ephemeral = %+v", m)
	}
}

func TestIgnoredEnvelopesAreAcked(t *testing.T) {
	e := start(t)
	id := e.slack.Event(map[string]any{"type": "message", "channel": channel, "user": binder, "text": "hello", "ts": "1700000000.000009"})
	if !e.slack.WaitAck(id, 5*time.Second) {
		t.Fatal("ignored event not acked")
	}
	id = e.slack.BlockAction(slackfake.BlockAction{UserID: binder, ChannelID: channel, MessageTS: "1.2", ActionID: "unknown", BlockID: "b", Value: "v"})
	if !e.slack.WaitAck(id, 5*time.Second) {
		t.Fatal("interactive envelope not acked")
	}
}

func TestAnswersInTheUsersLanguage(t *testing.T) {
	e := start(t)
	e.slack.SetUser(binder, "Li", "zh-CN")
	e.slash(binder, channel, "shop tester_one")
	msgs := e.waitFor(t, "summary", isUpdate)
	if reply := find(msgs, "chat.postMessage")[1].Text; !strings.Contains(reply, "体验者") {
		t.Errorf("reply not in Chinese: %q", reply)
	}
}

func TestUserGroupMemberMayBind(t *testing.T) {
	e := start(t)
	e.slack.SetUserGroup("S0QATEAM", []string{"U0GROUPIE"})
	e.slash("U0GROUPIE", channel, "shop tester_one")
	e.waitFor(t, "summary", isUpdate)
	e.slash("U0GROUPIE", channel, "shop tester_two")
	e.waitFor(t, "second summary", func(m slackfake.Message) bool { return isUpdate(m) && strings.Contains(m.Text, "te***wo") })
	if c := e.slack.Calls("usergroups.users.list"); c != 1 {
		t.Errorf("usergroups.users.list calls = %d, want 1 (cached)", c)
	}
}

func TestRateLimitIsWaitedOut(t *testing.T) {
	e := start(t)
	e.slack.RateLimit("chat.postMessage", 1, 1)
	e.slash(binder, channel, "shop tester_one")
	msgs := e.waitFor(t, "summary despite a 429", isUpdate)
	if len(find(msgs, "chat.postMessage")) < 2 {
		t.Fatalf("messages lost after 429: %+v", msgs)
	}
	if e.slack.Calls("chat.postMessage") < 3 {
		t.Errorf("429 was not retried (calls %d)", e.slack.Calls("chat.postMessage"))
	}
}

func TestInvalidAppTokenStopsRun(t *testing.T) {
	sl := slackfake.NewServer(botToken, appToken)
	defer sl.Close()
	sl.SetAppTokenRevoked(true)
	adapter := slackbot.New(slackbot.Config{BotToken: botToken, AppToken: appToken, APIURL: sl.URL})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := adapter.Run(ctx, bot.New(bot.Options{Policy: &bot.Policy{}}))
	if !errors.Is(err, slackbot.ErrAuth) || !strings.Contains(err.Error(), "SLACK_APP_TOKEN") {
		t.Fatalf("err = %v, want ErrAuth naming SLACK_APP_TOKEN", err)
	}
	if strings.Contains(err.Error(), appToken) {
		t.Fatal("error shows the token")
	}
}

func TestInvalidBotTokenStopsRun(t *testing.T) {
	sl := slackfake.NewServer(botToken, appToken)
	defer sl.Close()
	adapter := slackbot.New(slackbot.Config{BotToken: "xoxb-wrong", AppToken: appToken, APIURL: sl.URL})
	err := adapter.Run(context.Background(), bot.New(bot.Options{Policy: &bot.Policy{}}))
	if !errors.Is(err, slackbot.ErrAuth) || !strings.Contains(err.Error(), "SLACK_BOT_TOKEN") {
		t.Fatalf("err = %v", err)
	}
}

// In-flight commands finish after shutdown starts.
func TestShutdownFinishesInFlightWork(t *testing.T) {
	e := start(t)
	release := e.wechat.Hold("/wxa/bind_tester")
	e.slash(binder, channel, "shop tester_one")
	e.waitFor(t, "parent", func(m slackfake.Message) bool { return m.Method == "chat.postMessage" })
	e.cancel()
	time.Sleep(100 * time.Millisecond)
	release()
	select {
	case err := <-e.done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
		e.done <- nil // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if len(find(e.slack.Messages(), "chat.update")) != 1 {
		t.Fatal("in-flight command was not finished")
	}
}
