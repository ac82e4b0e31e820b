package bot_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// Regression tests for bugs a review found: upstream bodies in the audit log,
// a re-bind worded for the wrong owner, late approvals, self-approval.

// An upstream error page that echoes the WeChat ID must not carry it into the
// audit log (Event.Detail is "short, secret-free"), nor through `audit` into Slack.
func TestAuditDetailNeverHoldsUpstreamBody(t *testing.T) {
	f := newFixture(t)
	f.fake.FailNextHTTP(bindPath, 3, 502, "text/html", "<html>502 Bad Gateway wechatid="+tester+" access_token=tok-secret</html>")
	b := f.bot()
	run(t, b, "UALICE", "shop "+tester)
	noFullID(t, f.events(t, bot.AuditFilter{}), tester, "tok-secret")
	conv := run(t, b, "UADMIN", "audit")
	wantNotContains(t, "audit", conv.all(), tester, "tok-secret")
}

// Same for a failed automatic unbind: the audit row and the grant's LastError.
func TestUnbindErrorNeverHoldsUpstreamBody(t *testing.T) {
	f := newFixture(t)
	b := f.bot()
	g := mustBind(t, f, b, "UALICE", "shop "+tester+" for 1h", tester)
	f.fake.FailNextHTTP(unbindPath, 3, 502, "text/html", "<html>wechatid="+tester+"</html>")
	f.clock.Add(time.Hour + time.Second)
	b.Sweep(t.Context())
	noFullID(t, f.events(t, bot.AuditFilter{}), tester)
	if le := f.grant(t, g.ID).LastError; strings.Contains(le, tester) {
		t.Errorf("grant LastError holds the full WeChat ID: %q", le)
	}
}

// When someone binds a tester who already has a longer grant of someone
// else's, the grant stays the other person's: the reply must not promise a
// warning nor offer an unbind command its reader is then refused.
func TestRebindIsWordedForTheGrantOwner(t *testing.T) {
	f := newFixture(t)
	b := f.bot()
	g := mustBind(t, f, b, "UALICE", "shop "+tester+" for 3d", tester)
	conv := run(t, b, "UCAROL", "shop "+tester+" for 1d")
	if got := f.grant(t, g.ID); got.Requester != "UALICE" {
		t.Fatalf("grant moved to %s", got.Requester)
	}
	offered := "/bindtester unbind shop #" + itoa(g.ID)
	if strings.Contains(conv.replies[0], offered) {
		denied := run(t, b, "UCAROL", "unbind shop #"+itoa(g.ID))
		if strings.Contains(denied.all(), "only they or an admin") {
			t.Errorf("UCAROL was offered %q and then refused it:\n%s\n%s", offered, conv.replies[0], denied.all())
		}
	}
	wantNotContains(t, "reply to UCAROL", conv.replies[0], "I will tell you a day before")
}

// A request past its ExpiresAt is expired even if the worker has not swept yet:
// the prompt told the approvers when it expires.
func TestLateApprovalExpiresInsteadOfBinding(t *testing.T) {
	f, b, _, value := pendingApproval(t)
	f.clock.Add(bot.DefaultApprovalTTL + time.Hour) // the worker has not run
	conv, _ := click(t, b, "UAPP1", bot.ActionApprove, value)
	if n := f.fake.Calls(bindPath); n != 0 {
		t.Errorf("an expired request was approved and bound (bind_tester %d calls): %v", n, conv)
	}
}

// An approver who asked cannot approve their own request.
func TestApproverCannotApproveOwnRequest(t *testing.T) {
	f := newFixture(t)
	approvalPolicy(f)
	f.policy.Apps[0].Requesters = []string{"UAPP1"}
	b := f.bot()
	run(t, b, "UAPP1", "shop "+tester)
	value, id := promptValue(t, f.msgr)
	conv, _ := click(t, b, "UAPP1", bot.ActionApprove, value)
	wantContains(t, "own click", conv.all(), "cannot decide your own request")
	if a := f.approval(t, id); a.State != bot.ApprovalPending {
		t.Errorf("state %s after a self-approval", a.State)
	}
	if n := f.fake.Calls(bindPath); n != 0 {
		t.Errorf("bind_tester called %d times", n)
	}
	conv, _ = click(t, b, "UAPP2", bot.ActionApprove, value)
	if n := f.fake.Calls(bindPath); n != 1 {
		t.Errorf("the other approver's click: bind_tester called %d times, want 1: %v", n, conv)
	}
}

// panickyStore panics where the worker first reads, as a corrupt row might.
type panickyStore struct {
	bot.Store
	sweeps atomic.Int32
}

func (s *panickyStore) DueGrants(context.Context, time.Time) ([]bot.Grant, error) {
	s.sweeps.Add(1)
	panic("corrupt row")
}

// A panic in one sweep is logged and the worker carries on with the next.
func TestWorkerSurvivesAPanickingSweep(t *testing.T) {
	f := newFixture(t)
	ps := &panickyStore{Store: f.store}
	b := f.bot(func(o *bot.Options) { o.Store = ps })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.RunWorker(ctx, 10*time.Millisecond) }()
	deadline := time.Now().Add(5 * time.Second)
	for ps.sweeps.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if n := ps.sweeps.Load(); n < 3 {
		t.Fatalf("worker swept %d times after a panic, want it to go on", n)
	}
}

// slowGroups answers after a long time, like a Slack outage.
type slowGroups struct{}

func (slowGroups) Members(ctx context.Context, _ string) ([]string, error) {
	select {
	case <-time.After(3 * time.Second):
	case <-ctx.Done():
	}
	return nil, errors.New("slack is slow")
}

// A caller of the group cache whose context ends stops waiting for the shared lookup.
func TestGroupCacheCallerMayGiveUp(t *testing.T) {
	c := bot.NewGroupCache(slowGroups{}, time.Minute, 15*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Members(ctx, "SQA"); err == nil {
		t.Fatal("no error from a lookup that never answered")
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("caller waited %v past its deadline", waited)
	}
}
