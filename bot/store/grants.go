package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bindtester/bindtester/bot"
)

const grantCols = `id, app_id, wechat_masked, userstr, requester, thread_channel, thread_parent_ts, thread_ts,
	created_at, expires_at, state, ended_at, ended_by, warned_at, attempts, next_attempt, last_error`

func scanGrant(row scanner) (bot.Grant, error) {
	var g bot.Grant
	var created, expires, ended, warned, next int64
	var state string
	err := row.Scan(&g.ID, &g.AppID, &g.WechatMasked, &g.UserStr, &g.Requester,
		&g.Thread.Channel, &g.Thread.ParentTS, &g.Thread.ThreadTS,
		&created, &expires, &state, &ended, &g.EndedBy, &warned, &g.Attempts, &next, &g.LastError)
	if err != nil {
		return bot.Grant{}, err
	}
	g.CreatedAt, g.ExpiresAt, g.EndedAt = fromUnixNano(created), fromUnixNano(expires), fromUnixNano(ended)
	g.WarnedAt, g.NextAttempt = fromUnixNano(warned), fromUnixNano(next)
	g.State = bot.GrantState(state)
	return g, nil
}

// saveGrant inserts an active grant or, when (app, WeChat ID) already has one,
// extends it. An extension (a later expiry) also moves the grant to the
// request that extended it (requester and thread, where later news goes) and
// starts its life afresh: not warned, no failed unbind attempts. A request
// that would shorten it changes nothing but a newly given userstr.
const saveGrant = `INSERT INTO grants
	(app_id, wechat_hash, wechat_sealed, wechat_masked, userstr, requester,
	 thread_channel, thread_parent_ts, thread_ts, created_at, expires_at, state)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active')
	ON CONFLICT (app_id, wechat_hash) WHERE state = 'active' DO UPDATE SET
	userstr          = iif(excluded.userstr <> '', excluded.userstr, userstr),
	requester        = iif(excluded.expires_at > expires_at, excluded.requester, requester),
	thread_channel   = iif(excluded.expires_at > expires_at, excluded.thread_channel, thread_channel),
	thread_parent_ts = iif(excluded.expires_at > expires_at, excluded.thread_parent_ts, thread_parent_ts),
	thread_ts        = iif(excluded.expires_at > expires_at, excluded.thread_ts, thread_ts),
	warned_at        = iif(excluded.expires_at > expires_at, 0, warned_at),
	attempts         = iif(excluded.expires_at > expires_at, 0, attempts),
	next_attempt     = iif(excluded.expires_at > expires_at, 0, next_attempt),
	last_error       = iif(excluded.expires_at > expires_at, '', last_error),
	expires_at       = max(expires_at, excluded.expires_at)
	RETURNING ` + grantCols

// SaveGrant records a bind (see bot.Grants). g.ID, g.State and the fields
// about unbinding are ignored.
func (s *SQLite) SaveGrant(ctx context.Context, g bot.Grant, wechatID string) (bot.Grant, error) {
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
	saved, err := scanGrant(s.db.QueryRowContext(ctx, saveGrant,
		g.AppID, s.seal.hash(wechatID), s.seal.seal(wechatID), masked, g.UserStr, g.Requester,
		g.Thread.Channel, g.Thread.ParentTS, g.Thread.ThreadTS, unixNano(g.CreatedAt), unixNano(g.ExpiresAt)))
	if err != nil {
		return bot.Grant{}, fmt.Errorf("save grant for %s on %s: %w", masked, g.AppID, err)
	}
	return saved, nil
}

// FindGrant finds the active grant for wechatID on appid.
func (s *SQLite) FindGrant(ctx context.Context, appid, wechatID string) (bot.Grant, error) {
	g, err := scanGrant(s.db.QueryRowContext(ctx,
		`SELECT `+grantCols+` FROM grants WHERE app_id = ? AND wechat_hash = ? AND state = 'active'`,
		appid, s.seal.hash(wechatID)))
	if err != nil {
		return bot.Grant{}, rowErr(fmt.Sprintf("active grant for %s on %s", bot.MaskWechatID(wechatID), appid), err)
	}
	return g, nil
}

// Grant returns grant id, active or ended.
func (s *SQLite) Grant(ctx context.Context, id int64) (bot.Grant, error) {
	g, err := scanGrant(s.db.QueryRowContext(ctx, `SELECT `+grantCols+` FROM grants WHERE id = ?`, id))
	if err != nil {
		return bot.Grant{}, rowErr(fmt.Sprintf("grant %d", id), err)
	}
	return g, nil
}

// GrantWechatID unseals the WeChat ID of grant id.
func (s *SQLite) GrantWechatID(ctx context.Context, id int64) (string, error) {
	return s.sealedWechatID(ctx, "grants", "grant", id)
}

// ActiveGrants lists active grants, soonest to expire first.
func (s *SQLite) ActiveGrants(ctx context.Context, f bot.GrantFilter) ([]bot.Grant, error) {
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
func (s *SQLite) DueGrants(ctx context.Context, now time.Time) ([]bot.Grant, error) {
	n := unixNano(now)
	return s.grants(ctx, "list due grants",
		"state = 'active' AND expires_at <= ? AND (next_attempt = 0 OR next_attempt <= ?)", n, n)
}

// WarnGrants lists active, not yet warned grants with now < expiry <= before.
func (s *SQLite) WarnGrants(ctx context.Context, now, before time.Time) ([]bot.Grant, error) {
	return s.grants(ctx, "list grants to warn",
		"state = 'active' AND warned_at = 0 AND expires_at > ? AND expires_at <= ?", unixNano(now), unixNano(before))
}

// grants lists the grants matching where, soonest to expire first.
func (s *SQLite) grants(ctx context.Context, what, where string, args ...any) ([]bot.Grant, error) {
	return queryAll(ctx, s.db, what, scanGrant, `SELECT `+grantCols+` FROM grants WHERE `+where+` ORDER BY expires_at, id`, args...)
}

// MarkWarned records that the requester of grant id was warned at at.
func (s *SQLite) MarkWarned(ctx context.Context, id int64, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("mark grant %d warned: no time", id)
	}
	return s.updateGrant(ctx, fmt.Sprintf("mark grant %d warned", id),
		`UPDATE grants SET warned_at = ? WHERE id = ?`, unixNano(at), id)
}

// EndGrant marks grant id unbound by by ("" for the worker) at at; it
// reports false if the grant had already ended.
func (s *SQLite) EndGrant(ctx context.Context, id int64, by string, at time.Time) (bool, error) {
	what := fmt.Sprintf("end grant %d", id)
	res, err := s.db.ExecContext(ctx,
		`UPDATE grants SET state = 'ended', ended_at = ?, ended_by = ? WHERE id = ? AND state = 'active'`,
		unixNano(at), by, id)
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	if n == 1 {
		return true, nil
	}
	// Grants are never deleted, so one that was not active then is not now.
	if _, err := s.Grant(ctx, id); err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return false, nil
}

// UnbindFailed records a failed unbind attempt of grant id and when to try again.
func (s *SQLite) UnbindFailed(ctx context.Context, id int64, errText string, next time.Time) error {
	return s.updateGrant(ctx, fmt.Sprintf("record failed unbind of grant %d", id),
		`UPDATE grants SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?`,
		unixNano(next), errText, id)
}

// updateGrant runs an UPDATE of one grant, which must exist.
func (s *SQLite) updateGrant(ctx context.Context, what, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, bot.ErrNotFound)
	}
	return nil
}
