package bot

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bindtester/bindtester/wechat"
)

// App Home: one person's page in the bot. Everyone sees their active grants
// (with Extend and End now) and their pending requests; approvers, the
// requests waiting for them (Approve, Deny); admins, per Mini Program the
// slots in use, the grants ending soonest and recent failures only an admin
// can fix. The core builds it as blocks; the Slack adapter publishes it
// (views.publish) and the console prints it (`home`).

// HomeViews keeps App Homes current: the core names the people whose home
// changed (a grant, a request or a decision that is theirs, or, for admins,
// any grant), and the adapter shows those who look at it the new one.
type HomeViews interface {
	HomesChanged(userIDs []string)
}

// Home limits: Slack shows at most 100 blocks in a view (a block with
// buttons is two of them, a heading two), and the adapters cut what is
// over; these keep an admin's whole home at about 70.
const (
	homeMaxGrants   = 10
	homeMaxRequests = 5
	homeMaxReviews  = 10
	homeMaxApps     = 10
	homeMaxSoonest  = 5
	homeMaxFailures = 5
	homeFailuresFor = 7 * 24 * time.Hour
)

// Home is userID's App Home.
func (b *Bot) Home(ctx context.Context, userID string) []Block {
	l := b.userLang(ctx, userID)
	now := b.o.Now()
	intro := Block{Heading: l.T("home.title"), Text: l.T("home.intro")}
	if len(b.FormFor(ctx, userID).Apps) > 0 {
		intro.Buttons = []Button{{Action: ActionRequest, Label: l.T("home.request"), Style: StylePrimary}}
	} else {
		intro.Text = l.T("usage.no_apps", b.admins(l))
	}
	blocks := append([]Block{intro}, b.homeGrants(ctx, l, userID, now)...)
	pending, err := b.o.Store.PendingApprovals(ctx, now)
	if err != nil {
		b.o.Log.Warn("app home: could not list pending requests", "error", err)
		blocks = append(blocks, Block{Text: l.T("err.store", b.admins(l))})
	}
	blocks = append(blocks, b.homeRequests(l, userID, pending)...)
	blocks = append(blocks, b.homeReviews(ctx, l, userID, pending)...)
	if admin, _ := b.policy().IsAdmin(ctx, b.o.Groups, Who{UserID: userID}); admin {
		blocks = append(blocks, b.homeAdmin(ctx, l, now)...)
	}
	return blocks
}

// homeGrants are userID's active grants, each with its Extend and End now buttons.
func (b *Bot) homeGrants(ctx context.Context, l Lang, userID string, now time.Time) []Block {
	grants, err := b.o.Store.ActiveGrants(ctx, GrantFilter{Requester: userID})
	if err != nil {
		b.o.Log.Warn("app home: could not list grants", "user", userID, "error", err)
		return []Block{{Heading: l.T("home.grants", 0), Text: l.T("err.store", b.admins(l))}}
	}
	out := []Block{{Heading: l.T("home.grants", len(grants))}}
	if len(grants) == 0 {
		out[0].Text = l.T("home.grants_none")
	}
	for _, g := range grants[:min(len(grants), homeMaxGrants)] {
		out = append(out, b.grantBlock(l, g, now))
	}
	if len(grants) > homeMaxGrants {
		out = append(out, Block{Text: l.T("home.more", len(grants)-homeMaxGrants, "mine")})
	}
	return out
}

// grantBlock is one of a person's grants, with what they can do to it.
func (b *Bot) grantBlock(l Lang, g Grant, now time.Time) Block {
	block := Block{Text: l.T("home.grant", g.WechatMasked, b.appName(g.AppID), dateRef(g.ExpiresAt), g.ID)}
	if g.UnbindJob != 0 {
		block.Text += " " + l.T("home.being_unbound")
	}
	block.Buttons = b.grantButtons(l, g, now)
	return block
}

