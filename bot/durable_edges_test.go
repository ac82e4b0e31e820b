package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// A bind whose first attempt may have gone through (its answer was a 502)
// and whose retries then say "system busy" is not a failure: WeChat may well
// have the tester. It stays open, and once WeChat answers it is the bot's
// grant, never "added outside this bot".
func TestBindMaybeAppliedThenBusyIsResolvedAsTheBots(t *testing.T) {
	f := newFixture(t)
	b := f.bot(func(o *bot.Options) { o.Timeout = 2 * time.Second })
	f.fake.FailNextHTTP(bindPath, 1, 502, "text/html", "<html>bad gateway</html>")
	f.fake.FailNext(bindPath, 2, -1)
	conv := run(t, b, "UALICE", "shop "+tester+" for 2h")
	if len(conv.updates) != 1 || !strings.HasPrefix(conv.updates[0], "⏳") {
		t.Fatalf("after 502, -1, -1: %v; want ⏳, the outcome unknown", conv)
	}
	if ev := f.eventsOf(t, bot.EventFailed); len(ev) != 0 {
		t.Errorf("failed events %+v: it may have worked", ev)
	}
	f.fake.AddExperiencer(appShop, tester) // the 502 had bound them after all
	f.clock.Add(time.Hour)
	sweep(t, b)
	ref := conv.ref(0)
	if updates := f.msgr.in(ref, "update"); len(updates) != 1 || !strings.HasPrefix(updates[0], "✅") {
		t.Fatalf("after the sweep: %q, want ✅", updates)
	}
	if _, err := f.store.FindGrant(context.Background(), appShop, tester); err != nil {
		t.Errorf("no grant for the bot's own bind: %v", err)
	}
	if ev := f.eventsOf(t, bot.EventBound); len(ev) != 1 || strings.Contains(ev[0].Detail, "outside") {
		t.Errorf("bound events %+v, want the bot's own", ev)
	}
}

// While a grant's expiry unbind has no known outcome, asking for it again is
// refused without calling WeChat (the two could cross there); once the
// unbind is resolved, asking again works.
func TestBindWaitsForAnUnbindUnderWay(t *testing.T) {
	f := newFixture(t)
	b := f.bot(func(o *bot.Options) { o.Timeout = 300 * time.Millisecond })
	g := mustBind(t, f, b, "UALICE", "shop "+tester+" for 1h", tester)
	release := f.fake.HoldAnswers(unbindPath) // WeChat unbinds; the answer is lost
	f.clock.Add(time.Hour + time.Second)
	b.Sweep(context.Background())
	release()
	if got := f.grant(t, g.ID); got.State != bot.GrantActive || got.UnbindJob == 0 {
		t.Fatalf("grant after a lost unbind answer: %+v; want active, being unbound", got)
	}
	calls := f.fake.Calls(bindPath)
	conv := run(t, b, "UALICE", "shop "+tester+" for 1h")
	if len(conv.privates) != 1 || len(conv.opens) != 0 || f.fake.Calls(bindPath) != calls {
		t.Fatalf("bind during the unbind: %v (bind calls %d → %d); want a private answer and no call", conv, calls, f.fake.Calls(bindPath))
	}
	wantContains(t, "answer", conv.privates[0], "being removed", "Ask again in a minute")

	f.clock.Add(time.Hour)
	sweep(t, b) // the unbind is resolved: the tester is gone
	if got := f.grant(t, g.ID); got.State != bot.GrantEnded {
		t.Fatalf("grant after the resolved unbind: %s, want ended", got.State)
	}
	if dms := f.msgr.dmsTo("UALICE"); len(dms) != 1 || !strings.Contains(dms[0], "has ended") {
		t.Errorf("DMs %q, want one: access ended", dms)
	}
	mustBind(t, f, b, "UALICE", "shop "+tester+" for 1h", tester)
}

// A QR code that takes longer than the request may does not keep the answer
// from being recorded: the outcome is posted without it, once, and no later
// sweep answers again.
func TestSlowQRCodeAnswersOnce(t *testing.T) {
	f := newFixture(t)
	b := f.bot(func(o *bot.Options) { o.Timeout = 300 * time.Millisecond })
	f.fake.SetLatency("/wxa/get_qrcode", 3*time.Second)
	conv := run(t, b, "UALICE", "shop "+tester)
	if len(conv.replies) != 2 || !strings.HasPrefix(conv.replies[0], "Done") || len(conv.updates) != 1 ||
		!strings.HasPrefix(conv.updates[0], "✅") || len(conv.attaches) != 0 {
		t.Fatalf("with a slow QR code: %v; want the outcome, how to open it without the code, ✅ and no QR code", conv)
	}
	f.fake.SetLatency("/wxa/get_qrcode", 0)
	f.clock.Add(time.Hour)
	sweep(t, b)
	if posts := f.msgr.threadPosts(); len(posts) != 0 {
		t.Errorf("the sweep answered again: %+v", posts)
	}
}
