package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bindtester/bindtester/bot"
)

const jobCols = `id, kind, state, app_id, wechat_masked, userstr, requester, actor, channel,
	thread_channel, thread_parent_ts, thread_ts, duration, approval_id, grant_id, created_at,
	lease_owner, lease_until, next_at, attempts, outcome, errcode, detail, answered, reason`

func scanJob(row scanner) (bot.Job, error) { return scanJobAnd(row) }

// scanJobAnd scans a row of jobCols followed by columns of more.
func scanJobAnd(row scanner, more ...any) (bot.Job, error) {
	var j bot.Job
	var kind, state, outcome string
	var duration, created, lease, next int64
	var answered int
	err := row.Scan(append([]any{&j.ID, &kind, &state, &j.AppID, &j.WechatMasked, &j.UserStr, &j.Requester, &j.Actor, &j.Channel,
		&j.Thread.Channel, &j.Thread.ParentTS, &j.Thread.ThreadTS, &duration, &j.ApprovalID, &j.GrantID, &created,
		&j.LeaseOwner, &lease, &next, &j.Attempts, &outcome, &j.ErrCode, &j.Detail, &answered, &j.Reason}, more...)...)
	if err != nil {
		return bot.Job{}, err
	}
	j.Kind, j.State, j.Outcome, j.Answered = bot.JobKind(kind), bot.JobState(state), bot.JobOutcome(outcome), answered == 1
	j.Duration = time.Duration(duration)
	j.CreatedAt, j.LeaseUntil, j.NextAt = fromUnixNano(created), fromUnixNano(lease), fromUnixNano(next)
	return j, nil
}

// insertJob writes an open job with attempts counted so far, returning it as stored.
func insertJob(ctx context.Context, q querier, j bot.Job, hash string, sealed []byte, attempts int) (bot.Job, error) {
	if sealed == nil { // an unbind by userstr alone: no WeChat ID, but the column is NOT NULL
		sealed = []byte{}
	}
	return scanJob(q.QueryRowContext(ctx, `INSERT INTO jobs
		(kind, state, app_id, wechat_hash, wechat_sealed, wechat_masked, userstr, requester, actor, channel,
		 thread_channel, thread_parent_ts, thread_ts, duration, approval_id, grant_id, created_at,
		 lease_owner, lease_until, next_at, attempts, reason)
		VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) RETURNING `+jobCols,
		string(j.Kind), j.AppID, hash, sealed, j.WechatMasked, j.UserStr, j.Requester, j.Actor, j.Channel,
		j.Thread.Channel, j.Thread.ParentTS, j.Thread.ThreadTS, int64(j.Duration), j.ApprovalID, j.GrantID, unixNano(j.CreatedAt),
		j.LeaseOwner, unixNano(j.LeaseUntil), attempts, j.Reason))
}

// CreateJob writes j's intent before WeChat is called (see bot.Jobs). An
// unbind of a grant takes the grant's unbind_job slot in the same
// transaction, so two processes never unbind one grant at once.
func (s *Store) CreateJob(ctx context.Context, j bot.Job, wechatID string) (bot.Job, error) {
	what := fmt.Sprintf("create %s job on %s", j.Kind, j.AppID)
	switch {
	case j.Kind != bot.JobBind && j.Kind != bot.JobUnbind:
		return bot.Job{}, fmt.Errorf("%s: unknown kind", what)
	case j.AppID == "" || (wechatID == "" && j.UserStr == "" && j.GrantID == 0):
		return bot.Job{}, fmt.Errorf("%s: no app or tester", what)
	case j.LeaseOwner == "" || j.LeaseUntil.IsZero():
		return bot.Job{}, fmt.Errorf("%s: no lease", what)
	}
	if j.WechatMasked == "" && wechatID != "" {
		j.WechatMasked = bot.MaskWechatID(wechatID)
	}
	var hash string
	var sealed []byte
	if wechatID != "" {
		hash, sealed = s.seal.hash(wechatID), s.seal.seal(wechatID)
	}
	var created bot.Job
	err := s.write(ctx, what, func(ctx context.Context, t tx) error {
		if j.Kind == bot.JobUnbind && j.GrantID != 0 && wechatID == "" { // the grant holds the tester
			err := t.QueryRowContext(ctx, `SELECT wechat_hash, wechat_sealed FROM grants WHERE id = ?`, j.GrantID).Scan(&hash, &sealed)
			if err != nil {
				return rowErr(what, err)
			}
		}
		var err error
		if created, err = insertJob(ctx, t, j, hash, sealed, 1); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		id := created.ID
		if j.Intent != nil {
			e := *j.Intent // the caller's event stays as it was
			if e.At.IsZero() {
				e.At = j.CreatedAt
			}
			if err := recordEvent(ctx, t, e); err != nil {
				return err
			}
		}
		if j.Kind != bot.JobUnbind || j.GrantID == 0 {
			return nil
		}
		n, err := execCount(ctx, t, what, `UPDATE grants SET unbind_job = ? WHERE id = ? AND state = 'active' AND unbind_job = 0`, id, j.GrantID)
		if err != nil || n == 1 {
			return err
		}
		var state string
		var busy int64
		if err := t.QueryRowContext(ctx, `SELECT state, unbind_job FROM grants WHERE id = ?`, j.GrantID).Scan(&state, &busy); err != nil {
			return rowErr(what, err)
		}
		if state != string(bot.GrantActive) {
			return fmt.Errorf("%s: grant %d: %w", what, j.GrantID, bot.ErrNotFound)
		}
		return fmt.Errorf("%s: grant %d: %w", what, j.GrantID, bot.ErrBusy)
	})
	if err != nil {
		return bot.Job{}, err
	}
	return created, nil // nothing after the insert changes the job
}

