package store

import (
	"context"
	"time"
)

// FirstSeen records key (a Slack envelope's event, trigger or envelope id) as
// handled at at, and reports whether it is new: of several replicas handed
// the same envelope, exactly one is told true. Empty keys are always new.
func (s *Store) FirstSeen(ctx context.Context, key string, at time.Time) (bool, error) {
	if key == "" {
		return true, nil
	}
	n, err := s.writeCount(ctx, "record a seen envelope",
		`INSERT INTO seen (key, at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, unixNano(at))
	return n == 1, err
}

// ForgetSeen drops keys seen before before; Slack redelivers for minutes, not hours.
func (s *Store) ForgetSeen(ctx context.Context, before time.Time) error {
	_, err := s.writeCount(ctx, "forget seen envelopes", `DELETE FROM seen WHERE at < ?`, unixNano(before))
	return err
}

// ForgetKey drops one key, so its next delivery counts as new (a push whose
// handling failed, which its sender will retry).
func (s *Store) ForgetKey(ctx context.Context, key string) error {
	_, err := s.writeCount(ctx, "forget a seen key", `DELETE FROM seen WHERE key = ?`, key)
	return err
}
