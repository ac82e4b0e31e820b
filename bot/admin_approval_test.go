package bot_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// A request that needs approval opens the requester's thread, stores a
// pending approval, prompts the approvers and does not touch WeChat.
func TestApprovalRequest(t *testing.T) {
	for _, c := range []struct {
		name      string
		policy    func(f *fixture)
		user      string
		targets   []string // where prompts go
		approvers string   // named in the thread
	}{
		{name: "requester, approvers by DM", policy: approvalPolicy, user: "UREQ",
			targets: []string{"UAPP1", "UAPP2"}, approvers: "@UAPP1, @UAPP2"},
		{name: "approval channel", user: "UREQ", policy: func(f *fixture) {
			approvalPolicy(f)
			f.policy.Apps[0].ApprovalChannel = "CAPPROVALS"
		}, targets: []string{"CAPPROVALS"}, approvers: "@UAPP1, @UAPP2"},
		{name: "binder when the app requires approval", user: "UALICE", policy: func(f *fixture) {
			f.policy.Apps[0].RequireApproval = true
			f.policy.Apps[0].Approvers = []string{"UAPP1"}
		}, targets: []string{"UAPP1"}, approvers: "@UAPP1"},
		{name: "no approvers listed: the admins decide", user: "UREQ", policy: func(f *fixture) {
			f.policy.Apps[0].Requesters = []string{"UREQ"}
		}, targets: []string{"UADMIN"}, approvers: "@UADMIN"},
		{name: "approvers through a user group", user: "UREQ", policy: func(f *fixture) {
			f.policy.Apps[0].Requesters = []string{"UREQ"}
			f.policy.Apps[0].Approvers = []string{"SLEADS"}
			f.groups.m["SLEADS"] = []string{"ULEAD1", "ULEAD2"}
		}, targets: []string{"ULEAD1", "ULEAD2"}, approvers: "@SLEADS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			c.policy(f)
			b := f.bot()
			start := f.clock.Now()
			conv := run(t, b, c.user, "shop "+tester+" for 3d")
			if len(conv.opens) != 1 || len(conv.replies) != 1 || len(conv.privates) != 0 || len(conv.updates) != 0 {
				t.Fatalf("want a status message and one reply; got %v", conv)
			}
			wantContains(t, "status message", conv.opens[0], "@"+c.user, "`"+testerMasked+"`", "*Shop*", "waiting for approval")
			wantContains(t, "thread reply", conv.replies[0], "needs an approval", "I asked "+c.approvers)
			if n := len(f.fake.Requests()); n != 0 {
				t.Errorf("WeChat got %d requests before any approval", n)
			}
			if gs := f.active(t, bot.GrantFilter{}); len(gs) != 0 {
				t.Errorf("grants before any approval: %+v", gs)
			}

			value, id := promptValue(t, f.msgr)
			a := f.approval(t, id)
			if a.State != bot.ApprovalPending || a.Requester != c.user || a.AppID != appShop || a.WechatMasked != testerMasked ||
				a.Duration != 72*time.Hour || a.Thread != conv.ref(0) || !a.ExpiresAt.Equal(start.Add(bot.DefaultApprovalTTL)) {
				t.Errorf("stored approval %+v", a)
			}
			ps := f.msgr.sentPrompts()
			var to []string
			var refs []bot.MessageRef
			for _, p := range ps {
				to = append(to, p.To)
				refs = append(refs, p.Ref)
				if len(p.Prompt.Buttons) != 2 || p.Prompt.Buttons[0].Value != value || p.Prompt.Buttons[0].Label != "Approve" || p.Prompt.Buttons[1].Label != "Deny" || p.Prompt.Buttons[1].Value != value {
					t.Errorf("prompt %+v", p.Prompt)
				}
				wantContains(t, "prompt", p.Prompt.Text, "@"+c.user, "`"+testerMasked+"`", "*Shop*", "for 3d", "#CSHOP", "#"+value)
				wantNotContains(t, "prompt", p.Prompt.Text, tester)
			}
			if !slices.Equal(to, c.targets) {
				t.Errorf("prompts went to %v, want %v", to, c.targets)
			}
			if !slices.Equal(a.Prompts, refs) {
				t.Errorf("stored prompts %v, want %v", a.Prompts, refs)
			}
			if evs := f.events(t, bot.AuditFilter{}); len(evs) != 1 || evs[0].Kind != bot.EventRequested {
				t.Errorf("audit %+v, want one requested row", evs)
			}
		})
	}
	t.Run("admins never need an approval", func(t *testing.T) {
		f := newFixture(t)
		approvalPolicy(f)
		f.policy.Apps[0].RequireApproval = true
		mustBind(t, f, f.bot(), "UADMIN", "shop "+tester, tester)
		if n := len(f.msgr.sentPrompts()); n != 0 {
			t.Errorf("%d prompts for an admin's bind", n)
		}
	})
	t.Run("binders of an app without RequireApproval bind at once", func(t *testing.T) {
		f := newFixture(t)
		approvalPolicy(f)
		mustBind(t, f, f.bot(), "UALICE", "shop "+tester, tester)
		if n := len(f.msgr.sentPrompts()); n != 0 {
			t.Errorf("%d prompts for a binder's bind", n)
		}
	})
}

