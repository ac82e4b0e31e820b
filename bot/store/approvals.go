package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bindtester/bindtester/bot"
)

const approvalCols = `id, app_id, wechat_masked, requester, thread_channel, thread_parent_ts, thread_ts,
	duration, state, decided_by, decided_at, created_at, expires_at, prompts, job_id, reason, votes`

// vote is how a bot.Vote is kept in the votes JSON column.
type vote struct {
	By string `json:"by"`
	At int64  `json:"at"`
}

// prompt is how a bot.MessageRef is kept in the prompts JSON column.
type prompt struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
	To      string `json:"to,omitempty"`
}

func promptsJSON(refs []bot.MessageRef) (string, error) {
	ps := make([]prompt, len(refs))
	for i, r := range refs {
		ps[i] = prompt{Channel: r.Channel, TS: r.TS, To: r.To}
	}
	b, err := json.Marshal(ps)
	return string(b), err
}

func scanApproval(row scanner) (bot.Approval, error) {
	var a bot.Approval
	var duration, decided, created, expires int64
	var state, prompts, votes string
	err := row.Scan(&a.ID, &a.AppID, &a.WechatMasked, &a.Requester,
		&a.Thread.Channel, &a.Thread.ParentTS, &a.Thread.ThreadTS,
		&duration, &state, &a.DecidedBy, &decided, &created, &expires, &prompts, &a.JobID, &a.Reason, &votes)
	if err != nil {
		return bot.Approval{}, err
	}
	var vs []vote
	if err := json.Unmarshal([]byte(votes), &vs); err != nil {
		return bot.Approval{}, fmt.Errorf("approval %d votes: %w", a.ID, err)
	}
	for _, v := range vs {
		a.Votes = append(a.Votes, bot.Vote{By: v.By, At: fromUnixNano(v.At)})
	}
	var ps []prompt
	if err := json.Unmarshal([]byte(prompts), &ps); err != nil {
		return bot.Approval{}, fmt.Errorf("approval %d prompts: %w", a.ID, err)
	}
	for _, p := range ps {
		a.Prompts = append(a.Prompts, bot.MessageRef{Channel: p.Channel, TS: p.TS, To: p.To})
	}
	a.Duration, a.State = time.Duration(duration), bot.ApprovalState(state)
	a.DecidedAt, a.CreatedAt, a.ExpiresAt = fromUnixNano(decided), fromUnixNano(created), fromUnixNano(expires)
	return a, nil
}

