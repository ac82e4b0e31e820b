package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// eventDetails lists the details of the events recorded, sorted.
func eventDetails(t *testing.T, s *Store) []string {
	t.Helper()
	out := []string{}
	for _, e := range events(t, s) {
		out = append(out, e.Detail)
	}
	slices.Sort(out)
	return out
}

// Many commands writing at once all get their writes, durable after a
// restart; on SQLite they share commits.
func TestGroupCommitConcurrentWriters(t *testing.T) {
	eachEngineDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := openTest(t, dsn, testKey)
		const writers, each = 64, 8
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range writers {
			wg.Go(func() {
				<-start
				for i := range each {
					user := fmt.Sprintf("U%02d", w)
					e := bot.Event{At: t0, Kind: bot.EventDenied, Actor: user, AppID: "wxapp", Detail: fmt.Sprintf("%s denied %d", user, i)}
					if err := s.Record(ctx, e); err != nil {
						errs[w] = err
						return
					}
					j := bindJob(user, "replica-a", t0.Add(time.Minute))
					j.Intent = &bot.Event{At: t0, Kind: bot.EventAllowed, Actor: user, AppID: "wxapp", Detail: fmt.Sprintf("%s allowed %d", user, i)}
					got, err := s.CreateJob(ctx, j, fmt.Sprintf("tester_%02d_%d", w, i))
					if err == nil && (got.Requester != user || got.ID == 0) {
						err = fmt.Errorf("CreateJob returned %+v", got)
					}
					if err != nil {
						errs[w] = err
						return
					}
					if _, err := s.Events(ctx, bot.AuditFilter{User: user, Limit: 1}); err != nil { // reads between the writes
						errs[w] = err
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		for w, err := range errs {
			if err != nil {
				t.Errorf("writer %d: %v", w, err)
			}
		}
		const writes = writers * each * 2
		if s.gc != nil {
			commits := s.sqliteCommits()
			t.Logf("%d writes in %d SQLite commits", writes, commits)
			if commits == 0 || commits*4 > writes {
				t.Errorf("%d writes took %d commits; want them to share commits (at most %d)", writes, commits, writes/4)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s = openTest(t, dsn, testKey)
		var want []string
		for w := range writers {
			for i := range each {
				want = append(want, fmt.Sprintf("U%02d allowed %d", w, i), fmt.Sprintf("U%02d denied %d", w, i))
			}
		}
		slices.Sort(want)
		if got := eventDetails(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("after reopening, %d events, want %d", len(got), len(want))
		}
		if n := countRows(t, s, "jobs"); n != writers*each {
			t.Errorf("after reopening, %d jobs, want %d", n, writers*each)
		}
	})
}

// together runs fns at once. On SQLite it makes sure that they share one
// commit: each must hand in exactly one write.
func together(t *testing.T, s *Store, fns ...func()) {
	t.Helper()
	var wg sync.WaitGroup
	if s.gc == nil {
		start := make(chan struct{})
		for _, fn := range fns {
			wg.Go(func() { <-start; fn() })
		}
		close(start)
		wg.Wait()
		return
	}
	before := s.sqliteCommits()
	release := holdCommitter(t, s)
	for _, fn := range fns {
		wg.Go(fn)
	}
	waitQueued(t, s, len(fns))
	release()
	wg.Wait()
	if got := s.sqliteCommits() - before; got != 2 { // the holding write's, then the batch's
		t.Errorf("%d writes took %d commits, want 1", len(fns), got-1)
	}
}

// A write that fails in a shared commit is undone alone, with no trace of
// its own, and only its caller hears of it.
func TestGroupCommitFailuresStayInTheirPiece(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		busy, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", UserStr: "us-1", ExpiresAt: t0}, "tester_one")
		if err != nil {
			t.Fatal(err)
		}
		unbinding := createJob(t, s, bot.Job{Kind: bot.JobUnbind, AppID: "wxapp", GrantID: busy.ID, LeaseOwner: "worker", LeaseUntil: t0.Add(time.Minute)}, "")
		ended, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", UserStr: "us-2", ExpiresAt: t0}, "tester_two")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.EndGrant(ctx, ended.ID, "U1", t0); err != nil {
			t.Fatal(err)
		}
		held := createJob(t, s, bindJob("U1", "replica-a", t0.Add(time.Hour)), "tester_three")
		finishing := createJob(t, s, bindJob("U2", "replica-b", t0.Add(time.Minute)), "tester_four")
		intent := func(detail string) *bot.Event {
			return &bot.Event{At: t0, Kind: bot.EventAllowed, Actor: "U3", AppID: "wxapp", Detail: detail}
		}

		var (
			recordErr, busyErr, endedErr, createErr, finishLostErr, claimErr, renewErr, finishErr error
			claimed                                                                               bool
			seen                                                                                  [2]bool
			seenErr                                                                               [2]error
			created                                                                               bot.Job
			grant                                                                                 bot.Grant
		)
		together(t, s,
			func() { recordErr = s.Record(ctx, bot.Event{At: t0, Kind: bot.EventDenied, Detail: "recorded"}) },
			func() { // the grant is being unbound: the job and its intent are undone
				_, busyErr = s.CreateJob(ctx, bot.Job{Kind: bot.JobUnbind, AppID: "wxapp", GrantID: busy.ID, LeaseOwner: "admin",
					LeaseUntil: t0.Add(time.Minute), Intent: intent("intent of a busy unbind")}, "")
			},
			func() { // the grant has ended: likewise
				_, endedErr = s.CreateJob(ctx, bot.Job{Kind: bot.JobUnbind, AppID: "wxapp", GrantID: ended.ID, LeaseOwner: "admin",
					LeaseUntil: t0.Add(time.Minute), Intent: intent("intent of an unbind of an ended grant")}, "")
			},
			func() {
				j := bindJob("U3", "replica-c", t0.Add(time.Minute))
				j.Intent = intent("intent of a bind")
				created, createErr = s.CreateJob(ctx, j, "tester_five")
			},
			func() { // not the owner
				_, _, finishLostErr = s.FinishJob(ctx, held.ID, "replica-x", bindResult("U1", "us-x", t0.Add(time.Hour)), t0)
			},
			func() { // the lease still runs: the compare-and-set fails
				_, claimed, claimErr = s.ClaimJob(ctx, held.ID, "replica-x", t0.Add(time.Minute), t0.Add(2*time.Hour))
			},
			func() { renewErr = s.RenewJob(ctx, held.ID, "replica-x", t0.Add(2*time.Hour)) },
			func() { seen[0], seenErr[0] = s.FirstSeen(ctx, "Ev-1", t0) },
			func() { seen[1], seenErr[1] = s.FirstSeen(ctx, "Ev-1", t0) },
			func() {
				r := bindResult("U2", "us-4", t0.Add(72*time.Hour))
				r.Event.Detail = "bound"
				_, grant, finishErr = s.FinishJob(ctx, finishing.ID, "replica-b", r, t0.Add(time.Second))
			},
		)

		for name, err := range map[string]error{"Record": recordErr, "CreateJob": createErr, "FinishJob": finishErr,
			"ClaimJob": claimErr, "FirstSeen": errors.Join(seenErr[:]...)} {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if !errors.Is(busyErr, bot.ErrBusy) {
			t.Errorf("CreateJob of a busy unbind: %v, want bot.ErrBusy", busyErr)
		}
		if !errors.Is(endedErr, bot.ErrNotFound) {
			t.Errorf("CreateJob of an unbind of an ended grant: %v, want bot.ErrNotFound", endedErr)
		}
		if !errors.Is(finishLostErr, bot.ErrLeaseLost) || !errors.Is(renewErr, bot.ErrLeaseLost) {
			t.Errorf("FinishJob, RenewJob by a non-owner: %v, %v; want bot.ErrLeaseLost", finishLostErr, renewErr)
		}
		if claimed {
			t.Error("ClaimJob took a job whose lease runs")
		}
		if seen[0] == seen[1] {
			t.Errorf("FirstSeen twice of one key = %v, want one true", seen)
		}

		want := []string{"bound", "intent of a bind", "recorded"}
		if got := eventDetails(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("events = %q, want %q", got, want)
		}
		if n := countRows(t, s, "jobs"); n != 4 {
			t.Errorf("%d jobs, want 4 (the refused unbinds left none)", n)
		}
		if got := getJob(t, s, created.ID); got.Requester != "U3" || got.State != bot.JobOpen {
			t.Errorf("created job = %+v", got)
		}
		if got := getJob(t, s, held.ID); !reflect.DeepEqual(got, held) {
			t.Errorf("the refused writes changed job %d: %+v", held.ID, got)
		}
		if got := getJob(t, s, finishing.ID); got.State != bot.JobDone || got.GrantID != grant.ID || grant.ID == 0 {
			t.Errorf("finished job = %+v, grant %+v", got, grant)
		}
		if got := getGrant(t, s, busy.ID); got.UnbindJob != unbinding.ID {
			t.Errorf("busy grant's unbind job = %d, want %d", got.UnbindJob, unbinding.ID)
		}
		if n := countRows(t, s, "grants"); n != 3 {
			t.Errorf("%d grants, want 3", n)
		}
		if n := countRows(t, s, "seen"); n != 1 {
			t.Errorf("%d seen keys, want 1", n)
		}
	})
}

// The committer, seen from inside: a piece's writes before its failure, or
// its panic, are undone alone; the others in its batch commit.
func TestGroupCommitPieceRollsBackAlone(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	record := func(detail string) func(context.Context, tx) error {
		return func(ctx context.Context, t tx) error {
			return recordEvent(ctx, t, bot.Event{At: t0, Kind: bot.EventDenied, Detail: detail})
		}
	}
	refused := errors.New("refused")
	var okErr, failErr, afterErr error
	var panicked any
	together(t, s,
		func() { okErr = s.write(ctx, "ok", record("ok")) },
		func() {
			failErr = s.write(ctx, "fail", func(ctx context.Context, t tx) error {
				if err := record("written, then failed")(ctx, t); err != nil {
					return err
				}
				return refused
			})
		},
		func() {
			defer func() { panicked = recover() }()
			s.write(ctx, "panic", func(ctx context.Context, t tx) error {
				if err := record("written, then panicked")(ctx, t); err != nil {
					return err
				}
				panic("boom")
			})
		},
		func() {
			afterErr = s.write(ctx, "constraint", func(ctx context.Context, t tx) error {
				if err := record("written, then a constraint failed")(ctx, t); err != nil {
					return err
				}
				_, err := t.ExecContext(ctx, `INSERT INTO jobs (kind) VALUES ('bind')`) // NOT NULL columns missing
				return err
			})
		},
		func() { _ = s.write(ctx, "ok too", record("ok too")) },
	)
	if okErr != nil {
		t.Errorf("ok: %v", okErr)
	}
	if !errors.Is(failErr, refused) {
		t.Errorf("fail: %v, want its own error", failErr)
	}
	if afterErr == nil {
		t.Error("constraint: no error")
	}
	if p, _ := panicked.(string); !strings.HasPrefix(p, "boom") {
		t.Errorf("panic: the caller got %v, want the piece's panic", panicked)
	}
	if got, want := eventDetails(t, s), []string{"ok", "ok too"}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}

	// Alone, committing itself or committed alone by the committer's goroutine.
	failing := func(ctx context.Context, t tx) error {
		if err := record("alone, written, then failed")(ctx, t); err != nil {
			return err
		}
		return refused
	}
	if err := s.write(ctx, "fail alone", failing); !errors.Is(err, refused) {
		t.Errorf("fail alone: %v, want its own error", err)
	}
	release := holdCommitter(t, s)
	done := make(chan error, 1)
	go func() { done <- s.write(ctx, "fail alone, queued", failing) }()
	waitQueued(t, s, 1)
	release()
	if err := <-done; !errors.Is(err, refused) {
		t.Errorf("fail alone, queued: %v, want its own error", err)
	}
	func() {
		defer func() {
			if p, _ := recover().(string); !strings.HasPrefix(p, "boom") {
				t.Errorf("panic alone: the caller got %q, want the piece's panic", p)
			}
		}()
		s.write(ctx, "panic alone", func(ctx context.Context, t tx) error {
			if err := record("alone, written, then panicked")(ctx, t); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	if got, want := eventDetails(t, s), []string{"ok", "ok too"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after the lone failures, events = %q, want %q", got, want)
	}
}

// On SQLite, reads answer while the committer's transaction runs, on the
// pool's other connection (opened meanwhile), and see only what is committed.
func TestGroupCommitReadsDoNotWaitForTheCommitter(t *testing.T) {
	s := newTestStore(t)
	s.db.SetConnMaxLifetime(time.Nanosecond) // drop the connections the open used: the read needs a new one
	time.Sleep(time.Millisecond)
	s.db.SetConnMaxLifetime(0)
	written, hold, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.write(context.Background(), "write and wait", func(ctx context.Context, t tx) error {
			if err := recordEvent(ctx, t, bot.Event{At: t0, Kind: bot.EventDenied, Detail: "uncommitted"}); err != nil {
				return err
			}
			close(written)
			<-hold
			return nil
		})
	}()
	<-written
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	evs, err := s.Events(ctx, bot.AuditFilter{})
	if err != nil || len(evs) != 0 {
		t.Errorf("Events during the committer's transaction = %+v, %v; want none, at once", evs, err)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := eventDetails(t, s); !reflect.DeepEqual(got, []string{"uncommitted"}) {
		t.Errorf("after the commit, events = %q", got)
	}
}

// A piece asking the pool instead of its transaction panics in its caller,
// rather than read outside its transaction or wait for a connection.
func TestGroupCommitPieceMustUseItsTransaction(t *testing.T) {
	s := newTestStore(t)
	defer func() {
		if recover() == nil {
			t.Error("a piece read on the pool and nothing stopped it")
		}
	}()
	s.write(context.Background(), "misuse", func(ctx context.Context, _ tx) error {
		_, err := s.Events(ctx, bot.AuditFilter{})
		return err
	})
}

// A write whose context ends before it starts is not made, on either
// engine; on SQLite one waiting in the queue returns at once.
func TestGroupCommitCancelledBeforeStart(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Record(ctx, bot.Event{At: t0, Kind: bot.EventDenied, Detail: "cancelled before"}); !errors.Is(err, context.Canceled) {
			t.Errorf("Record with a cancelled context: %v, want context.Canceled", err)
		}
		if _, err := s.CreateJob(ctx, bindJob("U1", "a", t0.Add(time.Minute)), "tester_one"); !errors.Is(err, context.Canceled) {
			t.Errorf("CreateJob with a cancelled context: %v, want context.Canceled", err)
		}
		if s.gc == nil {
			if evs := events(t, s); len(evs) != 0 {
				t.Errorf("events = %+v", evs)
			}
			return
		}

		release := holdCommitter(t, s)
		ctx, cancel = context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- s.Record(ctx, bot.Event{At: t0, Kind: bot.EventDenied, Detail: "cancelled in the queue"})
		}()
		waitQueued(t, s, 1)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Record cancelled in the queue: %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Record cancelled in the queue did not return while the committer was busy")
		}
		release()

		// Once started, a piece runs to the end though its caller gives up.
		ctx, cancel = context.WithCancel(context.Background())
		err := s.write(ctx, "cancelled while running", func(ctx context.Context, t tx) error {
			cancel()
			time.Sleep(10 * time.Millisecond)
			return recordEvent(ctx, t, bot.Event{At: t0, Kind: bot.EventDenied, Detail: "cancelled while running"})
		})
		if err != nil {
			t.Errorf("write whose caller gave up while it ran: %v", err)
		}
		if got, want := eventDetails(t, s), []string{"cancelled while running"}; !reflect.DeepEqual(got, want) {
			t.Errorf("events = %q, want %q", got, want)
		}
	})
}

// Close waits for the writes handed in, which are committed, and refuses later ones.
func TestGroupCommitCloseWithWritesInFlight(t *testing.T) {
	path := t.TempDir() + "/bindtester.db"
	s := openTest(t, path, testKey)
	ctx := context.Background()
	release := holdCommitter(t, s)
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Record(ctx, bot.Event{At: t0, Kind: bot.EventDenied, Detail: fmt.Sprint("in flight ", i)})
		})
	}
	waitQueued(t, s, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for !committerClosed(s) {
		time.Sleep(time.Millisecond)
	}
	if err := s.Record(ctx, bot.Event{At: t0, Kind: bot.EventDenied, Detail: "after Close"}); !errors.Is(err, errStoreClosed) {
		t.Errorf("Record after Close: %v, want errStoreClosed", err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with writes in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d in flight at Close: %v", i, err)
		}
	}
	s = openTest(t, path, testKey)
	if n := countRows(t, s, "events"); n != 10 {
		t.Errorf("after reopening, %d events, want the 10 in flight at Close", n)
	}
}

