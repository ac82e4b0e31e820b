package bot

import (
	"context"
	"errors"
	"fmt"
	"github.com/bindtester/bindtester/wechat"
	"slices"
	"strings"
)

// unbind removes a tester: one's own grants, or for admins any experiencer.
func (b *Bot) unbind(ctx context.Context, l Lang, req Request, cmd Command, conv Conversation) error {
	app, err := b.resolveApp(ctx, l, req, cmd.App, conv)
	if app == nil {
		return err
	}
	admin, lookupErr := b.policy().IsAdmin(ctx, b.o.Groups, b.who(req))
	var g Grant
	if cmd.GrantID != 0 {
		g, err = b.o.Store.Grant(ctx, cmd.GrantID)
		if err == nil && (g.AppID != app.ID || g.State != GrantActive) {
			err = ErrNotFound
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
		}
		if err != nil { // said only once the view right is checked: a stranger learns nothing
			g = Grant{}
		}
	} else if g, err = b.o.Store.FindGrant(ctx, app.ID, cmd.WechatID); err != nil && !errors.Is(err, ErrNotFound) {
		return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
	}
	found := g.ID != 0
	masked := g.WechatMasked
	if !found {
		masked = MaskWechatID(cmd.WechatID)
	}
	ev := Event{Actor: req.UserID, Requester: req.UserID, Channel: req.ChannelID, AppID: app.ID, WechatMasked: masked,
		GrantID: g.ID, UserStr: g.UserStr}
	if found {
		ev.Requester = g.Requester
	}
	// Owners may always end their own access. Anyone else must be allowed to
	// see the app's testers (as for `testers`), and, unless an admin, hears
	// the same whether the grant is someone else's or does not exist.
	noGrant := l.T("unbind.not_found", MaskWechatID(cmd.WechatID), Escape(app.Name))
	if cmd.GrantID != 0 {
		noGrant = l.T("unbind.no_grant", cmd.GrantID, Escape(app.Name))
	}
	var deny string
	switch {
	case found && (g.Requester == req.UserID || admin):
	case admin: // by WeChat ID an admin may unbind an experiencer added outside; by #N there is nothing
		if cmd.GrantID != 0 {
			return conv.Private(ctx, noGrant)
		}
	case lookupErr != nil: // maybe an admin through a user group: not a denial
		b.o.Log.Warn("user group lookup failed", "user", req.UserID, "error", lookupErr)
		return conv.Private(ctx, l.T("deny.lookup_failed", Escape(app.Name)))
	default:
		if deny = b.viewDenial(ctx, l, req, app); deny == "" {
			deny = noGrant
		}
	}
	if deny != "" {
		ev.Kind, ev.Detail = EventDenied, "unbind"
		return errors.Join(b.record(ctx, ev), conv.Private(ctx, deny))
	}
	typed := ""
	if !found {
		typed = cmd.WechatID
	}
	now := b.o.Now()
	j, err := b.o.Store.CreateJob(ctx, Job{Kind: JobUnbind, AppID: app.ID, WechatMasked: masked, UserStr: g.UserStr, Requester: ev.Requester,
		Actor: req.UserID, Channel: req.ChannelID, GrantID: g.ID, CreatedAt: now, LeaseOwner: b.o.Owner, LeaseUntil: b.lease(now)}, typed)
	switch {
	case errors.Is(err, ErrBusy):
		return conv.Private(ctx, l.T("unbind.busy", masked, Escape(app.Name)))
	case errors.Is(err, ErrNotFound):
		return conv.Private(ctx, l.T("unbind.no_grant", g.ID, Escape(app.Name)))
	case err != nil:
		return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
	}
	j, unknown, err := b.runUnbind(ctx, j)
	rctx, cancel := recording(ctx)
	defer cancel()
	switch {
	case errors.Is(err, ErrLeaseLost): // another process finishes it and tells them
		return conv.Private(rctx, l.T("unbind.busy", masked, Escape(app.Name)))
	case unknown:
		_, short := b.explain(l, app, masked, err)
		return errors.Join(err, conv.Private(rctx, l.T("job.unknown_dm", short)))
	case err != nil:
		return errors.Join(err, conv.Private(rctx, l.T("err.store", b.admins(l))))
	case j.Outcome == OutcomeFailed:
		_, short := b.explain(l, app, masked, storedError(j))
		b.tellAdmins(ctx, app, storedError(j))
		return errors.Join(conv.Private(rctx, l.T("unbind.failed", masked, Escape(app.Name), short)), b.o.Store.JobAnswered(rctx, j.ID, b.o.Owner))
	}
	errs := []error{conv.Private(rctx, l.T("unbind.ok", masked, Escape(app.Name)))}
	if found && g.Requester != req.UserID {
		rl := b.userLang(rctx, g.Requester)
		errs = append(errs, b.tell(rctx, g.Requester, rl.T("unbind.told", masked, Escape(app.Name), mention(req.UserID))))
	}
	return errors.Join(append(errs, b.o.Store.JobAnswered(rctx, j.ID, b.o.Owner))...)
}

