package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bindtester/bindtester/bot"
)

const grantCols = `id, app_id, wechat_masked, userstr, requester, thread_channel, thread_parent_ts, thread_ts,
	created_at, expires_at, state, ended_at, ended_by, warned_at, attempts, next_attempt, last_error, unbind_job, reason`

func scanGrant(row scanner) (bot.Grant, error) {
	var g bot.Grant
	var created, expires, ended, warned, next int64
	var state string
	err := row.Scan(&g.ID, &g.AppID, &g.WechatMasked, &g.UserStr, &g.Requester,
		&g.Thread.Channel, &g.Thread.ParentTS, &g.Thread.ThreadTS,
		&created, &expires, &state, &ended, &g.EndedBy, &warned, &g.Attempts, &next, &g.LastError, &g.UnbindJob, &g.Reason)
	if err != nil {
		return bot.Grant{}, err
	}
	g.CreatedAt, g.ExpiresAt, g.EndedAt = fromUnixNano(created), fromUnixNano(expires), fromUnixNano(ended)
	g.WarnedAt, g.NextAttempt = fromUnixNano(warned), fromUnixNano(next)
	g.State = bot.GrantState(state)
	return g, nil
}

// SaveGrant records a bind (see bot.Grants). g.ID, g.State and the fields
// about unbinding are ignored.
func (s *Store) SaveGrant(ctx context.Context, g bot.Grant, wechatID string) (bot.Grant, error) {
	var saved bot.Grant
	err := s.write(ctx, "save grant", func(ctx context.Context, t tx) error {
		var err error
		saved, err = s.saveGrant(ctx, t, g, wechatID)
		return err
	})
	return saved, err
}

// saveGrant inserts an active grant or, when (app, WeChat ID) already has
// one, applies bot.Grant.Extend to it, inside t.
func (s *Store) saveGrant(ctx context.Context, t tx, g bot.Grant, wechatID string) (bot.Grant, error) {
	switch {
	case g.AppID == "" || wechatID == "":
		return bot.Grant{}, errors.New("save grant: no app or WeChat ID")
	case g.ExpiresAt.IsZero():
		return bot.Grant{}, fmt.Errorf("save grant on %s: no expiry", g.AppID)
	}
	masked := g.WechatMasked
	if masked == "" {
		masked = bot.MaskWechatID(wechatID)
	}
	what := fmt.Sprintf("save grant for %s on %s", masked, g.AppID)
	hash := s.seal.hash(wechatID)
	saved, err := scanGrant(t.QueryRowContext(ctx, `INSERT INTO grants
		(app_id, wechat_hash, wechat_sealed, wechat_masked, userstr, requester,
		 thread_channel, thread_parent_ts, thread_ts, created_at, expires_at, state, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?)
		ON CONFLICT (app_id, wechat_hash) WHERE state = 'active' DO NOTHING
		RETURNING `+grantCols,
		g.AppID, hash, s.seal.seal(wechatID), masked, g.UserStr, g.Requester,
		g.Thread.Channel, g.Thread.ParentTS, g.Thread.ThreadTS, unixNano(g.CreatedAt), unixNano(g.ExpiresAt), g.Reason))
	if err == nil {
		return saved, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return bot.Grant{}, fmt.Errorf("%s: %w", what, err)
	}
	cur, err := scanGrant(t.QueryRowContext(ctx, `SELECT `+grantCols+` FROM grants
		WHERE app_id = ? AND wechat_hash = ? AND state = 'active'`+s.forUpdate(), g.AppID, hash))
	if err != nil {
		return bot.Grant{}, fmt.Errorf("%s: %w", what, err)
	}
	next := cur.Extend(g)
	saved, err = scanGrant(t.QueryRowContext(ctx, `UPDATE grants SET userstr = ?, requester = ?, thread_channel = ?, thread_parent_ts = ?, thread_ts = ?,
		expires_at = ?, warned_at = ?, attempts = ?, next_attempt = ?, last_error = ?, reason = ? WHERE id = ? RETURNING `+grantCols,
		next.UserStr, next.Requester, next.Thread.Channel, next.Thread.ParentTS, next.Thread.ThreadTS,
		unixNano(next.ExpiresAt), unixNano(next.WarnedAt), next.Attempts, unixNano(next.NextAttempt), next.LastError, next.Reason, cur.ID))
	if err != nil {
		return bot.Grant{}, fmt.Errorf("%s: %w", what, err)
	}
	return saved, nil
}

// FindGrant finds the active grant for wechatID on appid.
func (s *Store) FindGrant(ctx context.Context, appid, wechatID string) (bot.Grant, error) {
	g, err := scanGrant(s.db.QueryRowContext(ctx,
		`SELECT `+grantCols+` FROM grants WHERE app_id = ? AND wechat_hash = ? AND state = 'active'`,
		appid, s.seal.hash(wechatID)))
	if err != nil {
		return bot.Grant{}, rowErr(fmt.Sprintf("active grant for %s on %s", bot.MaskWechatID(wechatID), appid), err)
	}
	return g, nil
}

// Grant returns grant id, active or ended.
func (s *Store) Grant(ctx context.Context, id int64) (bot.Grant, error) {
	g, err := scanGrant(s.db.QueryRowContext(ctx, `SELECT `+grantCols+` FROM grants WHERE id = ?`, id))
	if err != nil {
		return bot.Grant{}, rowErr(fmt.Sprintf("grant %d", id), err)
	}
	return g, nil
}

// GrantWechatID unseals the WeChat ID of grant id.
func (s *Store) GrantWechatID(ctx context.Context, id int64) (string, error) {
	return s.sealedWechatID(ctx, s.db, "grants", "grant", id)
}