// Job returns job id.
func (s *Store) Job(ctx context.Context, id int64) (bot.Job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
	if err != nil {
		return bot.Job{}, rowErr(fmt.Sprintf("job %d", id), err)
	}
	return j, nil
}

// JobWechatID unseals the WeChat ID of job id ("" for an unbind by userstr alone).
func (s *Store) JobWechatID(ctx context.Context, id int64) (string, error) {
	return s.sealedWechatID(ctx, s.db, "jobs", "job", id)
}

// SetJobThread records where job id's requester is answered.
func (s *Store) SetJobThread(ctx context.Context, id int64, ref bot.ThreadRef) error {
	return s.writeOne(ctx, fmt.Sprintf("set the thread of job %d", id),
		`UPDATE jobs SET thread_channel = ?, thread_parent_ts = ?, thread_ts = ? WHERE id = ?`,
		ref.Channel, ref.ParentTS, ref.ThreadTS, id)
}

// DueJobs lists unanswered jobs whose lease has run out and whose next attempt is due, oldest first.
func (s *Store) DueJobs(ctx context.Context, now time.Time, limit int) ([]bot.Job, error) {
	n := unixNano(now)
	return queryAll(ctx, s.db, "list due jobs", scanJob, `SELECT `+jobCols+` FROM jobs
		WHERE answered = 0 AND next_at <= ? AND lease_until <= ? ORDER BY id LIMIT ?`, n, n, limit)
}

// ClaimJob leases job id to owner until until if nobody holds it: a
// compare-and-set on the lease, so of several processes one wins.
func (s *Store) ClaimJob(ctx context.Context, id int64, owner string, now, until time.Time) (bot.Job, bool, error) {
	what := fmt.Sprintf("claim job %d", id)
	var j bot.Job
	var claimed bool
	err := s.writeStmt(ctx, what, func(ctx context.Context, q querier) error {
		var err error
		j, err = scanJob(q.QueryRowContext(ctx, `UPDATE jobs SET lease_owner = ?, lease_until = ?,
			attempts = attempts + CASE WHEN state = 'open' THEN 1 ELSE 0 END
			WHERE id = ? AND answered = 0 AND lease_until <= ? RETURNING `+jobCols, owner, unixNano(until), id, unixNano(now)))
		switch {
		case errors.Is(err, sql.ErrNoRows): // another process holds it, or it is answered (or missing)
			return nil
		case err != nil:
			return fmt.Errorf("%s: %w", what, err)
		}
		claimed = true
		return nil
	})
	if err != nil || !claimed {
		return bot.Job{}, false, err
	}
	return j, true, nil
}

