package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

var testThread = bot.ThreadRef{Channel: "C1", ParentTS: "1.1", ThreadTS: "1.2"}

// bindJob is a bind of tester on wxapp asked by requester, leased to owner until until.
func bindJob(requester, owner string, until time.Time) bot.Job {
	return bot.Job{
		Kind: bot.JobBind, AppID: "wxapp", Requester: requester, Actor: requester, Channel: "C1",
		Thread: testThread, Duration: 72 * time.Hour, CreatedAt: t0, LeaseOwner: owner, LeaseUntil: until,
	}
}

func createJob(t *testing.T, s *Store, j bot.Job, wechatID string) bot.Job {
	t.Helper()
	got, err := s.CreateJob(context.Background(), j, wechatID)
	if err != nil {
		t.Fatalf("CreateJob(%s for %s): %v", j.Kind, j.Requester, err)
	}
	return got
}

func getJob(t *testing.T, s *Store, id int64) bot.Job {
	t.Helper()
	j, err := s.Job(context.Background(), id)
	if err != nil {
		t.Fatalf("Job(%d): %v", id, err)
	}
	return j
}

func getGrant(t *testing.T, s *Store, id int64) bot.Grant {
	t.Helper()
	g, err := s.Grant(context.Background(), id)
	if err != nil {
		t.Fatalf("Grant(%d): %v", id, err)
	}
	return g
}

func countRows(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func events(t *testing.T, s *Store) []bot.Event {
	t.Helper()
	evs, err := s.Events(context.Background(), bot.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// requesters names jobs by their requester, in order.
func requesters(js []bot.Job) []string {
	out := []string{}
	for _, j := range js {
		out = append(out, j.Requester)
	}
	return out
}

// assertNotStoredPlain checks that no trace of secret, in plain text or hex,
// is in the database: for SQLite in the bytes of its files, for PostgreSQL
// in any column (as text) of the tables given.
func assertNotStoredPlain(t *testing.T, s *Store, secret string, tables ...string) {
	t.Helper()
	ctx := context.Background()
	needles := [][]byte{[]byte(secret), []byte(hex.EncodeToString([]byte(secret)))}
	if !s.db.pg {
		if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(s.name + "*")
		total := 0
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			total += len(raw)
			for _, n := range needles {
				if bytes.Contains(raw, n) {
					t.Errorf("%s holds %q in plain text", filepath.Base(f), secret)
				}
			}
		}
		if total == 0 {
			t.Fatal("database files are empty")
		}
		return
	}
	for _, table := range tables {
		rows, err := s.db.QueryContext(ctx, `SELECT r::text FROM `+table+` AS r`)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var row string
			if err := rows.Scan(&row); err != nil {
				t.Fatal(err)
			}
			n++
			for _, needle := range needles {
				if strings.Contains(row, string(needle)) {
					t.Errorf("table %s holds %q in plain text: %s", table, secret, row)
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if n == 0 {
			t.Errorf("table %s is empty: nothing checked", table)
		}
	}
}

func TestCreateJobWritesTheIntent(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const secret = "very_secret_wechat_7"
		in := bindJob("U1", "replica-a", t0.Add(time.Minute))
		in.ApprovalID = 42
		in.State, in.Attempts, in.Answered, in.Outcome = bot.JobDone, 9, true, bot.OutcomeBound // ignored: a new job is open
		j, err := s.CreateJob(ctx, in, secret)
		if err != nil {
			t.Fatal(err)
		}
		want := bindJob("U1", "replica-a", t0.Add(time.Minute).UTC())
		want.ID, want.ApprovalID, want.State, want.Attempts = j.ID, 42, bot.JobOpen, 1
		want.WechatMasked, want.CreatedAt = bot.MaskWechatID(secret), t0.UTC()
		if j.ID == 0 || !reflect.DeepEqual(j, want) {
			t.Errorf("CreateJob = %+v\nwant       %+v", j, want)
		}
		if got := getJob(t, s, j.ID); !reflect.DeepEqual(got, want) {
			t.Errorf("Job = %+v\nwant  %+v", got, want)
		}
		if j.Resumed() {
			t.Error("a new job says it was resumed")
		}
		if id, err := s.JobWechatID(ctx, j.ID); err != nil || id != secret {
			t.Errorf("JobWechatID = %q, %v; want %q", id, err, secret)
		}
		// An unbind by userstr alone has no WeChat ID to unseal.
		u := createJob(t, s, bot.Job{Kind: bot.JobUnbind, AppID: "wxapp", UserStr: "us-1", LeaseOwner: "a", LeaseUntil: t0}, "")
		if id, err := s.JobWechatID(ctx, u.ID); err != nil || id != "" {
			t.Errorf("JobWechatID of an unbind by userstr = %q, %v; want \"\"", id, err)
		}
		if _, err := s.JobWechatID(ctx, u.ID+1); !errors.Is(err, bot.ErrNotFound) {
			t.Errorf("JobWechatID of a missing job: %v, want bot.ErrNotFound", err)
		}
		if _, err := s.Job(ctx, u.ID+1); !errors.Is(err, bot.ErrNotFound) {
			t.Errorf("Job of a missing job: %v, want bot.ErrNotFound", err)
		}
		assertNotStoredPlain(t, s, secret, "jobs")
	})
}

func TestCreateJobRefusesIncompleteJobs(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ok := bindJob("U1", "a", t0.Add(time.Minute))
		tests := []struct {
			name     string
			edit     func(j *bot.Job)
			wechatID string
			want     string
		}{
			{"no lease owner", func(j *bot.Job) { j.LeaseOwner = "" }, "tester_one", "no lease"},
			{"no lease expiry", func(j *bot.Job) { j.LeaseUntil = time.Time{} }, "tester_one", "no lease"},
			{"no app", func(j *bot.Job) { j.AppID = "" }, "tester_one", "no app or tester"},
			{"no tester", func(j *bot.Job) {}, "", "no app or tester"},
			{"unknown kind", func(j *bot.Job) { j.Kind = "rebind" }, "tester_one", "unknown kind"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				j := ok
				tc.edit(&j)
				if _, err := s.CreateJob(context.Background(), j, tc.wechatID); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("CreateJob: %v, want an error saying %q", err, tc.want)
				}
			})
		}
		if n := countRows(t, s, "jobs"); n != 0 {
			t.Errorf("%d jobs written by refused CreateJobs", n)
		}
	})
}

