package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// The owner extends a grant: later end, audited, capped at the app's
// maximum from now; at the maximum, nothing to add; someone else's grant is
// unknown to them.
func TestExtendCappedAndAudited(t *testing.T) {
	f := newFixture(t)
	b := f.bot()
	ctx := context.Background()
	g := mustBind(t, f, b, "UALICE", "shop "+tester+" for 14d", tester)

	conv := run(t, b, "UALICE", "extend #"+itoa(g.ID)+" 3d")
	ng, _ := f.store.Grant(ctx, g.ID)
	if !ng.ExpiresAt.Equal(g.ExpiresAt.Add(72*time.Hour)) || !strings.Contains(conv.privates[0], "Extended") {
		t.Fatalf("after extend 3d: ends %v (was %v); answer %q", ng.ExpiresAt, g.ExpiresAt, conv.privates)
	}
	evs, _ := f.store.Events(ctx, bot.AuditFilter{Limit: 1})
	if len(evs) != 1 || evs[0].Kind != bot.EventExtended || evs[0].Actor != "UALICE" || evs[0].GrantID != g.ID {
		t.Errorf("last audit event %+v; want the extension", evs)
	}

	// 14d + 3d + 3w would pass the 30d maximum from now: capped there.
	run(t, b, "UALICE", "extend #"+itoa(g.ID)+" 3w")
	ng, _ = f.store.Grant(ctx, g.ID)
	if want := f.clock.Now().Add(30 * 24 * time.Hour); !ng.ExpiresAt.Equal(want) {
		t.Errorf("after extend 3w: ends %v, want the maximum from now %v", ng.ExpiresAt, want)
	}
	conv = run(t, b, "UALICE", "extend #"+itoa(g.ID))
	wantContains(t, "at the maximum", conv.privates[0], "as late as the app allows")

	conv = run(t, b, "UCAROL", "extend #"+itoa(g.ID))
	if n, _ := f.store.Grant(ctx, g.ID); !n.ExpiresAt.Equal(ng.ExpiresAt) || !strings.Contains(conv.privates[0], "no active grant of yours") {
		t.Errorf("someone else's extend: %q, grant now ends %v", conv.privates, n.ExpiresAt)
	}
}

// The reminder's Extend button extends; an app needing approval asks the
// approvers first, and the approval moves the end.
func TestExtendButtonAndApproval(t *testing.T) {
	f := newFixture(t)
	approvalPolicy(f)
	b := f.bot()
	ctx := context.Background()
	g := mustBind(t, f, b, "UALICE", "shop "+tester+" for 14d", tester)
	if _, err := click(t, b, "UALICE", bot.ActionExtend, itoa(g.ID)+":1w"); err != nil {
		t.Fatal(err)
	}
	if ng, _ := f.store.Grant(ctx, g.ID); !ng.ExpiresAt.Equal(g.ExpiresAt.Add(7 * 24 * time.Hour)) {
		t.Errorf("Extend +1w button: ends %v, want a week later than %v", ng.ExpiresAt, g.ExpiresAt)
	}

	// A requester's grant (made through an approval) needs one to be extended too.
	reqConv := run(t, b, "UREQ", "shop othertester for 3d")
	value, _ := promptValue(t, f.msgr)
	click(t, b, "UAPP1", bot.ActionApprove, value)
	rg, err := f.store.FindGrant(ctx, appShop, "othertester")
	if err != nil {
		t.Fatalf("the requester's grant: %v (%v)", err, reqConv)
	}
	before := len(f.msgr.sentPrompts())
	run(t, b, "UREQ", "extend #"+itoa(rg.ID)+" 3d")
	if after := len(f.msgr.sentPrompts()); after <= before {
		t.Fatal("extending a requester's grant asked no approver")
	}
	if ng, _ := f.store.Grant(ctx, rg.ID); !ng.ExpiresAt.Equal(rg.ExpiresAt) {
		t.Fatal("extended before anyone approved")
	}
	ps := f.msgr.sentPrompts()
	wantContains(t, "extension prompt", ps[len(ps)-1].Prompt.Text, "Reason: “extend #"+itoa(rg.ID)+"”")
	click(t, b, "UAPP1", bot.ActionApprove, ps[len(ps)-1].Prompt.Buttons[0].Value)
	if ng, _ := f.store.Grant(ctx, rg.ID); !ng.ExpiresAt.After(rg.ExpiresAt) {
		t.Errorf("after the approval the grant still ends %v", ng.ExpiresAt)
	}
}
