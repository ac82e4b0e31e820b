package slackbot_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/slackfake"
)

const (
	asker        = "U0ASKER"
	approver     = "U0APPROVER"
	approverDM   = "D" + approver // where the fake records chat.postMessage to a user ID
	approvalChan = "C0APPROVALS"
)

// askerApp lets U0ASKER ask for binds that U0APPROVER decides.
func askerApp(a *bot.App) {
	a.Requesters = []string{asker}
	a.Approvers = []string{approver}
}

// button is one element of a Block Kit actions block.
type button struct {
	Type     string `json:"type"`
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
}

// buttons returns the buttons in a message's Blocks JSON ("" has none).
func buttons(t testing.TB, blocks string) []button {
	t.Helper()
	if blocks == "" {
		return nil
	}
	var bs []struct {
		Type     string   `json:"type"`
		Elements []button `json:"elements"`
	}
	if err := json.Unmarshal([]byte(blocks), &bs); err != nil {
		t.Fatalf("blocks are not a JSON array of blocks: %v\n%s", err, blocks)
	}
	var out []button
	for _, b := range bs {
		for _, el := range b.Elements {
			if el.Type == "button" {
				out = append(out, el)
			}
		}
	}
	return out
}

// first returns the first message matching pred, and whether there was one.
func first(msgs []slackfake.Message, pred func(slackfake.Message) bool) (slackfake.Message, bool) {
	for _, m := range msgs {
		if pred(m) {
			return m, true
		}
	}
	return slackfake.Message{}, false
}

func all(msgs []slackfake.Message, pred func(slackfake.Message) bool) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range msgs {
		if pred(m) {
			out = append(out, m)
		}
	}
	return out
}

// askForApproval sends U0ASKER's slash command and waits until the approvers were
// prompted and the requester told so. It returns the parent message and the prompt.
func askForApproval(t *testing.T, e *env, wechatID, promptChannel string) (parent, prompt slackfake.Message) {
	t.Helper()
	id := e.slash(asker, channel, "shop "+wechatID)
	if !e.slack.WaitAck(id, 5*time.Second) {
		t.Fatal("slash command not acked")
	}
	masked := bot.MaskWechatID(wechatID)
	var ok bool
	msgs := e.waitFor(t, "the 'I asked the approvers' thread reply", func(m slackfake.Message) bool {
		return m.Method == "chat.postMessage" && m.ThreadTS != "" && strings.Contains(m.Text, "needs an approval: I asked")
	})
	parent, ok = first(msgs, func(m slackfake.Message) bool {
		return m.Method == "chat.postMessage" && m.Channel == channel && m.ThreadTS == "" && strings.Contains(m.Text, masked)
	})
	if !ok {
		t.Fatalf("no parent message in %s; messages: %+v", channel, msgs)
	}
	if !strings.Contains(parent.Text, "waiting for approval") || !strings.Contains(parent.Text, "<@"+asker+">") {
		t.Errorf("parent = %q, want it to say <@%s> is waiting for approval", parent.Text, asker)
	}
	asked, _ := first(msgs, func(m slackfake.Message) bool { return strings.Contains(m.Text, "needs an approval: I asked") })
	if asked.ThreadTS != parent.TS || asked.Channel != channel || !strings.Contains(asked.Text, "<@"+approver+">") {
		t.Errorf("'I asked' reply = %+v, want it in the parent's thread (ts %s) naming the approver", asked, parent.TS)
	}
	prompts := all(msgs, func(m slackfake.Message) bool { return m.Method == "chat.postMessage" && m.Blocks != "" })
	if len(prompts) != 1 || prompts[0].Channel != promptChannel {
		t.Fatalf("approval prompts = %+v, want one in %s", prompts, promptChannel)
	}
	prompt = prompts[0]
	if !strings.Contains(prompt.Text, "<@"+asker+">") || !strings.Contains(prompt.Text, masked) || !strings.Contains(prompt.Blocks, masked) {
		t.Errorf("prompt = %+v, want it to name the asker and %s", prompt, masked)
	}
	for _, m := range msgs {
		if strings.Contains(m.Text, wechatID) || strings.Contains(m.Blocks, wechatID) {
			t.Errorf("full WeChat ID shown in Slack: %+v", m)
		}
	}
	if c := e.wechat.Calls("/wxa/bind_tester"); c != 0 {
		t.Errorf("WeChat saw %d bind calls before anyone approved", c)
	}
	return parent, prompt
}