func TestClaimJob(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		until := t0.Add(time.Minute)
		j := createJob(t, s, bindJob("U1", "replica-a", until), "tester_one")

		// While replica-a's lease runs, nobody else gets the job.
		if got, ok, err := s.ClaimJob(ctx, j.ID, "replica-b", until.Add(-time.Nanosecond), until.Add(time.Hour)); err != nil || ok {
			t.Fatalf("ClaimJob during the lease = %+v, %v, %v; want not claimed", got, ok, err)
		}
		if got := getJob(t, s, j.ID); got.LeaseOwner != "replica-a" || !got.LeaseUntil.Equal(until) || got.Attempts != 1 {
			t.Errorf("a refused claim changed the job: %+v", got)
		}

		// Once it has run out (lease_until == now), replica-b takes it over: a second attempt.
		got, ok, err := s.ClaimJob(ctx, j.ID, "replica-b", until, until.Add(time.Minute))
		if err != nil || !ok {
			t.Fatalf("ClaimJob after the lease = %v, %v; want claimed", ok, err)
		}
		if got.LeaseOwner != "replica-b" || !got.LeaseUntil.Equal(until.Add(time.Minute)) || got.Attempts != 2 || !got.Resumed() {
			t.Errorf("claimed job = %+v; want replica-b's, 2 attempts, resumed", got)
		}
		if stored := getJob(t, s, j.ID); !reflect.DeepEqual(stored, got) {
			t.Errorf("stored %+v, ClaimJob returned %+v", stored, got)
		}

		// A done job still to be answered can be claimed again, without counting a WeChat call.
		if _, _, err := s.FinishJob(ctx, j.ID, "replica-b", bot.JobResult{Outcome: bot.OutcomeFailed, ErrCode: 85001}, until); err != nil {
			t.Fatal(err)
		}
		got, ok, err = s.ClaimJob(ctx, j.ID, "replica-c", until.Add(time.Minute), until.Add(2*time.Minute))
		if err != nil || !ok || got.Attempts != 2 || got.LeaseOwner != "replica-c" || !got.Resumed() {
			t.Errorf("claim of a done job = %+v, %v, %v; want replica-c's, still 2 attempts", got, ok, err)
		}

		// An answered job is over: nobody claims it.
		if err := s.JobAnswered(ctx, j.ID, "replica-c"); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.ClaimJob(ctx, j.ID, "replica-d", until.Add(time.Hour), until.Add(2*time.Hour)); err != nil || ok {
			t.Errorf("claim of an answered job = %v, %v; want not claimed", ok, err)
		}
		if _, ok, err := s.ClaimJob(ctx, j.ID+100, "replica-d", until, until); err != nil || ok {
			t.Errorf("claim of a missing job = %v, %v; want not claimed", ok, err)
		}
	})
}

