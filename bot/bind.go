package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bindtester/bindtester/wechat"
)

// resolveApp finds the app a command names, or answers privately that it can't.
func (b *Bot) resolveApp(ctx context.Context, l Lang, req Request, key string, conv Conversation) (*App, error) {
	app, ok := b.policy().App(key)
	if ok {
		return app, nil
	}
	msg := "app.unknown"
	if IsAppID(key) {
		msg = "app.unknown_appid"
	}
	b.o.Log.Info("unknown app", "user", req.UserID, "app", key)
	return nil, conv.Private(ctx, l.T(msg, Echo(key), b.help(ctx, l, req)))
}

// record writes an audit event, stamping the time.
func (b *Bot) record(ctx context.Context, e Event) error {
	if e.At.IsZero() {
		e.At = b.o.Now()
	}
	if err := b.o.Store.Record(ctx, e); err != nil {
		b.o.Log.Error("audit write failed", "kind", e.Kind, "app", e.AppID, "error", err)
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

func (b *Bot) bind(ctx context.Context, l Lang, req Request, cmd Command, conv Conversation) error {
	app, err := b.resolveApp(ctx, l, req, cmd.App, conv)
	if app == nil {
		return err
	}
	masked := MaskWechatID(cmd.WechatID)
	log := b.o.Log.With("user", req.UserID, "channel", req.ChannelID, "app", app.ID, "wechatid", masked)
	dur := cmd.Duration
	if dur == 0 {
		dur = app.DefaultDuration
	}
	d := b.policy().CanBind(ctx, b.o.Groups, askedFor(b.who(req), app), app) // a form from App Home is asked nowhere
	if (d.Allowed || d.NeedsApproval) && dur > app.MaxDuration {
		return conv.Private(ctx, l.T("usage.too_long", FormatDuration(dur), Escape(app.Name), FormatDuration(app.MaxDuration)))
	}
	// On behalf: an admin binds for someone else, whose grant it then is
	// (their reminders, their mine); the admin is the actor.
	requester := req.UserID
	if cmd.For != "" && cmd.For != req.UserID {
		if !d.Admin {
			return conv.Private(ctx, l.T("deny.on_behalf", b.admins(l)))
		}
		requester = cmd.For
	}
	ev := Event{Actor: req.UserID, Requester: requester, Channel: req.ChannelID, AppID: app.ID, WechatMasked: masked,
		Detail: "for " + FormatDuration(dur) + reasonDetail(cmd.Reason)}
	if app.RequireReason && cmd.Reason == "" && (d.Allowed || d.NeedsApproval) {
		return conv.Private(ctx, l.T("usage.reason_required", Escape(app.Name), shortName(app), masked))
	}
	if refusal := b.platformRefusal(l, app); refusal != "" && (d.Allowed || d.NeedsApproval) {
		// WeChat would refuse it: say why, and what the client must do, without asking.
		log.Info("bind refused: the platform may not manage this app's testers")
		ev.Kind, ev.Detail = EventDenied, "platform not authorized for testers"
		if err := b.record(ctx, ev); err != nil {
			return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
		}
		return conv.Private(ctx, refusal)
	}
	switch {
	case !d.Allowed && !d.NeedsApproval:
		log.Info("bind denied", "reason", int(d.Reason))
		ev.Kind, ev.Detail = EventDenied, reasonNames[d.Reason]
		if err := b.record(ctx, ev); err != nil {
			return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
		}
		return conv.Private(ctx, b.denial(l, d, app))
	case d.NeedsApproval && req.NoApproval:
		log.Info("bind needs an approval; asked outside Slack")
		ev.Kind, ev.Detail = EventDenied, "needs approval; asked outside Slack"
		if err := b.record(ctx, ev); err != nil {
			return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
		}
		return conv.Private(ctx, l.T("approval.use_slack", Escape(app.Name), shortName(app)))
	case d.NeedsApproval:
		return b.askApproval(ctx, l, req, app, cmd.WechatID, dur, cmd.Reason, conv)
	}
	if g, err := b.o.Store.FindGrant(ctx, app.ID, cmd.WechatID); err == nil && g.UnbindJob != 0 {
		// Its expiry (or someone's unbind) is under way: binding now could
		// cross it at WeChat. It takes a moment; then asking again works.
		return conv.Private(ctx, l.T("bind.being_unbound", masked, Escape(app.Name)))
	}
	now := b.o.Now()
	ev.Kind, ev.At = EventAllowed, now
	j, err := b.o.Store.CreateJob(ctx, Job{Kind: JobBind, AppID: app.ID, WechatMasked: masked, Requester: requester, Actor: req.UserID,
		Channel: req.ChannelID, Duration: dur, Reason: cmd.Reason, CreatedAt: now, LeaseOwner: b.o.Owner, LeaseUntil: b.lease(now), Intent: &ev}, cmd.WechatID)
	if err != nil {
		log.Error("bind intent not stored", "error", err)
		return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
	}
	// The intent is durable, so the status message and the WeChat call go
	// out together; the outcome waits for both (and goes to the requester
	// privately if the status message could not be posted). Where the thread
	// is is stored beside them, for a job resumed elsewhere; the outcome,
	// which names it too, does not wait for that.
	threadStored := make(chan struct{})
	thread := openThread(conv, func() (Thread, error) {
		var t Thread
		err := b.post(ctx, func(ctx context.Context) (err error) {
			text := l.T("parent.working", mention(req.UserID), masked, Escape(app.Name), app.ID)
			if requester != req.UserID {
				text = l.T("parent.working_for", mention(req.UserID), masked, Escape(app.Name), app.ID, mention(requester))
			}
			t, err = conv.Open(ctx, text)
			return err
		})
		if err != nil {
			close(threadStored)
			log.Warn("could not post the status message; answering privately", "error", err)
			return nil, err
		}
		go func() {
			defer close(threadStored)
			if err := b.o.Store.SetJobThread(ctx, j.ID, t.Ref()); err != nil {
				log.Warn("thread of the job not stored; a resumed job answers by DM", "error", err)
			}
		}()
		return t, nil
	})
	err = b.runBind(ctx, l, j, app, cmd.WechatID, d.Admin, thread)
	<-threadStored
	return errors.Join(err, thread.opened())
}

// platformRefusal says why a third-party platform cannot bind testers to
// app (its authorization revoked, or development management not granted),
// or "" when it can, or the app is not served as a platform's.
func (b *Bot) platformRefusal(l Lang, app *App) string {
	switch {
	case app.Platform == nil:
		return ""
	case app.Platform.Revoked:
		return l.T("bind.revoked", Escape(app.Name), b.admins(l))
	case !app.Platform.CanManageTesters():
		return l.T("bind.no_set18", Escape(app.Name), b.admins(l))
	}
	return ""
}

// approvalPrompt is the approvers' prompt for request a: who asks for what,
// for how long, where, until when, why, and the buttons.
// channel is where it was asked.
func (b *Bot) approvalPrompt(pl Lang, a Approval, app *App, channel string) Prompt {
	where := "-"
	if ch := channel; strings.HasPrefix(ch, "C") || strings.HasPrefix(ch, "G") {
		where = channelRef(ch)
	}
	id := strconv.FormatInt(a.ID, 10)
	return Prompt{Buttons: []Button{{Action: ActionApprove, Label: pl.T("approval.button_approve"), Value: id, Style: StylePrimary},
		{Action: ActionDeny, Label: pl.T("approval.button_deny"), Value: id, Style: StyleDanger}},
		Text: pl.T("approval.prompt", mention(a.Requester), a.WechatMasked, Escape(app.Name), FormatDuration(a.Duration), where, dateRef(a.ExpiresAt), a.ID) +
			reasonLine(pl, a.Reason)}
}

// voteRecorded follows an approval that was not the last one needed: it is
// audited, every approver's prompt says who approved and when (its buttons
// kept), and the requester hears how many more are needed.
func (b *Bot) voteRecorded(ctx context.Context, a Approval, app *App, by string, needed int) error {
	ev := Event{Kind: EventApproved, Actor: by, Requester: a.Requester, Channel: a.Thread.Channel, ThreadTS: a.Thread.ThreadTS,
		AppID: a.AppID, WechatMasked: a.WechatMasked, ApprovalID: a.ID, Detail: fmt.Sprintf("approval %d of %d", len(a.Votes), needed)}
	errs := []error{b.record(ctx, ev)}
	pl := b.o.Lang
	prompt := b.approvalPrompt(pl, a, app, a.Thread.Channel) // where its thread is: where it was asked
	prompt.Text += votesLine(pl, a.Votes) + "\n" + pl.T("approval.more_needed", needed-len(a.Votes))
	for _, p := range a.Prompts {
		if p.To == by { // their approval is counted: nothing is left for them to press
			errs = append(errs, b.o.Messenger.Edit(ctx, p, prompt.Text))
			continue
		}
		errs = append(errs, b.o.Messenger.Reprompt(ctx, p, prompt))
	}
	rl := b.userLang(ctx, a.Requester)
	errs = append(errs, b.reopen(a.Thread, a.Requester).Reply(ctx, rl.T("approval.voted", mention(a.Requester), mention(by), needed-len(a.Votes))))
	return errors.Join(errs...)
}

// votesLine says who approved and when, on a line of its own ("" for none).
func votesLine(l Lang, votes []Vote) string {
	if len(votes) == 0 {
		return ""
	}
	who := make([]string, len(votes))
	for i, v := range votes {
		who[i] = l.T("approval.vote", mention(v.By), dateRef(v.At))
	}
	return "\n" + l.T("approval.votes", strings.Join(who, ", "))
}

// reasonDetail is a reason as the audit log's detail ends: " because …".
func reasonDetail(reason string) string {
	if reason == "" {
		return ""
	}
	return " because " + reason
}

// reasonLine shows a reason on a line of its own, escaped ("" for none).
func reasonLine(l Lang, reason string) string {
	if reason == "" {
		return ""
	}
	return "\n" + l.T("reason.line", Escape(reason))
}

// refusedError is a bind refused before WeChat was asked; reply says why.
type refusedError struct{ reply string }

func (e *refusedError) Error() string {
	return "refused before asking WeChat: platform not authorized for testers"
}

// notPosted tells the requester that nothing was done because the status
// message could not be posted, and records why.
func (b *Bot) notPosted(ctx context.Context, l Lang, ev Event, err error, conv Conversation) error {
	ev.Kind, ev.Detail = EventFailed, "could not post in the channel"
	return errors.Join(err, b.record(ctx, ev), conv.Private(ctx, l.T("err.not_posted", b.admins(l))))
}

var reasonNames = map[reasonKey]string{reasonNotBinder: "not a binder", reasonWrongChannel: "wrong channel",
	reasonAdminOnly: "admins only", reasonLookupFailed: "user group lookup failed"}

// errDetail is an error as the audit log keeps it: WeChat's errmsg (the errcode
// has its own column), or the token-free error text.
func errDetail(err error) string {
	var we *wechat.Error
	if errors.As(err, &we) {
		return we.Msg
	}
	return err.Error()
}

func errCode(err error) int {
	var we *wechat.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return 0
}

// shortName is what people type for an app: its first alias, or the appid.
func shortName(a *App) string {
	if len(a.Aliases) > 0 {
		return Code(a.Aliases[0])
	}
	return Code(a.ID)
}

// slotReport says how full the app is (used) and whose grants end first
// (list, "" when none), for 85002. The list names people: it is for the
// requester's eyes only.
func (b *Bot) slotReport(ctx context.Context, l Lang, app *App, admin bool) (used, list string) {
	n := -1
	if members, err := b.o.WeChat.Experiencers(ctx, app.ID); err == nil {
		n = len(members)
	}
	grants, _ := b.o.Store.ActiveGrants(ctx, GrantFilter{AppID: app.ID})
	if n < 0 {
		n = len(grants)
	}
	used = l.T("slots.used", n, app.Slots)
	if len(grants) == 0 {
		return used, ""
	}
	list = l.T("slots.soonest")
	for _, g := range grants[:min(3, len(grants))] {
		list += "\n" + l.T("slots.grant", g.WechatMasked, mention(g.Requester), dateRef(g.ExpiresAt), g.ID)
	}
	if admin {
		list += "\n" + l.T("slots.admin_hint", shortName(app), grants[0].ID)
	}
	return used, list
}

// askApproval opens the requester's thread, stores the request and prompts the approvers.
func (b *Bot) askApproval(ctx context.Context, l Lang, req Request, app *App, wechatID string, dur time.Duration, reason string, conv Conversation) error {
	masked := MaskWechatID(wechatID)
	approvers := b.policy().Approvers(app)
	ev := Event{Kind: EventRequested, Actor: req.UserID, Requester: req.UserID, Channel: req.ChannelID, AppID: app.ID,
		WechatMasked: masked, Detail: "for " + FormatDuration(dur) + reasonDetail(reason)}
	if err := b.record(ctx, ev); err != nil {
		return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
	}
	thread, err := conv.Open(ctx, l.T("parent.approval", mention(req.UserID), masked, Escape(app.Name), app.ID))
	if err != nil {
		b.o.Log.Error("could not post the approval status message", "user", req.UserID, "app", app.ID, "error", err)
		return b.notPosted(ctx, l, ev, err, conv)
	}
	now := b.o.Now()
	a, err := b.o.Store.CreateApproval(ctx, Approval{AppID: app.ID, WechatMasked: masked, Requester: req.UserID,
		Thread: thread.Ref(), Duration: dur, State: ApprovalPending, CreatedAt: now, ExpiresAt: now.Add(app.ApprovalTTL), Reason: reason}, wechatID)
	if err != nil {
		b.o.Log.Error("approval not stored", "error", err)
		return errors.Join(err, thread.Reply(ctx, l.T("err.store", b.admins(l))),
			thread.Update(ctx, l.T("summary.failed", mention(req.UserID), masked, Escape(app.Name), l.T("err.internal.short"))))
	}
	pl := b.o.Lang // approvers read the prompt in the bot's default language
	prompt := b.approvalPrompt(pl, a, app, req.ChannelID)
	var prompts []MessageRef
	var errs []error
	for _, to := range b.promptTargets(ctx, app, req.UserID) {
		ref, err := b.o.Messenger.Prompt(ctx, to, prompt)
		if err != nil {
			errs = append(errs, fmt.Errorf("approval prompt to %s: %w", to, err))
			continue
		}
		if to != app.ApprovalChannel {
			ref.To = to
		}
		prompts = append(prompts, ref)
	}
	if err := b.o.Store.SetPrompts(ctx, a.ID, prompts); err != nil {
		errs = append(errs, err)
	}
	key := "approval.asked"
	if len(prompts) == 0 {
		key = "approval.not_delivered"
	}
	errs = append(errs, thread.Reply(ctx, l.T(key, mentions(l, approvers), dateRef(a.ExpiresAt))))
	return errors.Join(errs...)
}

// promptTargets are where approval prompts go: the app's approval channel, or
// each approver (user group members included) by DM, but not the requester,
// who may not decide their own request: no buttons go where nobody may press them.
func (b *Bot) promptTargets(ctx context.Context, app *App, requester string) []string {
	if app.ApprovalChannel != "" {
		return []string{app.ApprovalChannel}
	}
	return slices.DeleteFunc(b.expand(ctx, b.policy().Approvers(app), "approvers"), func(u string) bool { return u == requester })
}

// Click handles an approver's button: only a listed approver's click counts,
// and each request is decided once.
func (b *Bot) Click(ctx context.Context, c Click, conv Conversation) error {
	switch c.Action {
	case ActionExtend:
		return b.extendClick(ctx, c, conv)
	case ActionEnd:
		return b.endClick(ctx, c, conv)
	case ActionRequest: // where no form can open (the adapter opens it where it can): the command's help
		return b.helpAnswer(ctx, b.userLang(ctx, c.UserID), Request{UserID: c.UserID}, conv)
	}
	l := b.userLang(ctx, c.UserID)
	id, err := strconv.ParseInt(c.Value, 10, 64)
	var a Approval
	if err == nil {
		a, err = b.o.Store.Approval(ctx, id)
	}
	app, ok := b.policy().App(a.AppID)
	if err != nil || !ok || (c.Action != ActionApprove && c.Action != ActionDeny) {
		b.o.Log.Warn("click on an unknown approval", "user", c.UserID, "value", c.Value, "error", err)
		return conv.Private(ctx, l.T("approval.unknown"))
	}
	can, err := b.policy().CanApprove(ctx, b.o.Groups, c.UserID, app)
	if !can {
		b.o.Log.Info("click by a non-approver ignored", "user", c.UserID, "approval", id, "error", err)
		return conv.Private(ctx, l.T("approval.not_approver", mentions(l, b.policy().Approvers(app))))
	}
	if c.UserID == a.Requester {
		return conv.Private(ctx, l.T("approval.own_request"))
	}
	now := b.o.Now()
	if a.State == ApprovalPending && !now.Before(a.ExpiresAt) {
		// Past its expiry, but not yet swept: it expires now rather than binds.
		return errors.Join(b.expireApproval(ctx, a, now), conv.Private(ctx, l.T("approval.already_expired", "", dateRef(a.ExpiresAt))))
	}
	state, kind := ApprovalApproved, EventApproved
	if c.Action == ActionDeny {
		state, kind = ApprovalDenied, EventRejected
	}
	needed := max(1, app.ApprovalsNeeded)
	var decided bool
	if state == ApprovalApproved && needed > 1 {
		var res VoteResult
		a, res, err = b.o.Store.Vote(ctx, id, c.UserID, now, needed)
		switch {
		case err != nil:
			return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
		case res == VoteAlready:
			return conv.Private(ctx, l.T("approval.already_voted", needed-len(a.Votes)))
		case res == VoteRecorded:
			return b.voteRecorded(ctx, a, app, c.UserID, needed)
		}
		decided = res == VoteDecided
	} else if a, decided, err = b.o.Store.Decide(ctx, id, state, c.UserID, now); err != nil {
		return errors.Join(err, conv.Private(ctx, l.T("err.store", b.admins(l))))
	}
	if !decided {
		return conv.Private(ctx, l.T("approval.already_"+string(a.State), mention(a.DecidedBy), dateRef(a.DecidedAt)))
	}
	ev := Event{Kind: kind, Actor: c.UserID, Requester: a.Requester, Channel: a.Thread.Channel, ThreadTS: a.Thread.ThreadTS,
		AppID: a.AppID, WechatMasked: a.WechatMasked, ApprovalID: a.ID}
	if needed > 1 && state == ApprovalApproved {
		ev.Detail = fmt.Sprintf("approval %d of %d", len(a.Votes), needed)
	}
	errs := []error{b.record(ctx, ev)}
	pl := b.o.Lang
	editPrompts := func() error {
		text := pl.T("approval.decided_"+string(state), mention(a.Requester), a.WechatMasked, Escape(app.Name), mention(c.UserID)) + votesLine(pl, a.Votes)
		var errs []error
		for _, p := range a.Prompts {
			errs = append(errs, b.o.Messenger.Edit(ctx, p, text))
		}
		return errors.Join(errs...)
	}
	rl := b.userLang(ctx, a.Requester)
	if state == ApprovalDenied {
		thread := b.reopen(a.Thread, a.Requester)
		return errors.Join(append(errs, editPrompts(), thread.Reply(ctx, rl.T("approval.denied", mention(a.Requester), mention(c.UserID))),
			thread.Update(ctx, rl.T("summary.failed", mention(a.Requester), a.WechatMasked, Escape(app.Name), rl.T("approval.denied.short"))))...)
	}
	// The decision wrote the bind job; whoever claims it first binds (this
	// process, unless a sweep elsewhere was quicker). The prompts are edited
	// and the requester told while WeChat is called.
	thread := openThread(nil, func() (Thread, error) {
		t := b.reopen(a.Thread, a.Requester)
		return t, b.post(ctx, func(ctx context.Context) error {
			return t.Reply(ctx, rl.T("approval.approved", mention(a.Requester), mention(c.UserID)))
		})
	})
	errs = append(errs, inParallel(editPrompts, func() error {
		j, claimed, err := b.o.Store.ClaimJob(ctx, a.JobID, b.o.Owner, now, b.lease(now))
		if err != nil || !claimed {
			return err
		}
		wechatID, err := b.o.Store.JobWechatID(ctx, j.ID)
		if err != nil {
			return errors.Join(err, thread.Reply(ctx, rl.T("err.store", b.admins(rl))))
		}
		requesterAdmin, _ := b.policy().IsAdmin(ctx, b.o.Groups, Who{UserID: a.Requester})
		return b.runBind(ctx, rl, j, app, wechatID, requesterAdmin, thread)
	}), thread.opened())
	return errors.Join(errs...)
}
