package slackbot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/slackfake"
)

// waitHome waits until user's published home tab satisfies ok.
func (e *env) waitHome(t *testing.T, user, what string, ok func(slackfake.View) bool) slackfake.View {
	t.Helper()
	var last slackfake.View
	if _, done := e.slack.WaitViews(10*time.Second, func([]slackfake.View) bool {
		v, has := e.slack.HomeOf(user)
		last = v
		return has && ok(v)
	}); !done {
		t.Fatalf("%s's home never showed %s; last: %s", user, what, last.Blocks)
	}
	return last
}

// homeButton finds the button in v whose value has prefix (and action, if given).
func homeButton(t *testing.T, v slackfake.View, action, valuePrefix string) button {
	t.Helper()
	for _, b := range buttons(t, v.Blocks) {
		if strings.HasPrefix(b.Value, valuePrefix) && (action == "" || strings.HasPrefix(b.ActionID, action)) {
			return b
		}
	}
	t.Fatalf("no %s button with value %q in %s", action, valuePrefix, v.Blocks)
	return button{}
}

// press presses a button of user's home tab and waits for the ack.
func (e *env) press(t *testing.T, user string, v slackfake.View, b button) {
	t.Helper()
	id := e.slack.BlockAction(slackfake.BlockAction{UserID: user, ViewID: v.ID, ActionID: b.ActionID, Value: b.Value})
	if !e.slack.WaitAck(id, 5*time.Second) {
		t.Fatalf("home click by %s not acked", user)
	}
}

// App Home: opening it publishes the person's page; a new grant appears on
// it by itself; its Extend button extends the grant (audited, new end);
// End now ends it; Request access opens the form; and a non-admin sees no
// admin section where an admin sees the slots.
func TestAppHome(t *testing.T) {
	e := start(t)
	e.slack.OpenHome(binder)
	v := e.waitHome(t, binder, "the empty access list", func(v slackfake.View) bool {
		return strings.Contains(v.Blocks, "Your access (0)")
	})
	if v.Type != "home" || strings.Contains(v.Blocks, "Admin") {
		t.Errorf("binder's home is %s %s; want a home tab with no admin section", v.Type, v.Blocks)
	}

	// Request access opens the request form.
	e.press(t, binder, v, homeButton(t, v, bot.ActionRequest, ""))
	if _, ok := e.slack.WaitViews(5*time.Second, func(vs []slackfake.View) bool {
		for _, x := range vs {
			if x.Method == "views.open" && x.CallbackID == "bindtester_request" {
				return true
			}
		}
		return false
	}); !ok {
		t.Fatal("Request access did not open the form")
	}

	// A bind shows on the home without opening it again.
	e.slash(binder, channel, "shop tester_home for 3d")
	v = e.waitHome(t, binder, "the new grant", func(v slackfake.View) bool {
		return strings.Contains(v.Blocks, "Your access (1)") && strings.Contains(v.Blocks, "te***me")
	})
	grants, err := e.store.ActiveGrants(context.Background(), bot.GrantFilter{Requester: binder})
	if err != nil || len(grants) != 1 {
		t.Fatalf("grants %v, %v", grants, err)
	}
	g := grants[0]

	// Extend +3d from the home.
	e.press(t, binder, v, homeButton(t, v, bot.ActionExtend, "1:3d"))
	e.waitFor(t, "the extension's answer by DM", func(m slackfake.Message) bool {
		return m.Channel == "D"+binder && strings.Contains(m.Text, "Extended")
	})
	after, err := e.store.Grant(context.Background(), g.ID)
	if err != nil || !after.ExpiresAt.Equal(g.ExpiresAt.Add(72*time.Hour)) {
		t.Fatalf("grant ends %v (%v); want %v", after.ExpiresAt, err, g.ExpiresAt.Add(72*time.Hour))
	}
	evs, _ := e.store.Events(context.Background(), bot.AuditFilter{Limit: 1})
	if len(evs) != 1 || evs[0].Kind != bot.EventExtended || evs[0].Actor != binder {
		t.Errorf("newest audit record %+v; want the extension by the binder", evs)
	}
	e.waitHome(t, binder, "the new end date", func(v slackfake.View) bool {
		return strings.Contains(v.Blocks, after.ExpiresAt.UTC().Format("2006-01-02 15:04"))
	})

	// The admin sees the slots in use.
	e.slack.OpenHome(admin)
	av := e.waitHome(t, admin, "the admin section", func(v slackfake.View) bool {
		return strings.Contains(v.Blocks, "Admin: Mini Programs") && strings.Contains(v.Blocks, "1 of 15 slots")
	})
	blocks := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">").Replace(av.Blocks) // as JSON escapes them
	if !strings.Contains(blocks, "te***me") || !strings.Contains(blocks, "<@"+binder+">") || !strings.Contains(blocks, "<!date^") {
		t.Errorf("admin's soonest grants lack the binder's, as a mention with a date each reader sees in their zone: %s", av.Blocks)
	}

	// End now ends it at WeChat, and the admin's home follows.
	v, _ = e.slack.HomeOf(binder)
	e.press(t, binder, v, homeButton(t, v, bot.ActionEnd, "1"))
	e.waitHome(t, binder, "no access left", func(v slackfake.View) bool { return strings.Contains(v.Blocks, "Your access (0)") })
	if e.wechat.UserStr(appID, "tester_home") != "" {
		t.Error("End now left the tester bound at WeChat")
	}
	e.waitHome(t, admin, "the slot freed", func(v slackfake.View) bool { return strings.Contains(v.Blocks, "0 of 15 slots") })
}