// The audit record a job's intent carries is written with the job, and not
// without it.
func TestCreateJobRecordsItsIntent(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		ev := bot.Event{At: t0, Kind: bot.EventAllowed, Actor: "U1", Requester: "U1", Channel: "C1", ThreadTS: "1.2",
			AppID: "wxapp", WechatMasked: bot.MaskWechatID("tester_one"), Detail: "72h"}
		j := bindJob("U1", "replica-a", t0.Add(time.Minute))
		j.Intent = &ev
		created := createJob(t, s, j, "tester_one")
		if created.Intent != nil {
			t.Errorf("CreateJob returned an intent: %+v", created.Intent)
		}
		evs := events(t, s)
		want := ev
		want.At = t0.UTC()
		if len(evs) != 1 {
			t.Fatalf("events = %+v, want the intent's", evs)
		}
		want.ID = evs[0].ID
		if !reflect.DeepEqual(evs[0], want) {
			t.Errorf("event = %+v\nwant    %+v", evs[0], want)
		}

		// Without an intent, no event.
		createJob(t, s, bindJob("U2", "replica-a", t0.Add(time.Minute)), "tester_two")
		if n := len(events(t, s)); n != 1 {
			t.Errorf("a job without an intent recorded an event: %d events", n)
		}

		// An intent without a time is the job's creation, and the caller's event is left alone.
		undated := bot.Event{Kind: bot.EventAllowed, Actor: "U3", Detail: "undated"}
		j = bindJob("U3", "replica-a", t0.Add(time.Minute))
		j.CreatedAt, j.Intent = t0.Add(time.Hour), &undated
		createJob(t, s, j, "tester_three")
		if evs := events(t, s); len(evs) != 2 || evs[0].Detail != "undated" || !evs[0].At.Equal(t0.Add(time.Hour)) {
			t.Errorf("events = %+v; want the undated intent at the job's creation, newest", evs)
		}
		if !undated.At.IsZero() {
			t.Errorf("CreateJob changed the caller's intent: %+v", undated)
		}

		// A refused job records no intent.
		g, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", UserStr: "us-1", ExpiresAt: t0}, "tester_one")
		if err != nil {
			t.Fatal(err)
		}
		createJob(t, s, bot.Job{Kind: bot.JobUnbind, AppID: "wxapp", GrantID: g.ID, LeaseOwner: "worker", LeaseUntil: t0.Add(time.Minute)}, "")
		unbind := bot.Job{Kind: bot.JobUnbind, AppID: "wxapp", GrantID: g.ID, LeaseOwner: "admin", LeaseUntil: t0.Add(time.Minute),
			Intent: &bot.Event{At: t0, Kind: bot.EventUnbound, Actor: "U9", Detail: "refused"}}
		if _, err := s.CreateJob(ctx, unbind, ""); !errors.Is(err, bot.ErrBusy) {
			t.Fatalf("CreateJob of a busy unbind: %v, want bot.ErrBusy", err)
		}
		if n := len(events(t, s)); n != 2 {
			t.Errorf("a refused job recorded its intent: %d events", n)
		}
	})
}