func TestClaimJobConcurrently(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		j := createJob(t, s, bindJob("U1", "crashed", t0), "tester_one")
		now := t0.Add(time.Minute)

		const n = 8
		won := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, won[i], errs[i] = s.ClaimJob(ctx, j.ID, fmt.Sprintf("replica-%d", i), now, now.Add(time.Minute))
			})
		}
		close(start)
		wg.Wait()
		var winners []string
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("replica-%d: %v", i, errs[i])
			}
			if won[i] {
				winners = append(winners, fmt.Sprintf("replica-%d", i))
			}
		}
		if len(winners) != 1 {
			t.Fatalf("%d replicas claimed the job (%v), want exactly 1", len(winners), winners)
		}
		if got := getJob(t, s, j.ID); got.LeaseOwner != winners[0] || got.Attempts != 2 {
			t.Errorf("job after the race = owner %q, %d attempts; want %q, 2", got.LeaseOwner, got.Attempts, winners[0])
		}
	})
}

func TestDueJobs(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := t0.Add(time.Hour)
		mk := func(name string, leaseUntil time.Time) bot.Job {
			return createJob(t, s, bindJob(name, "owner-"+name, leaseUntil), "tester_"+name)
		}
		mk("leased", now.Add(time.Nanosecond))
		mk("expired", now.Add(-time.Minute))
		mk("exactly", now) // lease_until == now: run out
		retried := mk("retried", now.Add(time.Minute))
		if err := s.RetryJob(ctx, retried.ID, "owner-retried", "timeout", now.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		answered := mk("answered", t0)
		if err := s.JobAnswered(ctx, answered.ID, "owner-answered"); err != nil {
			t.Fatal(err)
		}
		done := mk("done", t0) // finished, but its requester not yet told: still due
		if _, _, err := s.FinishJob(ctx, done.ID, "owner-done", bot.JobResult{Outcome: bot.OutcomeFailed}, t0); err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct {
			name  string
			now   time.Time
			limit int
			want  []string
		}{
			{"now", now, 10, []string{"expired", "exactly", "done"}},
			{"limit", now, 2, []string{"expired", "exactly"}},
			{"retry due", now.Add(5 * time.Minute), 10, []string{"leased", "expired", "exactly", "retried", "done"}},
			{"before everything", t0.Add(-time.Hour), 10, []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				js, err := s.DueJobs(ctx, tc.now, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if got := requesters(js); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("DueJobs = %v, want %v", got, tc.want)
				}
			})
		}
	})
}

// bindResult is a bind's success, saving a grant for requester until expires.
func bindResult(requester, userstr string, expires time.Time) bot.JobResult {
	return bot.JobResult{
		Outcome: bot.OutcomeBound, Detail: "bound",
		Event: bot.Event{Kind: bot.EventBound, Actor: requester, Requester: requester, AppID: "wxapp", UserStr: userstr},
		Grant: &bot.Grant{AppID: "wxapp", UserStr: userstr, Requester: requester,
			Thread: bot.ThreadRef{Channel: "C-" + requester}, CreatedAt: t0, ExpiresAt: expires},
	}
}

