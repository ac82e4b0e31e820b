package bot

import (
	"context"
	"fmt"
	"strings"
)

// appsCommand shows admins every app in force with its effective policy
// (who may bind, ask and approve, for how long, where), and, for a
// third-party platform, whether WeChat lets it manage the app's testers.
// "apps refresh" runs a discovery first.
func (b *Bot) appsCommand(ctx context.Context, l Lang, req Request, cmd Command, conv Conversation) error {
	var head []string // admins only: Handle checked
	if cmd.Refresh {
		d, err := b.Discover(ctx)
		if err != nil {
			b.o.Log.Warn("discovery failed", "error", err)
			_, short := b.explain(l, &App{Name: l.T("platform.name")}, "", err)
			return conv.Private(ctx, l.T("apps.refresh_failed", short))
		}
		head = append(head, l.T("apps.refreshed", len(d.Apps), len(d.Added), len(d.Revoked), d.NoTesterSet))
	}
	pol := b.policy()
	pages := max(1, (len(pol.Apps)+appsPage-1)/appsPage)
	page := min(cmd.Page, pages)
	head = append(head, l.T("apps.header", len(pol.Apps)))
	for i := (page - 1) * appsPage; i < min(len(pol.Apps), page*appsPage); i++ {
		head = append(head, b.appLine(l, pol, &pol.Apps[i]))
	}
	if pages > 1 {
		next := ""
		if page < pages {
			next = " " + l.T("apps.next", page+1)
		}
		head = append(head, l.T("apps.page", page, pages)+next)
	}
	return conv.Private(ctx, strings.Join(head, "\n"))
}

// appsPage is how many apps one answer lists: well under Slack's 40,000
// characters a message, however many binders each names.
const appsPage = 25

// appLine is one app's effective policy on one line.
func (b *Bot) appLine(l Lang, pol *Policy, a *App) string {
	state := ""
	switch {
	case a.Platform == nil:
	case a.Platform.Revoked:
		state = " " + l.T("apps.revoked")
	case !a.Platform.CanManageTesters():
		state = " " + l.T("apps.no_set18")
	default:
		state = " " + l.T("apps.ok")
	}
	who := []string{}
	if len(a.Binders) > 0 {
		who = append(who, l.T("apps.binders", mentions(l, a.Binders)))
	}
	if len(a.Requesters) > 0 {
		who = append(who, l.T("apps.requesters", mentions(l, a.Requesters), mentions(l, pol.Approvers(a))))
	}
	if len(who) == 0 {
		who = append(who, l.T("apps.admins_only"))
	}
	if a.RequireApproval {
		who = append(who, l.T("apps.approval"))
	}
	if len(a.Channels) > 0 {
		chans := make([]string, len(a.Channels))
		for i, c := range a.Channels {
			chans[i] = channelRef(c)
		}
		who = append(who, l.T("apps.channels", strings.Join(chans, ", ")))
	}
	return fmt.Sprintf("• %s%s: %s; %s", appLabel(a), state, strings.Join(who, "; "),
		l.T("apps.terms", FormatDuration(a.DefaultDuration), FormatDuration(a.MaxDuration), a.Slots))
}
