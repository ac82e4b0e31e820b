package slackbot_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot/slackfake"
)

// BenchmarkSlashCommand measures, per command, how long Slack waits for the ack
// and how long until the thread is answered and the parent updated, through the
// real adapter, bot and WeChat client against the fakes on loopback. Run:
//
//	go test -run '^$' -bench SlashCommand -benchtime 300x ./bot/slackbot/
func BenchmarkSlashCommand(b *testing.B) {
	e := start(b)
	e.wechat.SetSlotLimit(appID, 1<<30)
	var acks, replies []time.Duration
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
		replies = append(replies, time.Since(begin))
	}
	b.StopTimer()
	b.ReportMetric(percentile(acks, 50), "ack-p50-µs")
	b.ReportMetric(percentile(acks, 99), "ack-p99-µs")
	b.ReportMetric(percentile(replies, 50), "reply-p50-µs")
	b.ReportMetric(percentile(replies, 99), "reply-p99-µs")
}

func percentile(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[(len(s)-1)*p/100].Microseconds())
}