func TestFinishBindJobCreatesTheGrantOnce(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		at := t0.Add(10 * time.Second)
		j := createJob(t, s, bindJob("U1", "replica-a", t0.Add(time.Minute)), "tester_one")

		done, g, err := s.FinishJob(ctx, j.ID, "replica-a", bindResult("U1", "us-1", t0.Add(72*time.Hour)), at)
		if err != nil {
			t.Fatal(err)
		}
		if done.State != bot.JobDone || done.Outcome != bot.OutcomeBound || done.Detail != "bound" || done.GrantID != g.ID || done.Answered {
			t.Errorf("finished job = %+v", done)
		}
		if g.ID == 0 || g.State != bot.GrantActive || g.UserStr != "us-1" || g.Requester != "U1" || !g.ExpiresAt.Equal(t0.Add(72*time.Hour)) {
			t.Errorf("grant = %+v", g)
		}
		if found, err := s.FindGrant(ctx, "wxapp", "tester_one"); err != nil || found.ID != g.ID {
			t.Errorf("FindGrant = %+v, %v; want grant %d", found, err, g.ID)
		}
		if id, _ := s.GrantWechatID(ctx, g.ID); id != "tester_one" {
			t.Errorf("grant's WeChat ID = %q", id)
		}
		evs := events(t, s)
		if len(evs) != 1 || evs[0].Kind != bot.EventBound || evs[0].GrantID != g.ID || !evs[0].At.Equal(at) {
			t.Fatalf("events = %+v; want one bound event for grant %d at %v", evs, g.ID, at)
		}

		// Finishing it again (a retried call, a second replica) changes nothing.
		again := bindResult("U1", "us-2", t0.Add(96*time.Hour))
		if _, _, err := s.FinishJob(ctx, j.ID, "replica-a", again, at); !errors.Is(err, bot.ErrLeaseLost) {
			t.Errorf("second FinishJob: %v, want bot.ErrLeaseLost", err)
		}
		if got := events(t, s); len(got) != 1 {
			t.Errorf("a second FinishJob recorded %d events, want 1", len(got))
		}
		if gs, _ := s.ActiveGrants(ctx, bot.GrantFilter{}); len(gs) != 1 || !reflect.DeepEqual(gs[0], g) {
			t.Errorf("after a second FinishJob the grants are %+v, want only %+v", gs, g)
		}
		if got := getJob(t, s, j.ID); !reflect.DeepEqual(got, done) {
			t.Errorf("a second FinishJob changed the job: %+v", got)
		}
	})
}

func TestFinishJobAfterAnotherClaimedIt(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		lease := t0.Add(time.Minute)
		j := createJob(t, s, bindJob("U1", "slow", lease), "tester_one")
		if _, ok, err := s.ClaimJob(ctx, j.ID, "fast", lease, lease.Add(time.Minute)); err != nil || !ok {
			t.Fatalf("ClaimJob = %v, %v", ok, err)
		}
		// The slow replica's answer comes back after it lost the job: it must not record it.
		if _, _, err := s.FinishJob(ctx, j.ID, "slow", bindResult("U1", "us-slow", t0.Add(time.Hour)), lease); !errors.Is(err, bot.ErrLeaseLost) {
			t.Fatalf("FinishJob by the old owner: %v, want bot.ErrLeaseLost", err)
		}
		if got := getJob(t, s, j.ID); got.State != bot.JobOpen || got.LeaseOwner != "fast" {
			t.Errorf("job after the lost finish = %+v", got)
		}
		if n := countRows(t, s, "grants"); n != 0 {
			t.Errorf("the lost finish saved %d grants", n)
		}
		if evs := events(t, s); len(evs) != 0 {
			t.Errorf("the lost finish recorded %+v", evs)
		}
		if _, g, err := s.FinishJob(ctx, j.ID, "fast", bindResult("U1", "us-fast", t0.Add(time.Hour)), lease); err != nil || g.UserStr != "us-fast" {
			t.Errorf("FinishJob by the new owner = %+v, %v", g, err)
		}
	})
}