// A finished job's lease, renewed by FinishJob for answering, keeps it from
// DueJobs and ClaimJob until it runs out.
func TestFinishJobRenewsTheLeaseForAnswering(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		lease, answer := t0.Add(time.Minute), t0.Add(5*time.Minute)
		j := createJob(t, s, bindJob("U1", "replica-a", lease), "tester_one")
		r := bot.JobResult{Outcome: bot.OutcomeFailed, ErrCode: 85001, LeaseUntil: answer}
		done, _, err := s.FinishJob(ctx, j.ID, "replica-a", r, t0.Add(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if done.State != bot.JobDone || done.LeaseOwner != "replica-a" || !done.LeaseUntil.Equal(answer) {
			t.Errorf("finished job = %+v; want done, replica-a's until %v", done, answer)
		}
		for _, now := range []time.Time{lease, answer.Add(-time.Nanosecond)} {
			if due, err := s.DueJobs(ctx, now, 10); err != nil || len(due) != 0 {
				t.Errorf("DueJobs at %v, before the renewed lease runs out = %+v, %v; want none", now, requesters(due), err)
			}
		}
		if _, ok, err := s.ClaimJob(ctx, j.ID, "replica-b", lease, lease.Add(time.Minute)); err != nil || ok {
			t.Errorf("ClaimJob during the renewed lease = %v, %v; want not claimed", ok, err)
		}
		if due, err := s.DueJobs(ctx, answer, 10); err != nil || len(due) != 1 || due[0].ID != j.ID {
			t.Errorf("DueJobs once the renewed lease ran out = %+v, %v; want the job", requesters(due), err)
		}
		if got, ok, err := s.ClaimJob(ctx, j.ID, "replica-b", answer, answer.Add(time.Minute)); err != nil || !ok || got.Attempts != 1 {
			t.Errorf("ClaimJob after the renewed lease = %+v, %v, %v; want replica-b's, still 1 attempt", got, ok, err)
		}

		// Without LeaseUntil the lease is left as it was.
		k := createJob(t, s, bindJob("U2", "replica-a", lease), "tester_two")
		done, _, err = s.FinishJob(ctx, k.ID, "replica-a", bot.JobResult{Outcome: bot.OutcomeFailed}, t0.Add(10*time.Second))
		if err != nil || !done.LeaseUntil.Equal(lease) {
			t.Errorf("FinishJob without LeaseUntil: lease until %v, %v; want %v", done.LeaseUntil, err, lease)
		}
	})
}