// approvalID checks the prompt's two buttons and returns the approval id they carry.
func approvalID(t *testing.T, prompt slackfake.Message) string {
	t.Helper()
	bs := buttons(t, prompt.Blocks)
	if len(bs) != 2 || bs[0].ActionID != bot.ActionApprove || bs[1].ActionID != bot.ActionDeny {
		t.Fatalf("prompt buttons = %+v, want approve and deny\nblocks: %s", bs, prompt.Blocks)
	}
	if bs[0].Value == "" || bs[0].Value != bs[1].Value {
		t.Fatalf("button values %q and %q, want the same approval id", bs[0].Value, bs[1].Value)
	}
	if !strings.Contains(prompt.Text, "(request #"+bs[0].Value+")") {
		t.Errorf("prompt text %q does not name request #%s", prompt.Text, bs[0].Value)
	}
	return bs[0].Value
}

// click presses a prompt's button as user and waits for the ack.
func (e *env) click(t *testing.T, user string, prompt slackfake.Message, action, value string) {
	t.Helper()
	id := e.slack.BlockAction(slackfake.BlockAction{UserID: user, ChannelID: prompt.Channel, MessageTS: prompt.TS,
		ActionID: action, BlockID: "approval", Value: value})
	if !e.slack.WaitAck(id, 5*time.Second) {
		t.Fatalf("click by %s not acked", user)
	}
}

// privateTo waits for a response_url message to user containing want.
func (e *env) privateTo(t *testing.T, user, want string) slackfake.Message {
	t.Helper()
	msgs := e.waitFor(t, "response_url message to "+user+" with "+want, func(m slackfake.Message) bool {
		return m.Method == "response_url" && m.User == user && strings.Contains(m.Text, want)
	})
	m, _ := first(msgs, func(m slackfake.Message) bool {
		return m.Method == "response_url" && m.User == user && strings.Contains(m.Text, want)
	})
	if m.ResponseType != "ephemeral" || m.ReplaceOriginal {
		t.Errorf("private answer %+v is not an ephemeral that keeps the prompt", m)
	}
	return m
}