func TestFinishBindJobExtendsTheGrant(t *testing.T) {
	tests := []struct {
		name    string
		userstr string
		expires time.Time
	}{
		{"later end moves the grant to the new request", "", t0.Add(48 * time.Hour)},
		{"earlier end keeps it", "", t0.Add(time.Hour)},
		{"a new userstr is kept", "us-new", t0.Add(time.Hour)},
	}
	eachEngine(t, func(t *testing.T, s *Store) {
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				app := fmt.Sprintf("wxapp%d", i) // each case on its own app
				old, err := s.SaveGrant(ctx, bot.Grant{AppID: app, UserStr: "us-old", Requester: "U0", Thread: bot.ThreadRef{Channel: "C-U0"},
					CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}, "tester_one")
				if err != nil {
					t.Fatal(err)
				}
				if err := unbindFailed(ctx, s.db, old.ID, "errcode -1", t0.Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
				old = getGrant(t, s, old.ID)
				j := bindJob("U1", "a", t0.Add(time.Minute))
				j.AppID = app
				j = createJob(t, s, j, "tester_one")
				r := bindResult("U1", tc.userstr, tc.expires.UTC())
				r.Grant.AppID, r.Event.AppID = app, app
				done, g, err := s.FinishJob(ctx, j.ID, "a", r, t0)
				if err != nil {
					t.Fatal(err)
				}
				want := old.Extend(*r.Grant)
				if !reflect.DeepEqual(g, want) {
					t.Errorf("grant = %+v\nwant    %+v", g, want)
				}
				if done.GrantID != old.ID {
					t.Errorf("job's grant %d, want the extended grant %d", done.GrantID, old.ID)
				}
				if evs, _ := s.Events(ctx, bot.AuditFilter{AppID: app}); len(evs) != 1 || evs[0].GrantID != old.ID {
					t.Errorf("events = %+v; want one for grant %d", evs, old.ID)
				}
				if gs, _ := s.ActiveGrants(ctx, bot.GrantFilter{AppID: app}); len(gs) != 1 || !reflect.DeepEqual(gs[0], want) {
					t.Errorf("grants = %+v, want only the one extended", gs)
				}
			})
		}
	})
}

func TestFinishFailedBindJob(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		j := createJob(t, s, bindJob("U1", "a", t0.Add(time.Minute)), "tester_one")
		at := t0.Add(time.Second)
		done, g, err := s.FinishJob(ctx, j.ID, "a", bot.JobResult{
			Outcome: bot.OutcomeFailed, ErrCode: 85002, Detail: "no free experiencer slots",
			Event: bot.Event{Kind: bot.EventFailed, Actor: "U1", ErrCode: 85002, At: t0.Add(2 * time.Second)},
		}, at)
		if err != nil {
			t.Fatal(err)
		}
		if done.State != bot.JobDone || done.Outcome != bot.OutcomeFailed || done.ErrCode != 85002 ||
			done.Detail != "no free experiencer slots" || done.GrantID != 0 || g.ID != 0 {
			t.Errorf("FinishJob = %+v, %+v", done, g)
		}
		// An event's own time is kept.
		if evs := events(t, s); len(evs) != 1 || evs[0].ErrCode != 85002 || !evs[0].At.Equal(t0.Add(2*time.Second)) {
			t.Errorf("events = %+v", evs)
		}
		if n := countRows(t, s, "grants"); n != 0 {
			t.Errorf("a failed bind saved %d grants", n)
		}
	})
}

func TestCreateUnbindJobTakesTheGrant(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		g, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", UserStr: "us-1", Requester: "U1", ExpiresAt: t0}, "tester_one")
		if err != nil {
			t.Fatal(err)
		}
		if due, _ := s.DueGrants(ctx, t0); len(due) != 1 {
			t.Fatalf("DueGrants before = %+v, want the grant", due)
		}
		unbind := bot.Job{Kind: bot.JobUnbind, AppID: "wxapp", UserStr: "us-1", GrantID: g.ID, LeaseOwner: "worker", LeaseUntil: t0.Add(time.Minute)}
		j := createJob(t, s, unbind, "")
		if id, err := s.JobWechatID(ctx, j.ID); err != nil || id != "tester_one" {
			t.Errorf("unbind job's WeChat ID = %q, %v; want the grant's", id, err)
		}
		if got := getGrant(t, s, g.ID); got.UnbindJob != j.ID || got.State != bot.GrantActive {
			t.Errorf("grant = %+v; want active, unbind job %d", got, j.ID)
		}
		if due, _ := s.DueGrants(ctx, t0.Add(time.Hour)); len(due) != 0 {
			t.Errorf("DueGrants lists a grant being unbound: %+v", due)
		}

		unbind.LeaseOwner = "admin"
		if _, err := s.CreateJob(ctx, unbind, ""); !errors.Is(err, bot.ErrBusy) {
			t.Errorf("second unbind of the grant: %v, want bot.ErrBusy", err)
		}
		if _, err := s.CreateJob(ctx, unbind, "tester_one"); !errors.Is(err, bot.ErrBusy) {
			t.Errorf("second unbind of the grant, with the WeChat ID: %v, want bot.ErrBusy", err)
		}
		if n := countRows(t, s, "jobs"); n != 1 {
			t.Errorf("%d jobs; refused unbinds must leave none", n)
		}

		missing := unbind
		missing.GrantID = g.ID + 100
		for _, wechatID := range []string{"", "tester_one"} {
			if _, err := s.CreateJob(ctx, missing, wechatID); !errors.Is(err, bot.ErrNotFound) {
				t.Errorf("unbind of a missing grant (WeChat ID %q): %v, want bot.ErrNotFound", wechatID, err)
			}
		}
	})
}

