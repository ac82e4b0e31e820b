package slackbot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/slackfake"
)

// The Slack-native flows end to end over Socket Mode: help's Request access
// button, two approvals with a reason, a bind on someone's behalf, and the
// reminder's Extend capped at the app's maximum.

// promptTo waits for the approval prompt DM'd to user.
func (e *env) promptTo(t *testing.T, user string) slackfake.Message {
	t.Helper()
	msgs := e.waitFor(t, "the prompt to "+user, func(m slackfake.Message) bool {
		return m.Method == "chat.postMessage" && m.Channel == "D"+user && strings.Contains(m.Text, "asks to bind")
	})
	p, _ := first(msgs, func(m slackfake.Message) bool {
		return m.Method == "chat.postMessage" && m.Channel == "D"+user && strings.Contains(m.Text, "asks to bind")
	})
	return p
}

func TestHelpOffersTheRequestForm(t *testing.T) {
	e := start(t)
	e.slash(binder, channel, "help")
	help := e.privateTo(t, binder, "/bindtester")
	var request *button
	for _, b := range buttons(t, help.Blocks) {
		if b.ActionID == bot.ActionRequest {
			request = &b
		}
	}
	if request == nil {
		t.Fatalf("help has no Request access button: %s", help.Blocks)
	}
	id := e.slack.BlockAction(slackfake.BlockAction{UserID: binder, ChannelID: channel, MessageTS: "1.1", ActionID: request.ActionID, BlockID: "b0"})
	e.slack.WaitAck(id, 5*time.Second)
	if _, ok := e.slack.WaitViews(5*time.Second, func(vs []slackfake.View) bool {
		return len(vs) > 0 && vs[0].Method == "views.open" && vs[0].CallbackID == "bindtester_request" && vs[0].PrivateMetadata == channel
	}); !ok {
		t.Fatal("the Request access button did not open the form for this channel")
	}
}

func TestSlackTwoApprovalsWithAReason(t *testing.T) {
	const approver2 = "U0APPROVER2"
	e := startWith(t, options{app: func(a *bot.App) {
		askerApp(a)
		a.Approvers = []string{approver, approver2}
		a.ApprovalsNeeded = 2
		a.RequireReason = true
	}})
	e.slash(asker, channel, "shop tester_two for 3d")
	e.privateTo(t, asker, "needs a reason")
	e.slash(asker, channel, "shop tester_two for 3d because regression of 2.4")
	p1, p2 := e.promptTo(t, approver), e.promptTo(t, approver2)
	for _, p := range []slackfake.Message{p1, p2} {
		if !strings.Contains(p.Text, "regression of 2.4") {
			t.Errorf("prompt %q lacks the reason", p.Text)
		}
	}
	id := approvalID(t, p1)

	e.click(t, approver, p1, bot.ActionApprove, id)
	e.waitFor(t, "the first approver's prompt without buttons", func(m slackfake.Message) bool {
		return isUpdate(m) && m.TS == p1.TS && strings.Contains(m.Text, "Approved by <@"+approver+">") && len(buttons(t, m.Blocks)) == 0
	})
	e.waitFor(t, "the second approver's prompt with its buttons", func(m slackfake.Message) bool {
		return isUpdate(m) && m.TS == p2.TS && strings.Contains(m.Text, "Approved by <@"+approver+">") && len(buttons(t, m.Blocks)) == 2
	})
	if n := e.wechat.Calls("/wxa/bind_tester"); n != 0 {
		t.Fatalf("bound after one approval of two (%d calls)", n)
	}
	e.click(t, approver2, p2, bot.ActionApprove, id)
	e.waitFor(t, "the bind", func(m slackfake.Message) bool {
		return isUpdate(m) && strings.Contains(m.Text, "`te***wo` is an experiencer")
	})

	evs, err := e.store.Events(context.Background(), bot.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	reasoned := false
	for _, ev := range evs {
		kinds = append(kinds, string(ev.Kind)+":"+ev.Actor)
		reasoned = reasoned || (ev.Kind == bot.EventRequested && strings.Contains(ev.Detail, "regression of 2.4"))
	}
	if !reasoned {
		t.Errorf("no audited request carries the reason: %v", evs)
	}
	if got := strings.Join(kinds, " "); !strings.Contains(got, "approved:"+approver2+" approved:"+approver) {
		t.Errorf("audit %s; want one approval by each approver", got)
	}
}

func TestSlackBindOnBehalf(t *testing.T) {
	e := start(t)
	e.slash(admin, channel, "shop tester_theirs for 3d for <@"+binder+">")
	e.waitFor(t, "the DM telling the binder", func(m slackfake.Message) bool {
		return m.Channel == "D"+binder && strings.Contains(m.Text, "<@"+admin+"> bound `te***rs`") && strings.Contains(m.Text, "for you")
	})
	grants, err := e.store.ActiveGrants(context.Background(), bot.GrantFilter{Requester: binder})
	if err != nil || len(grants) != 1 || grants[0].WechatMasked != "te***rs" {
		t.Fatalf("binder's grants %+v, %v; want the one the admin made", grants, err)
	}
	evs, _ := e.store.Events(context.Background(), bot.AuditFilter{Limit: 1})
	if len(evs) != 1 || evs[0].Kind != bot.EventBound || evs[0].Actor != admin || evs[0].Requester != binder {
		t.Errorf("audit %+v; want bound by the admin for the binder", evs)
	}
}

func TestSlackReminderExtendIsCappedAtTheMaximum(t *testing.T) {
	clk := &clock{t: time.Now()}
	e := startWith(t, options{now: clk.Now, app: func(a *bot.App) { a.MaxDuration = 4 * 24 * time.Hour }})
	e.slash(binder, channel, "shop tester_more for 3d")
	e.waitFor(t, "the bind", func(m slackfake.Message) bool { return isUpdate(m) && strings.HasPrefix(m.Text, "✅") })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) { // all of its answer is out
		if j, err := e.store.Job(t.Context(), 1); err == nil && j.Answered {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the bind's job was never answered: %+v, %v", j, err)
		}
	}
	clk.Add(50 * time.Hour) // a day before the end
	if err := e.bot.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	msgs := e.waitFor(t, "the reminder", func(m slackfake.Message) bool { return m.Channel == "D"+binder && strings.Contains(m.Text, "Heads-up") })
	reminder, _ := first(msgs, func(m slackfake.Message) bool { return m.Channel == "D"+binder && strings.Contains(m.Text, "Heads-up") })
	var week *button
	for _, b := range buttons(t, reminder.Blocks) {
		if strings.HasSuffix(b.Value, ":1w") {
			week = &b
		}
	}
	if week == nil {
		t.Fatalf("the reminder offers no +1w: %s", reminder.Blocks)
	}
	id := e.slack.BlockAction(slackfake.BlockAction{UserID: binder, ChannelID: reminder.Channel, MessageTS: reminder.TS, ActionID: week.ActionID, Value: week.Value})
	e.slack.WaitAck(id, 5*time.Second)
	e.privateTo(t, binder, "Extended")
	g, err := e.store.Grant(context.Background(), 1)
	if want := clk.Now().Add(4 * 24 * time.Hour); err != nil || !g.ExpiresAt.Equal(want) {
		t.Errorf("grant ends %v (%v); want the maximum from now, %v", g.ExpiresAt, err, want)
	}
}