// grantButtons are what its owner can do to grant g (App Home, mine):
// extend it, or end it now; none while it is being unbound, or for an app
// the policy no longer lists.
func (b *Bot) grantButtons(l Lang, g Grant, now time.Time) []Button {
	app, ok := b.policy().App(g.AppID)
	if !ok || g.UnbindJob != 0 {
		return nil
	}
	return append(b.extendButtons(l, g, app, now),
		Button{Action: ActionEnd, Label: l.T("home.end"), Value: strconv.FormatInt(g.ID, 10), Style: StyleDanger})
}

// homeRequests are userID's own requests waiting for approval.
func (b *Bot) homeRequests(l Lang, userID string, pending []Approval) []Block {
	var out []Block
	more := 0
	for _, a := range pending {
		if a.Requester != userID {
			continue
		}
		if len(out) == homeMaxRequests {
			more++
			continue
		}
		out = append(out, Block{Text: l.T("home.request_item", a.WechatMasked, b.appName(a.AppID), FormatDuration(a.Duration), dateRef(a.ExpiresAt), a.ID) +
			reasonLine(l, a.Reason) + votesLine(l, a.Votes)})
	}
	total := len(out) + more
	if more > 0 {
		out = append(out, Block{Text: l.T("home.more_requests", more)})
	}
	if total > 0 {
		out = append([]Block{{Heading: l.T("home.requests", total)}}, out...)
	}
	return out
}

// homeReviews are the requests userID may decide, each with Approve and
// Deny; one they approved already shows no buttons (it waits for others).
func (b *Bot) homeReviews(ctx context.Context, l Lang, userID string, pending []Approval) []Block {
	var out []Block
	more := 0
	for _, a := range pending {
		app, ok := b.policy().App(a.AppID)
		if !ok || a.Requester == userID {
			continue
		}
		if can, _ := b.policy().CanApprove(ctx, b.o.Groups, userID, app); !can {
			continue
		}
		if len(out) == homeMaxReviews {
			more++
			continue
		}
		p := b.approvalPrompt(l, a, app, a.Thread.Channel)
		block := Block{Text: p.Text + votesLine(l, a.Votes), Buttons: p.Buttons}
		if slices.ContainsFunc(a.Votes, func(v Vote) bool { return v.By == userID }) {
			block.Buttons = nil // theirs is counted: nothing left for them to press
			block.Text += "\n" + l.T("approval.more_needed", max(1, app.ApprovalsNeeded)-len(a.Votes))
		}
		out = append(out, block)
	}
	total := len(out) + more
	if more > 0 {
		out = append(out, Block{Text: l.T("home.more_reviews", more)})
	}
	if total > 0 {
		out = append([]Block{{Heading: l.T("home.reviews", total)}}, out...)
	}
	return out
}

// homeAdmin is the admins' part: slots per app, the grants ending soonest,
// and failures only an admin can fix.
func (b *Bot) homeAdmin(ctx context.Context, l Lang, now time.Time) []Block {
	out := []Block{{Heading: l.T("home.admin")}}
	grants, err := b.o.Store.ActiveGrants(ctx, GrantFilter{})
	if err != nil {
		b.o.Log.Warn("app home: could not list grants", "error", err)
		return append(out, Block{Text: l.T("err.store", b.admins(l))})
	}
	used := map[string]int{}
	for _, g := range grants {
		used[g.AppID]++
	}
	apps := slices.Clone(b.policy().Apps)
	slices.SortStableFunc(apps, func(x, y App) int {
		return cmp.Or(cmp.Compare(used[y.ID]*x.Slots, used[x.ID]*y.Slots), cmp.Compare(x.Name, y.Name)) // fullest share first
	})
	for _, a := range apps[:min(len(apps), homeMaxApps)] {
		out = append(out, Block{Fields: []string{"*" + Escape(a.Name) + "*", l.T("home.slots", slotBar(used[a.ID], a.Slots), used[a.ID], a.Slots)}})
	}
	if len(apps) > homeMaxApps {
		out = append(out, Block{Text: l.T("home.more", len(apps)-homeMaxApps, "apps")})
	}
	if len(grants) > 0 {
		lines := []string{l.T("slots.soonest")}
		for _, g := range grants[:min(len(grants), homeMaxSoonest)] {
			lines = append(lines, l.T("home.soonest", g.WechatMasked, b.appName(g.AppID), mention(g.Requester), dateRef(g.ExpiresAt), g.ID))
		}
		out = append(out, Block{Text: strings.Join(lines, "\n")})
	}
	lines := []string{l.T("home.failures")}
	for _, e := range b.adminFailures(ctx, now) {
		lines = append(lines, l.T("home.failure", dateRef(e.At), b.appName(e.AppID), e.ErrCode, wechat.Lookup(e.ErrCode).Meaning))
	}
	if len(lines) == 1 {
		lines = append(lines, l.T("home.failures_none"))
	}
	return append(out, Block{Text: strings.Join(lines, "\n")})
}