func TestFinishUnbindJob(t *testing.T) {
	now := t0.Add(time.Hour)
	tests := []struct {
		name  string
		r     bot.JobResult
		check func(t *testing.T, s *Store, g bot.Grant)
	}{
		{
			"unbound: the grant ends",
			bot.JobResult{Outcome: bot.OutcomeUnbound, EndGrant: true,
				Event: bot.Event{Kind: bot.EventUnbound, Actor: "UADMIN", AppID: "wxapp"}},
			func(t *testing.T, s *Store, g bot.Grant) {
				if g.State != bot.GrantEnded || g.EndedBy != "UADMIN" || !g.EndedAt.Equal(now) || g.UnbindJob != 0 {
					t.Errorf("grant = %+v; want ended by UADMIN at %v", g, now)
				}
				if due := dueIDs(t, s, now.Add(time.Hour)); slices.Contains(due, g.ID) {
					t.Errorf("an ended grant is due: %v", due)
				}
			},
		},
		{
			"failed: tried again later",
			bot.JobResult{Outcome: bot.OutcomeFailed, ErrCode: -1, Detail: "errcode -1: system busy", RetryAt: now.Add(5 * time.Minute),
				Event: bot.Event{Kind: bot.EventFailed, ErrCode: -1, AppID: "wxapp"}},
			func(t *testing.T, s *Store, g bot.Grant) {
				if g.State != bot.GrantActive || g.Attempts != 1 || !g.NextAttempt.Equal(now.Add(5*time.Minute)) ||
					g.LastError != "errcode -1: system busy" || g.UnbindJob != 0 {
					t.Errorf("grant = %+v; want active, 1 failed attempt, next at +5m, unbind job freed", g)
				}
				if due := dueIDs(t, s, now.Add(5*time.Minute-time.Nanosecond)); slices.Contains(due, g.ID) {
					t.Errorf("grant due before its next attempt: %v", due)
				}
				if due := dueIDs(t, s, now.Add(5*time.Minute)); !slices.Contains(due, g.ID) {
					t.Errorf("DueGrants at the next attempt = %v, want grant %d among them", due, g.ID)
				}
			},
		},
		{
			"given up: the grant is free for another unbind",
			bot.JobResult{Outcome: bot.OutcomeFailed, ErrCode: 48001, Event: bot.Event{Kind: bot.EventFailed, AppID: "wxapp"}},
			func(t *testing.T, s *Store, g bot.Grant) {
				if g.State != bot.GrantActive || g.UnbindJob != 0 || g.Attempts != 0 {
					t.Errorf("grant = %+v; want active, unbind job freed", g)
				}
			},
		},
	}
	eachEngine(t, func(t *testing.T, s *Store) {
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				app := fmt.Sprintf("wxapp%d", i) // each case on its own app
				tc.r.Event.AppID = app
				g, err := s.SaveGrant(ctx, bot.Grant{AppID: app, UserStr: "us-1", Requester: "U1", ExpiresAt: t0}, "tester_one")
				if err != nil {
					t.Fatal(err)
				}
				j := createJob(t, s, bot.Job{Kind: bot.JobUnbind, AppID: app, UserStr: "us-1", GrantID: g.ID,
					LeaseOwner: "worker", LeaseUntil: now.Add(time.Minute)}, "")
				done, _, err := s.FinishJob(ctx, j.ID, "worker", tc.r, now)
				if err != nil {
					t.Fatal(err)
				}
				if done.State != bot.JobDone || done.Outcome != tc.r.Outcome || done.ErrCode != tc.r.ErrCode || done.GrantID != g.ID {
					t.Errorf("finished job = %+v", done)
				}
				if evs, _ := s.Events(ctx, bot.AuditFilter{AppID: app}); len(evs) != 1 || evs[0].GrantID != g.ID || evs[0].Kind != tc.r.Event.Kind || !evs[0].At.Equal(now) {
					t.Errorf("events = %+v; want one %s for grant %d at %v", evs, tc.r.Event.Kind, g.ID, now)
				}
				tc.check(t, s, getGrant(t, s, g.ID))

				if _, _, err := s.FinishJob(ctx, j.ID, "worker", tc.r, now.Add(time.Minute)); !errors.Is(err, bot.ErrLeaseLost) {
					t.Errorf("second FinishJob: %v, want bot.ErrLeaseLost", err)
				}
				if evs, _ := s.Events(ctx, bot.AuditFilter{AppID: app}); len(evs) != 1 {
					t.Errorf("second FinishJob recorded %d events, want 1", len(evs))
				}

				// What is left of the grant decides whether it can be unbound again.
				_, err = s.CreateJob(ctx, bot.Job{Kind: bot.JobUnbind, AppID: app, GrantID: g.ID, LeaseOwner: "admin", LeaseUntil: now.Add(time.Hour)}, "")
				if tc.r.EndGrant {
					if !errors.Is(err, bot.ErrNotFound) {
						t.Errorf("unbind of the ended grant: %v, want bot.ErrNotFound", err)
					}
				} else if err != nil {
					t.Errorf("unbind of the freed grant: %v", err)
				}
			})
		}
	})
}

