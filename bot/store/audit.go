package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/bindtester/bindtester/bot"
)

const insertEvent = `INSERT INTO events
	(at, kind, actor, requester, channel, thread_ts, app_id, wechat_masked, userstr, errcode, detail, grant_id, approval_id)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// Record appends e to the audit log; e.ID is ignored (the store numbers events).
func (s *Store) Record(ctx context.Context, e bot.Event) error {
	if e.Kind == "" {
		return errors.New("record event: no kind")
	}
	return s.writeStmt(ctx, "record "+string(e.Kind)+" event", func(ctx context.Context, q querier) error {
		return recordEvent(ctx, q, e)
	})
}

// recordEvent appends e to the audit log, inside a transaction or not.
func recordEvent(ctx context.Context, q querier, e bot.Event) error {
	_, err := q.ExecContext(ctx, insertEvent,
		unixNano(e.At), string(e.Kind), e.Actor, e.Requester, e.Channel, e.ThreadTS, e.AppID,
		e.WechatMasked, e.UserStr, e.ErrCode, e.Detail, e.GrantID, e.ApprovalID)
	if err != nil {
		return fmt.Errorf("record %s event: %w", e.Kind, err)
	}
	return nil
}

// Events lists the events f selects, newest first.
func (s *Store) Events(ctx context.Context, f bot.AuditFilter) ([]bot.Event, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, fmt.Errorf("list events: negative limit %d or offset %d", f.Limit, f.Offset)
	}
	var where []string
	var args []any
	if f.AppID != "" {
		where = append(where, "app_id = ?")
		args = append(args, f.AppID)
	}
	if f.User != "" {
		where = append(where, "(actor = ? OR requester = ?)")
		args = append(args, f.User, f.User)
	}
	q := `SELECT id, at, kind, actor, requester, channel, thread_ts, app_id, wechat_masked, userstr, errcode, detail, grant_id, approval_id
		FROM events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY at DESC, id DESC"
	limit := int64(f.Limit)
	if limit == 0 {
		limit = math.MaxInt64 // no limit, on both engines
	}
	q += " LIMIT ? OFFSET ?"
	args = append(args, limit, f.Offset)

	return queryAll(ctx, s.db, "list events", scanEvent, q, args...)
}

func scanEvent(row scanner) (bot.Event, error) {
	var e bot.Event
	var at int64
	var kind string
	if err := row.Scan(&e.ID, &at, &kind, &e.Actor, &e.Requester, &e.Channel, &e.ThreadTS, &e.AppID,
		&e.WechatMasked, &e.UserStr, &e.ErrCode, &e.Detail, &e.GrantID, &e.ApprovalID); err != nil {
		return bot.Event{}, err
	}
	e.At, e.Kind = fromUnixNano(at), bot.EventKind(kind)
	return e, nil
}