// An approver's home lists the requests waiting for them with Approve and
// Deny; approving there binds, and the requester's pending request leaves
// their home.
func TestAppHomeApprovals(t *testing.T) {
	e := startWith(t, options{app: askerApp})
	e.slack.OpenHome(approver)
	e.slack.OpenHome(asker)
	e.waitHome(t, approver, "an empty queue", func(v slackfake.View) bool { return strings.Contains(v.Blocks, "Your access (0)") })
	e.slash(asker, channel, "shop tester_ask for 3d because regression of 2.4")
	e.waitHome(t, asker, "the pending request", func(v slackfake.View) bool {
		return strings.Contains(v.Blocks, "waiting for approval (1)") && strings.Contains(v.Blocks, "regression of 2.4")
	})
	v := e.waitHome(t, approver, "the request to review", func(v slackfake.View) bool {
		return strings.Contains(v.Blocks, "Waiting for your decision (1)") && strings.Contains(v.Blocks, "regression of 2.4")
	})
	e.press(t, approver, v, homeButton(t, v, bot.ActionApprove, ""))
	e.waitFor(t, "the bind", func(m slackfake.Message) bool {
		return isUpdate(m) && strings.Contains(m.Text, "`te***sk` is an experiencer")
	})
	if e.wechat.UserStr(appID, "tester_ask") == "" {
		t.Fatal("approving from the home bound nothing")
	}
	e.waitHome(t, approver, "the queue emptied", func(v slackfake.View) bool { return !strings.Contains(v.Blocks, "Waiting for your decision") })
	e.waitHome(t, asker, "the grant instead of the request", func(v slackfake.View) bool {
		return strings.Contains(v.Blocks, "Your access (1)") && !strings.Contains(v.Blocks, "waiting for approval")
	})
}

// Who looks at their home is kept in the store: a home opened through
// another replica (recorded there, never delivered here) is still kept
// current by the replica that makes the change.
func TestAppHomeOpenedElsewhereIsKeptCurrent(t *testing.T) {
	e := start(t)
	// binder's opening went to another replica; none came to this one.
	if err := e.store.HomeOpened(context.Background(), binder, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.slash(binder, channel, "shop tester_elsewhere")
	e.waitHome(t, binder, "the grant made here", func(v slackfake.View) bool { return strings.Contains(v.Blocks, "te***re") })
}

// The form opened from App Home is asked nowhere: an app bound to certain
// channels, which the form offered, is not refused for want of one.
func TestAppHomeFormForAChannelBoundApp(t *testing.T) {
	e := startWith(t, options{app: func(a *bot.App) { a.Channels = []string{channel} }})
	e.slack.OpenHome(binder)
	v := e.waitHome(t, binder, "the home", func(v slackfake.View) bool { return strings.Contains(v.Blocks, "Your access (0)") })
	e.press(t, binder, v, homeButton(t, v, bot.ActionRequest, ""))
	views, ok := e.slack.WaitViews(5*time.Second, func(vs []slackfake.View) bool {
		return len(vs) > 0 && vs[len(vs)-1].Method == "views.open"
	})
	if !ok {
		t.Fatal("no form opened")
	}
	form := views[len(views)-1]
	id := e.slack.SubmitView(form.ID, binder, map[string]map[string]any{"app": {"app": appID}, "wechat_id": {"wechat_id": "tester_fromhome"}})
	if payload, _ := e.slack.WaitAckPayload(id, 5*time.Second); strings.Contains(string(payload), "errors") {
		t.Fatalf("form refused: %s", payload)
	}
	e.waitHome(t, binder, "the grant", func(v slackfake.View) bool { return strings.Contains(v.Blocks, "te***me") })
	if e.wechat.UserStr(appID, "tester_fromhome") == "" {
		t.Error("the form from App Home bound nothing")
	}
}