func TestSlackApprovalByDM(t *testing.T) {
	e := startWith(t, options{app: askerApp})
	parent, prompt := askForApproval(t, e, "asked_tester", approverDM)
	id := approvalID(t, prompt)
	if id != "1" {
		t.Errorf("approval id = %q, want 1 in a new store", id)
	}

	// Someone who is not an approver (here the asker himself) clicks Approve.
	e.click(t, asker, prompt, bot.ActionApprove, id)
	e.privateTo(t, asker, "<@"+approver+">")
	time.Sleep(100 * time.Millisecond)
	if c := e.wechat.Calls("/wxa/bind_tester"); c != 0 {
		t.Fatalf("a non-approver's click reached WeChat (%d bind calls)", c)
	}
	if n := len(find(e.slack.Messages(), "chat.update")); n != 0 {
		t.Errorf("a non-approver's click changed %d messages", n)
	}

	// The approver clicks Approve.
	e.click(t, approver, prompt, bot.ActionApprove, id)
	e.waitFor(t, "the parent updated to ✅", func(m slackfake.Message) bool {
		return isUpdate(m) && m.TS == parent.TS && strings.HasPrefix(m.Text, "✅")
	})
	msgs := e.waitFor(t, "the QR code", func(m slackfake.Message) bool { return m.Method == "file" })
	edit, ok := first(msgs, func(m slackfake.Message) bool { return isUpdate(m) && m.TS == prompt.TS })
	if !ok || edit.Channel != approverDM || !strings.Contains(edit.Text, "approved") || !strings.Contains(edit.Text, "<@"+approver+">") {
		t.Errorf("prompt update = %+v (found %v), want it to say the approver approved", edit, ok)
	}
	if bs := buttons(t, edit.Blocks); len(bs) != 0 || strings.Contains(edit.Blocks, `"actions"`) {
		t.Errorf("the decided prompt still has buttons: %s", edit.Blocks)
	}
	replies := all(msgs, func(m slackfake.Message) bool { return m.Method == "chat.postMessage" && m.ThreadTS == parent.TS })
	var texts []string
	for _, r := range replies {
		if r.Channel != channel {
			t.Errorf("thread reply in %s, want %s: %+v", r.Channel, channel, r)
		}
		texts = append(texts, r.Text)
	}
	thread := strings.Join(texts, "\n")
	for _, want := range []string{"<@" + approver + "> approved your request", "Done: `as***er` is now an experiencer of *Shop*"} {
		if !strings.Contains(thread, want) {
			t.Errorf("thread under the original parent lacks %q:\n%s", want, thread)
		}
	}
	if files := find(msgs, "file"); len(files) != 1 || files[0].ThreadTS != parent.TS {
		t.Errorf("QR code = %+v, want one file in the parent's thread", files)
	}
	if c := e.wechat.Calls("/wxa/bind_tester"); c != 1 {
		t.Errorf("bind calls = %d, want 1", c)
	}
	if e.wechat.UserStr(appID, "asked_tester") == "" {
		t.Error("asked_tester is not bound at WeChat")
	}
	if n := len(all(msgs, func(m slackfake.Message) bool { return m.Method == "response_url" && m.User == approver })); n != 0 {
		t.Errorf("the deciding click got %d private answers, want none", n)
	}

	// A second click is told it was decided already, and binds nothing.
	e.click(t, approver, prompt, bot.ActionApprove, id)
	e.privateTo(t, approver, "Already decided")
	e.click(t, approver, prompt, bot.ActionDeny, id)
	time.Sleep(100 * time.Millisecond)
	if got := len(all(e.slack.Messages(), func(m slackfake.Message) bool {
		return m.Method == "response_url" && m.User == approver && strings.Contains(m.Text, "Already decided")
	})); got != 2 {
		t.Errorf("%d 'Already decided' answers, want 2", got)
	}
	if c := e.wechat.Calls("/wxa/bind_tester"); c != 1 {
		t.Errorf("bind calls after the second click = %d, want 1", c)
	}
	if n := len(all(e.slack.Messages(), func(m slackfake.Message) bool { return isUpdate(m) && m.TS == parent.TS })); n != 1 {
		t.Errorf("parent updated %d times, want once", n)
	}

	// The audit log has the whole story, newest first.
	events, err := e.bot.Audit(t.Context(), bot.Who{UserID: admin}, bot.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range events {
		kinds = append(kinds, string(ev.Kind))
	}
	if got := strings.Join(kinds, ","); got != "bound,approved,requested" {
		t.Errorf("audit kinds = %s, want bound,approved,requested", got)
	}
}

func TestSlackApprovalInChannelDenied(t *testing.T) {
	e := startWith(t, options{app: func(a *bot.App) { askerApp(a); a.ApprovalChannel = approvalChan }})
	parent, prompt := askForApproval(t, e, "denied_tester", approvalChan)
	if n := len(all(e.slack.Messages(), func(m slackfake.Message) bool { return m.Channel == approverDM })); n != 0 {
		t.Errorf("%d DMs to the approver although an approval channel is set", n)
	}
	id := approvalID(t, prompt)

	e.click(t, approver, prompt, bot.ActionDeny, id)
	msgs := e.waitFor(t, "the parent updated to ❌", func(m slackfake.Message) bool {
		return isUpdate(m) && m.TS == parent.TS && strings.HasPrefix(m.Text, "❌")
	})
	edit, ok := first(msgs, func(m slackfake.Message) bool { return isUpdate(m) && m.TS == prompt.TS })
	if !ok || edit.Channel != approvalChan || !strings.Contains(edit.Text, "denied") || len(buttons(t, edit.Blocks)) != 0 {
		t.Errorf("prompt update = %+v (found %v), want it in %s, saying denied, without buttons", edit, ok, approvalChan)
	}
	if _, ok := first(msgs, func(m slackfake.Message) bool {
		return m.Method == "chat.postMessage" && m.ThreadTS == parent.TS && strings.Contains(m.Text, "denied your request")
	}); !ok {
		t.Errorf("no 'denied' reply in the parent's thread; messages: %+v", msgs)
	}
	time.Sleep(100 * time.Millisecond)
	if c := e.wechat.Calls("/wxa/bind_tester"); c != 0 {
		t.Errorf("a denied request reached WeChat (%d bind calls)", c)
	}
	e.click(t, approver, prompt, bot.ActionApprove, id)
	e.privateTo(t, approver, "Already decided")
	if c := e.wechat.Calls("/wxa/bind_tester"); c != 0 {
		t.Errorf("approving a denied request bound (%d bind calls)", c)
	}
}

func TestSlackClickOnUnknownApproval(t *testing.T) {
	e := startWith(t, options{app: askerApp})
	prompt := slackfake.Message{Channel: approverDM, TS: "1700000000.000100"}
	e.click(t, approver, prompt, bot.ActionApprove, "42")
	e.privateTo(t, approver, "do not know this request")
	e.click(t, approver, prompt, bot.ActionApprove, "not-a-number")
	if _, ok := e.slack.WaitMessages(5*time.Second, func(ms []slackfake.Message) bool {
		return len(all(ms, func(m slackfake.Message) bool {
			return m.Method == "response_url" && strings.Contains(m.Text, "do not know this request")
		})) == 2
	}); !ok {
		t.Errorf("a click with a malformed value was not answered; messages: %+v", e.slack.Messages())
	}
	if c := e.wechat.Calls("/wxa/bind_tester"); c != 0 {
		t.Errorf("bind calls = %d, want 0", c)
	}
}

// clock is a settable bot clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestSlackGrantExpires(t *testing.T) {
	clk := &clock{t: time.Now()}
	e := startWith(t, options{now: clk.Now})
	e.slash(binder, channel, "shop tester_one for 1h")
	msgs := e.waitFor(t, "summary", func(m slackfake.Message) bool { return isUpdate(m) && strings.HasPrefix(m.Text, "✅") })
	if _, ok := first(msgs, func(m slackfake.Message) bool { return strings.Contains(m.Text, "Access ends") }); !ok {
		t.Errorf("the bind reply does not say when access ends: %+v", msgs)
	}
	userstr := e.wechat.UserStr(appID, "tester_one")
	if userstr == "" {
		t.Fatal("tester_one not bound")
	}
	// The bind's job ends once all of its answer is out (the QR code last):
	// only then may a sweep, a lifetime later, find nothing of it to resume.
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := e.store.Job(t.Context(), 1)
		if err == nil && j.Answered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bind's job was never answered: %+v, %v", j, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Not yet due: nothing happens.
	if err := e.bot.Sweep(t.Context()); err != nil {
		t.Fatalf("Sweep = %v", err)
	}
	if c := e.wechat.Calls("/wxa/unbind_tester"); c != 0 {
		t.Fatalf("unbound %d times before the grant ended", c)
	}

	clk.Add(61 * time.Minute)
	if err := e.bot.Sweep(t.Context()); err != nil {
		t.Fatalf("Sweep = %v", err)
	}
	msgs = e.waitFor(t, "DM that access ended", func(m slackfake.Message) bool {
		return m.Method == "chat.postMessage" && m.Channel == "D"+binder
	})
	dm, _ := first(msgs, func(m slackfake.Message) bool { return m.Method == "chat.postMessage" && m.Channel == "D"+binder })
	if !strings.Contains(dm.Text, "has ended") || !strings.Contains(dm.Text, "te***ne") || !strings.Contains(dm.Text, "*Shop*") ||
		strings.Contains(dm.Text, "tester_one") {
		t.Errorf("expiry DM = %q", dm.Text)
	}
	var unbinds []string
	for _, r := range e.wechat.Requests() {
		if r.Path == "/wxa/unbind_tester" {
			unbinds = append(unbinds, string(r.Body))
		}
	}
	if len(unbinds) != 1 {
		t.Fatalf("unbind_tester calls = %q, want one", unbinds)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(unbinds[0]), &body); err != nil || body["userstr"] != userstr || body["wechatid"] != "" {
		t.Errorf("unbind_tester body = %s, want {\"userstr\":%q}", unbinds[0], userstr)
	}
	if got := e.wechat.Experiencers(appID); len(got) != 0 {
		t.Errorf("experiencers after expiry = %v", got)
	}

	// A second sweep has nothing left to do.
	if err := e.bot.Sweep(t.Context()); err != nil {
		t.Fatalf("Sweep = %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if c := e.wechat.Calls("/wxa/unbind_tester"); c != 1 {
		t.Errorf("unbind calls after a second sweep = %d, want 1", c)
	}
	if n := len(all(e.slack.Messages(), func(m slackfake.Message) bool { return m.Channel == "D"+binder })); n != 1 {
		t.Errorf("%d DMs to the requester, want 1", n)
	}
}

func TestSlackApprovalExpires(t *testing.T) {
	clk := &clock{t: time.Now()}
	e := startWith(t, options{app: askerApp, now: clk.Now})
	parent, prompt := askForApproval(t, e, "late_tester", approverDM)
	id := approvalID(t, prompt)
	clk.Add(25 * time.Hour) // past the default 24h approval TTL
	if err := e.bot.Sweep(t.Context()); err != nil {
		t.Fatalf("Sweep = %v", err)
	}
	msgs := e.waitFor(t, "the parent updated to ❌", func(m slackfake.Message) bool {
		return isUpdate(m) && m.TS == parent.TS && strings.HasPrefix(m.Text, "❌")
	})
	if edit, ok := first(msgs, func(m slackfake.Message) bool { return isUpdate(m) && m.TS == prompt.TS }); !ok ||
		!strings.Contains(edit.Text, "Expired") || len(buttons(t, edit.Blocks)) != 0 {
		t.Errorf("prompt update = %+v (found %v), want it expired without buttons", edit, ok)
	}
	e.click(t, approver, prompt, bot.ActionApprove, id)
	e.privateTo(t, approver, "expired")
	if c := e.wechat.Calls("/wxa/bind_tester"); c != 0 {
		t.Errorf("an expired request was bound (%d bind calls)", c)
	}
}
