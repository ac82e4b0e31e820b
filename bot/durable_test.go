package bot_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/internal/pgtest"
)

// durableEngines are the databases the durability tests run on: the
// fixture's SQLite file, and a PostgreSQL database of the test's own.
var durableEngines = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "bot.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.DSN(t) }},
}

// A bind whose WeChat answer comes after the bot's timeout — WeChat bound and
// the answer was lost, or the call never got through — is told as unknown and
// checked again by the sweep once it is due: the grant is then the bot's (not
// "added outside this bot"), the status message ✅, and at its end the worker
// unbinds exactly that tester.
func TestLateWeChatAnswerIsResolvedAndExpires(t *testing.T) {
	lates := []struct {
		name    string
		slow    func(f *fixture) (fast func())
		applied bool // WeChat bound the tester although the bot heard nothing
	}{
		{"bound, the answer after the timeout", func(f *fixture) func() { return f.fake.HoldAnswers(bindPath) }, true},
		{"slower than the timeout, never carried out", func(f *fixture) func() {
			f.fake.SetLatency(bindPath, 10*time.Second)
			return func() { f.fake.SetLatency(bindPath, 0) }
		}, false},
	}
	for _, eng := range durableEngines {
		for _, late := range lates {
			t.Run(eng.name+"/"+late.name, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t)
				f.dbPath = eng.dsn(t)
				f.store = openStore(t, f.dbPath, f.key)
				bystander := f.fake.AddExperiencer(appShop, "bystander_1") // added by hand in the WeChat console
				b := f.bot(func(o *bot.Options) { o.Timeout = 300 * time.Millisecond })
				ctx := context.Background()
				start := f.clock.Now()

				fast := late.slow(f)
				conv, err := handle(t, b, bot.Request{UserID: "UALICE", ChannelID: "CSHOP", Text: "shop " + tester + " for 2h"})
				fast()
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				if len(conv.replies) != 1 || len(conv.updates) != 1 || len(conv.attaches) != 0 {
					t.Fatalf("want one reply and one update, no QR code; got %v", conv)
				}
				wantContains(t, "reply", conv.replies[0], "could not tell whether WeChat did it", "ask WeChat again", "no need to ask again")
				if !strings.HasPrefix(conv.updates[0], "⏳") {
					t.Errorf("status %q, want ⏳ (being checked)", conv.updates[0])
				}
				if bound := f.fake.UserStr(appShop, tester) != ""; bound != late.applied {
					t.Fatalf("WeChat has the tester bound: %v, want %v", bound, late.applied)
				}
				if _, err := f.store.FindGrant(ctx, appShop, tester); !errors.Is(err, bot.ErrNotFound) {
					t.Errorf("a grant before the outcome is known: %v", err)
				}
				calls := f.fake.Calls(bindPath)

				// Not due yet: WeChat is left alone.
				sweep(t, b)
				if n := f.fake.Calls(bindPath); n != calls {
					t.Errorf("bind_tester called again before the retry was due (%d calls, had %d)", n, calls)
				}

				// Due: asked again, resolved, told in the thread.
				f.clock.Add(time.Hour)
				sweep(t, b)
				if n := f.fake.Calls(bindPath); n != calls+1 {
					t.Errorf("bind_tester called %d times after the retry, want %d", n, calls+1)
				}
				ref := conv.ref(0)
				replies, updates := f.msgr.in(ref, "reply"), f.msgr.in(ref, "update")
				if len(replies) != 1 || len(updates) != 1 || !strings.HasPrefix(updates[0], "✅") {
					t.Fatalf("after the sweep: replies %q, updates %q; want the outcome and ✅", replies, updates)
				}
				wantContains(t, "resumed reply", replies[0], bot.English.T("job.resumed"), "Done: `"+testerMasked+"`")
				g, err := f.store.FindGrant(ctx, appShop, tester)
				if err != nil {
					t.Fatalf("no grant after the resolved bind: %v", err)
				}
				if !g.CreatedAt.Equal(start) || !g.ExpiresAt.Equal(start.Add(2*time.Hour)) || g.Requester != "UALICE" || g.Thread != ref {
					t.Errorf("grant %+v: want 2h from the request at %v, UALICE's, in thread %+v", g, start, ref)
				}
				if late.applied != (g.UserStr == "") { // 85004 gives no userstr; a fresh bind does
					t.Errorf("grant userstr %q (WeChat bound first: %v)", g.UserStr, late.applied)
				}
				if ev := f.eventsOf(t, bot.EventBound); len(ev) != 1 || strings.Contains(ev[0].Detail, "outside") || !strings.Contains(ev[0].Detail, "resumed") {
					t.Errorf("bound events %+v: want one, resumed, the bot's own", ev)
				}
				if ev := f.eventsOf(t, bot.EventFailed); len(ev) != 0 {
					t.Errorf("failed events %+v: an unknown outcome is no failure", ev)
				}
				sweep(t, b) // nothing more to say
				if n := len(f.msgr.threadPosts()); n != 3 {
					t.Errorf("%d thread posts after another sweep, want 3 (reply, QR code, update): %+v", n, f.msgr.threadPosts())
				}

				// At the end of the two hours, exactly that tester goes.
				f.fake.Reset()
				f.clock.Add(time.Hour + time.Second)
				sweep(t, b)
				if late.applied {
					wantBodies(t, f.fake, unbindPath, map[string]string{"wechatid": tester})
				} else {
					wantBodies(t, f.fake, unbindPath, map[string]string{"userstr": g.UserStr})
				}
				if got := f.fake.Experiencers(appShop); !slices.Equal(got, []string{bystander}) {
					t.Errorf("experiencers %v, want only the bystander %s", got, bystander)
				}
				if got := f.grant(t, g.ID); got.State != bot.GrantEnded || got.EndedBy != "" {
					t.Errorf("grant %s ended by %q, want ended by the worker", got.State, got.EndedBy)
				}
				if ev := f.eventsOf(t, bot.EventExpired); len(ev) != 1 || ev[0].GrantID != g.ID {
					t.Errorf("expired events %+v, want one for grant %d", ev, g.ID)
				}
				if dms := f.msgr.dmsTo("UALICE"); len(dms) != 1 || !strings.Contains(dms[0], "has ended") {
					t.Errorf("DMs %q, want one saying access ended", dms)
				}
			})
		}
	}
}
