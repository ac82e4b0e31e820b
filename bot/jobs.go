package bot

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bindtester/bindtester/wechat"
)

// Every WeChat change goes through a Job (see Jobs): the intent is written
// before WeChat is called, the outcome after, in one transaction with the
// grant and the audit record, and the requester is answered last. A job whose
// outcome is unknown — the process died, WeChat answered after the bot gave
// up, the answer was lost — is claimed later by whichever process sweeps
// first, which asks WeChat again: binding an experiencer twice answers 85004,
// which for a job of the bot's means the bot's own bind.

// outcomeUnknown reports whether err leaves open whether WeChat made the
// change: the request may have reached WeChat and been carried out (a
// timeout, an answer that could not be read, a server error, a cancelled
// call). Refusals with an errcode, and requests that never left (no
// connection, no token), are known failures.
func outcomeUnknown(err error, path string) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, wechat.ErrMaybeApplied) {
		return true // an earlier attempt's answer was lost
	}
	if errors.Is(err, wechat.ErrCrowded) {
		return false // never sent
	}
	var we *wechat.Error
	if errors.As(err, &we) {
		return we.Code == -1 // "system busy": it may have been carried out all the same
	}
	var nc wechat.ErrNoCredentials
	var refused *refusedError
	if errors.As(err, &nc) || errors.As(err, &refused) {
		return false // WeChat was not asked
	}
	var te *wechat.TransportError
	if errors.As(err, &te) {
		return te.Path == path && !errors.Is(te, wechat.ErrUnreachable)
	}
	return true // cancelled, or anything else mid-call
}

// maxUnknownAttempts is how often a job whose outcome stays unknown is tried
// (its waits double from one lease to an hour: some hours in all) before the
// bot gives up asking.
const maxUnknownAttempts = 10

// errGaveUp is the failure of a job given up after maxUnknownAttempts.
var errGaveUp = errors.New("WeChat never said whether it was done; gave up asking")

// lease is how long a job is a process's own: long enough for one WeChat call
// with its retries, short enough that a dead process's jobs resume soon.
func (b *Bot) lease(now time.Time) time.Time { return now.Add(b.o.Lease) }

// renew extends j's lease from now before a phase of work; false (and
// nothing more to do here) when another process has taken the job over.
func (b *Bot) renew(ctx context.Context, j Job) bool {
	rctx, cancel := recording(ctx)
	defer cancel()
	err := b.o.Store.RenewJob(rctx, j.ID, b.o.Owner, b.lease(b.o.Now()))
	if err != nil {
		b.o.Log.Warn("job lease not renewed; leaving the job to whoever holds it", "job", j.ID, "error", err)
	}
	return err == nil
}

// retryUnknown is when an open job is tried again after attempt n left its
// outcome unknown: one lease, doubling, at most an hour.
func (b *Bot) retryUnknown(now time.Time, n int) time.Time {
	return now.Add(min(b.o.Lease<<min(max(n-1, 0), 10), time.Hour))
}