// pendingApproval sets up Shop for approvals, has UREQ ask for 3 days and
// returns the bot, the requester's conversation and the approval id.
func pendingApproval(t *testing.T) (*fixture, *bot.Bot, *recConv, string) {
	t.Helper()
	f := newFixture(t)
	approvalPolicy(f)
	b := f.bot()
	conv := run(t, b, "UREQ", "shop "+tester+" for 3d")
	value, _ := promptValue(t, f.msgr)
	return f, b, conv, value
}

// Clicks by anyone but an approver change nothing.
func TestApprovalClickByNonApprover(t *testing.T) {
	for _, user := range []string{"UALICE", "UREQ", "UDAVE"} {
		t.Run(user, func(t *testing.T) {
			f, b, _, value := pendingApproval(t)
			for _, action := range []string{bot.ActionApprove, bot.ActionDeny} {
				conv, err := click(t, b, user, action, value)
				if err != nil {
					t.Fatalf("Click: %v", err)
				}
				if len(conv.privates) != 1 {
					t.Fatalf("want one private answer; got %v", conv)
				}
				wantContains(t, "answer", conv.privates[0], "Only the approvers", "@UAPP1, @UAPP2", "changed nothing")
			}
			_, id := promptValue(t, f.msgr)
			if a := f.approval(t, id); a.State != bot.ApprovalPending || a.DecidedBy != "" {
				t.Errorf("approval %s by %q after a non-approver's clicks", a.State, a.DecidedBy)
			}
			if n := len(f.fake.Requests()); n != 0 {
				t.Errorf("WeChat got %d requests", n)
			}
			if n := len(f.msgr.promptEdits()) + len(f.msgr.threadPosts()); n != 0 {
				t.Errorf("%d prompt edits or thread posts", n)
			}
			if got := kinds(f.events(t, bot.AuditFilter{})); !slices.Equal(got, []bot.EventKind{bot.EventRequested}) {
				t.Errorf("audit %v", got)
			}
		})
	}
	t.Run("unknown approval", func(t *testing.T) {
		f, b, _, _ := pendingApproval(t)
		for _, v := range []string{"999", "x", ""} {
			conv, _ := click(t, b, "UAPP1", bot.ActionApprove, v)
			if len(conv.privates) != 1 || !strings.Contains(conv.privates[0], "do not know this request") {
				t.Errorf("value %q: %v", v, conv)
			}
		}
		if n := len(f.fake.Requests()); n != 0 {
			t.Errorf("WeChat got %d requests", n)
		}
	})
}