// ActiveGrants lists active grants, soonest to expire first.
func (s *Store) ActiveGrants(ctx context.Context, f bot.GrantFilter) ([]bot.Grant, error) {
	where, args := []string{"state = 'active'"}, []any{}
	if f.AppID != "" {
		where, args = append(where, "app_id = ?"), append(args, f.AppID)
	}
	if f.Requester != "" {
		where, args = append(where, "requester = ?"), append(args, f.Requester)
	}
	return s.grants(ctx, "list active grants", strings.Join(where, " AND "), args...)
}

// DueGrants lists active grants expired at now whose next unbind attempt is due.
func (s *Store) DueGrants(ctx context.Context, now time.Time) ([]bot.Grant, error) {
	n := unixNano(now)
	return s.grants(ctx, "list due grants",
		"state = 'active' AND unbind_job = 0 AND expires_at <= ? AND (next_attempt = 0 OR next_attempt <= ?)", n, n)
}

// WarnGrants lists active, not yet warned grants with now < expiry <= before.
func (s *Store) WarnGrants(ctx context.Context, now, before time.Time) ([]bot.Grant, error) {
	return s.grants(ctx, "list grants to warn",
		"state = 'active' AND warned_at = 0 AND warn_claim_until <= ? AND expires_at > ? AND expires_at <= ?", unixNano(now), unixNano(now), unixNano(before))
}

// grants lists the grants matching where, soonest to expire first.
func (s *Store) grants(ctx context.Context, what, where string, args ...any) ([]bot.Grant, error) {
	return queryAll(ctx, s.db, what, scanGrant, `SELECT `+grantCols+` FROM grants WHERE `+where+` ORDER BY expires_at, id`, args...)
}

// ClaimWarning claims grant id's warning until until, unless it was sent or
// another process holds a live claim: a compare-and-set, so one process sends it.
func (s *Store) ClaimWarning(ctx context.Context, id int64, now, until time.Time) (bool, error) {
	if now.IsZero() || until.IsZero() {
		return false, fmt.Errorf("claim the warning of grant %d: no time", id)
	}
	n, err := s.writeCount(ctx, fmt.Sprintf("claim the warning of grant %d", id),
		`UPDATE grants SET warn_claim_until = ? WHERE id = ? AND warned_at = 0 AND warn_claim_until <= ?`, unixNano(until), id, unixNano(now))
	return n == 1, err
}

// WarningSent records that grant id's warning was sent at at.
func (s *Store) WarningSent(ctx context.Context, id int64, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("mark grant %d warned: no time", id)
	}
	return s.writeOne(ctx, fmt.Sprintf("mark grant %d warned", id), `UPDATE grants SET warned_at = ?, warn_claim_until = 0 WHERE id = ?`, unixNano(at), id)
}

// UnclaimWarning gives up a claim, so the next sweep tries again.
func (s *Store) UnclaimWarning(ctx context.Context, id int64) error {
	return s.writeOne(ctx, fmt.Sprintf("unclaim the warning of grant %d", id), `UPDATE grants SET warn_claim_until = 0 WHERE id = ?`, id)
}

// EndGrant marks grant id unbound by by ("" for the worker) at at; it
// reports false if the grant had already ended.
func (s *Store) EndGrant(ctx context.Context, id int64, by string, at time.Time) (bool, error) {
	var ended bool
	err := s.writeStmt(ctx, fmt.Sprintf("end grant %d", id), func(ctx context.Context, q querier) error {
		var err error
		ended, err = endGrant(ctx, q, id, by, at)
		return err
	})
	return err == nil && ended, err
}

func endGrant(ctx context.Context, q querier, id int64, by string, at time.Time) (bool, error) {
	what := fmt.Sprintf("end grant %d", id)
	n, err := execCount(ctx, q, what,
		`UPDATE grants SET state = 'ended', ended_at = ?, ended_by = ?, unbind_job = 0 WHERE id = ? AND state = 'active'`,
		unixNano(at), by, id)
	if err != nil || n == 1 {
		return n == 1, err
	}
	// Grants are never deleted, so one that was not active then is not now.
	var one int
	if err := q.QueryRowContext(ctx, `SELECT 1 FROM grants WHERE id = ?`, id).Scan(&one); err != nil {
		return false, rowErr(what, err)
	}
	return false, nil
}

// unbindFailed records a failed unbind attempt of grant id and when to try again.
func unbindFailed(ctx context.Context, q querier, id int64, errText string, next time.Time) error {
	return execOne(ctx, q, fmt.Sprintf("record failed unbind of grant %d", id),
		`UPDATE grants SET attempts = attempts + 1, next_attempt = ?, last_error = ?, unbind_job = 0 WHERE id = ?`,
		unixNano(next), errText, id)
}

// ExtendGrant moves grant id's end (see bot.Grants).
func (s *Store) ExtendGrant(ctx context.Context, id int64, from, to time.Time, ev bot.Event) (bot.Grant, bool, error) {
	what := fmt.Sprintf("extend grant %d", id)
	var g bot.Grant
	changed := false
	err := s.write(ctx, what, func(ctx context.Context, t tx) error {
		var err error
		g, err = scanGrant(t.QueryRowContext(ctx, `UPDATE grants SET expires_at = ?, warned_at = 0, warn_claim_until = 0
			WHERE id = ? AND state = 'active' AND unbind_job = 0 AND expires_at = ? RETURNING `+grantCols,
			unixNano(to), id, unixNano(from)))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			changed = false
			return nil
		case err != nil:
			return fmt.Errorf("%s: %w", what, err)
		}
		changed = true
		ev.GrantID = id
		return recordEvent(ctx, t, ev)
	})
	return g, changed, err
}