// recording is a context for writing down what WeChat already did: it
// outlives the request's cancellation (shutdown), but not by much.
func recording(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

// runBind calls WeChat for bind job j, records the outcome and answers in thread.
func (b *Bot) runBind(ctx context.Context, l Lang, j Job, app *App, wechatID string, admin bool, thread Thread) error {
	log := b.o.Log.With("job", j.ID, "user", j.Requester, "app", app.ID, "wechatid", j.WechatMasked)
	// The job was just created or claimed, with a lease for this call.
	var res wechat.BindResult
	var err error
	if refusal := b.platformRefusal(l, app); refusal != "" {
		// Revoked, or development management withdrawn, since it was asked
		// (an approval, a resumed job): WeChat would refuse it.
		err = &refusedError{reply: refusal}
	} else {
		wctx, cancel := context.WithTimeout(ctx, b.o.Timeout)
		res, err = b.o.WeChat.BindTester(wctx, app.ID, wechatID)
		cancel()
	}
	redactWechatID(err, wechatID)
	if j.Thread == (ThreadRef{}) {
		j.Thread = thread.Ref() // a status message posted meanwhile
	}
	rctx, rcancel := recording(ctx)
	defer rcancel()
	now := b.o.Now()
	if outcomeUnknown(err, bindPath) && j.Attempts >= maxUnknownAttempts {
		log.Warn("bind outcome still unknown; giving up", "attempts", j.Attempts, "error", err)
		err = fmt.Errorf("%w (asked %d times)", errGaveUp, j.Attempts)
	}
	if outcomeUnknown(err, bindPath) {
		next := b.retryUnknown(now, j.Attempts)
		log.Warn("bind outcome unknown; will ask WeChat again", "next", next, "error", err)
		if rerr := b.o.Store.RetryJob(rctx, j.ID, b.o.Owner, errDetail(err), next); rerr != nil {
			return errors.Join(err, rerr) // another process has it, or the store is down: the job resumes either way
		}
		var reply error
		if !j.Resumed() { // a resumed job's thread already says it is being checked, or will hear the outcome
			rerr := b.record(rctx, Event{Kind: EventUnknown, Actor: j.Actor, Requester: j.Requester, Channel: j.Thread.Channel,
				ThreadTS: j.Thread.ThreadTS, AppID: app.ID, WechatMasked: j.WechatMasked, ApprovalID: j.ApprovalID,
				ErrCode: errCode(err), Detail: "outcome unknown, asking WeChat again at " + next.UTC().Format(time.RFC3339) + ": " + errDetail(err)})
			if rerr != nil {
				log.Warn("unknown outcome not in the audit log", "error", rerr)
			}
			_, short := b.explain(l, app, j.WechatMasked, err)
			reply = thread.Reply(rctx, l.T("job.unknown", short))
		}
		return errors.Join(reply, thread.Update(rctx, l.T("summary.checking", mention(j.Requester), j.WechatMasked, Escape(app.Name))))
	}
	r := b.bindResult(ctx, j, app, wechatID, res, err, now)
	r.LeaseUntil = b.lease(now) // time to answer
	done, g, ferr := b.o.Store.FinishJob(rctx, j.ID, b.o.Owner, r, now)
	if errors.Is(ferr, ErrLeaseLost) {
		log.Info("job finished elsewhere", "error", ferr)
		return nil
	}
	if ferr != nil {
		// WeChat acted but nothing was recorded: the job stays open and is
		// resumed once the store answers again (85004 is then the bot's own).
		log.Error("bind outcome not recorded; it will be resumed", "error", ferr)
		return errors.Join(ferr, thread.Reply(rctx, l.T("err.store_after_bind", j.WechatMasked, b.admins(l))),
			thread.Update(rctx, l.T("summary.checking", mention(j.Requester), j.WechatMasked, Escape(app.Name))))
	}
	log.Info("bind finished", "outcome", done.Outcome, "grant", g.ID, "errcode", done.ErrCode)
	return b.answerBind(ctx, l, done, app, g, err, admin, thread, j.Resumed())
}

const bindPath = "/wxa/bind_tester"

// bindResult turns WeChat's answer into the job's outcome and its effects.
func (b *Bot) bindResult(ctx context.Context, j Job, app *App, wechatID string, res wechat.BindResult, err error, now time.Time) JobResult {
	ev := Event{Actor: j.Actor, Requester: j.Requester, Channel: j.Thread.Channel, ThreadTS: j.Thread.ThreadTS, AppID: app.ID,
		WechatMasked: j.WechatMasked, ApprovalID: j.ApprovalID}
	if j.Resumed() {
		ev.Detail = "resumed after an interruption; "
	}
	if err != nil {
		ev.Kind, ev.ErrCode, ev.Detail = EventFailed, errCode(err), ev.Detail+errDetail(err)
		outcome := OutcomeFailed
		if errors.Is(err, errGaveUp) {
			outcome = OutcomeGaveUp
		}
		return JobResult{Outcome: outcome, ErrCode: ev.ErrCode, Detail: errDetail(err), Event: ev}
	}
	ev.Kind, ev.UserStr = EventBound, res.UserStr
	outcome := OutcomeBound
	if res.AlreadyBound { // one look at the bot's record says which 85004 this is
		_, gerr := b.o.Store.FindGrant(ctx, app.ID, wechatID)
		switch {
		case gerr == nil:
			outcome = OutcomeAlready
		case b.addedOutside(ctx, j, app.ID, wechatID, res.Retried, gerr):
			ev.Detail = "already an experiencer, added outside this bot: not time-limited"
			return JobResult{Outcome: OutcomeOutside, Event: ev}
		}
	}
	start := j.CreatedAt
	if start.IsZero() {
		start = now
	}
	g := Grant{AppID: app.ID, WechatMasked: j.WechatMasked, UserStr: res.UserStr, Requester: j.Requester,
		Thread: j.Thread, CreatedAt: start, ExpiresAt: start.Add(j.Duration), Reason: j.Reason}
	ev.Detail += "until " + g.ExpiresAt.UTC().Format(time.RFC3339)
	if outcome == OutcomeAlready {
		ev.Detail += " (already an experiencer)"
	}
	return JobResult{Outcome: outcome, Event: ev, Grant: &g}
}

// addedOutside reports whether an 85004 means someone added the tester by
// hand, in the WeChat console: not after a retry or in a resumed job (this
// job's own lost bind), not with an active grant (grantErr is FindGrant's
// answer) and not while another bind job of the bot's is open for the ID. A
// store error says no, so the bind counts as the bot's (and will be
// unbound) rather than be left unlimited.
func (b *Bot) addedOutside(ctx context.Context, j Job, appid, wechatID string, retried bool, grantErr error) bool {
	if retried || j.Resumed() || !errors.Is(grantErr, ErrNotFound) {
		return false
	}
	open, err := b.o.Store.OpenBindJob(ctx, appid, wechatID, j.ID)
	return err == nil && !open
}

// answerBind tells the requester how bind job j ended, in thread, and
// updates the status message. Only then is the job over.
// j's lease was renewed when it was finished (or claimed).
func (b *Bot) answerBind(ctx context.Context, l Lang, j Job, app *App, g Grant, err error, admin bool, thread Thread, resumed bool) error {
	// Each Slack post gets its own detached time: WeChat already acted, so the
	// answer goes out even during shutdown, and one slow step does not take
	// the others' time (the QR code's fetch has the request's own).
	wctx := ctx
	ctx = context.WithoutCancel(ctx)
	masked := j.WechatMasked
	var errs []error
	prefix := ""
	if resumed {
		prefix = l.T("job.resumed") + "\n"
		if j.Thread.Channel == "" && j.Channel != "" {
			// Killed between the status post and storing where it is: the
			// outcome comes by DM, and the status message is left behind.
			prefix = l.T("job.resumed") + " " + l.T("job.thread_lost") + "\n"
		}
	}
	switch j.Outcome {
	case OutcomeFailed, OutcomeGaveUp:
		if err == nil {
			err = storedError(j)
		}
		if j.Outcome == OutcomeGaveUp {
			err = errGaveUp
		}
		reply, short := b.explain(l, app, masked, err)
		list := ""
		if j.ErrCode == 85002 { // how full, in public; whose grants end first, to the requester alone
			var used string
			used, list = b.slotReport(wctx, l, app, admin)
			reply += "\n" + used
			if list != "" {
				list = used + "\n" + list
			}
		}
		errs = append(errs, b.post(ctx, func(ctx context.Context) error { return thread.Reply(ctx, prefix+reply) }),
			b.post(ctx, func(ctx context.Context) error {
				return thread.Update(ctx, l.T("summary.failed", mention(j.Requester), masked, Escape(app.Name), short))
			}))
		if list != "" {
			errs = append(errs, b.post(ctx, func(ctx context.Context) error { return b.tell(ctx, j.Requester, list) }))
		}
		b.tellAdmins(ctx, app, err)
	default:
		var text string
		switch j.Outcome {
		case OutcomeOutside:
			text = l.T("bind.already_outside", masked, Escape(app.Name))
		case OutcomeAlready:
			text = l.T("bind.already", masked, Escape(app.Name))
		default:
			text = l.T("bind.ok", masked, Escape(app.Name))
		}
		if j.Outcome != OutcomeOutside {
			now := b.o.Now()
			switch {
			case g.Requester != j.Requester: // an existing grant of someone else's, not shortened: who stays unsaid in public
				text += "\n" + l.T("bind.until_theirs", dateRef(g.ExpiresAt))
			case g.ExpiresAt.Sub(now) <= warnAhead: // no warning comes for grants this short
				text += "\n" + l.T("bind.until_short", dateRef(g.ExpiresAt), shortName(app), g.ID)
			default:
				text += "\n" + l.T("bind.until", dateRef(g.ExpiresAt), shortName(app), g.ID)
			}
		}
		// The outcome first; then the summary while the QR code (another
		// WeChat call) is fetched, and its upload. One Slack call at a time per
		// request keeps the connections to Slack few.
		errs = append(errs, b.post(ctx, func(ctx context.Context) error { return thread.Reply(ctx, prefix+text) }))
		if j.ApprovalID == 0 && j.Actor != "" && j.Actor != j.Requester && j.Outcome != OutcomeOutside && !resumed {
			// Bound on their behalf: the grant is theirs, so they hear of it.
			rl := b.userLang(ctx, j.Requester)
			errs = append(errs, b.post(ctx, func(ctx context.Context) error {
				return b.tell(ctx, j.Requester, rl.T("bind.for_you", mention(j.Actor), masked, Escape(app.Name), dateRef(g.ExpiresAt), shortName(app), g.ID))
			}))
		}
		errs = append(errs, inParallel(
			func() error {
				return b.post(ctx, func(ctx context.Context) error {
					return thread.Update(ctx, l.T("summary.ok", mention(j.Requester), masked, Escape(app.Name)))
				})
			},
			func() error { return b.sendQR(wctx, ctx, l, app, masked, thread) }))
	}
	errs = append(errs, b.post(ctx, func(ctx context.Context) error { return b.o.Store.JobAnswered(ctx, j.ID, b.o.Owner) }))
	return errors.Join(errs...)
}

// post runs one step of an answer with its own bounded, detached time.
func (b *Bot) post(ctx context.Context, step func(context.Context) error) error {
	ctx, cancel := recording(ctx)
	defer cancel()
	return step(ctx)
}

// sendQR posts the trial version's QR code, or says how to open it
// without. The code is fetched in the request's time (wctx), the posts in
// their own (ctx, detached).
//
// Whether a trial version exists at all is asked at the same time: without
// one the QR code opens nothing, so the tester is told to ask the developers
// instead. Where WeChat cannot say (an app secret's token may not read
// versions), the QR code goes out as before.
func (b *Bot) sendQR(wctx, ctx context.Context, l Lang, app *App, masked string, thread Thread) error {
	qctx, cancel := context.WithTimeout(wctx, b.o.Timeout)
	var qr wechat.QRCode
	var err, verr error
	var versions wechat.VersionInfo
	inParallel(func() error {
		qr, err = b.o.WeChat.TrialQRCode(qctx, app.ID, app.QRPath)
		return nil
	}, func() error {
		versions, verr = b.o.WeChat.VersionInfo(qctx, app.ID)
		return nil
	})
	cancel()
	if verr == nil && versions.Trial == nil {
		return b.post(ctx, func(ctx context.Context) error { return thread.Reply(ctx, l.T("bind.no_trial", Escape(app.Name))) })
	}
	if err != nil {
		b.o.Log.Warn("no trial QR code", "app", app.ID, "error", err)
		return b.post(ctx, func(ctx context.Context) error { return thread.Reply(ctx, l.T("bind.open_no_qr", masked)) })
	}
	return b.post(ctx, func(ctx context.Context) error {
		err := thread.Attach(ctx, File{Name: app.ID + "-trial.jpg", Title: l.T("bind.qr_title", app.Name), Data: qr.Image,
			Comment: l.T("bind.open_qr", masked)})
		if errors.Is(err, ErrCannotAttach) {
			err = thread.Reply(ctx, l.T("bind.qr_elsewhere"))
		}
		return err
	})
}

// redactWechatID masks wechatID wherever WeChat's errmsg echoes it, before
// the error is logged, posted or stored.
func redactWechatID(err error, wechatID string) {
	var we *wechat.Error
	if wechatID == "" || !errors.As(err, &we) {
		return
	}
	we.Msg = regexp.MustCompile("(?i)"+regexp.QuoteMeta(wechatID)).ReplaceAllLiteralString(we.Msg, MaskWechatID(wechatID))
}

// storedError is the failure a finished job recorded, for answering it later.
func storedError(j Job) error {
	if j.ErrCode != 0 {
		return &wechat.Error{Code: j.ErrCode, Msg: j.Detail}
	}
	return errors.New(j.Detail)
}

// runUnbind calls WeChat for unbind job j and records the outcome. It does
// not answer: its callers do, each in its own place.
func (b *Bot) runUnbind(ctx context.Context, j Job) (done Job, unknown bool, err error) {
	log := b.o.Log.With("job", j.ID, "app", j.AppID, "wechatid", j.WechatMasked, "grant", j.GrantID)
	who := wechat.Tester{UserStr: j.UserStr}
	if who.UserStr == "" {
		if who.WechatID, err = b.o.Store.JobWechatID(ctx, j.ID); err != nil {
			return Job{}, false, err
		}
	}
	if !b.renew(ctx, j) {
		return j, false, ErrLeaseLost // another process holds it and will finish it
	}
	wctx, cancel := context.WithTimeout(ctx, b.o.Timeout)
	err = nil
	gone := false
	if j.Resumed() && who.UserStr != "" {
		// An earlier attempt may have unbound them: WeChat lists experiencers by userstr.
		if members, lerr := b.o.WeChat.Experiencers(wctx, j.AppID); lerr == nil && !slices.Contains(members, who.UserStr) {
			gone = true
		}
	}
	if !gone {
		err = b.o.WeChat.UnbindTester(wctx, j.AppID, who)
		redactWechatID(err, who.WechatID)
	}
	cancel()
	rctx, rcancel := recording(ctx)
	defer rcancel()
	now := b.o.Now()
	if outcomeUnknown(err, unbindPath) {
		next := b.retryUnknown(now, j.Attempts)
		log.Warn("unbind outcome unknown; will try again", "next", next, "error", err)
		return j, true, errors.Join(err, b.o.Store.RetryJob(rctx, j.ID, b.o.Owner, errDetail(err), next))
	}
	ev := Event{Actor: j.Actor, Requester: j.Requester, Channel: j.Thread.Channel, ThreadTS: j.Thread.ThreadTS, AppID: j.AppID,
		WechatMasked: j.WechatMasked, UserStr: j.UserStr, GrantID: j.GrantID}
	r := JobResult{Outcome: OutcomeUnbound, Event: ev, EndGrant: true}
	switch {
	case err != nil && j.Actor == "": // the worker: try the grant again later
		r = JobResult{Outcome: OutcomeFailed, ErrCode: errCode(err), Detail: errDetail(err), Event: ev,
			RetryAt: now.Add(retryAfter(j.Attempts))}
		r.Event.Kind, r.Event.ErrCode = EventFailed, r.ErrCode
		r.Event.Detail = "automatic unbind failed, retrying at " + r.RetryAt.UTC().Format(time.RFC3339) + ": " + r.Detail
	case err != nil:
		r = JobResult{Outcome: OutcomeFailed, ErrCode: errCode(err), Detail: errDetail(err), Event: ev}
		r.Event.Kind, r.Event.ErrCode, r.Event.Detail = EventFailed, r.ErrCode, "unbind: "+r.Detail
	case j.Actor == "":
		r.Event.Kind, r.Event.Detail = EventExpired, "time is up"
	default:
		r.Event.Kind = EventUnbound
	}
	if j.Resumed() && r.Event.Kind != EventFailed {
		r.Event.Detail = strings.TrimSuffix("resumed after an interruption; "+r.Event.Detail, "; ")
	}
	done, _, ferr := b.o.Store.FinishJob(rctx, j.ID, b.o.Owner, r, now)
	if ferr != nil {
		return j, false, errors.Join(err, ferr)
	}
	log.Info("unbind finished", "outcome", done.Outcome, "errcode", done.ErrCode)
	return done, false, nil
}

const unbindPath = "/wxa/unbind_tester"

// resumeJobs finishes the jobs nobody is working on: those whose process died
// or whose WeChat answer was lost, and those finished but never answered.
// Each is claimed first, so across replicas each is resumed once.
func (b *Bot) resumeJobs(ctx context.Context, now time.Time) error {
	due, err := b.o.Store.DueJobs(ctx, now, 50)
	if err != nil {
		return err
	}
	var errs []error
	for _, j := range due {
		if ctx.Err() != nil {
			break
		}
		now := b.o.Now() // each claim's lease from its own start: earlier jobs took time
		j, ok, err := b.o.Store.ClaimJob(ctx, j.ID, b.o.Owner, now, b.lease(now))
		if err != nil || !ok {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, b.resume(ctx, j))
	}
	return errors.Join(errs...)
}

// resume carries a claimed job to its end and answers whoever is waiting.
func (b *Bot) resume(ctx context.Context, j Job) error {
	b.o.Log.Info("resuming job", "job", j.ID, "kind", j.Kind, "app", j.AppID, "wechatid", j.WechatMasked, "state", j.State, "attempt", j.Attempts)
	l := b.userLang(ctx, j.Requester)
	app, ok := b.policy().App(j.AppID)
	if j.Kind == JobUnbind {
		return b.resumeUnbind(ctx, l, j)
	}
	thread := b.reopen(j.Thread, j.Requester)
	if !ok { // the app left the policy: nothing is done for it any more
		app = &App{ID: j.AppID, Name: j.AppID}
		if j.State == JobOpen {
			rctx, cancel := recording(ctx)
			defer cancel()
			done, _, err := b.o.Store.FinishJob(rctx, j.ID, b.o.Owner, JobResult{Outcome: OutcomeFailed, Detail: "the Mini Program is no longer configured",
				Event: Event{Kind: EventFailed, Actor: j.Actor, Requester: j.Requester, AppID: j.AppID, WechatMasked: j.WechatMasked,
					ApprovalID: j.ApprovalID, Detail: "the Mini Program is no longer configured"}}, b.o.Now())
			if err != nil {
				return err
			}
			j = done
		}
	}
	if j.State == JobDone {
		var g Grant
		if j.GrantID != 0 {
			g, _ = b.o.Store.Grant(ctx, j.GrantID)
		}
		return b.answerBind(ctx, l, j, app, g, nil, false, thread, true)
	}
	wechatID, err := b.o.Store.JobWechatID(ctx, j.ID)
	if err != nil {
		return err
	}
	admin, _ := b.policy().IsAdmin(ctx, b.o.Groups, Who{UserID: j.Requester})
	return b.runBind(ctx, l, j, app, wechatID, admin, thread)
}

// resumeUnbind finishes an unbind job and tells the requester (a person's
// unbind) or the grant's owner (the worker's) by DM.
func (b *Bot) resumeUnbind(ctx context.Context, l Lang, j Job) error {
	var err error
	if j.State == JobOpen {
		var unknown bool
		if j, unknown, err = b.runUnbind(ctx, j); unknown || err != nil {
			return err
		}
	}
	rctx, cancel := recording(ctx)
	defer cancel()
	var tell error
	switch {
	case j.Actor == "" && j.Outcome == OutcomeUnbound:
		tell = b.tell(rctx, j.Requester, l.T("expired.dm", j.WechatMasked, b.appName(j.AppID), b.rebindHint(j.AppID)))
	case j.Actor != "":
		al := b.userLang(rctx, j.Actor)
		text := al.T("job.resumed") + "\n" + al.T("unbind.ok", j.WechatMasked, b.appName(j.AppID))
		if j.Outcome == OutcomeFailed {
			app, ok := b.policy().App(j.AppID)
			if !ok {
				app = &App{ID: j.AppID, Name: j.AppID}
			}
			_, short := b.explain(al, app, j.WechatMasked, storedError(j))
			b.tellAdmins(rctx, app, storedError(j))
			text = al.T("job.resumed") + "\n" + al.T("unbind.failed", j.WechatMasked, b.appName(j.AppID), short)
		}
		tell = b.tell(rctx, j.Actor, text)
	}
	return errors.Join(tell, b.o.Store.JobAnswered(rctx, j.ID, b.o.Owner))
}
