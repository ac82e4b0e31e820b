package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Extending access: `extend #N [3d]`, and the same as buttons on the
// day-before reminder. An extension is capped at the app's maximum from
// now, needs an approval where a new request for the app would, and is
// audited (with the grant's move, in one transaction).

// extendSteps are the extensions the reminder offers.
var extendSteps = []time.Duration{3 * 24 * time.Hour, 7 * 24 * time.Hour}

// defaultExtend is how much `extend #N` adds without a duration.
const defaultExtend = 3 * 24 * time.Hour

// parseExtend reads "extend #<grant> [for] [<time>]".
func parseExtend(args []string) (Command, error) {
	if len(args) == 0 {
		return Command{}, &UsageError{Key: "usage.extend"}
	}
	m := grantPattern.FindStringSubmatch(args[0])
	if m == nil {
		return Command{}, &UsageError{Key: "usage.grant", Arg: args[0]}
	}
	cmd := Command{}
	cmd.GrantID, _ = strconv.ParseInt(m[1], 10, 64)
	rest := args[1:]
	if len(rest) > 0 && strings.EqualFold(rest[0], "for") {
		rest = rest[1:]
	}
	if len(rest) > 0 {
		d, ok := ParseDuration(rest[0])
		if !ok {
			return Command{}, &UsageError{Key: "usage.duration", Arg: rest[0]}
		}
		cmd.Duration, rest = d, rest[1:]
	}
	return cmd, extraWords(rest, 0)
}

// extendCommand runs "extend #N [time]".
func (b *Bot) extendCommand(ctx context.Context, l Lang, req Request, cmd Command, conv Conversation) error {
	return b.extend(ctx, l, req, cmd.GrantID, cmd.Duration, conv)
}

// extendClick runs an Extend button: Value "<grant id>:<time>".
func (b *Bot) extendClick(ctx context.Context, c Click, conv Conversation) error {
	l := b.userLang(ctx, c.UserID)
	idText, durText, _ := strings.Cut(c.Value, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	d, ok := ParseDuration(durText)
	if err != nil || !ok {
		return conv.Private(ctx, l.T("extend.none"))
	}
	return b.extend(ctx, l, Request{UserID: c.UserID}, id, d, conv)
}

// extendValue is an Extend button's value.
func extendValue(id int64, d time.Duration) string {
	return fmt.Sprintf("%d:%s", id, FormatDuration(d))
}

// extendedEnd is where adding d to g's end lands, capped at app's maximum from now.
func extendedEnd(g Grant, app *App, d time.Duration, now time.Time) time.Time {
	end := g.ExpiresAt.Add(d)
	if limit := now.Add(app.MaxDuration); end.After(limit) {
		end = limit
	}
	return end
}

// extend lengthens grant id by d for req.UserID, its owner or an admin.
func (b *Bot) extend(ctx context.Context, l Lang, req Request, id int64, d time.Duration, conv Conversation) error {
	if d == 0 {
		d = defaultExtend
	}
	g, err := b.o.Store.Grant(ctx, id)
	app, ok := b.policy().App(g.AppID)
	if err != nil || !ok || g.State != GrantActive {
		return conv.Private(ctx, l.T("extend.none"))
	}
	who := b.who(req)
	admin, _ := b.policy().IsAdmin(ctx, b.o.Groups, who)
	if g.Requester != req.UserID && !admin {
		return conv.Private(ctx, l.T("extend.none")) // as for a grant that does not exist: others' grants stay unsaid
	}
	now := b.o.Now()
	end := extendedEnd(g, app, d, now)
	if !end.After(g.ExpiresAt) {
		return conv.Private(ctx, l.T("extend.at_max", g.WechatMasked, Escape(app.Name), dateRef(g.ExpiresAt), FormatDuration(app.MaxDuration)))
	}
	if g.UnbindJob != 0 {
		return conv.Private(ctx, l.T("bind.being_unbound", g.WechatMasked, Escape(app.Name)))
	}
	if refusal := b.platformRefusal(l, app); refusal != "" {
		return conv.Private(ctx, refusal)
	}
	if !admin {
		// The owner asks as a new request would: the same permission, the same approvals.
		who = askedFor(who, app) // a button in a DM
		switch dec := b.policy().CanBind(ctx, b.o.Groups, who, app); {
		case dec.NeedsApproval:
			wechatID, err := b.o.Store.GrantWechatID(ctx, g.ID)
			if err != nil {
				return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
			}
			thread := b.reopen(g.Thread, g.Requester)
			return b.askApproval(ctx, l, Request{UserID: g.Requester, ChannelID: g.Thread.Channel}, app, wechatID, end.Sub(now),
				"extend #"+strconv.FormatInt(g.ID, 10), &threadConversation{Conversation: conv, thread: thread})
		case !dec.Allowed:
			return conv.Private(ctx, b.denial(l, dec, app))
		}
	}
	ev := Event{Kind: EventExtended, Actor: req.UserID, Requester: g.Requester, Channel: g.Thread.Channel, ThreadTS: g.Thread.ThreadTS,
		AppID: g.AppID, WechatMasked: g.WechatMasked, At: now,
		Detail: "until " + end.UTC().Format(time.RFC3339) + " (was " + g.ExpiresAt.UTC().Format(time.RFC3339) + ")"}
	ng, changed, err := b.o.Store.ExtendGrant(ctx, g.ID, g.ExpiresAt, end, ev)
	switch {
	case err != nil:
		return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
	case !changed: // extended, ended or being unbound meanwhile: say what it is now
		return conv.Private(ctx, l.T("extend.changed"))
	}
	b.o.Log.Info("grant extended", "grant", g.ID, "user", req.UserID, "app", g.AppID, "until", end)
	return conv.Private(ctx, l.T("extend.ok", ng.WechatMasked, Escape(app.Name), dateRef(ng.ExpiresAt), shortName(app), ng.ID))
}

// extendButtons are the Extend offers for grant g: each step that still
// adds time under the app's maximum, once per distinct end.
func (b *Bot) extendButtons(l Lang, g Grant, app *App, now time.Time) []Button {
	var out []Button
	last := g.ExpiresAt
	for _, step := range extendSteps {
		end := extendedEnd(g, app, step, now)
		if !end.After(last) {
			continue
		}
		last = end
		out = append(out, Button{Action: ActionExtend, Label: l.T("extend.button", FormatDuration(end.Sub(g.ExpiresAt))), Value: extendValue(g.ID, step)})
	}
	return out
}

// threadConversation opens "its" thread in an existing one (a grant's), and
// answers privately through conv.
type threadConversation struct {
	Conversation
	thread Thread
}

func (c *threadConversation) Open(ctx context.Context, text string) (Thread, error) {
	return c.thread, c.thread.Reply(ctx, text)
}
