package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

func newApproval(t *testing.T, s *Store, expires time.Time, wechatID string) bot.Approval {
	t.Helper()
	a, err := s.CreateApproval(context.Background(), bot.Approval{
		AppID: "wxapp", Requester: "U1", Thread: bot.ThreadRef{Channel: "C1", ParentTS: "1.1", ThreadTS: "1.2"},
		Duration: 72 * time.Hour, CreatedAt: t0, ExpiresAt: expires,
	}, wechatID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestCreateApproval(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		in := bot.Approval{
			AppID: "wxapp", WechatMasked: "te***ne", Requester: "U1",
			Thread:   bot.ThreadRef{Channel: "C1", ParentTS: "1.1", ThreadTS: "1.2"},
			Duration: 72 * time.Hour, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
			State: bot.ApprovalApproved, DecidedBy: "UX", // ignored: a new approval is pending
			Prompts: []bot.MessageRef{{Channel: "D1", TS: "2.1"}},
		}
		a, err := s.CreateApproval(ctx, in, "tester_one")
		if err != nil {
			t.Fatal(err)
		}
		want := in
		want.ID, want.State, want.DecidedBy = a.ID, bot.ApprovalPending, ""
		want.CreatedAt, want.ExpiresAt = t0.UTC(), t0.Add(time.Hour).UTC()
		if a.ID == 0 || !reflect.DeepEqual(a, want) {
			t.Errorf("CreateApproval = %+v, want %+v", a, want)
		}
		if got, err := s.Approval(ctx, a.ID); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Approval = %+v, %v; want %+v", got, err, want)
		}
		if id, err := s.ApprovalWechatID(ctx, a.ID); err != nil || id != "tester_one" {
			t.Errorf("ApprovalWechatID = %q, %v", id, err)
		}

		prompts := []bot.MessageRef{{Channel: "D1", TS: "2.1"}, {Channel: "D2", TS: "2.2"}}
		if err := s.SetPrompts(ctx, a.ID, prompts); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Approval(ctx, a.ID); !reflect.DeepEqual(got.Prompts, prompts) {
			t.Errorf("Prompts = %+v, want %+v", got.Prompts, prompts)
		}
		if err := s.SetPrompts(ctx, a.ID, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Approval(ctx, a.ID); got.Prompts != nil {
			t.Errorf("Prompts after clearing = %+v", got.Prompts)
		}

		for name, call := range map[string]func() error{
			"Approval":         func() error { _, err := s.Approval(ctx, a.ID+1); return err },
			"ApprovalWechatID": func() error { _, err := s.ApprovalWechatID(ctx, a.ID+1); return err },
			"SetPrompts":       func() error { return s.SetPrompts(ctx, a.ID+1, prompts) },
			"Decide":           func() error { _, _, err := s.Decide(ctx, a.ID+1, bot.ApprovalApproved, "U2", t0); return err },
		} {
			if err := call(); !errors.Is(err, bot.ErrNotFound) {
				t.Errorf("%s of a missing approval: %v, want bot.ErrNotFound", name, err)
			}
		}
	})
}

func TestDecideOnce(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := newApproval(t, s, t0.Add(time.Hour), "tester_one")
		decidedAt := t0.Add(10 * time.Minute)

		got, decided, err := s.Decide(ctx, a.ID, bot.ApprovalApproved, "UAPPROVER", decidedAt)
		if err != nil || !decided {
			t.Fatalf("first Decide = %v, %v; want decided", decided, err)
		}
		want := a
		want.State, want.DecidedBy, want.DecidedAt, want.JobID = bot.ApprovalApproved, "UAPPROVER", decidedAt.UTC(), got.JobID
		if !reflect.DeepEqual(got, want) {
			t.Errorf("first Decide returned %+v, want %+v", got, want)
		}
		// Approving wrote the bind job, unclaimed, with the approval's WeChat ID.
		j, err := s.Job(ctx, got.JobID)
		if err != nil || j.Kind != bot.JobBind || j.State != bot.JobOpen || j.ApprovalID != a.ID || j.Actor != "UAPPROVER" ||
			j.Duration != a.Duration || j.Thread != a.Thread || !j.LeaseUntil.IsZero() {
			t.Errorf("approval's job = %+v, %v", j, err)
		}
		if id, _ := s.JobWechatID(ctx, j.ID); id != "tester_one" {
			t.Errorf("job's WeChat ID = %q, want the approval's", id)
		}

		got, decided, err = s.Decide(ctx, a.ID, bot.ApprovalDenied, "ULATE", decidedAt.Add(time.Minute))
		if err != nil || decided {
			t.Fatalf("second Decide = %v, %v; want not decided", decided, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("second Decide returned %+v, want the first decision %+v", got, want)
		}
		if stored, _ := s.Approval(ctx, a.ID); !reflect.DeepEqual(stored, want) {
			t.Errorf("stored %+v, want %+v", stored, want)
		}
		if _, _, err := s.Decide(ctx, a.ID, bot.ApprovalPending, "U", t0); err == nil {
			t.Error("Decide accepted pending as a decision")
		}
	})
}

