package bot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// When WeChat answers 85002, the reply says how full the app is and whose
// grants end first; admins also get the command that frees a slot.
func TestSlotsFullReport(t *testing.T) {
	for _, c := range []struct {
		name string
		user string
		hint bool
	}{
		{name: "binder", user: "UALICE"},
		{name: "binder through a group", user: "UCAROL"},
		{name: "admin", user: "UADMIN", hint: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.policy.Apps[0].Slots = 5 // the setting; WeChat's real limit here is 2
			f.fake.SetSlotLimit(appShop, 2)
			b := f.bot()
			long := mustBind(t, f, b, "UALICE", "shop long_tester for 3d", "long_tester")
			f.clock.Add(time.Hour)
			soon := mustBind(t, f, b, "UCAROL", "shop soon_tester for 1d", "soon_tester")

			conv := run(t, b, c.user, "shop third_tester for 2d")
			if len(conv.replies) != 1 || len(conv.updates) != 1 || !strings.HasPrefix(conv.updates[0], "❌") {
				t.Fatalf("want one failed bind; got %v", conv)
			}
			// The public thread says how full; whose grants end first goes to the requester alone.
			wantContains(t, "public reply", conv.replies[0], "*Shop* has no free experiencer slots", "2 of 5 experiencer slots are in use")
			wantNotContains(t, "public reply", conv.replies[0], "These end soonest", "@UCAROL", "so***er")
			dms := f.msgr.dmsTo(c.user)
			if len(dms) != 1 {
				t.Fatalf("DMs to %s: %q, want the slot report", c.user, dms)
			}
			reply := dms[0]
			wantContains(t, "slot report", reply, "2 of 5 experiencer slots are in use", "These end soonest:")
			lines := strings.Split(reply, "\n")
			var listed []string
			for _, l := range lines {
				if strings.HasPrefix(l, "• ") {
					listed = append(listed, l)
				}
			}
			if len(listed) != 2 {
				t.Fatalf("listed grants %q, want 2", listed)
			}
			// Soonest first: soon_tester (1 day) before long_tester (3 days).
			wantContains(t, "first listed", listed[0], "`so***er`", "@UCAROL", "(#"+itoa(soon.ID)+")", soon.ExpiresAt.UTC().Format(bot.UTCLayout))
			wantContains(t, "second listed", listed[1], "`lo***er`", "@UALICE", "(#"+itoa(long.ID)+")")
			hint := "/bindtester unbind shop #" + itoa(soon.ID)
			if got := strings.Contains(reply, hint); got != c.hint {
				t.Errorf("admin hint %q shown: %v, want %v:\n%s", hint, got, c.hint, reply)
			}
			if c.hint {
				wantContains(t, "reply", reply, "You are an admin")
			}
			wantNotContains(t, "reply", reply, "long_tester", "soon_tester", "third_tester", "%!")
			if evs := f.eventsOf(t, bot.EventFailed); len(evs) != 1 || evs[0].ErrCode != 85002 {
				t.Errorf("failed rows %+v, want one with errcode 85002", evs)
			}
		})
	}
}