// dueIDs lists the ids of the grants DueGrants gives at now.
func dueIDs(t *testing.T, s *Store, now time.Time) []int64 {
	t.Helper()
	gs, err := s.DueGrants(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int64{}
	for _, g := range gs {
		ids = append(ids, g.ID)
	}
	return ids
}

func TestCreateUnbindJobConcurrently(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		g, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", UserStr: "us-1", ExpiresAt: t0}, "tester_one")
		if err != nil {
			t.Fatal(err)
		}
		const n = 8
		jobs := make([]bot.Job, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				jobs[i], errs[i] = s.CreateJob(ctx, bot.Job{Kind: bot.JobUnbind, AppID: "wxapp", GrantID: g.ID,
					LeaseOwner: fmt.Sprintf("replica-%d", i), LeaseUntil: t0.Add(time.Minute)}, "")
			})
		}
		close(start)
		wg.Wait()
		var won []int64
		for i, err := range errs {
			switch {
			case err == nil:
				won = append(won, jobs[i].ID)
			case !errors.Is(err, bot.ErrBusy):
				t.Errorf("replica-%d: %v, want success or bot.ErrBusy", i, err)
			}
		}
		if len(won) != 1 {
			t.Fatalf("%d unbind jobs created (%v), want exactly 1", len(won), won)
		}
		if got := getGrant(t, s, g.ID); got.UnbindJob != won[0] {
			t.Errorf("grant's unbind job = %d, want %d", got.UnbindJob, won[0])
		}
		if c := countRows(t, s, "jobs"); c != 1 {
			t.Errorf("%d jobs stored, want 1 (the refused ones rolled back)", c)
		}
	})
}

func TestRetryJob(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		lease := t0.Add(time.Minute)
		next := t0.Add(10 * time.Minute)
		j := createJob(t, s, bindJob("U1", "replica-a", lease), "tester_one")

		if err := s.RetryJob(ctx, j.ID, "replica-b", "timeout", next); !errors.Is(err, bot.ErrLeaseLost) {
			t.Errorf("RetryJob by a non-owner: %v, want bot.ErrLeaseLost", err)
		}
		if got := getJob(t, s, j.ID); !reflect.DeepEqual(got, j) {
			t.Errorf("a refused RetryJob changed the job: %+v", got)
		}
		if due, _ := s.DueJobs(ctx, lease, 10); len(due) != 1 {
			t.Fatalf("before RetryJob, DueJobs once the lease ran out = %+v, want the job", due)
		}

		if err := s.RetryJob(ctx, j.ID, "replica-a", "timeout", next); err != nil {
			t.Fatal(err)
		}
		got := getJob(t, s, j.ID)
		if got.State != bot.JobOpen || got.LeaseOwner != "" || !got.LeaseUntil.IsZero() || !got.NextAt.Equal(next) ||
			got.Detail != "timeout" || got.Attempts != 1 {
			t.Errorf("retried job = %+v; want open, lease released, next at %v", got, next)
		}
		if due, _ := s.DueJobs(ctx, next.Add(-time.Nanosecond), 10); len(due) != 0 {
			t.Errorf("DueJobs before the retry is due = %+v", requesters(due))
		}
		if due, _ := s.DueJobs(ctx, next, 10); len(due) != 1 || due[0].ID != j.ID {
			t.Errorf("DueJobs when the retry is due = %+v", requesters(due))
		}
		// Having let it go, replica-a no longer holds it.
		if err := s.RetryJob(ctx, j.ID, "replica-a", "again", next); !errors.Is(err, bot.ErrLeaseLost) {
			t.Errorf("RetryJob after releasing the lease: %v, want bot.ErrLeaseLost", err)
		}
		if claimed, ok, err := s.ClaimJob(ctx, j.ID, "replica-b", next, next.Add(time.Minute)); err != nil || !ok || claimed.Attempts != 2 || !claimed.Resumed() {
			t.Errorf("claim of the retried job = %+v, %v, %v; want a second attempt", claimed, ok, err)
		}
	})
}

