package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"modernc.org/sqlite"

	"github.com/bindtester/bindtester/bot"
)

// workload is one command's worth of the store's queries, for tester n: a
// bind to its end, an unbind of the grant it made, an approved bind claimed
// and failed, and the reads around them.
func workload(ctx context.Context, s *Store, n int) error {
	tester := fmt.Sprint("tester_", n)
	if err := benchBind(ctx, s, tester); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	g, err := s.FindGrant(ctx, "wxapp", tester)
	if err != nil {
		return err
	}
	unbind := bot.Job{Kind: bot.JobUnbind, AppID: "wxapp", UserStr: g.UserStr, GrantID: g.ID, LeaseOwner: "worker", LeaseUntil: t0.Add(time.Minute),
		Intent: &bot.Event{Kind: bot.EventAllowed, Actor: "UADMIN", AppID: "wxapp", Detail: "unbind"}}
	j, err := s.CreateJob(ctx, unbind, "")
	if err != nil {
		return fmt.Errorf("unbind: %w", err)
	}
	if id, err := s.JobWechatID(ctx, j.ID); err != nil || id != tester {
		return fmt.Errorf("JobWechatID = %q, %v; want %q", id, err, tester)
	}
	if _, _, err := s.FinishJob(ctx, j.ID, "worker", bot.JobResult{Outcome: bot.OutcomeUnbound, EndGrant: true,
		Event: bot.Event{Kind: bot.EventUnbound, Actor: "UADMIN", AppID: "wxapp"}}, t0.Add(time.Second)); err != nil {
		return fmt.Errorf("finish unbind: %w", err)
	}
	if err := s.JobAnswered(ctx, j.ID, "worker"); err != nil {
		return err
	}

	a, err := s.CreateApproval(ctx, bot.Approval{AppID: "wxapp", Requester: "U1", Thread: testThread,
		Duration: time.Hour, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, "approved_"+tester)
	if err != nil {
		return err
	}
	if a, _, err = s.Decide(ctx, a.ID, bot.ApprovalApproved, "UADMIN", t0); err != nil {
		return err
	}
	if _, claimed, err := s.ClaimJob(ctx, a.JobID, "replica-b", t0, t0.Add(time.Minute)); err != nil || !claimed {
		return fmt.Errorf("ClaimJob = %v, %v", claimed, err)
	}
	if _, _, err := s.FinishJob(ctx, a.JobID, "replica-b", bot.JobResult{Outcome: bot.OutcomeFailed, Detail: "no"}, t0); err != nil {
		return err
	}
	if err := s.JobAnswered(ctx, a.JobID, "replica-b"); err != nil {
		return err
	}

	if _, err := s.FirstSeen(ctx, "envelope-"+tester, t0); err != nil {
		return err
	}
	if _, err := s.Events(ctx, bot.AuditFilter{AppID: "wxapp", Limit: 5}); err != nil {
		return err
	}
	if _, err := s.ActiveGrants(ctx, bot.GrantFilter{AppID: "wxapp"}); err != nil {
		return err
	}
	_, err = s.OpenBindJob(ctx, "wxapp", tester, 0)
	return err
}

// runWorkloads runs workload for testers from, from+1, … from+goroutines*each-1,
// goroutines at a time.
func runWorkloads(t *testing.T, s *Store, from, goroutines, each int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if err := workload(context.Background(), s, from+g*each+i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// stmtMemory is the memory SQLite's prepared statements take on each
// connection of s's pool (SQLITE_DBSTATUS_STMT_USED), used, and what every
// cached query takes prepared once more on one of them, all: the most a
// connection holds without leaks.
func stmtMemory(t *testing.T, s *Store) (used []int, all int) {
	t.Helper()
	ctx := context.Background()
	status := func(c *sql.Conn) int {
		var n int
		err := c.Raw(func(dc any) error {
			var err error
			n, _, err = dc.(sqlite.DBStatus).Status(sqlite.DBStatusStmtUsed, false)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for range sqliteConns { // hold them all, so each is a different one
		c, err := s.db.DB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		used = append(used, status(c))
		if len(used) > 1 {
			continue
		}
		s.db.stmts.mu.RLock()
		queries := slices.Collect(maps.Keys(s.db.stmts.stmts))
		s.db.stmts.mu.RUnlock()
		for _, q := range queries {
			st, err := c.PrepareContext(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
		}
		all = status(c) - used[0]
	}
	return used, all
}

// A store used by many goroutines at once keeps one prepared statement per
// query, the same ones however much it runs (the savepoints' too), and
// leaks none on its connections; Close closes them. Closed and reopened,
// the store holds all it was given.
func TestPreparedStatementsAreKeptAndBounded(t *testing.T) {
	const goroutines, each = 16, 8
	eachEngineDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openTest(t, dsn, testKey)
		if s.db.pg && s.db.stmts != nil {
			t.Error("a PostgreSQL store keeps prepared statements (pgx's driver does)")
		}
		runWorkloads(t, s, 0, goroutines, each) // every query met, alone and in batches
		var queries int
		var recordStmt *sql.Stmt
		if !s.db.pg {
			queries, recordStmt = s.db.stmts.len(), s.db.stmts.get(ctx, insertEvent)
			if queries == 0 || queries >= maxCachedStmts {
				t.Fatalf("%d prepared statements, want some, fewer than %d", queries, maxCachedStmts)
			}
			// The savepoints of a batch's pieces too: their name is the same for every piece.
			for _, q := range []string{insertEvent, `SAVEPOINT piece`, `RELEASE piece`} {
				if _, ok := s.db.stmts.stmts[q]; !ok {
					t.Errorf("%q is not kept prepared", strings.Fields(q)[0]+"…")
				}
			}
		}

		runWorkloads(t, s, goroutines*each, goroutines, each)
		if !s.db.pg {
			if n := s.db.stmts.len(); n != queries {
				t.Errorf("%d prepared statements after running the same queries again, want %d (one per query)", n, queries)
			}
			if s.db.stmts.get(ctx, insertEvent) != recordStmt {
				t.Error("the statement recording events was prepared again")
			}
			// A connection holds each statement once at most; statements
			// leaked by the workload (several a command) would take more
			// than that. Used ones keep some buffers: a margin.
			used, all := stmtMemory(t, s)
			for i, n := range used {
				if n > all+all/2 {
					t.Errorf("prepared statements take %d bytes on connection %d, %d with every query prepared once: leaked", n, i, all)
				}
			}
		}

		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if !s.db.pg && s.db.stmts.len() != 0 {
			t.Errorf("%d prepared statements left after Close", s.db.stmts.len())
		}
		s = openTest(t, dsn, testKey)
		total := 2 * goroutines * each
		if n := countRows(t, s, "grants"); n != total {
			t.Errorf("%d grants after reopening, want %d", n, total)
		}
		if n := countRows(t, s, "jobs"); n != 3*total {
			t.Errorf("%d jobs after reopening, want %d", n, 3*total)
		}
		due, err := s.DueJobs(ctx, t0.Add(time.Hour), 10)
		if err != nil || len(due) != 0 {
			t.Errorf("DueJobs after reopening = %d jobs, %v; want none: every job was answered", len(due), err)
		}
		for _, n := range []int{0, total - 1} {
			tester := fmt.Sprint("tester_", n)
			if _, err := s.FindGrant(ctx, "wxapp", tester); !errors.Is(err, bot.ErrNotFound) {
				t.Errorf("FindGrant(%s) after reopening: %v, want bot.ErrNotFound (unbound)", tester, err)
			}
			if seen, err := s.FirstSeen(ctx, "envelope-"+tester, t0); err != nil || seen {
				t.Errorf("FirstSeen(envelope-%s) after reopening = %v, %v; want seen before", tester, seen, err)
			}
		}
	})
}

// Queries beyond maxCachedStmts run unprepared, and a query that cannot be
// prepared reports SQLite's error and is not kept.
func TestPreparedStatementsCacheLimits(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	base := s.db.stmts.len()
	for i := range maxCachedStmts + 10 {
		var n int
		if err := s.db.QueryRowContext(ctx, fmt.Sprintf("SELECT ? + %d", i), 1).Scan(&n); err != nil || n != i+1 {
			t.Fatalf("query %d = %d, %v; want %d", i, n, err, i+1)
		}
	}
	if n := s.db.stmts.len(); n != maxCachedStmts {
		t.Errorf("%d prepared statements, want at most %d", n, maxCachedStmts)
	}
	if base >= maxCachedStmts {
		t.Fatalf("opening the store prepared %d statements", base)
	}

	s = newTestStore(t)
	before := s.db.stmts.len()
	err := s.db.QueryRowContext(ctx, `SELECT x FROM nowhere`).Scan(new(int))
	if err == nil || !strings.Contains(err.Error(), "no such table: nowhere") {
		t.Errorf("query of a missing table: %v, want SQLite's error", err)
	}
	_, err = s.db.ExecContext(ctx, `UPDATE nowhere SET x = 1`)
	if err == nil || !strings.Contains(err.Error(), "no such table: nowhere") {
		t.Errorf("update of a missing table: %v, want SQLite's error", err)
	}
	if n := s.db.stmts.len(); n != before {
		t.Errorf("%d prepared statements after queries that cannot be prepared, want %d", n, before)
	}
}
