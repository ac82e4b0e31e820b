package bot_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// checkExpired checks that grant g was unbound by the worker: WeChat got its
// userstr, the experiencer is gone, the grant ended, an expired row exists and
// the requester got a DM.
func checkExpired(t *testing.T, f *fixture, g bot.Grant) {
	t.Helper()
	wantBodies(t, f.fake, unbindPath, map[string]string{"userstr": g.UserStr})
	if slices.Contains(f.fake.Experiencers(appShop), g.UserStr) {
		t.Errorf("the fake still has experiencer %s", g.UserStr)
	}
	if got := f.grant(t, g.ID); got.State != bot.GrantEnded || got.EndedBy != "" || got.EndedAt.IsZero() {
		t.Errorf("grant after the sweep: state %s, ended by %q at %v; want ended by the worker", got.State, got.EndedBy, got.EndedAt)
	}
	evs := f.eventsOf(t, bot.EventExpired)
	if len(evs) != 1 || evs[0].GrantID != g.ID || evs[0].UserStr != g.UserStr || evs[0].Actor != "" || evs[0].Requester != g.Requester {
		t.Errorf("expired events %+v, want one for grant %d", evs, g.ID)
	}
	dms := f.msgr.dmsTo(g.Requester)
	if len(dms) != 1 {
		t.Fatalf("DMs to %s: %q, want 1", g.Requester, dms)
	}
	wantContains(t, "expiry DM", dms[0], "`"+g.WechatMasked+"`", "*Shop*", "has ended", "/bindtester shop <wechat-id>")
	wantNotContains(t, "expiry DM", dms[0], "%!")
}

// A grant whose time is up is unbound by Sweep, and only then.
func TestSweepUnbindsExpiredGrant(t *testing.T) {
	f := newFixture(t)
	b := f.bot()
	g := mustBind(t, f, b, "UALICE", "shop "+tester+" for 1h", tester)
	if g.UserStr == "" || g.UserStr != f.fake.UserStr(appShop, tester) {
		t.Fatalf("grant userstr %q, fake has %q", g.UserStr, f.fake.UserStr(appShop, tester))
	}
	f.fake.Reset()

	f.clock.Add(59 * time.Minute)
	sweep(t, b)
	if n := f.fake.Calls(unbindPath); n != 0 {
		t.Fatalf("unbind_tester called %d times before the grant expired", n)
	}
	if got := f.grant(t, g.ID); got.State != bot.GrantActive {
		t.Fatalf("grant %s before its time", got.State)
	}

	f.clock.Add(time.Minute + time.Second)
	sweep(t, b)
	checkExpired(t, f, g)

	// A second pass has nothing left to do.
	sweep(t, b)
	if n := f.fake.Calls(unbindPath); n != 1 {
		t.Errorf("unbind_tester called %d times after two sweeps, want 1", n)
	}
	if n := len(f.msgr.dmsTo("UALICE")); n != 1 {
		t.Errorf("%d DMs, want 1", n)
	}
}

// Everything the worker needs is in the store: a new process on the same file
// and key resumes.
func TestSweepResumesAfterRestart(t *testing.T) {
	f := newFixture(t)
	g := mustBind(t, f, f.bot(), "UALICE", "shop "+tester+" for 1h", tester)
	f.restart()
	f.fake.Reset()
	b := f.bot() // a new Bot, WeChat client and token cache on the reopened store
	f.clock.Add(time.Hour + time.Second)
	sweep(t, b)
	checkExpired(t, f, g)
}

// A grant WeChat gave no userstr for is unbound by its WeChat ID, unsealed
// from the store.
func TestSweepUnbindsByWechatIDWithoutUserstr(t *testing.T) {
	f := newFixture(t)
	b := f.bot()
	g := seedUserstrlessGrant(t, f, "UALICE", tester, 2*time.Hour)
	if g.UserStr != "" {
		t.Fatalf("grant of an already-bound tester has userstr %q, want none", g.UserStr)
	}
	f.fake.Reset()
	f.clock.Add(2*time.Hour + time.Second)
	sweep(t, b)
	wantBodies(t, f.fake, unbindPath, map[string]string{"wechatid": tester})
	if f.fake.UserStr(appShop, tester) != "" {
		t.Error("the fake still has the tester")
	}
	if got := f.grant(t, g.ID); got.State != bot.GrantEnded {
		t.Errorf("grant %s, want ended", got.State)
	}
	noFullID(t, f.events(t, bot.AuditFilter{}), tester)
}

