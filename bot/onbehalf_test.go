package bot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bindtester/bindtester/bot"
)

func TestParseOnBehalf(t *testing.T) {
	for _, text := range []string{"shop my_wechat for 3d for <@UBOB|bob>", "shop my_wechat for <@UBOB> for 3d because demo"} {
		cmd, err := bot.Parse(text)
		if err != nil || cmd.For != "UBOB" || cmd.Duration == 0 {
			t.Errorf("Parse(%q) = %+v, %v; want 3d for UBOB", text, cmd, err)
		}
	}
	if _, err := bot.Parse("shop my_wechat for <@UBOB> for <@UCAROL>"); err == nil {
		t.Error("two people accepted")
	}
}

// An admin binds for someone else: the grant is that person's (their mine,
// their reminders, their DM), and the audit log names both.
func TestAdminBindsOnBehalf(t *testing.T) {
	f := newFixture(t)
	b := f.bot()
	ctx := context.Background()
	conv := run(t, b, "UADMIN", "shop "+tester+" for 3d for <@UBOB|bob>")
	if len(conv.opens) != 1 || !strings.Contains(conv.opens[0], "for @UBOB") {
		t.Fatalf("status message %q; want it to say for whom", conv.opens)
	}
	g, err := f.store.FindGrant(ctx, appShop, tester)
	if err != nil || g.Requester != "UBOB" {
		t.Fatalf("grant %+v, %v; want it to be UBOB's", g, err)
	}
	if dms := f.msgr.dmsTo("UBOB"); len(dms) != 1 || !strings.Contains(dms[0], "@UADMIN bound `"+testerMasked+"`") {
		t.Errorf("DMs to UBOB %q; want one saying the admin bound it for them", dms)
	}
	mine := run(t, b, "UBOB", "mine").privates[0]
	wantContains(t, "UBOB's mine", mine, testerMasked)
	evs, _ := f.store.Events(ctx, bot.AuditFilter{Limit: 10})
	both := false
	for _, ev := range evs {
		both = both || (ev.Kind == bot.EventBound && ev.Actor == "UADMIN" && ev.Requester == "UBOB")
	}
	if !both {
		t.Errorf("audit %+v: want the bind recorded with the admin as actor and UBOB as requester", evs)
	}

	// Not an admin: refused, nothing done.
	conv = run(t, b, "UALICE", "shop othertester for <@UBOB>")
	if len(conv.privates) != 1 || !strings.Contains(conv.privates[0], "Only admins may bind for someone else") {
		t.Errorf("non-admin on behalf: %v", conv)
	}
	if n := f.fake.Calls(bindPath); n != 1 {
		t.Errorf("bind_tester called %d times, want only the admin's", n)
	}
}