// FinishJob records the outcome of owner's open job with its effects (see bot.Jobs).
func (s *Store) FinishJob(ctx context.Context, id int64, owner string, r bot.JobResult, at time.Time) (bot.Job, bot.Grant, error) {
	what := fmt.Sprintf("finish job %d", id)
	var g bot.Grant
	var done bot.Job
	err := s.write(ctx, what, func(ctx context.Context, t tx) error {
		var sealed []byte
		j, err := scanJobAnd(t.QueryRowContext(ctx, `SELECT `+jobCols+`, wechat_sealed FROM jobs WHERE id = ?`+s.forUpdate(), id), &sealed)
		if err != nil {
			return rowErr(what, err)
		}
		if j.LeaseOwner != owner || j.State != bot.JobOpen {
			return fmt.Errorf("%s: %w", what, bot.ErrLeaseLost)
		}
		if r.Grant != nil {
			wechatID, err := s.unsealWechatID(sealed, "job", id)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if g, err = s.saveGrant(ctx, t, *r.Grant, wechatID); err != nil {
				return err
			}
			j.GrantID = g.ID
		}
		if j.Kind == bot.JobUnbind && j.GrantID != 0 && j.Actor == "" && r.EndGrant {
			var expires int64
			if err := t.QueryRowContext(ctx, `SELECT expires_at FROM grants WHERE id = ?`+s.forUpdate(), j.GrantID).Scan(&expires); err != nil {
				return rowErr(what, err)
			}
			if !j.CreatedAt.IsZero() && fromUnixNano(expires).After(j.CreatedAt) { // asked for again meanwhile: the new end stands
				r = bot.JobResult{Outcome: bot.OutcomeSuperseded, Detail: "the grant was extended while it was being unbound"}
			}
		}
		if j.Kind == bot.JobUnbind && j.GrantID != 0 {
			switch {
			case r.EndGrant:
				if _, err := endGrant(ctx, t, j.GrantID, r.Event.Actor, at); err != nil {
					return err
				}
			case !r.RetryAt.IsZero():
				if err := unbindFailed(ctx, t, j.GrantID, r.Detail, r.RetryAt); err != nil {
					return err
				}
			default: // nothing more to do for the grant: free it for another unbind
				if _, err := t.ExecContext(ctx, `UPDATE grants SET unbind_job = 0 WHERE id = ? AND unbind_job = ?`, j.GrantID, id); err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
			}
		}
		lease := j.LeaseUntil
		if !r.LeaseUntil.IsZero() {
			lease = r.LeaseUntil
		}
		done, err = scanJob(t.QueryRowContext(ctx, `UPDATE jobs SET state = 'done', outcome = ?, errcode = ?, detail = ?, grant_id = ?, finished_at = ?,
			lease_until = ? WHERE id = ? RETURNING `+jobCols, string(r.Outcome), r.ErrCode, r.Detail, j.GrantID, unixNano(at), unixNano(lease), id))
		if err != nil {
			return rowErr(what, err)
		}
		if r.Event.Kind != "" {
			r.Event.GrantID = j.GrantID
			if r.Event.At.IsZero() {
				r.Event.At = at
			}
			if err := recordEvent(ctx, t, r.Event); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return bot.Job{}, bot.Grant{}, err
	}
	return done, g, nil // nothing after the update changes the job
}

// RenewJob extends owner's lease on job id to until.
func (s *Store) RenewJob(ctx context.Context, id int64, owner string, until time.Time) error {
	n, err := s.writeCount(ctx, fmt.Sprintf("renew job %d", id), `UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? AND answered = 0`,
		unixNano(until), id, owner)
	if err == nil && n == 0 {
		err = fmt.Errorf("renew job %d: %w", id, bot.ErrLeaseLost)
	}
	return err
}

// RetryJob leaves owner's open job to be tried again at next, releasing the lease.
func (s *Store) RetryJob(ctx context.Context, id int64, owner, detail string, next time.Time) error {
	n, err := s.writeCount(ctx, fmt.Sprintf("retry job %d", id), `UPDATE jobs SET lease_owner = '', lease_until = 0, next_at = ?, detail = ?
		WHERE id = ? AND lease_owner = ? AND state = 'open'`, unixNano(next), detail, id, owner)
	if err == nil && n == 0 {
		err = fmt.Errorf("retry job %d: %w", id, bot.ErrLeaseLost)
	}
	return err
}

// JobAnswered records that job id's requester has been told; the job is over.
func (s *Store) JobAnswered(ctx context.Context, id int64, owner string) error {
	n, err := s.writeCount(ctx, fmt.Sprintf("answer job %d", id), `UPDATE jobs SET answered = 1, lease_owner = '', lease_until = 0
		WHERE id = ? AND lease_owner = ?`, id, owner)
	if err == nil && n == 0 {
		err = fmt.Errorf("answer job %d: %w", id, bot.ErrLeaseLost)
	}
	return err
}

// OpenBindJob reports whether an open bind job other than except exists for wechatID on appid.
func (s *Store) OpenBindJob(ctx context.Context, appid, wechatID string, except int64) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM jobs
		WHERE app_id = ? AND wechat_hash = ? AND (state = 'open' OR outcome = 'gave_up') AND kind = 'bind' AND id <> ?`,
		appid, s.seal.hash(wechatID), except).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look for open binds of %s on %s: %w", bot.MaskWechatID(wechatID), appid, err)
	}
	return n > 0, nil
}
