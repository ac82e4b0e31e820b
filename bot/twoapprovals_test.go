package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// An app needing two approvals binds only after the second distinct
// approver; the first approver's second click changes nothing; every
// prompt says who approved and when, keeping its buttons until decided.
func TestTwoApprovalsBindAfterTheSecondDistinctApprover(t *testing.T) {
	f := newFixture(t)
	approvalPolicy(f)
	f.policy.Apps[0].ApprovalsNeeded = 2
	b := f.bot()
	req := run(t, b, "UREQ", "shop "+tester+" for 3d")
	value, id := promptValue(t, f.msgr)
	nPrompts := len(f.msgr.sentPrompts())

	f.clock.Add(time.Minute)
	if _, err := click(t, b, "UAPP1", bot.ActionApprove, value); err != nil {
		t.Fatal(err)
	}
	if n := f.fake.Calls(bindPath); n != 0 {
		t.Fatalf("bound after one approval of two (%d calls)", n)
	}
	f.msgr.mu.Lock()
	reprompts := append([]sentPrompt(nil), f.msgr.reprompts...)
	f.msgr.mu.Unlock()
	if len(reprompts) != nPrompts-1 || reprompts[0].Ref.To != "UAPP2" {
		t.Fatalf("prompts updated with buttons: %+v; want all %d but UAPP1's", reprompts, nPrompts-1)
	}
	wantContains(t, "updated prompt", reprompts[0].Prompt.Text, "Approved by @UAPP1", "Waiting for 1 more approval")
	if len(reprompts[0].Prompt.Buttons) != 2 {
		t.Error("the updated prompt lost its buttons")
	}
	// The first approver's own prompt loses its buttons: they cannot approve twice.
	if edits := f.msgr.promptEdits(); len(edits) != 1 || edits[0].Ref.To != "UAPP1" || !strings.Contains(edits[0].Text, "Approved by @UAPP1") {
		t.Errorf("edits after the first vote %+v; want UAPP1's prompt, without buttons, saying they approved", edits)
	}
	wantContains(t, "requester's thread", strings.Join(f.msgr.in(req.ref(0), "reply"), "\n"), "@UAPP1 approved your request; it needs 1 more")

	// The same approver again: nothing changes.
	conv, _ := click(t, b, "UAPP1", bot.ActionApprove, value)
	if len(conv.privates) != 1 || !strings.Contains(conv.privates[0], "approved this already") {
		t.Errorf("second click by the same approver: %v", conv)
	}
	if a, _ := f.store.Approval(context.Background(), id); a.State != bot.ApprovalPending || len(a.Votes) != 1 {
		t.Errorf("approval %+v; want still pending with one vote", a)
	}

	// Another approver: decided, bound, every prompt edited with both names.
	if _, err := click(t, b, "UAPP2", bot.ActionApprove, value); err != nil {
		t.Fatal(err)
	}
	if n := f.fake.Calls(bindPath); n != 1 {
		t.Fatalf("bind_tester called %d times after the second approval, want 1", n)
	}
	edits := f.msgr.promptEdits()[1:]
	if len(edits) != nPrompts {
		t.Fatalf("%d prompts edited, want %d", len(edits), nPrompts)
	}
	wantContains(t, "decided prompt", edits[0].Text, "@UAPP2 approved", "Approved by @UAPP1", "@UAPP2 (")
	evs, _ := f.store.Events(context.Background(), bot.AuditFilter{Limit: 20})
	var details []string
	for _, ev := range evs {
		if ev.Kind == bot.EventApproved {
			details = append(details, ev.Actor+": "+ev.Detail)
		}
	}
	if strings.Join(details, "; ") != "UAPP2: approval 2 of 2; UAPP1: approval 1 of 2" {
		t.Errorf("approval events %q; want one per approver, newest first", details)
	}
}

func TestApprovalsNeededValidated(t *testing.T) {
	_, err := bot.LoadPolicyFile(writePolicy(t, `
admins: [UADMIN]
apps:
  - appid: wx0123456789abcdef
    requesters: [UREQ]
    approvers: [UAPP1]
    approvals_needed: 2
`))
	if err == nil || !strings.Contains(err.Error(), "approvals_needed: 2 distinct approvers must approve, but only 1 are listed") {
		t.Errorf("error %v; want approvals_needed named", err)
	}
}
