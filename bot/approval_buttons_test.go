package bot_test

import (
	"testing"
)

// A requester who is also an approver gets no prompt for their own
// request: its buttons would only tell them they may not press them.
func TestNoPromptToTheRequesterThemself(t *testing.T) {
	f := newFixture(t)
	approvalPolicy(f)
	f.policy.Apps[0].Approvers = []string{"UREQ", "UAPP1"}
	b := f.bot()
	run(t, b, "UREQ", "shop "+tester+" for 3d")
	ps := f.msgr.sentPrompts()
	if len(ps) != 1 || ps[0].To != "UAPP1" {
		t.Fatalf("prompts %+v; want one, to UAPP1 alone", ps)
	}
}