// viewDenial says why req may not see app's testers, or "" if it may: admins
// may anywhere; binders, requesters and approvers in the app's channels (any,
// when it names none; outside Slack, where there is no channel, too).
func (b *Bot) viewDenial(ctx context.Context, l Lang, req Request, app *App) string {
	who := b.who(req)
	if admin, _ := b.policy().IsAdmin(ctx, b.o.Groups, who); admin {
		return ""
	}
	ok, err := b.policy().CanView(ctx, b.o.Groups, who, app)
	switch {
	case !ok && err != nil:
		b.o.Log.Warn("user group lookup failed", "user", req.UserID, "error", err)
		return l.T("deny.lookup_failed", Escape(app.Name))
	case !ok:
		return l.T("deny.testers", Escape(app.Name), b.admins(l))
	case len(app.Channels) > 0 && req.ChannelID != "" && !slices.Contains(app.Channels, req.ChannelID):
		return b.denial(l, Decision{Reason: reasonWrongChannel}, app)
	}
	return ""
}

// testers lists the app's experiencers joined with what the bot knows of them.
func (b *Bot) testers(ctx context.Context, l Lang, req Request, cmd Command, conv Conversation) error {
	app, err := b.resolveApp(ctx, l, req, cmd.App, conv)
	if app == nil {
		return err
	}
	if deny := b.viewDenial(ctx, l, req, app); deny != "" {
		return conv.Private(ctx, deny)
	}
	wctx, cancel := context.WithTimeout(ctx, b.o.Timeout)
	var members []string
	var versions wechat.VersionInfo
	var verr error
	inParallel(func() error {
		members, err = b.o.WeChat.Experiencers(wctx, app.ID)
		return nil
	}, func() error {
		versions, verr = b.o.WeChat.VersionInfo(wctx, app.ID)
		return nil
	})
	cancel()
	if err != nil {
		_, short := b.explain(l, app, "", err)
		b.tellAdmins(ctx, app, err)
		return conv.Private(ctx, l.T("testers.failed", Escape(app.Name), short))
	}
	grants, err := b.o.Store.ActiveGrants(ctx, GrantFilter{AppID: app.ID})
	if err != nil {
		return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
	}
	byUserStr := map[string]Grant{}
	var noUserStr []Grant
	for _, g := range grants {
		if g.UserStr == "" {
			noUserStr = append(noUserStr, g)
		} else {
			byUserStr[g.UserStr] = g
		}
	}
	lines := []string{l.T("testers.header", Escape(app.Name), len(members), app.Slots)}
	for _, u := range members {
		g, ok := byUserStr[u]
		if !ok {
			lines = append(lines, l.T("testers.outside", Escape(abbrev(u))))
			continue
		}
		lines = append(lines, testerLine(l, g))
	}
	for _, g := range noUserStr {
		lines = append(lines, testerLine(l, g))
	}
	if len(members) == 0 && len(noUserStr) == 0 {
		lines = append(lines, l.T("testers.none"))
	}
	switch { // whether there is anything to open; unsaid where WeChat cannot tell
	case verr == nil && versions.Trial == nil:
		lines = append(lines, l.T("testers.no_trial"))
	case verr == nil && versions.Trial.At.IsZero():
		lines = append(lines, l.T("testers.trial_undated", Escape(versions.Trial.Version)))
	case verr == nil:
		lines = append(lines, l.T("testers.trial", Escape(versions.Trial.Version), dateRef(versions.Trial.At)))
	}
	return conv.Private(ctx, strings.Join(lines, "\n"))
}

// testerLine shows one of the bot's grants in the testers list.
func testerLine(l Lang, g Grant) string {
	line := l.T("testers.grant", g.WechatMasked, mention(g.Requester), dateRef(g.CreatedAt), dateRef(g.ExpiresAt), g.ID)
	if g.Reason != "" {
		line += " " + l.T("testers.reason", Escape(g.Reason))
	}
	return line
}

// abbrev shortens a userstr for display.
func abbrev(s string) string {
	if len(s) > 10 {
		return s[:10] + "…"
	}
	return s
}

