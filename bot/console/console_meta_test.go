package console

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bindtester/bindtester/bot"
)

// The console is a bot.Messenger.
var _ bot.Messenger = (*Console)(nil)

func TestConsoleMetaCommands(t *testing.T) {
	h := &scriptHandler{}
	var out bytes.Buffer
	c := &Console{Handler: h, UserID: "U0ME", ChannelID: "C0HERE", Out: &out}
	input := "one\n:user U0TWO\ntwo\n:approve 7\n  /bindtester :deny 8\n:frob\n:user\n:approve 1 2\n"
	if err := c.Run(t.Context(), strings.NewReader(input)); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	rest := got
	for _, w := range []string{
		"[only you] echo: one\n",
		"(now acting as U0TWO)\n",
		"[only you] echo: two\n",
		"[only you] clicked approve 7 as U0TWO\n",
		"[only you] clicked deny 8 as U0TWO\n",
		"console commands: :user U…, :approve N, :deny N, quit\n",
	} {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("output lacks %q (in order):\n%s", w, got)
		}
		rest = rest[i+len(w):]
	}
	if n := strings.Count(got, "console commands:"); n != 3 {
		t.Errorf("console help printed %d times, want 3 (:frob, :user alone, :approve with two words):\n%s", n, got)
	}
	reqs := h.requests()
	if len(reqs) != 2 || reqs[0].UserID != "U0ME" || reqs[1].UserID != "U0TWO" {
		t.Errorf("requests = %+v, want one as U0ME then one as U0TWO", reqs)
	}
	if c.UserID != "U0TWO" {
		t.Errorf("UserID = %q after :user U0TWO and a bare :user", c.UserID)
	}
}

func TestConsoleMessenger(t *testing.T) {
	var out bytes.Buffer
	h := &scriptHandler{}
	c := &Console{Handler: h, UserID: "U0ME", ChannelID: "C0HERE", Out: &out}
	ctx := context.Background()

	th, err := c.Open(ctx, span('u', "U0ME")+" asked — waiting for approval")
	if err != nil {
		t.Fatal(err)
	}
	ref := th.Ref()
	if ref != (bot.ThreadRef{Channel: "C0HERE", ParentTS: "1", ThreadTS: "1"}) {
		t.Errorf("Ref = %+v", ref)
	}
	dm, err := c.Prompt(ctx, "U0BOSS", bot.Prompt{Text: span('u', "U0ME") + " asks &lt;x&gt; (request #5)", Buttons: []bot.Button{{Action: bot.ActionApprove, Label: "Approve", Value: "5"}, {Action: bot.ActionDeny, Label: "Deny", Value: "5"}}})
	if err != nil {
		t.Fatal(err)
	}
	inChannel, err := c.Prompt(ctx, "C0APPROVALS", bot.Prompt{Text: "again", Buttons: []bot.Button{{Action: bot.ActionApprove, Label: "Yes", Value: "6"}, {Action: bot.ActionDeny, Label: "No", Value: "6"}}})
	if err != nil {
		t.Fatal(err)
	}
	if dm != (bot.MessageRef{Channel: "U0BOSS", TS: "2"}) || inChannel != (bot.MessageRef{Channel: "C0APPROVALS", TS: "3"}) {
		t.Errorf("prompt refs = %+v, %+v", dm, inChannel)
	}
	again := c.Reopen(ref)
	if again.Ref() != ref {
		t.Errorf("Reopen(%+v).Ref() = %+v", ref, again.Ref())
	}
	err = errors.Join(
		c.Edit(ctx, dm, "✅ "+span('u', "U0BOSS")+" approved"),
		again.Reply(ctx, span('u', "U0ME")+", approved"),
		again.Update(ctx, "✅ done"),
		c.DM(ctx, "U0ME", "access ended\nask again"),
	)
	if err != nil {
		t.Fatal(err)
	}
	th2, _ := c.Open(ctx, "next")
	if th2.Ref().ParentTS != "4" {
		t.Errorf("messages and prompts share one numbering: next parent is %q, want 4", th2.Ref().ParentTS)
	}
	got := out.String()
	for _, w := range []string{
		"[#C0HERE, message 1] @U0ME asked — waiting for approval\n",
		"[DM to @U0BOSS, message 2] @U0ME asks <x> (request #5)\n",
		"[Approve] (type :approve 5)  [Deny] (type :deny 5)\n",
		"[#C0APPROVALS, message 3] again\n",
		"[Yes] (type :approve 6)  [No] (type :deny 6)\n",
		"[message 2 updated] ✅ @U0BOSS approved\n",
		"  [thread of 1] @U0ME, approved\n",
		"[message 1 updated] ✅ done\n",
		"[DM to @U0ME] access ended\n" + strings.Repeat(" ", len("[DM to @U0ME] ")) + "ask again\n",
		"[#C0HERE, message 4] next\n",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
}
