package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// HomeOpened records that user opened their App Home at at.
func (s *Store) HomeOpened(ctx context.Context, user string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO home_viewers (user_id, opened_at) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET opened_at = excluded.opened_at`, user, unixNano(at))
	if err != nil {
		return fmt.Errorf("record an App Home opening: %w", err)
	}
	return nil
}

// HomeViewers returns those of users who opened their App Home since since,
// on any replica.
func (s *Store) HomeViewers(ctx context.Context, users []string, since time.Time) ([]string, error) {
	if len(users) == 0 {
		return nil, nil
	}
	args := []any{unixNano(since)}
	for _, u := range users {
		args = append(args, u)
	}
	return queryAll(ctx, s.db, "list App Home viewers", func(row scanner) (string, error) {
		var u string
		return u, row.Scan(&u)
	}, `SELECT user_id FROM home_viewers WHERE opened_at >= ? AND user_id IN (?`+strings.Repeat(", ?", len(users)-1)+`) ORDER BY user_id`, args...)
}