// mine lists the requester's own active grants.
func (b *Bot) mine(ctx context.Context, l Lang, req Request, conv Conversation) error {
	grants, err := b.o.Store.ActiveGrants(ctx, GrantFilter{Requester: req.UserID})
	if err != nil {
		return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
	}
	if len(grants) == 0 {
		return conv.Private(ctx, l.T("mine.none"))
	}
	blocks := []Block{{Text: l.T("mine.header", len(grants))}}
	now := b.o.Now()
	for i, g := range grants {
		app, _ := b.policy().App(g.AppID)
		if i >= mineMaxButtons { // a Slack message holds 50 blocks: the rest as text, ten to a block
			if (i-mineMaxButtons)%10 == 0 {
				blocks = append(blocks, Block{})
			}
			last := &blocks[len(blocks)-1]
			last.Text = strings.TrimPrefix(last.Text+"\n"+b.mineLine(l, g, app), "\n")
			continue
		}
		blocks = append(blocks, Block{Text: b.mineLine(l, g, app), Buttons: b.grantButtons(l, g, now)})
	}
	return privateBlocks(ctx, conv, blocks)
}

// mineMaxButtons is how many grants `mine` shows with their buttons (a
// block and its buttons each): the rest are listed as text.
const mineMaxButtons = 20

// mineLine is one of a person's grants in `mine`; app is nil when the
// policy no longer lists it.
func (b *Bot) mineLine(l Lang, g Grant, app *App) string {
	name, short := g.AppID, g.AppID
	if app != nil {
		name, short = Escape(app.Name), shortName(app)
	}
	return l.T("mine.grant", g.WechatMasked, name, dateRef(g.ExpiresAt), short, g.ID) + " " + l.T("mine.extend", g.ID)
}

// ErrForbidden is returned by Audit for someone who may not read the audit log.
var ErrForbidden = errors.New("only admins may do this")

// Audit returns audit events for an admin (or the command line's --admin).
func (b *Bot) Audit(ctx context.Context, who Who, f AuditFilter) ([]Event, error) {
	admin, err := b.policy().IsAdmin(ctx, b.o.Groups, who)
	if !admin {
		return nil, errors.Join(ErrForbidden, err)
	}
	return b.o.Store.Events(ctx, f)
}

const auditPage = 10

// auditCommand shows the audit log, newest first, a page at a time.
func (b *Bot) auditCommand(ctx context.Context, l Lang, req Request, cmd Command, conv Conversation) error {
	f := AuditFilter{User: cmd.User, Limit: auditPage + 1, Offset: (cmd.Page - 1) * auditPage}
	var app *App
	if cmd.App != "" {
		var err error
		if app, err = b.resolveApp(ctx, l, req, cmd.App, conv); app == nil {
			return err
		}
		f.AppID = app.ID
	}
	events, err := b.Audit(ctx, b.who(req), f)
	if errors.Is(err, ErrForbidden) {
		return conv.Private(ctx, l.T("deny.audit", b.admins(l)))
	}
	if err != nil {
		return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
	}
	if len(events) == 0 {
		return conv.Private(ctx, l.T("audit.none"))
	}
	more := len(events) > auditPage
	events = events[:min(len(events), auditPage)]
	lines := []string{l.T("audit.header", cmd.Page)}
	for _, e := range events {
		lines = append(lines, b.auditLine(l, e))
	}
	if more {
		next := "audit"
		if cmd.App != "" {
			next += " " + Code(cmd.App) // checked by the grammar: an alias or appid
		}
		if cmd.User != "" {
			next += " " + cmd.User
		}
		lines = append(lines, l.T("audit.more", fmt.Sprintf("%s page %d", next, cmd.Page+1)))
	}
	return conv.Private(ctx, strings.Join(lines, "\n"))
}

func (b *Bot) auditLine(l Lang, e Event) string {
	name := e.AppID
	if app, ok := b.policy().App(e.AppID); ok {
		name = Escape(app.Name)
	}
	s := fmt.Sprintf("%s *%s* %s", dateRef(e.At), e.Kind, mention(e.Actor))
	if e.Requester != "" && e.Requester != e.Actor {
		s += " (" + l.T("audit.for", mention(e.Requester)) + ")"
	}
	if e.WechatMasked != "" {
		s += " `" + e.WechatMasked + "`"
	}
	s += " → " + name
	var extra []string
	if e.ErrCode != 0 {
		extra = append(extra, fmt.Sprintf("errcode %d", e.ErrCode))
	}
	if e.GrantID != 0 {
		extra = append(extra, fmt.Sprintf("#%d", e.GrantID))
	}
	if e.Detail != "" {
		extra = append(extra, Escape(e.Detail))
	}
	if len(extra) > 0 {
		s += " — " + strings.Join(extra, ", ")
	}
	return "• " + s
}