// An approval binds once, in the requester's own thread; later clicks are told
// who decided.
func TestApprovalApprove(t *testing.T) {
	f, b, req, value := pendingApproval(t)
	start := f.clock.Now()
	f.clock.Add(time.Hour) // the approver takes an hour
	conv, err := click(t, b, "UAPP1", bot.ActionApprove, value)
	if err != nil {
		t.Fatalf("Click: %v", err)
	}
	if len(conv.privates) != 0 {
		t.Errorf("the approver was told privately: %q", conv.privates)
	}
	if n := f.fake.Calls(bindPath); n != 1 {
		t.Fatalf("bind_tester called %d times, want 1", n)
	}
	wantBodies(t, f.fake, bindPath, map[string]string{"wechatid": tester})

	// The outcome goes to the requester's original thread.
	ref := req.ref(0)
	for _, p := range f.msgr.threadPosts() {
		if p.Ref != ref {
			t.Errorf("posted in %+v, want the requester's thread %+v: %q", p.Ref, ref, p.Text)
		}
	}
	replies := strings.Join(f.msgr.in(ref, "reply"), "\n")
	wantContains(t, "thread", replies, "@UREQ, @UAPP1 approved your request", "Done: `"+testerMasked+"` is now an experiencer of *Shop*")
	wantNotContains(t, "thread", replies, tester)
	if ups := f.msgr.in(ref, "update"); len(ups) != 1 || !strings.HasPrefix(ups[0], "✅") {
		t.Errorf("status updates %q, want one ✅", ups)
	}
	if len(f.msgr.in(ref, "attach")) != 1 {
		t.Error("no trial QR code in the thread")
	}

	// Both prompts are edited to say who approved.
	edits := f.msgr.promptEdits()
	var edited []bot.MessageRef
	for _, e := range edits {
		edited = append(edited, e.Ref)
		wantContains(t, "edited prompt", e.Text, "@UAPP1 approved", "@UREQ", "`"+testerMasked+"`")
	}
	var prompted []bot.MessageRef
	for _, p := range f.msgr.sentPrompts() {
		prompted = append(prompted, p.Ref)
	}
	if !slices.Equal(edited, prompted) {
		t.Errorf("edited %v, want every prompt %v", edited, prompted)
	}

	// The grant belongs to the requester and lasts what was asked, from the approval.
	gs := f.active(t, bot.GrantFilter{})
	if len(gs) != 1 || gs[0].Requester != "UREQ" || gs[0].Thread != ref || !gs[0].ExpiresAt.Equal(start.Add(time.Hour+72*time.Hour)) {
		t.Errorf("grants %+v, want UREQ's for 3 days from the approval", gs)
	}
	_, id := promptValue(t, f.msgr)
	if a := f.approval(t, id); a.State != bot.ApprovalApproved || a.DecidedBy != "UAPP1" {
		t.Errorf("approval %s by %q", a.State, a.DecidedBy)
	}

	// Later clicks are told who decided, and change nothing.
	for _, c := range []struct{ user, action string }{{"UAPP2", bot.ActionApprove}, {"UAPP2", bot.ActionDeny}, {"UAPP1", bot.ActionApprove}} {
		conv, err := click(t, b, c.user, c.action, value)
		if err != nil {
			t.Fatalf("Click: %v", err)
		}
		if len(conv.privates) != 1 {
			t.Fatalf("%s %s: %v", c.user, c.action, conv)
		}
		wantContains(t, "second click", conv.privates[0], "Already decided: @UAPP1 approved it")
	}
	if n := f.fake.Calls(bindPath); n != 1 {
		t.Errorf("bind_tester called %d times after more clicks, want 1", n)
	}
	if a := f.approval(t, id); a.State != bot.ApprovalApproved || a.DecidedBy != "UAPP1" {
		t.Errorf("approval %s by %q after more clicks", a.State, a.DecidedBy)
	}
	if n := len(f.msgr.promptEdits()); n != len(edits) {
		t.Errorf("prompts edited again (%d edits)", n)
	}
}

// Approvers clicking at once bind exactly once.
func TestApprovalConcurrentClicks(t *testing.T) {
	f, b, _, value := pendingApproval(t)
	var wg sync.WaitGroup
	convs := make([]*recConv, 10)
	for i := range convs {
		user := []string{"UAPP1", "UAPP2"}[i%2]
		wg.Go(func() {
			convs[i], _ = click(t, b, user, bot.ActionApprove, value)
		})
	}
	wg.Wait()
	if n := f.fake.Calls(bindPath); n != 1 {
		t.Errorf("bind_tester called %d times for 10 concurrent approvals, want 1", n)
	}
	told := 0
	for _, c := range convs {
		if len(c.privates) == 1 && strings.Contains(c.privates[0], "Already decided") {
			told++
		}
	}
	if told != 9 {
		t.Errorf("%d clicks were told it was already decided, want 9", told)
	}
	if n := len(f.eventsOf(t, bot.EventApproved)); n != 1 {
		t.Errorf("%d approved rows, want 1", n)
	}
	if n := len(f.active(t, bot.GrantFilter{})); n != 1 {
		t.Errorf("%d grants, want 1", n)
	}
}