// CreateApproval stores a as a new pending approval for wechatID and returns
// it as stored; a.ID, a.State and the decision fields are ignored.
func (s *Store) CreateApproval(ctx context.Context, a bot.Approval, wechatID string) (bot.Approval, error) {
	if a.AppID == "" || wechatID == "" {
		return bot.Approval{}, errors.New("create approval: no app or WeChat ID")
	}
	masked := a.WechatMasked
	if masked == "" {
		masked = bot.MaskWechatID(wechatID)
	}
	what := fmt.Sprintf("create approval for %s on %s", masked, a.AppID)
	prompts, err := promptsJSON(a.Prompts)
	if err != nil {
		return bot.Approval{}, fmt.Errorf("%s: %w", what, err)
	}
	hash, sealed := s.seal.hash(wechatID), s.seal.seal(wechatID)
	var created bot.Approval
	err = s.writeStmt(ctx, what, func(ctx context.Context, q querier) error {
		var err error
		created, err = scanApproval(q.QueryRowContext(ctx, `INSERT INTO approvals
			(app_id, wechat_hash, wechat_sealed, wechat_masked, requester, thread_channel, thread_parent_ts, thread_ts,
			 duration, state, created_at, expires_at, prompts, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)
			RETURNING `+approvalCols,
			a.AppID, hash, sealed, masked, a.Requester,
			a.Thread.Channel, a.Thread.ParentTS, a.Thread.ThreadTS,
			int64(a.Duration), unixNano(a.CreatedAt), unixNano(a.ExpiresAt), prompts, a.Reason))
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
	if err != nil {
		return bot.Approval{}, err
	}
	return created, nil
}

// Approval returns approval id.
func (s *Store) Approval(ctx context.Context, id int64) (bot.Approval, error) {
	a, err := scanApproval(s.db.QueryRowContext(ctx, `SELECT `+approvalCols+` FROM approvals WHERE id = ?`, id))
	if err != nil {
		return bot.Approval{}, rowErr(fmt.Sprintf("approval %d", id), err)
	}
	return a, nil
}

// ApprovalWechatID unseals the WeChat ID of approval id.
func (s *Store) ApprovalWechatID(ctx context.Context, id int64) (string, error) {
	return s.sealedWechatID(ctx, s.db, "approvals", "approval", id)
}

// SetPrompts replaces the approval prompts posted for approval id.
func (s *Store) SetPrompts(ctx context.Context, id int64, prompts []bot.MessageRef) error {
	what := fmt.Sprintf("set prompts of approval %d", id)
	js, err := promptsJSON(prompts)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return s.writeOne(ctx, what, `UPDATE approvals SET prompts = ? WHERE id = ?`, js, id)
}

// Decide moves pending approval id to state (approved, denied or expired),
// decided by by at at. Only the first decision counts: decided is false, and
// a holds that first decision, when the approval was no longer pending.
// Approving writes, in the same transaction, the unclaimed bind job that
// carries it out (a.JobID), so an approval is never lost between the
// decision and the bind.
func (s *Store) Decide(ctx context.Context, id int64, state bot.ApprovalState, by string, at time.Time) (a bot.Approval, decided bool, err error) {
	what := fmt.Sprintf("decide approval %d", id)
	switch state {
	case bot.ApprovalApproved, bot.ApprovalDenied, bot.ApprovalExpired:
	default:
		return bot.Approval{}, false, fmt.Errorf("%s: %q is not a decision", what, state)
	}
	err = s.write(ctx, what, func(ctx context.Context, t tx) error {
		var err error
		a, decided, err = s.decideIn(ctx, t, what, id, state, by, at)
		return err
	})
	if err != nil || decided {
		return a, decided, err
	}
	// Not pending (or missing). A decision is final, so this reads the first one.
	a, err = s.Approval(ctx, id)
	if err != nil {
		return bot.Approval{}, false, fmt.Errorf("%s: %w", what, err)
	}
	return a, false, nil
}

// decideIn is Decide inside t: decided is false when the approval was no longer pending.
func (s *Store) decideIn(ctx context.Context, t tx, what string, id int64, state bot.ApprovalState, by string, at time.Time) (a bot.Approval, decided bool, err error) {
	a, err = scanApproval(t.QueryRowContext(ctx, `UPDATE approvals
		SET state = ?, decided_by = ?, decided_at = ?
		WHERE id = ? AND state = 'pending'
		RETURNING `+approvalCols,
		string(state), by, unixNano(at), id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return a, false, nil
	case err != nil:
		return a, false, fmt.Errorf("%s: %w", what, err)
	}
	if state != bot.ApprovalApproved {
		return a, true, nil
	}
	var sealed []byte
	var hash string
	if err := t.QueryRowContext(ctx, `SELECT wechat_sealed, wechat_hash FROM approvals WHERE id = ?`, id).Scan(&sealed, &hash); err != nil {
		return a, false, fmt.Errorf("%s: %w", what, err)
	}
	j := bot.Job{Kind: bot.JobBind, AppID: a.AppID, WechatMasked: a.WechatMasked, Requester: a.Requester, Actor: by,
		Channel: a.Thread.Channel, Thread: a.Thread, Duration: a.Duration, ApprovalID: a.ID, CreatedAt: at, Reason: a.Reason}
	job, err := insertJob(ctx, t, j, hash, sealed, 0)
	if err != nil {
		return a, false, fmt.Errorf("%s: %w", what, err)
	}
	a.JobID = job.ID
	return a, true, execOne(ctx, t, what, `UPDATE approvals SET job_id = ? WHERE id = ?`, a.JobID, id)
}

// Vote records by's approval of pending approval id (see bot.Approvals).
func (s *Store) Vote(ctx context.Context, id int64, by string, at time.Time, needed int) (bot.Approval, bot.VoteResult, error) {
	what := fmt.Sprintf("approve request %d", id)
	var a bot.Approval
	var res bot.VoteResult
	err := s.write(ctx, what, func(ctx context.Context, t tx) error {
		var err error
		a, err = scanApproval(t.QueryRowContext(ctx, `SELECT `+approvalCols+` FROM approvals WHERE id = ?`+s.forUpdate(), id))
		if err != nil {
			return rowErr(fmt.Sprintf("approval %d", id), err)
		}
		switch {
		case a.State != bot.ApprovalPending:
			res = bot.VoteNotPending
			return nil
		case slices.ContainsFunc(a.Votes, func(v bot.Vote) bool { return v.By == by }):
			res = bot.VoteAlready
			return nil
		}
		a.Votes = append(a.Votes, bot.Vote{By: by, At: at})
		vs := make([]vote, len(a.Votes))
		for i, v := range a.Votes {
			vs[i] = vote{By: v.By, At: unixNano(v.At)}
		}
		js, _ := json.Marshal(vs)
		if err := execOne(ctx, t, what, `UPDATE approvals SET votes = ? WHERE id = ?`, string(js), id); err != nil {
			return err
		}
		if len(a.Votes) < needed {
			res = bot.VoteRecorded
			return nil
		}
		votes := a.Votes
		var decided bool
		if a, decided, err = s.decideIn(ctx, t, what, id, bot.ApprovalApproved, by, at); err != nil {
			return err
		}
		a.Votes, res = votes, bot.VoteDecided
		if !decided { // it was pending a moment ago, under this transaction's lock
			return fmt.Errorf("%s: no longer pending", what)
		}
		return nil
	})
	return a, res, err
}

// PendingApprovals lists the approvals still waiting at now (pending, not
// yet expired), oldest first: what App Home shows requesters and approvers.
func (s *Store) PendingApprovals(ctx context.Context, now time.Time) ([]bot.Approval, error) {
	return queryAll(ctx, s.db, "list pending approvals", scanApproval, `SELECT `+approvalCols+` FROM approvals
		WHERE state = 'pending' AND expires_at >= ? ORDER BY created_at, id`, unixNano(now))
}

// StaleApprovals lists pending approvals whose ExpiresAt is before now, oldest first.
func (s *Store) StaleApprovals(ctx context.Context, now time.Time) ([]bot.Approval, error) {
	return queryAll(ctx, s.db, "list stale approvals", scanApproval, `SELECT `+approvalCols+` FROM approvals
		WHERE state = 'pending' AND expires_at < ? ORDER BY expires_at, id`, unixNano(now))
}
