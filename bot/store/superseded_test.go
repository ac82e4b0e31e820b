package store

import (
	"context"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// The worker's unbind of a grant that was asked for again meanwhile (a later
// end) ends nothing and records nothing: the new end stands.
func TestExpiryUnbindOfAnExtendedGrantIsSuperseded(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		g, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", UserStr: "us1", Requester: "U1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, "tester_one")
		if err != nil {
			t.Fatal(err)
		}
		due := t0.Add(time.Hour + time.Minute)
		j, err := s.CreateJob(ctx, bot.Job{Kind: bot.JobUnbind, AppID: "wxapp", UserStr: "us1", Requester: "U1", GrantID: g.ID,
			CreatedAt: due, LeaseOwner: "worker", LeaseUntil: due.Add(time.Minute)}, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", Requester: "U1", CreatedAt: due, ExpiresAt: due.Add(24 * time.Hour)}, "tester_one"); err != nil {
			t.Fatal(err)
		}
		done, _, err := s.FinishJob(ctx, j.ID, "worker", bot.JobResult{Outcome: bot.OutcomeUnbound, EndGrant: true,
			Event: bot.Event{Kind: bot.EventExpired, AppID: "wxapp", GrantID: g.ID}}, due)
		if err != nil {
			t.Fatal(err)
		}
		if done.Outcome != bot.OutcomeSuperseded {
			t.Errorf("outcome %s, want superseded", done.Outcome)
		}
		got, _ := s.Grant(ctx, g.ID)
		if got.State != bot.GrantActive || got.UnbindJob != 0 || !got.ExpiresAt.Equal(due.Add(24*time.Hour).UTC()) {
			t.Errorf("grant %+v: want active, free, ending a day later", got)
		}
		if ev, _ := s.Events(ctx, bot.AuditFilter{}); len(ev) != 0 {
			t.Errorf("events %+v, want none", ev)
		}
	})
}