// A denial binds nothing and tells the requester in their thread.
func TestApprovalDeny(t *testing.T) {
	f, b, req, value := pendingApproval(t)
	if _, err := click(t, b, "UAPP2", bot.ActionDeny, value); err != nil {
		t.Fatalf("Click: %v", err)
	}
	if n := len(f.fake.Requests()); n != 0 {
		t.Errorf("WeChat got %d requests after a denial", n)
	}
	ref := req.ref(0)
	replies := f.msgr.in(ref, "reply")
	if len(replies) != 1 {
		t.Fatalf("thread replies %q, want 1", replies)
	}
	wantContains(t, "thread", replies[0], "@UREQ, @UAPP2 denied your request")
	if ups := f.msgr.in(ref, "update"); len(ups) != 1 || !strings.HasPrefix(ups[0], "❌") || !strings.Contains(ups[0], "approval denied") {
		t.Errorf("status updates %q", ups)
	}
	edits := f.msgr.promptEdits()
	if len(edits) != 2 {
		t.Fatalf("%d prompt edits, want 2", len(edits))
	}
	for _, e := range edits {
		wantContains(t, "edited prompt", e.Text, "@UAPP2 denied")
	}
	_, id := promptValue(t, f.msgr)
	if a := f.approval(t, id); a.State != bot.ApprovalDenied || a.DecidedBy != "UAPP2" {
		t.Errorf("approval %s by %q", a.State, a.DecidedBy)
	}
	if len(f.active(t, bot.GrantFilter{})) != 0 {
		t.Error("a grant after a denial")
	}
	conv, _ := click(t, b, "UAPP1", bot.ActionApprove, value)
	if len(conv.privates) != 1 || !strings.Contains(conv.privates[0], "Already decided: @UAPP2 denied it") {
		t.Errorf("approve after deny: %v", conv)
	}
	if n := len(f.fake.Requests()); n != 0 {
		t.Errorf("WeChat got %d requests after approve-after-deny", n)
	}
}

// Nobody deciding in time expires the request at the next Sweep.
func TestApprovalExpires(t *testing.T) {
	f, b, req, value := pendingApproval(t)
	_, id := promptValue(t, f.msgr)
	a := f.approval(t, id)

	f.clock.Add(a.ExpiresAt.Sub(f.clock.Now()) - time.Second)
	sweep(t, b)
	if got := f.approval(t, id); got.State != bot.ApprovalPending {
		t.Fatalf("approval %s before its expiry", got.State)
	}

	f.clock.Add(2 * time.Second)
	sweep(t, b)
	if got := f.approval(t, id); got.State != bot.ApprovalExpired {
		t.Fatalf("approval %s after its expiry, want expired", got.State)
	}
	evs := f.eventsOf(t, bot.EventApprovalExpired)
	if len(evs) != 1 || evs[0].ApprovalID != id || evs[0].Requester != "UREQ" || evs[0].Actor != "" {
		t.Errorf("approval_expired rows %+v", evs)
	}
	ref := req.ref(0)
	replies := f.msgr.in(ref, "reply")
	if len(replies) != 1 || !strings.Contains(replies[0], "@UREQ, nobody approved your request in time") {
		t.Errorf("thread replies %q", replies)
	}
	if ups := f.msgr.in(ref, "update"); len(ups) != 1 || !strings.HasPrefix(ups[0], "❌") || !strings.Contains(ups[0], "approval expired") {
		t.Errorf("status updates %q", ups)
	}
	edits := f.msgr.promptEdits()
	if len(edits) != 2 {
		t.Fatalf("%d prompt edits, want 2", len(edits))
	}
	for _, e := range edits {
		wantContains(t, "edited prompt", e.Text, "Expired", "@UREQ", "`"+testerMasked+"`")
	}

	// Once expired, clicks change nothing, and a second Sweep has nothing to do.
	conv, _ := click(t, b, "UAPP1", bot.ActionApprove, value)
	if len(conv.privates) != 1 || !strings.Contains(conv.privates[0], "This request expired") {
		t.Errorf("click after expiry: %v", conv)
	}
	sweep(t, b)
	if n := len(f.eventsOf(t, bot.EventApprovalExpired)); n != 1 {
		t.Errorf("%d approval_expired rows after a second sweep", n)
	}
	if n := len(f.fake.Requests()); n != 0 {
		t.Errorf("WeChat got %d requests", n)
	}
}

// help tells a requester that their binds need an approver, and a binder not.
func TestHelpSaysWhichAppsNeedApproval(t *testing.T) {
	f := newFixture(t)
	approvalPolicy(f)
	b := f.bot()
	wantContains(t, "requester's help", run(t, b, "UREQ", "help").all(), "*Shop*", "(an approver decides)")
	wantNotContains(t, "binder's help", run(t, b, "UALICE", "help").all(), "(an approver decides)")
}