func TestJobAnswered(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		j := createJob(t, s, bindJob("U1", "replica-a", t0.Add(time.Minute)), "tester_one")
		if _, _, err := s.FinishJob(ctx, j.ID, "replica-a", bot.JobResult{Outcome: bot.OutcomeFailed}, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.JobAnswered(ctx, j.ID, "replica-b"); !errors.Is(err, bot.ErrLeaseLost) {
			t.Errorf("JobAnswered by a non-owner: %v, want bot.ErrLeaseLost", err)
		}
		if got := getJob(t, s, j.ID); got.Answered {
			t.Error("a refused JobAnswered marked the job answered")
		}
		if due, _ := s.DueJobs(ctx, t0.Add(time.Hour), 10); len(due) != 1 {
			t.Fatalf("unanswered job not due: %+v", due)
		}
		if err := s.JobAnswered(ctx, j.ID, "replica-a"); err != nil {
			t.Fatal(err)
		}
		if got := getJob(t, s, j.ID); !got.Answered || got.LeaseOwner != "" {
			t.Errorf("answered job = %+v", got)
		}
		if due, _ := s.DueJobs(ctx, t0.Add(1000*time.Hour), 10); len(due) != 0 {
			t.Errorf("an answered job is still due: %+v", due)
		}
		if err := s.JobAnswered(ctx, j.ID, "replica-a"); !errors.Is(err, bot.ErrLeaseLost) {
			t.Errorf("second JobAnswered: %v, want bot.ErrLeaseLost", err)
		}
	})
}

func TestOpenBindJob(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		j1 := createJob(t, s, bindJob("U1", "a", t0.Add(time.Minute)), "tester_one")
		other := bindJob("U2", "a", t0.Add(time.Minute))
		other.AppID = "wxother"
		createJob(t, s, other, "tester_two")
		createJob(t, s, bot.Job{Kind: bot.JobUnbind, AppID: "wxapp", LeaseOwner: "a", LeaseUntil: t0}, "tester_two")

		check := func(when, app, wechatID string, except int64, want bool) {
			t.Helper()
			got, err := s.OpenBindJob(ctx, app, wechatID, except)
			if err != nil || got != want {
				t.Errorf("%s: OpenBindJob(%s, %s, except %d) = %v, %v; want %v", when, app, wechatID, except, got, err, want)
			}
		}
		check("one job", "wxapp", "tester_one", j1.ID, false) // the job itself
		check("one job", "wxapp", "tester_one", 0, true)
		check("one job", "wxother", "tester_one", 0, false) // another app
		check("one job", "wxapp", "tester_three", 0, false) // another tester
		check("one job", "wxapp", "tester_two", 0, false)   // an unbind is not a bind

		j2 := createJob(t, s, bindJob("U3", "b", t0.Add(time.Minute)), "tester_one")
		check("two jobs", "wxapp", "tester_one", j1.ID, true)
		check("two jobs", "wxapp", "tester_one", j2.ID, true)

		for _, j := range []bot.Job{j1, j2} {
			if _, _, err := s.FinishJob(ctx, j.ID, j.LeaseOwner, bot.JobResult{Outcome: bot.OutcomeFailed}, t0); err != nil {
				t.Fatal(err)
			}
		}
		check("both done", "wxapp", "tester_one", 0, false)
	})
}
