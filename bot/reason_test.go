package bot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bindtester/bindtester/bot"
)

func TestParseReason(t *testing.T) {
	cmd, err := bot.Parse("shop my_wechat for 3d because regression test of 2.4")
	if err != nil || cmd.Reason != "regression test of 2.4" || cmd.Duration == 0 {
		t.Errorf("Parse = %+v, %v; want the reason and the duration", cmd, err)
	}
	if cmd, err := bot.Parse("shop my_wechat because <@U123> & co"); err != nil || cmd.Reason != "<@U123> & co" {
		t.Errorf("Parse = %+v, %v; want the raw reason, escaped only where shown", cmd, err)
	}
	for _, bad := range []string{"shop my_wechat because", "shop my_wechat because " + strings.Repeat("x", 301)} {
		var ue *bot.UsageError
		if _, err := bot.Parse(bad); !asUsage(err, &ue) || ue.Key != "usage.reason" {
			t.Errorf("Parse(%.40q) = %v; want usage.reason", bad, err)
		}
	}
}

func asUsage(err error, ue **bot.UsageError) bool {
	u, ok := err.(*bot.UsageError)
	*ue = u
	return ok
}

// An app that requires a reason refuses a request without one, before
// anything is written or asked; with one, the reason is kept with the grant,
// in the audit log, and shown in testers (escaped).
func TestReasonRequiredKeptAndShown(t *testing.T) {
	f := newFixture(t)
	f.policy.Apps[0].RequireReason = true
	b := f.bot()
	conv := run(t, b, "UALICE", "shop "+tester)
	if len(conv.privates) != 1 || !strings.Contains(conv.privates[0], "needs a reason") || len(conv.opens) != 0 {
		t.Fatalf("without a reason: %v; want one private answer saying a reason is needed", conv)
	}
	if n := f.fake.Calls(bindPath); n != 0 {
		t.Errorf("bind_tester called %d times without a reason", n)
	}
	run(t, b, "UALICE", "shop "+tester+" because checkout <b>regression</b>")
	g, err := f.store.FindGrant(context.Background(), appShop, tester)
	if err != nil || g.Reason != "checkout <b>regression</b>" {
		t.Fatalf("grant %+v, %v; want the reason kept", g, err)
	}
	evs, _ := f.store.Events(context.Background(), bot.AuditFilter{Limit: 10})
	found := false
	for _, ev := range evs {
		found = found || (ev.Kind == bot.EventAllowed && strings.Contains(ev.Detail, "because checkout <b>regression</b>"))
	}
	if !found {
		t.Errorf("audit %+v: want the allowed event to carry the reason", evs)
	}
	out := run(t, b, "UADMIN", "testers shop").rawAll() // as it reaches Slack, escaped
	wantContains(t, "testers", out, "“checkout &lt;b&gt;regression&lt;/b&gt;”")
}

// A reason reaches the approvers' prompt, and the grant the approval makes.
func TestReasonReachesTheApprover(t *testing.T) {
	f := newFixture(t)
	approvalPolicy(f)
	b := f.bot()
	run(t, b, "UREQ", "shop "+tester+" for 3d because client demo on Friday")
	ps := f.msgr.sentPrompts()
	if len(ps) == 0 || !strings.Contains(ps[0].Prompt.Text, "Reason: “client demo on Friday”") {
		t.Fatalf("prompts %+v; want the reason in them", ps)
	}
	value, _ := promptValue(t, f.msgr)
	if _, err := click(t, b, "UAPP1", bot.ActionApprove, value); err != nil {
		t.Fatal(err)
	}
	if g, err := f.store.FindGrant(context.Background(), appShop, tester); err != nil || g.Reason != "client demo on Friday" {
		t.Errorf("grant %+v, %v; want the approved request's reason", g, err)
	}
}
