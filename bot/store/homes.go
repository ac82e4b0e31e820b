package store

import (
	"context"
	"time"
)

// HomeOpened records that user opened their App Home at at.
func (s *Store) HomeOpened(ctx context.Context, user string, at time.Time) error {
	_, err := s.writeCount(ctx, "record an App Home opening", `INSERT INTO home_viewers (user_id, opened_at) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET opened_at = excluded.opened_at`, user, unixNano(at))
	return err
}

// HomeViewers returns those of users who opened their App Home since since,
// on any replica, in the order given. One lookup per user: they are few
// (a change's requester, actor, approvers and admins), and the statement
// stays one prepared statement.
func (s *Store) HomeViewers(ctx context.Context, users []string, since time.Time) ([]string, error) {
	var out []string
	for _, u := range users {
		found, err := queryAll(ctx, s.db, "look up an App Home viewer", func(row scanner) (string, error) {
			var id string
			return id, row.Scan(&id)
		}, `SELECT user_id FROM home_viewers WHERE user_id = ? AND opened_at >= ?`, u, unixNano(since))
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	return out, nil
}