// BenchmarkConcurrentWrites records audit events (one durable write each)
// from SetParallelism(p) × GOMAXPROCS goroutines at once, on SQLite:
// ns/op is the time per write, the inverse of the store's write throughput.
func BenchmarkConcurrentWrites(b *testing.B) {
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("parallelism=%d", p), func(b *testing.B) {
			s := newTestStore(b)
			e := bot.Event{
				At: t0, Kind: bot.EventBound, Actor: "U0123ABCD", Requester: "U0123ABCD", Channel: "C0789IJKL",
				ThreadTS: "1700000000.000100", AppID: "wx1234567890abcdef", WechatMasked: "ab***yz",
				UserStr: "userstr-abcdef", Detail: "bound", GrantID: 1,
			}
			before := s.sqliteCommits()
			b.SetParallelism(p)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := s.Record(ctx, e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if commits := s.sqliteCommits() - before; commits > 0 {
				b.ReportMetric(float64(b.N)/float64(commits), "writes/commit")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}

// BenchmarkConcurrentJobs is a bind's first steps from SetParallelism(p) ×
// GOMAXPROCS goroutines at once, on SQLite: a job created with its intent's
// audit record (a write, then a read of the job) and a look-up of other
// binds of the tester (a read).
func BenchmarkConcurrentJobs(b *testing.B) {
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("parallelism=%d", p), func(b *testing.B) {
			s := newTestStore(b)
			var n atomic.Int64
			before := s.sqliteCommits()
			b.SetParallelism(p)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					tester := fmt.Sprint("tester_", n.Add(1))
					j := bindJob("U0123ABCD", "replica-a", t0.Add(time.Minute))
					j.Intent = &bot.Event{At: t0, Kind: bot.EventAllowed, Actor: "U0123ABCD", AppID: "wxapp", Detail: "72h"}
					created, err := s.CreateJob(ctx, j, tester)
					if err == nil {
						_, err = s.OpenBindJob(ctx, "wxapp", tester, created.ID)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if commits := s.sqliteCommits() - before; commits > 0 {
				b.ReportMetric(float64(b.N)/float64(commits), "jobs/commit")
			}
		})
	}
}

// BenchmarkConcurrentBinds is a whole bind as package bot makes it, from
// SetParallelism(p) × GOMAXPROCS goroutines at once, on SQLite: a look-up of
// the tester's grant, the job created with its intent, its thread stored,
// the job finished with its grant and audit record, and answered — four
// writes and three reads (the grant, and each write that returns the job).
func BenchmarkConcurrentBinds(b *testing.B) {
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("parallelism=%d", p), func(b *testing.B) {
			s := newTestStore(b)
			var n atomic.Int64
			before := s.sqliteCommits()
			b.SetParallelism(p)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := benchBind(ctx, s, fmt.Sprint("tester_", n.Add(1))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if commits := s.sqliteCommits() - before; commits > 0 {
				b.ReportMetric(float64(4*b.N)/float64(commits), "writes/commit")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "binds/s")
		})
	}
}

// benchBind binds tester on wxapp as package bot does, WeChat's answer aside.
func benchBind(ctx context.Context, s *Store, tester string) error {
	if _, err := s.FindGrant(ctx, "wxapp", tester); !errors.Is(err, bot.ErrNotFound) {
		return fmt.Errorf("FindGrant: %v", err)
	}
	j := bindJob("U0123ABCD", "replica-a", t0.Add(time.Minute))
	j.Intent = &bot.Event{At: t0, Kind: bot.EventAllowed, Actor: "U0123ABCD", AppID: "wxapp", Detail: "72h"}
	j, err := s.CreateJob(ctx, j, tester)
	if err != nil {
		return err
	}
	if err := s.SetJobThread(ctx, j.ID, bot.ThreadRef{Channel: "C1", ParentTS: "1.1", ThreadTS: "1.2"}); err != nil {
		return err
	}
	g := bot.Grant{AppID: "wxapp", WechatMasked: j.WechatMasked, UserStr: "userstr-" + tester, Requester: j.Requester,
		Thread: j.Thread, CreatedAt: t0, ExpiresAt: t0.Add(j.Duration)}
	r := bot.JobResult{Outcome: bot.OutcomeBound, Grant: &g, LeaseUntil: t0.Add(2 * time.Minute),
		Event: bot.Event{Kind: bot.EventBound, Actor: j.Actor, Requester: j.Requester, AppID: "wxapp", WechatMasked: j.WechatMasked, Detail: "until later"}}
	if _, _, err := s.FinishJob(ctx, j.ID, "replica-a", r, t0.Add(time.Second)); err != nil {
		return err
	}
	return s.JobAnswered(ctx, j.ID, "replica-a")
}
