package bot_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// Every kind of audit row is written with who acted, for whom, on which app,
// the masked WeChat ID (never the full one), WeChat's userstr and errcode.
func TestAuditRowsForEveryKind(t *testing.T) {
	type row struct {
		kind      bot.EventKind
		actor     string
		requester string
		userstr   bool // the userstr the bind returned
		errcode   int
		grant     bool // the grant's id
		approval  bool // the approval's id
	}
	// got carries what a case learned while running: WeChat's userstr and the ids.
	type got struct {
		userstr  string
		grant    int64
		approval int64
	}
	bindAs := func(t *testing.T, f *fixture, b *bot.Bot, user string) got {
		g := mustBind(t, f, b, user, "shop "+tester, tester)
		return got{userstr: g.UserStr, grant: g.ID}
	}
	ask := func(t *testing.T, f *fixture, b *bot.Bot) got {
		run(t, b, "UREQ", "shop "+tester)
		_, id := promptValue(t, f.msgr)
		return got{approval: id}
	}
	for _, c := range []struct {
		name  string
		setup func(f *fixture)
		run   func(t *testing.T, f *fixture, b *bot.Bot) got
		want  []row
	}{
		{
			name: "allowed and bound",
			run:  func(t *testing.T, f *fixture, b *bot.Bot) got { return bindAs(t, f, b, "UALICE") },
			want: []row{
				{kind: bot.EventAllowed, actor: "UALICE", requester: "UALICE"},
				{kind: bot.EventBound, actor: "UALICE", requester: "UALICE", userstr: true, grant: true},
			},
		},
		{
			name: "denied",
			run: func(t *testing.T, f *fixture, b *bot.Bot) got {
				run(t, b, "UDAVE", "shop "+tester)
				return got{}
			},
			want: []row{{kind: bot.EventDenied, actor: "UDAVE", requester: "UDAVE"}},
		},
		{
			name:  "failed with errcode 85001",
			setup: func(f *fixture) { f.fake.SetOutcome(tester, 85001) },
			run: func(t *testing.T, f *fixture, b *bot.Bot) got {
				run(t, b, "UALICE", "shop "+tester)
				return got{}
			},
			want: []row{
				{kind: bot.EventAllowed, actor: "UALICE", requester: "UALICE"},
				{kind: bot.EventFailed, actor: "UALICE", requester: "UALICE", errcode: 85001},
			},
		},
		{
			name:  "requested",
			setup: approvalPolicy,
			run:   ask,
			want:  []row{{kind: bot.EventRequested, actor: "UREQ", requester: "UREQ"}},
		},
		{
			name:  "approved, then bound by the approver's click",
			setup: approvalPolicy,
			run: func(t *testing.T, f *fixture, b *bot.Bot) got {
				g := ask(t, f, b)
				if _, err := click(t, b, "UAPP1", bot.ActionApprove, itoa(g.approval)); err != nil {
					t.Fatalf("Click: %v", err)
				}
				gr, err := f.store.FindGrant(context.Background(), appShop, tester)
				if err != nil {
					t.Fatalf("no grant after the approval: %v", err)
				}
				g.userstr, g.grant = gr.UserStr, gr.ID
				return g
			},
			want: []row{
				{kind: bot.EventRequested, actor: "UREQ", requester: "UREQ"},
				{kind: bot.EventApproved, actor: "UAPP1", requester: "UREQ", approval: true},
				{kind: bot.EventBound, actor: "UAPP1", requester: "UREQ", userstr: true, grant: true, approval: true},
			},
		},
		{
			name:  "rejected",
			setup: approvalPolicy,
			run: func(t *testing.T, f *fixture, b *bot.Bot) got {
				g := ask(t, f, b)
				if _, err := click(t, b, "UAPP2", bot.ActionDeny, itoa(g.approval)); err != nil {
					t.Fatalf("Click: %v", err)
				}
				return g
			},
			want: []row{
				{kind: bot.EventRequested, actor: "UREQ", requester: "UREQ"},
				{kind: bot.EventRejected, actor: "UAPP2", requester: "UREQ", approval: true},
			},
		},
		{
			name:  "approval_expired",
			setup: approvalPolicy,
			run: func(t *testing.T, f *fixture, b *bot.Bot) got {
				g := ask(t, f, b)
				f.clock.Add(bot.DefaultApprovalTTL + time.Second)
				sweep(t, b)
				return g
			},
			want: []row{
				{kind: bot.EventRequested, actor: "UREQ", requester: "UREQ"},
				{kind: bot.EventApprovalExpired, actor: "", requester: "UREQ", approval: true},
			},
		},
		{
			name: "unbound by a person",
			run: func(t *testing.T, f *fixture, b *bot.Bot) got {
				g := bindAs(t, f, b, "UALICE")
				run(t, b, "UADMIN", "unbind shop "+tester)
				return g
			},
			want: []row{
				{kind: bot.EventAllowed, actor: "UALICE", requester: "UALICE"},
				{kind: bot.EventBound, actor: "UALICE", requester: "UALICE", userstr: true, grant: true},
				{kind: bot.EventUnbound, actor: "UADMIN", requester: "UALICE", userstr: true, grant: true},
			},
		},
		{
			name: "expired by the worker",
			run: func(t *testing.T, f *fixture, b *bot.Bot) got {
				g := bindAs(t, f, b, "UALICE")
				f.clock.Add(bot.DefaultDuration + time.Second)
				sweep(t, b)
				return g
			},
			want: []row{
				{kind: bot.EventAllowed, actor: "UALICE", requester: "UALICE"},
				{kind: bot.EventBound, actor: "UALICE", requester: "UALICE", userstr: true, grant: true},
				{kind: bot.EventExpired, actor: "", requester: "UALICE", userstr: true, grant: true},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			if c.setup != nil {
				c.setup(f)
			}
			b := f.bot()
			g := c.run(t, f, b)
			if slices.ContainsFunc(c.want, func(r row) bool { return r.userstr }) && g.userstr == "" {
				t.Fatal("the bind returned no userstr")
			}
			evs := f.events(t, bot.AuditFilter{})
			var want []bot.EventKind
			for _, w := range c.want {
				want = append(want, w.kind)
			}
			if got := kinds(evs); !slices.Equal(got, want) {
				t.Fatalf("audit kinds %v, want %v: %+v", got, want, evs)
			}
			for i, w := range c.want {
				e := evs[i]
				if e.Actor != w.actor || e.Requester != w.requester {
					t.Errorf("%s: actor %q requester %q, want %q and %q", e.Kind, e.Actor, e.Requester, w.actor, w.requester)
				}
				if e.AppID != appShop || e.WechatMasked != testerMasked {
					t.Errorf("%s: app %q masked %q, want %q and %q", e.Kind, e.AppID, e.WechatMasked, appShop, testerMasked)
				}
				wantUS, wantGrant, wantApproval := "", int64(0), int64(0)
				if w.userstr {
					wantUS = g.userstr
				}
				if w.grant {
					wantGrant = g.grant
				}
				if w.approval {
					wantApproval = g.approval
				}
				if e.Kind == bot.EventRequested {
					wantApproval = e.ApprovalID // written before the approval exists: not checked
				}
				if e.UserStr != wantUS || e.ErrCode != w.errcode || e.GrantID != wantGrant || e.ApprovalID != wantApproval {
					t.Errorf("%s: userstr %q errcode %d grant %d approval %d, want %q, %d, %d, %d",
						e.Kind, e.UserStr, e.ErrCode, e.GrantID, e.ApprovalID, wantUS, w.errcode, wantGrant, wantApproval)
				}
				if e.At.IsZero() || e.ID == 0 {
					t.Errorf("%s: no time or id: %+v", e.Kind, e)
				}
			}
			noFullID(t, evs, tester)
		})
	}
}
