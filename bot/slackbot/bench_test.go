package slackbot_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot/slackfake"
	"github.com/bindtester/bindtester/internal/pgtest"
)

// BenchmarkSlashCommand measures, per command, how long Slack waits for the ack
// and how long until the thread is answered and the parent updated, through the
// real adapter, bot, store and WeChat client against the fakes on loopback:
//
//   - sqlite-1: one replica on a SQLite file (what this benchmark always measured);
//   - postgres-1: one replica on PostgreSQL;
//   - postgres-3: three replicas in this process, each with its own adapter
//     (Socket Mode connection), bot and store on the same PostgreSQL database,
//     so the fake Slack hands the commands to them in turn.
//
// The commands are binds of distinct WeChat IDs, sent one at a time. The
// PostgreSQL cases need a server (see internal/pgtest) and are skipped without
// one. Run:
//
//	eval "$(bash .ci/postgres)"
//	go test -run '^$' -bench SlashCommand -benchtime 300x ./bot/slackbot/
func BenchmarkSlashCommand(b *testing.B) {
	for _, c := range []struct {
		name     string
		postgres bool
		replicas int
	}{
		{"sqlite-1", false, 1},
		{"postgres-1", true, 1},
		{"postgres-3", true, 3},
	} {
		b.Run(c.name, func(b *testing.B) {
			var o options
			if c.postgres {
				o.dsn = pgtest.DSN(b) // skips without BINDTESTER_TEST_POSTGRES (fails under CI=true)
			}
			e := startWith(b, o)
			for range c.replicas - 1 {
				startWith(b, options{dsn: o.dsn, replicaOf: e})
			}
			benchmarkBinds(b, e, c.replicas)
		})
	}
}

// benchmarkBinds sends binds one at a time through e's fake Slack, to the
// replicas connected to it, and reports ack and answer latency percentiles.
func benchmarkBinds(b *testing.B, e *env, replicas int) {
	e.wechat.SetSlotLimit(appID, 1<<30)
	var acks, answers []time.Duration
	var ids []string
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		begin := time.Now()
		id := e.slash(binder, channel, fmt.Sprintf("shop bench_%06d", i))
		if !e.slack.WaitAck(id, 5*time.Second) {
			b.Fatal("no ack")
		}
		acks = append(acks, time.Since(begin))
		_, ok := e.slack.WaitMessages(10*time.Second, func(ms []slackfake.Message) bool {
			n := 0
			for _, m := range ms {
				if m.Method == "chat.update" {
					n++
				}
			}
			return n > i
		})
		if !ok {
			b.Fatal("no answer")
		}
		answers = append(answers, time.Since(begin))
		ids = append(ids, id)
	}
	b.StopTimer()
	b.ReportMetric(ms(percentile(acks, 50)), "ack-p50-ms")
	b.ReportMetric(ms(percentile(acks, 99)), "ack-p99-ms")
	b.ReportMetric(ms(percentile(answers, 50)), "answer-p50-ms")
	b.ReportMetric(ms(percentile(answers, 99)), "answer-p99-ms")

	// Every replica must have taken its share: otherwise the figures are one replica's.
	if replicas > 1 && len(ids) >= replicas {
		per := map[int]int{}
		for _, id := range ids {
			for _, n := range e.slack.DeliveredTo(id) {
				per[n]++
			}
		}
		if len(per) != replicas {
			b.Fatalf("envelopes per connection %v, want all %d replicas used", per, replicas)
		}
	}
}

// percentile returns the p-th percentile of ds (nearest rank, rounding down).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