func TestDecideConcurrently(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := newApproval(t, s, t0.Add(time.Hour), "tester_one")

		const n = 10
		type result struct {
			a       bot.Approval
			decided bool
			err     error
		}
		results := make([]result, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				state := bot.ApprovalApproved
				if i%2 == 1 {
					state = bot.ApprovalDenied
				}
				got, decided, err := s.Decide(ctx, a.ID, state, fmt.Sprintf("U%d", i), t0.Add(time.Duration(i)*time.Second))
				results[i] = result{got, decided, err}
			})
		}
		close(start)
		wg.Wait()

		var winners []string
		for _, r := range results {
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.decided {
				winners = append(winners, r.a.DecidedBy)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("%d goroutines decided (%v), want exactly 1", len(winners), winners)
		}
		for i, r := range results {
			if r.a.DecidedBy != winners[0] || r.a.State == bot.ApprovalPending {
				t.Errorf("goroutine %d saw decision by %q (%s), want %q", i, r.a.DecidedBy, r.a.State, winners[0])
			}
		}
	})
}

func TestStaleApprovals(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := t0.Add(time.Hour)
		old := newApproval(t, s, now.Add(-time.Minute), "tester_old")
		older := newApproval(t, s, now.Add(-time.Hour), "tester_older")
		newApproval(t, s, now, "tester_edge") // expires_at == now: not yet stale
		newApproval(t, s, now.Add(time.Minute), "tester_future")
		decided := newApproval(t, s, now.Add(-time.Hour), "tester_decided")
		if _, ok, err := s.Decide(ctx, decided.ID, bot.ApprovalDenied, "U2", t0); err != nil || !ok {
			t.Fatal(ok, err)
		}

		pending, err := s.PendingApprovals(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		var waiting []string
		for _, a := range pending {
			waiting = append(waiting, a.WechatMasked)
		}
		if want := []string{bot.MaskWechatID("tester_edge"), bot.MaskWechatID("tester_future")}; !reflect.DeepEqual(waiting, want) {
			t.Errorf("PendingApprovals = %v, want %v (neither stale nor decided ones)", waiting, want)
		}

		stale, err := s.StaleApprovals(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, a := range stale {
			ids = append(ids, a.ID)
		}
		if want := []int64{older.ID, old.ID}; !reflect.DeepEqual(ids, want) {
			t.Errorf("StaleApprovals = %v, want %v", ids, want)
		}
		// The worker expires them; a late approver then loses.
		for _, a := range stale {
			if _, ok, err := s.Decide(ctx, a.ID, bot.ApprovalExpired, "", now); err != nil || !ok {
				t.Fatal(ok, err)
			}
		}
		if stale, _ := s.StaleApprovals(ctx, now); len(stale) != 0 {
			t.Errorf("still stale after expiring: %+v", stale)
		}
		if got, ok, _ := s.Decide(ctx, old.ID, bot.ApprovalApproved, "U3", now); ok || got.State != bot.ApprovalExpired {
			t.Errorf("late approval = %v, %+v; want the expiry to stand", ok, got)
		}
	})
}

// Two approvers of a request needing two, clicking at once: both counted,
// exactly one decides, one bind job; a third finds it decided.
func TestVotesCountedOnceEach(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := newApproval(t, s, t0.Add(time.Hour), "tester_one")
		results := make([]bot.VoteResult, 2)
		var wg sync.WaitGroup
		for i, by := range []string{"UAPP1", "UAPP2"} {
			wg.Go(func() {
				_, res, err := s.Vote(ctx, a.ID, by, t0.Add(time.Minute), 2)
				if err != nil {
					t.Error(err)
				}
				results[i] = res
			})
		}
		wg.Wait()
		if !slices.Contains(results, bot.VoteDecided) || !slices.Contains(results, bot.VoteRecorded) {
			t.Fatalf("results %v; want one recorded, one decided", results)
		}
		got, err := s.Approval(ctx, a.ID)
		if err != nil || got.State != bot.ApprovalApproved || len(got.Votes) != 2 || got.JobID == 0 {
			t.Fatalf("approval %+v, %v; want approved with two votes and a job", got, err)
		}
		if _, res, _ := s.Vote(ctx, a.ID, "UAPP3", t0.Add(2*time.Minute), 2); res != bot.VoteNotPending {
			t.Errorf("a third vote: %v; want not pending", res)
		}
		b := newApproval(t, s, t0.Add(time.Hour), "tester_two")
		s.Vote(ctx, b.ID, "UAPP1", t0, 2)
		if _, res, _ := s.Vote(ctx, b.ID, "UAPP1", t0, 2); res != bot.VoteAlready {
			t.Errorf("the same approver twice: %v; want already", res)
		}
	})
}
