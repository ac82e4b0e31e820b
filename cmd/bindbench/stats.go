package main

import (
	"encoding/json"
	"math"
	"slices"
	"time"
)

// millis is a duration shown, and written as JSON, in milliseconds.
type millis time.Duration

func (m millis) MarshalJSON() ([]byte, error) {
	return json.Marshal(math.Round(float64(m)/1e3) / 1e3)
}

func (m millis) String() string {
	if m == 0 {
		return "-"
	}
	ms := float64(m) / float64(time.Millisecond)
	if ms < 10 {
		return trimFloat(ms, 2) + "ms"
	}
	return trimFloat(ms, 0) + "ms"
}

// percentile is the nearest-rank p-th percentile of ds, 0 for none.
func percentile(ds []time.Duration, p float64) millis {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return millis(s[max(rank, 1)-1])
}

// runResult sums up one bot's run of a load.
type runResult struct {
	Bot       string  `json:"bot"`
	InFlight  int     `json:"in_flight"`
	Commands  int     `json:"commands"`
	AckP50    millis  `json:"ack_p50_ms"`
	AckP99    millis  `json:"ack_p99_ms"`
	AnswerP50 millis  `json:"answer_p50_ms"`
	AnswerP99 millis  `json:"answer_p99_ms"`
	PerSecond float64 `json:"commands_per_second"`
	Lost      int     `json:"lost"`    // no answer within the timeout
	Private   int     `json:"private"` // answered through the response_url instead of a thread
	// PrivateText is the first private answer, which usually explains why.
	PrivateText    string `json:"private_text,omitempty"`
	NewSlackConns  int    `json:"new_slack_connections"`
	NewWeChatConns int    `json:"new_wechat_connections"`
	// RSSAfter is the bot's resident memory a moment after the load, in bytes (0: unknown).
	RSSAfter int64 `json:"rss_after_bytes,omitempty"`
}

// summarize fills the latency and throughput figures of r from the outcomes of a run that took took.
func summarize(r *runResult, out []outcome, took time.Duration) {
	var acks, answers []time.Duration
	r.Commands = len(out)
	for _, o := range out {
		if o.acked {
			acks = append(acks, o.ack)
		}
		switch {
		case !o.answered:
			r.Lost++
			continue
		case o.private:
			r.Private++
			if r.PrivateText == "" {
				r.PrivateText = o.text
			}
		}
		answers = append(answers, o.answer)
	}
	r.AckP50, r.AckP99 = percentile(acks, 50), percentile(acks, 99)
	r.AnswerP50, r.AnswerP99 = percentile(answers, 50), percentile(answers, 99)
	if took > 0 {
		r.PerSecond = float64(len(answers)) / took.Seconds()
	}
}
