package bot

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// RunWorker sweeps every interval until ctx ends: it unbinds testers whose time
// is up, warns requesters a day ahead, and expires stale approvals. Everything
// it works from is in the store, so a restart resumes where it stopped.
func (b *Bot) RunWorker(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := b.safeSweep(ctx); err != nil && ctx.Err() == nil {
			b.o.Log.Warn("sweep finished with errors", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// safeSweep is Sweep, with a panic logged and turned into an error, so one bad
// record cannot stop the worker (and the bot) for good.
func (b *Bot) safeSweep(ctx context.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			b.o.Log.Error("sweep panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("sweep panicked: %v", p)
		}
	}()
	return b.Sweep(ctx)
}

// warnAhead is how long before the end a requester is told.
const warnAhead = 24 * time.Hour

// Sweep does one pass of the worker's duties.
func (b *Bot) Sweep(ctx context.Context) error {
	now := b.o.Now()
	return errors.Join(b.resumeJobs(ctx, now), b.expireGrants(ctx, now), b.warnGrants(ctx, now), b.expireApprovals(ctx, now))
}

// retryAfter is the wait before another unbind attempt: 1 minute, doubling, at most an hour.
func retryAfter(attempts int) time.Duration {
	return min(time.Minute<<min(attempts, 6), time.Hour)
}

// expireGrants unbinds the testers whose time is up, each through an unbind
// job that claims its grant: of several replicas sweeping, one unbinds it.
func (b *Bot) expireGrants(ctx context.Context, now time.Time) error {
	due, err := b.o.Store.DueGrants(ctx, now)
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range due {
		if ctx.Err() != nil {
			break
		}
		now := b.o.Now() // each job's lease from its own start
		j, err := b.o.Store.CreateJob(ctx, Job{Kind: JobUnbind, AppID: g.AppID, WechatMasked: g.WechatMasked, UserStr: g.UserStr,
			Requester: g.Requester, Thread: g.Thread, GrantID: g.ID, CreatedAt: now, LeaseOwner: b.o.Owner, LeaseUntil: b.lease(now)}, "")
		if errors.Is(err, ErrBusy) || errors.Is(err, ErrNotFound) {
			continue // another replica is on it, or has just finished it
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, b.resumeUnbind(ctx, b.userLang(ctx, g.Requester), j))
	}
	return errors.Join(errs...)
}

// warnGrants tells requesters a day ahead that access ends; each warning is
// claimed first, so it is sent once whichever replica sweeps.
func (b *Bot) warnGrants(ctx context.Context, now time.Time) error {
	soon, err := b.o.Store.WarnGrants(ctx, now, now.Add(warnAhead))
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range soon {
		now := b.o.Now()
		claimed, err := b.o.Store.ClaimWarning(ctx, g.ID, now, b.lease(now))
		if err != nil || !claimed {
			errs = append(errs, err)
			continue
		}
		if g.ExpiresAt.Sub(g.CreatedAt) > warnAhead { // short grants: the requester knows when they end
			l := b.userLang(ctx, g.Requester)
			if err := b.warn(ctx, l, g, now); err != nil {
				errs = append(errs, err, b.o.Store.UnclaimWarning(ctx, g.ID)) // the next sweep tries again
				continue
			}
		}
		errs = append(errs, b.o.Store.WarningSent(ctx, g.ID, now))
	}
	return errors.Join(errs...)
}

// warn tells g's requester that access ends soon, with Extend buttons where
// the app's maximum leaves room.
func (b *Bot) warn(ctx context.Context, l Lang, g Grant, now time.Time) error {
	if !isSlackID(g.Requester) {
		return nil // the command line's "cli-admin": nowhere to be told
	}
	text := l.T("expiry.warning", g.WechatMasked, b.appName(g.AppID), dateRef(g.ExpiresAt), b.rebindHint(g.AppID))
	app, ok := b.policy().App(g.AppID)
	if !ok {
		return b.tell(ctx, g.Requester, text)
	}
	buttons := b.extendButtons(l, g, app, now)
	if len(buttons) == 0 {
		return b.tell(ctx, g.Requester, text)
	}
	_, err := b.o.Messenger.Prompt(ctx, g.Requester, Prompt{Text: text + "\n" + l.T("extend.offer", g.ID), Buttons: buttons})
	return err
}

func (b *Bot) expireApprovals(ctx context.Context, now time.Time) error {
	stale, err := b.o.Store.StaleApprovals(ctx, now)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range stale {
		errs = append(errs, b.expireApproval(ctx, a, now))
	}
	return errors.Join(errs...)
}

// expireApproval ends a pending approval nobody decided in time, and says so.
func (b *Bot) expireApproval(ctx context.Context, a Approval, now time.Time) error {
	a, decided, err := b.o.Store.Decide(ctx, a.ID, ApprovalExpired, "", now)
	if err != nil || !decided {
		return err
	}
	errs := []error{b.record(ctx, Event{Kind: EventApprovalExpired, Requester: a.Requester, Channel: a.Thread.Channel,
		ThreadTS: a.Thread.ThreadTS, AppID: a.AppID, WechatMasked: a.WechatMasked, ApprovalID: a.ID})}
	name := b.appName(a.AppID)
	for _, p := range a.Prompts {
		errs = append(errs, b.o.Messenger.Edit(ctx, p, b.o.Lang.T("approval.decided_expired", mention(a.Requester), a.WechatMasked, name)))
	}
	l := b.userLang(ctx, a.Requester)
	thread := b.reopen(a.Thread, a.Requester)
	return errors.Join(append(errs, thread.Reply(ctx, l.T("approval.expired", mention(a.Requester))),
		thread.Update(ctx, l.T("summary.failed", mention(a.Requester), a.WechatMasked, name, l.T("approval.expired.short"))))...)
}

// tell DMs a requester; requesters that are not Slack users (the command
// line's "cli-admin") have nowhere to be told.
func (b *Bot) tell(ctx context.Context, user, text string) error {
	if !isSlackID(user) {
		return nil
	}
	return b.o.Messenger.DM(ctx, user, text)
}

func (b *Bot) appName(appid string) string {
	if app, ok := b.policy().App(appid); ok {
		return Escape(app.Name)
	}
	return appid
}

// rebindHint is the command to ask again.
func (b *Bot) rebindHint(appid string) string {
	if app, ok := b.policy().App(appid); ok {
		return "/bindtester " + shortName(app) + " <wechat-id>"
	}
	return "/bindtester " + appid + " <wechat-id>"
}