// adminFailures are the last week's failed WeChat calls that only an admin
// can fix (tokens, permissions, the IP allow-list, configuration), newest first.
func (b *Bot) adminFailures(ctx context.Context, now time.Time) []Event {
	evs, err := b.o.Store.Events(ctx, AuditFilter{Limit: 500})
	if err != nil {
		b.o.Log.Warn("app home: could not read the audit log", "error", err)
		return nil
	}
	var out []Event
	for _, e := range evs {
		if e.At.Before(now.Add(-homeFailuresFor)) || len(out) == homeMaxFailures {
			break
		}
		if e.Kind == EventFailed && e.ErrCode != 0 && needsAdmin(wechat.Lookup(e.ErrCode).Kind) {
			out = append(out, e)
		}
	}
	return out
}

// needsAdmin says whether a failure of kind k is for an admin to fix.
func needsAdmin(k wechat.Kind) bool {
	switch k {
	case wechat.KindCredentials, wechat.KindPermission, wechat.KindIPAllowList, wechat.KindConfig, wechat.KindRestricted:
		return true
	}
	return false
}

// slotBar draws used of total as ten cells: ▰▰▰▱▱▱▱▱▱▱.
func slotBar(used, total int) string {
	if total <= 0 {
		return ""
	}
	full := min(10, (used*10+total-1)/total)
	return strings.Repeat("▰", full) + strings.Repeat("▱", 10-full)
}

// endClick runs an End now button: Value "<grant id>", as `unbind <app> #N`.
func (b *Bot) endClick(ctx context.Context, c Click, conv Conversation) error {
	l := b.userLang(ctx, c.UserID)
	id, err := strconv.ParseInt(c.Value, 10, 64)
	var g Grant
	if err == nil {
		g, err = b.o.Store.Grant(ctx, id)
	}
	if err != nil {
		if !errors.Is(err, ErrNotFound) && !errors.Is(err, strconv.ErrSyntax) {
			b.o.Log.Warn("end now: could not read the grant", "value", c.Value, "error", err)
		}
		return conv.Private(ctx, l.T("extend.none"))
	}
	return b.unbind(ctx, l, Request{UserID: c.UserID}, Command{Verb: VerbUnbind, App: g.AppID, GrantID: g.ID}, conv)
}

// homesChanged names whose home e changed: its requester and actor; the
// app's approvers for a request and its decisions; the admins for grants
// made, moved or ended.
func (b *Bot) homesChanged(ctx context.Context, e Event) {
	if _, none := b.o.Homes.(noHomes); none {
		return
	}
	users := []string{e.Requester, e.Actor}
	app, ok := b.policy().App(e.AppID)
	switch e.Kind {
	case EventRequested, EventApproved, EventRejected, EventApprovalExpired:
		if ok {
			users = append(users, b.expand(ctx, b.policy().Approvers(app), "approvers")...)
		}
	case EventBound, EventUnbound, EventExpired, EventExtended, EventFailed:
		users = append(users, b.adminUsers(ctx)...)
	case EventAllowed, EventDenied, EventUnknown:
		return // nothing a home shows has changed yet
	}
	users = slices.DeleteFunc(slices.Compact(slices.Sorted(slices.Values(users))), func(u string) bool { return !isSlackID(u) || isGroupID(u) })
	b.o.Homes.HomesChanged(users)
}

// noHomes is the HomeViews of adapters without an App Home.
type noHomes struct{}

func (noHomes) HomesChanged([]string) {}
