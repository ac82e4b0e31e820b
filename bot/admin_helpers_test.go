package bot_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

// Shared by the tests of the admin features: time-bound grants, the expiry
// worker, approvals, slots, unbind, testers, mine and audit.

const (
	unbindPath = "/wxa/unbind_tester"
	memberPath = "/wxa/memberauth"
)

// run handles text from user in channel CSHOP and fails the test if Handle
// reports an error (every path these tests take answers without one).
func run(t testing.TB, b *bot.Bot, user, text string) *recConv {
	t.Helper()
	conv, err := handle(t, b, bot.Request{UserID: user, ChannelID: "CSHOP", Text: text})
	if err != nil {
		t.Fatalf("%s %q: Handle: %v (%v)", user, text, err, conv)
	}
	if strings.Contains(conv.all(), "%!") {
		t.Errorf("%s %q: badly formatted text: %v", user, text, conv)
	}
	return conv
}

// click presses a prompt button as user and returns what user was told.
func click(t testing.TB, b *bot.Bot, user, action, value string) (*recConv, error) {
	t.Helper()
	conv := &recConv{t: t}
	err := b.Click(context.Background(), bot.Click{UserID: user, Action: action, Value: value}, conv)
	return conv, err
}

// mustBind binds wechatID to the Shop app as user (a binder or admin) and
// returns the grant the bot recorded.
func mustBind(t testing.TB, f *fixture, b *bot.Bot, user, text, wechatID string) bot.Grant {
	t.Helper()
	conv := run(t, b, user, text)
	if len(conv.updates) != 1 || !strings.HasPrefix(conv.updates[0], "✅") {
		t.Fatalf("%s %q did not bind: %v", user, text, conv)
	}
	g, err := f.store.FindGrant(context.Background(), appShop, wechatID)
	if err != nil {
		t.Fatalf("no grant recorded for %s: %v", bot.MaskWechatID(wechatID), err)
	}
	return g
}

// seedUserstrlessGrant records requester's grant of wechatID on Shop without a
// userstr, as earlier versions did for an 85004, and binds wechatID at the
// fake. (The bot now leaves alone experiencers it did not add.)
func seedUserstrlessGrant(t testing.TB, f *fixture, requester, wechatID string, dur time.Duration) bot.Grant {
	t.Helper()
	f.fake.AddExperiencer(appShop, wechatID)
	now := f.clock.Now()
	g, err := f.store.SaveGrant(context.Background(), bot.Grant{AppID: appShop, WechatMasked: bot.MaskWechatID(wechatID),
		Requester: requester, CreatedAt: now, ExpiresAt: now.Add(dur)}, wechatID)
	if err != nil {
		t.Fatalf("SaveGrant: %v", err)
	}
	return g
}

// events lists every audit event, oldest first.
func (f *fixture) events(t testing.TB, filter bot.AuditFilter) []bot.Event {
	t.Helper()
	evs, err := f.store.Events(context.Background(), filter)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	slices.Reverse(evs)
	return evs
}

func (f *fixture) eventsOf(t testing.TB, kind bot.EventKind) []bot.Event {
	t.Helper()
	var out []bot.Event
	for _, e := range f.events(t, bot.AuditFilter{}) {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func kinds(evs []bot.Event) []bot.EventKind {
	out := make([]bot.EventKind, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
	}
	return out
}

func (f *fixture) grant(t testing.TB, id int64) bot.Grant {
	t.Helper()
	g, err := f.store.Grant(context.Background(), id)
	if err != nil {
		t.Fatalf("Grant(%d): %v", id, err)
	}
	return g
}

func (f *fixture) active(t testing.TB, filter bot.GrantFilter) []bot.Grant {
	t.Helper()
	gs, err := f.store.ActiveGrants(context.Background(), filter)
	if err != nil {
		t.Fatalf("ActiveGrants: %v", err)
	}
	return gs
}

func (f *fixture) approval(t testing.TB, id int64) bot.Approval {
	t.Helper()
	a, err := f.store.Approval(context.Background(), id)
	if err != nil {
		t.Fatalf("Approval(%d): %v", id, err)
	}
	return a
}

// sweep runs one pass of the worker and fails the test on an error.
func sweep(t testing.TB, b *bot.Bot) {
	t.Helper()
	if err := b.Sweep(context.Background()); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
}

// bodies lists the JSON bodies the fake received on path, decoded.
func bodies(t testing.TB, fake *wechattest.Server, path string) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, r := range fake.Requests() {
		if r.Path != path {
			continue
		}
		var m map[string]string
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatalf("%s body %q: %v", path, r.Body, err)
		}
		out = append(out, m)
	}
	return out
}

// wantBodies checks that path got exactly want, in order.
func wantBodies(t testing.TB, fake *wechattest.Server, path string, want ...map[string]string) {
	t.Helper()
	got := bodies(t, fake, path)
	if len(got) != len(want) {
		t.Fatalf("%s got %d calls %v, want %d %v", path, len(got), got, len(want), want)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Errorf("%s call %d body %v, want %v", path, i+1, got[i], want[i])
			continue
		}
		for k, v := range want[i] {
			if got[i][k] != v {
				t.Errorf("%s call %d body %v, want %v", path, i+1, got[i], want[i])
			}
		}
	}
}

// noFullID checks that no audit field holds a full WeChat ID.
func noFullID(t testing.TB, evs []bot.Event, ids ...string) {
	t.Helper()
	for _, e := range evs {
		fields := []string{e.Actor, e.Requester, e.Channel, e.ThreadTS, e.AppID, e.WechatMasked, e.UserStr, e.Detail}
		for _, id := range ids {
			if slices.ContainsFunc(fields, func(s string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(id)) }) {
				t.Errorf("%s event holds %q (a full WeChat ID or a secret): %+v", e.Kind, id, e)
			}
		}
	}
}

// approvalPolicy lets UREQ ask for Shop, decided by UAPP1 or UAPP2.
func approvalPolicy(f *fixture) {
	f.policy.Apps[0].Requesters = []string{"UREQ"}
	f.policy.Apps[0].Approvers = []string{"UAPP1", "UAPP2"}
}

// promptValue is the approval id every prompt carries; it fails unless all agree.
func promptValue(t testing.TB, m *recMessenger) (string, int64) {
	t.Helper()
	ps := m.sentPrompts()
	if len(ps) == 0 {
		t.Fatal("no approval prompt was sent")
	}
	for _, p := range ps[1:] {
		if p.Prompt.Buttons[0].Value != ps[0].Prompt.Buttons[0].Value {
			t.Fatalf("prompts carry different values: %+v", ps)
		}
	}
	id, err := strconv.ParseInt(ps[0].Prompt.Buttons[0].Value, 10, 64)
	if err != nil {
		t.Fatalf("prompt value %q is not an approval id", ps[0].Prompt.Buttons[0].Value)
	}
	return ps[0].Prompt.Buttons[0].Value, id
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

func errorsIsForbidden(err error) bool { return errors.Is(err, bot.ErrForbidden) }