// A failed automatic unbind keeps the grant, records the attempt and when to
// try again, and is retried then, not before. An unbind whose outcome is
// unknown (an HTTP 500: WeChat may have acted) stays an open job, retried
// the same way.
func TestSweepRetriesFailedUnbind(t *testing.T) {
	for _, c := range []struct {
		name    string
		maxTry  int
		fail    func(f *fixture)
		errcode int
		calls   int  // unbind_tester calls of the failed attempt
		unknown bool // the outcome is unknown: the job stays open
	}{
		{name: "errcode 48001", maxTry: 1, fail: func(f *fixture) { f.fake.FailNext(unbindPath, 1, 48001) }, errcode: 48001, calls: 1},
		{name: "errcode -1: it may have been carried out", maxTry: 1, fail: func(f *fixture) { f.fake.FailNext(unbindPath, 1, -1) }, calls: 1, unknown: true},
		{name: "HTTP 500 on every retry", fail: func(f *fixture) { f.fake.FailNextHTTP(unbindPath, 3, 500, "text/plain", "oops") }, calls: 3, unknown: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.maxTry = c.maxTry
			b := f.bot()
			g := mustBind(t, f, b, "UALICE", "shop "+tester+" for 1h", tester)
			f.fake.Reset()
			c.fail(f)
			failedAt := f.clock.Add(time.Hour + time.Second)
			if err := b.Sweep(t.Context()); err != nil {
				t.Logf("Sweep reported %v (for the log)", err)
			}
			if n := f.fake.Calls(unbindPath); n != c.calls {
				t.Fatalf("unbind_tester called %d times, want %d", n, c.calls)
			}
			got := f.grant(t, g.ID)
			if c.unknown {
				j, err := f.store.Job(t.Context(), got.UnbindJob)
				if got.State != bot.GrantActive || err != nil || j.State != bot.JobOpen || j.Kind != bot.JobUnbind {
					t.Fatalf("after an unknown unbind: grant %s, job %+v, %v; want active with an open unbind job", got.State, j, err)
				}
				got.NextAttempt = j.NextAt
			} else {
				if got.State != bot.GrantActive || got.Attempts != 1 || got.LastError == "" {
					t.Errorf("after a failed unbind: state %s attempts %d last error %q; want active, 1, an error", got.State, got.Attempts, got.LastError)
				}
				failed := f.eventsOf(t, bot.EventFailed)
				if len(failed) != 1 || failed[0].ErrCode != c.errcode || failed[0].GrantID != g.ID || failed[0].Actor != "" || failed[0].UserStr != g.UserStr {
					t.Errorf("failed events %+v, want one for grant %d with errcode %d", failed, g.ID, c.errcode)
				}
			}
			if !got.NextAttempt.After(failedAt) {
				t.Errorf("next attempt %v is not after the failure at %v", got.NextAttempt, failedAt)
			}
			if !slices.Contains(f.fake.Experiencers(appShop), g.UserStr) {
				t.Error("the experiencer is gone although WeChat refused")
			}
			if len(f.eventsOf(t, bot.EventExpired)) != 0 || len(f.msgr.dmsTo("UALICE")) != 0 {
				t.Error("an expiry was recorded or announced although the unbind failed")
			}

			// Before the next attempt is due, WeChat is left alone.
			f.clock.Add(got.NextAttempt.Sub(failedAt) / 2)
			sweep(t, b)
			if n := f.fake.Calls(unbindPath); n != c.calls {
				t.Errorf("unbind_tester called again before the next attempt was due (%d calls)", n)
			}

			// Once it is due, the unbind goes through.
			f.clock.Add(got.NextAttempt.Sub(failedAt))
			f.fake.Reset()
			sweep(t, b)
			checkExpired(t, f, g)
		})
	}
}

// Requesters of long grants hear a day before the end, once; short grants
// (a day or less) get no warning.
func TestSweepWarnsADayBefore(t *testing.T) {
	for _, c := range []struct {
		name   string
		dur    string
		sweeps []time.Duration // since the bind
		warned bool
	}{
		{name: "14d grant, 13.5 days later", dur: "14d", sweeps: []time.Duration{0, 13*24*time.Hour + 12*time.Hour, 13*24*time.Hour + 18*time.Hour, 13*24*time.Hour + 23*time.Hour}, warned: true},
		{name: "3d grant, 2.5 days later", dur: "3d", sweeps: []time.Duration{0, 2*24*time.Hour + 12*time.Hour}, warned: true},
		{name: "14d grant, 12 days later", dur: "14d", sweeps: []time.Duration{0, 12 * 24 * time.Hour}},
		{name: "2h grant", dur: "2h", sweeps: []time.Duration{0, time.Hour, 119 * time.Minute}},
		{name: "1d grant", dur: "1d", sweeps: []time.Duration{0, 12 * time.Hour, 23 * time.Hour}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			b := f.bot()
			start := f.clock.Now()
			g := mustBind(t, f, b, "UALICE", "shop "+tester+" for "+c.dur, tester)
			for _, at := range c.sweeps {
				f.clock.Add(start.Add(at).Sub(f.clock.Now()))
				sweep(t, b)
			}
			dms := f.msgr.dmsTo("UALICE")
			var extend []bot.Button
			for _, p := range f.msgr.sentPrompts() {
				if p.To == "UALICE" { // the warning, with its Extend buttons
					dms, extend = append(dms, p.Prompt.Text), p.Prompt.Buttons
				}
			}
			if !c.warned {
				if len(dms) != 0 {
					t.Errorf("DMs %q, want none", dms)
				}
				return
			}
			if len(dms) != 1 {
				t.Fatalf("DMs %q, want one warning", dms)
			}
			wantContains(t, "warning", dms[0], "Heads-up", "`"+testerMasked+"`", "*Shop*", g.ExpiresAt.UTC().Format(bot.UTCLayout), "`/bindtester shop <wechat-id>`")
			// Asking again gets the app's default, whatever this grant's length was.
			wantNotContains(t, "warning", dms[0], tester, "%!", "<wechat-id> for")
			if len(extend) != 2 || extend[0].Label != "+3d" || extend[1].Label != "+1w" || extend[0].Value != itoa(g.ID)+":3d" {
				t.Errorf("Extend buttons %+v; want +3d and +1w for grant %d", extend, g.ID)
			}
			if strings.Contains(dms[0], "has ended") {
				t.Errorf("the warning says access has ended: %q", dms[0])
			}
			if n := f.fake.Calls(unbindPath); n != 0 {
				t.Errorf("unbind_tester called %d times before the end", n)
			}
		})
	}
}
