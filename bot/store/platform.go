package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/wechat"
)

// SavePlatformApps records what discovery (or a notice) saw, in one
// transaction; with all, apps it did not see are marked revoked.
func (s *Store) SavePlatformApps(ctx context.Context, apps []bot.PlatformApp, all bool) error {
	return s.write(ctx, "save platform apps", func(ctx context.Context, t tx) error {
		for _, a := range apps {
			sets := make([]string, len(a.PermissionSets))
			for i, n := range a.PermissionSets {
				sets[i] = strconv.Itoa(n)
			}
			_, err := t.ExecContext(ctx, `INSERT INTO platform_apps (app_id, nickname, permission_sets, mini_program, revoked, seen_at)
				VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (app_id) DO UPDATE SET nickname = excluded.nickname, permission_sets = excluded.permission_sets,
				mini_program = excluded.mini_program, revoked = excluded.revoked, seen_at = excluded.seen_at`,
				a.AppID, a.Nickname, strings.Join(sets, ","), boolInt(a.MiniProgram), boolInt(a.Revoked), unixNano(a.SeenAt))
			if err != nil {
				return fmt.Errorf("store %s: save platform app %s: %w", s.name, a.AppID, err)
			}
		}
		if !all {
			return nil
		}
		rows, err := t.QueryContext(ctx, `SELECT app_id FROM platform_apps WHERE revoked = 0`)
		if err != nil {
			return fmt.Errorf("store %s: list platform apps: %w", s.name, err)
		}
		var gone []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			if !slices.ContainsFunc(apps, func(a bot.PlatformApp) bool { return a.AppID == id }) {
				gone = append(gone, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range gone {
			if _, err := t.ExecContext(ctx, `UPDATE platform_apps SET revoked = 1 WHERE app_id = ?`, id); err != nil {
				return fmt.Errorf("store %s: mark platform app %s revoked: %w", s.name, id, err)
			}
		}
		return nil
	})
}

// PlatformApps lists every app discovery has seen, by appid.
func (s *Store) PlatformApps(ctx context.Context) ([]bot.PlatformApp, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT app_id, nickname, permission_sets, mini_program, revoked, seen_at FROM platform_apps ORDER BY app_id`)
	if err != nil {
		return nil, fmt.Errorf("store %s: list platform apps: %w", s.name, err)
	}
	defer rows.Close()
	var out []bot.PlatformApp
	for rows.Next() {
		var a bot.PlatformApp
		var sets string
		var mp, revoked, seen int64
		if err := rows.Scan(&a.AppID, &a.Nickname, &sets, &mp, &revoked, &seen); err != nil {
			return nil, fmt.Errorf("store %s: read platform apps: %w", s.name, err)
		}
		for _, f := range strings.Split(sets, ",") {
			if n, err := strconv.Atoi(f); err == nil {
				a.PermissionSets = append(a.PermissionSets, n)
			}
		}
		a.MiniProgram, a.Revoked, a.SeenAt = mp == 1, revoked == 1, fromUnixNano(seen)
		out = append(out, a)
	}
	return out, rows.Err()
}

// ClaimDiscovery is a compare-and-set on meta's discovery_next: the replica
// whose update changes the row runs the discovery due at now.
func (s *Store) ClaimDiscovery(ctx context.Context, now, next time.Time) (bool, error) {
	n, err := s.writeCount(ctx, "claim the discovery", `INSERT INTO meta (name, value) VALUES ('discovery_next', ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value
		WHERE CAST(meta.value AS BIGINT) <= ?`, strconv.FormatInt(unixNano(next), 10), unixNano(now))
	return n == 1, err
}

// RetryDiscovery makes the next discovery due at at (a failed one is tried
// again soon, by whichever replica sweeps first, not hours later).
func (s *Store) RetryDiscovery(ctx context.Context, at time.Time) error {
	_, err := s.writeCount(ctx, "reschedule the discovery", `UPDATE meta SET value = ? WHERE name = 'discovery_next'`,
		strconv.FormatInt(unixNano(at), 10))
	return err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Tickets keeps the third-party platform's component_verify_ticket, which
// WeChat pushes to the ticket endpoint every 10 minutes, where every replica
// reads it (sealed, in the tokens table under "ticket:<component appid>").
// A ticket is good for 12 hours.
func (s *Store) Tickets(componentAppID string) *Tickets {
	return &Tickets{s: s, key: "ticket:" + componentAppID}
}

// Tickets is a wechat.TicketSource backed by the store.
type Tickets struct {
	s   *Store
	key string
}

var _ wechat.TicketSource = (*Tickets)(nil)

// ticketLife is how long WeChat honours a component_verify_ticket.
const ticketLife = 12 * time.Hour

// Save keeps ticket, received at at.
func (t *Tickets) Save(ctx context.Context, ticket string, at time.Time) error {
	if ticket == "" {
		return errors.New("save component_verify_ticket: empty")
	}
	sealed, hash := t.s.seal.sealFor(tokenAD(t.key), ticket), t.s.seal.keyedHash("access token", ticket)
	return t.s.writeStmt(ctx, "save the component_verify_ticket", func(ctx context.Context, q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO tokens (key, token_sealed, token_hash, expires_at, fetched_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET token_sealed = excluded.token_sealed, token_hash = excluded.token_hash,
			expires_at = excluded.expires_at, fetched_at = excluded.fetched_at`,
			t.key, sealed, hash, unixNano(at.Add(ticketLife)), unixNano(at))
		if err != nil {
			return fmt.Errorf("store %s: save the component_verify_ticket: %w", t.s.name, err)
		}
		return nil
	})
}

// Ticket returns the last ticket received, unless it is older than 12 hours.
func (t *Tickets) Ticket(ctx context.Context) (string, error) {
	tok, err := (&tokenStore{s: t.s}).read(ctx, t.s.db, t.key)
	if err != nil {
		return "", err
	}
	switch {
	case tok.Value == "":
		return "", errors.New("no component_verify_ticket received yet: WeChat pushes one every 10 minutes to the ticket endpoint (BINDTESTER_PLATFORM_LISTEN); check that the platform's authorization event URL points there")
	case time.Now().After(tok.ExpiresAt):
		return "", fmt.Errorf("the last component_verify_ticket was received %s and has expired: WeChat stopped pushing to the ticket endpoint (BINDTESTER_PLATFORM_LISTEN)", tok.Fetched.UTC().Format(time.RFC3339))
	}
	return tok.Value, nil
}
