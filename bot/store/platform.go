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

// SavePlatformApps records what discovery or a notice saw (see
// bot.PlatformApps). Each row's change is decided by a conditional write on
// that row, so of replicas saving the same news at once exactly one reports
// it; a row written later than an app's SeenAt (a notice that arrived while
// a discovery ran) is left as it is.
func (s *Store) SavePlatformApps(ctx context.Context, apps []bot.PlatformApp, full *bot.FullList) (bot.PlatformChange, error) {
	var ch bot.PlatformChange
	err := s.write(ctx, "save platform apps", func(ctx context.Context, t tx) error {
		ch = bot.PlatformChange{}
		for _, a := range apps {
			sets := make([]string, len(a.PermissionSets))
			for i, n := range a.PermissionSets {
				sets[i] = strconv.Itoa(n)
			}
			at := unixNano(a.SeenAt)
			args := []any{a.AppID, a.Nickname, strings.Join(sets, ","), boolInt(a.MiniProgram), boolInt(a.Revoked), at}
			n, err := execCount(ctx, t, "add a platform app", `INSERT INTO platform_apps (app_id, nickname, permission_sets, mini_program, revoked, seen_at)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (app_id) DO NOTHING`, args...)
			if err != nil {
				return err
			}
			if n == 1 {
				if !a.Revoked {
					ch.Added = append(ch.Added, a)
				}
				continue
			}
			flipped, err := execCount(ctx, t, "change a platform app's authorization",
				`UPDATE platform_apps SET revoked = ? WHERE app_id = ? AND revoked <> ? AND seen_at <= ?`, boolInt(a.Revoked), a.AppID, boolInt(a.Revoked), at)
			if err != nil {
				return err
			}
			if flipped == 1 && a.Revoked {
				ch.Revoked = append(ch.Revoked, a)
			} else if flipped == 1 {
				ch.Added = append(ch.Added, a)
			}
			if _, err := execCount(ctx, t, "update a platform app", `UPDATE platform_apps SET nickname = ?, permission_sets = ?, mini_program = ?, seen_at = ?
				WHERE app_id = ? AND seen_at <= ?`, a.Nickname, strings.Join(sets, ","), boolInt(a.MiniProgram), at, a.AppID, at); err != nil {
				return err
			}
		}
		if full == nil {
			return nil
		}
		// A full list: what it no longer holds, and no one wrote since it was read, was revoked.
		rows, err := t.QueryContext(ctx, `SELECT app_id, nickname, mini_program FROM platform_apps WHERE revoked = 0 AND seen_at < ?`, unixNano(full.At))
		if err != nil {
			return fmt.Errorf("store %s: list platform apps: %w", s.name, err)
		}
		var gone []bot.PlatformApp
		for rows.Next() {
			var a bot.PlatformApp
			var mp int64
			if err := rows.Scan(&a.AppID, &a.Nickname, &mp); err != nil {
				rows.Close()
				return err
			}
			if a.MiniProgram = mp == 1; !slices.Contains(full.AppIDs, a.AppID) {
				gone = append(gone, a)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, a := range gone {
			n, err := execCount(ctx, t, "mark a platform app revoked",
				`UPDATE platform_apps SET revoked = 1, seen_at = ? WHERE app_id = ? AND revoked = 0 AND seen_at < ?`, unixNano(full.At), a.AppID, unixNano(full.At))
			if err != nil {
				return err
			}
			if n == 1 {
				a.Revoked, a.SeenAt = true, full.At
				ch.Revoked = append(ch.Revoked, a)
			}
		}
		return nil
	})
	return ch, err
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
// whose update changes the row runs the discovery due at now, and holds it
// until until; ScheduleDiscovery then sets when the next is due. A claimer
// that dies leaves the claim to run out, and another replica runs it.
func (s *Store) ClaimDiscovery(ctx context.Context, now, until time.Time) (bool, error) {
	n, err := s.writeCount(ctx, "claim the discovery", `INSERT INTO meta (name, value) VALUES ('discovery_next', ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value
		WHERE CAST(meta.value AS BIGINT) <= ?`, strconv.FormatInt(unixNano(until), 10), unixNano(now))
	return n == 1, err
}

// ScheduleDiscovery makes the next discovery due at at: the interval after
// one that ran, sooner after one that failed.
func (s *Store) ScheduleDiscovery(ctx context.Context, at time.Time) error {
	_, err := s.writeCount(ctx, "schedule the discovery", `INSERT INTO meta (name, value) VALUES ('discovery_next', ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, strconv.FormatInt(unixNano(at), 10))
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