// If the approval's status message cannot be posted, nobody is asked and
// nothing is stored: the requester is told privately.
func TestApprovalOpenFailsAsksNobody(t *testing.T) {
	f := newFixture(t)
	approvalPolicy(f)
	boom := errors.New("chat.postMessage: fatal_error")
	conv := &recConv{t: t, openErr: boom}
	err := f.bot().Handle(context.Background(), bot.Request{UserID: "UREQ", ChannelID: "CSHOP", Text: "shop " + tester}, conv)
	if !errors.Is(err, boom) {
		t.Fatalf("Handle = %v, want %v", err, boom)
	}
	if len(conv.privates) != 1 {
		t.Fatalf("want one private answer; got %v", conv)
	}
	wantContains(t, "private answer", conv.privates[0], "could not post in this channel", "I did nothing")
	if n := len(f.msgr.sentPrompts()); n != 0 {
		t.Errorf("%d approval prompts", n)
	}
	wantNoApprovals(t, f)
	evs := f.events(t, bot.AuditFilter{})
	if !slices.Equal(kinds(evs), []bot.EventKind{bot.EventRequested, bot.EventFailed}) || evs[1].Detail != "could not post in the channel" {
		t.Errorf("audit %+v, want requested then failed: could not post in the channel", evs)
	}
}

// The command line cannot carry approval prompts to Slack: a request that
// needs one is sent there, and nothing is stored or bound.
func TestApprovalNeededOutsideSlack(t *testing.T) {
	for _, c := range []struct {
		locale string
		want   []string
	}{
		{"en", []string{"*Shop* needs an approval for you", "ask in Slack", "`/bindtester shop <wechat-id>`"}},
		{"zh", []string{"*Shop* 需要审批", "Slack", "`/bindtester shop <wechat-id>`"}},
	} {
		t.Run(c.locale, func(t *testing.T) {
			f := newFixture(t)
			approvalPolicy(f)
			conv, err := handle(t, f.bot(), bot.Request{UserID: "UREQ", Text: "shop " + tester, Locale: c.locale, NoApproval: true})
			if err != nil || len(conv.privates) != 1 || len(conv.opens) != 0 {
				t.Fatalf("Handle: %v; want one private answer: %v", err, conv)
			}
			wantContains(t, "answer", conv.privates[0], c.want...)
			wantNotContains(t, "answer", conv.privates[0], tester, "%!")
			if n := len(f.msgr.sentPrompts()); n != 0 {
				t.Errorf("%d approval prompts", n)
			}
			wantNoApprovals(t, f)
			if n := len(f.fake.Requests()); n != 0 {
				t.Errorf("WeChat got %d requests", n)
			}
			evs := f.events(t, bot.AuditFilter{})
			if len(evs) != 1 || evs[0].Kind != bot.EventDenied || evs[0].Detail != "needs approval; asked outside Slack" || evs[0].Requester != "UREQ" {
				t.Errorf("audit %+v, want one denied row", evs)
			}
		})
	}
	t.Run("binders are not affected", func(t *testing.T) {
		f := newFixture(t)
		approvalPolicy(f)
		conv, err := handle(t, f.bot(), bot.Request{UserID: "UALICE", Text: "shop " + tester, NoApproval: true})
		if err != nil || len(conv.updates) != 1 || !strings.HasPrefix(conv.updates[0], "✅") {
			t.Fatalf("Handle: %v; want a bind: %v", err, conv)
		}
	})
}

// wantNoApprovals checks that no approval was stored.
func wantNoApprovals(t *testing.T, f *fixture) {
	t.Helper()
	if as, err := f.store.StaleApprovals(context.Background(), f.clock.Now().Add(100*365*24*time.Hour)); err != nil || len(as) != 0 {
		t.Errorf("stored approvals %+v, %v; want none", as, err)
	}
}

// A bot without a Messenger cannot tell anyone later news: the sweep says so
// rather than losing the news silently.
func TestNewsWithoutMessengerIsAnError(t *testing.T) {
	f := newFixture(t)
	approvalPolicy(f)
	b := f.bot(func(o *bot.Options) { o.Messenger = nil })
	conv, _ := handle(t, b, bot.Request{UserID: "UREQ", ChannelID: "CSHOP", Text: "shop " + tester}) // the prompts fail
	wantContains(t, "thread reply", conv.all(), "could not reach the approvers")
	f.clock.Add(bot.DefaultApprovalTTL + time.Minute)
	if err := b.Sweep(context.Background()); err == nil || !strings.Contains(err.Error(), "no messenger") {
		t.Errorf("Sweep = %v, want the expiry news to fail for want of a messenger", err)
	}
}
