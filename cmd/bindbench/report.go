package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// results is everything one bindbench run measured; it is also the -json output.
type results struct {
	Settings map[string]string `json:"settings"`
	Latency  []runResult       `json:"latency,omitempty"`
	HelpHeld *helpResult       `json:"help_held,omitempty"`
	Loopback []runResult       `json:"loopback,omitempty"`
	Memory   []memResult       `json:"memory,omitempty"`
	Targets  []target          `json:"targets"`
}

func settingsOf(c config) map[string]string {
	ks := make([]string, len(c.inflight))
	for i, k := range c.inflight {
		ks[i] = strconv.Itoa(k)
	}
	return map[string]string{
		"slack_rtt": c.slackRTT.String(), "wechat_rtt": c.wechatRTT.String(), "binds": strconv.Itoa(c.binds),
		"inflight": strings.Join(ks, ","), "loopback_inflight": strconv.Itoa(c.loopbackInflight),
		"loopback_commands": strconv.Itoa(c.loopbackCommands), "held": c.held.String(),
		"held_binds": strconv.Itoa(c.heldBinds), "helps": strconv.Itoa(c.helps), "timeout": c.timeout.String(), "think": c.think.String(),
		"bin": c.bin, "scenarios": strings.Join(c.scenarios, ","), "bots": strings.Join(c.bots, ","),
	}
}

func trimFloat(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }

// mb is bytes in megabytes (10⁶ bytes), "-" when unknown.
func mb(bytes int64) string {
	if bytes <= 0 {
		return "-"
	}
	return trimFloat(float64(bytes)/1e6, 1) + " MB"
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// printScenario prints the table of scenario s.
func printScenario(w io.Writer, s string, c config, res *results) {
	switch s {
	case scenarioLatency:
		slack := "plain HTTP/1.1"
		if c.slackTLS {
			slack = "TLS and HTTP/2"
		}
		think := "the next command the instant an answer is seen"
		if c.think > 0 {
			think = fmt.Sprintf("the next command %v after an answer", c.think)
		}
		fmt.Fprintf(w, "\nLATENCY: Slack %v (%s) and WeChat %v round trips, %d binds per run after %d per in-flight slot to warm up, %s, a fresh bot each run\n",
			c.slackRTT, slack, c.wechatRTT, c.binds, c.warmup, think)
		printRuns(w, res.Latency)
	case scenarioLoopback:
		fmt.Fprintf(w, "\nLOOPBACK: no added latency, %d binds, %d in flight\n", c.loopbackCommands, c.loopbackInflight)
		printRuns(w, res.Loopback)
	case scenarioHelpHeld:
		h := res.HelpHeld
		if h == nil {
			return
		}
		fmt.Fprintf(w, "\nHELP-HELD: %d binds held %v each by WeChat (%d of them inside bind_tester), Slack %v round trip, %d helps one after the other\n",
			h.HeldBinds, time.Duration(h.Held), h.WaitingOnWeChat, c.slackRTT, h.Helps)
		tw := table(w)
		fmt.Fprintln(tw, "bot\tack p50\tack p99\thelp answer p50\thelp answer p99\tmax\tlost")
		fmt.Fprintf(tw, "%s\t%v\t%v\t%v\t%v\t%v\t%d\n", bindtester, h.AckP50, h.AckP99, h.AnswerP50, h.AnswerP99, h.AnswerMax, h.Lost)
		tw.Flush()
	case scenarioMemory:
		fmt.Fprintf(w, "\nMEMORY: resident set size (VmRSS) %v after the Socket Mode connection is up, idle\n", settle)
		tw := table(w)
		fmt.Fprintln(tw, "bot\tidle RSS")
		for _, m := range res.Memory {
			fmt.Fprintf(tw, "%s\t%s\n", m.Bot, mb(m.IdleRSS))
		}
		tw.Flush()
	}
}

func printRuns(w io.Writer, runs []runResult) {
	tw := table(w)
	fmt.Fprintln(tw, "in flight\tbot\tack p50\tack p99\tanswer p50\tanswer p99\tcmds/s\tlost\tprivate\tnew Slack conns\tnew WeChat conns\tRSS after")
	for _, r := range runs {
		fmt.Fprintf(tw, "%d\t%s\t%v\t%v\t%v\t%v\t%s\t%d\t%d\t%d\t%d\t%s\n", r.InFlight, r.Bot, r.AckP50, r.AckP99,
			r.AnswerP50, r.AnswerP99, trimFloat(r.PerSecond, 1), r.Lost, r.Private, r.NewSlackConns, r.NewWeChatConns, mb(r.RSSAfter))
	}
	tw.Flush()
	for _, r := range runs {
		if r.Private > 0 {
			fmt.Fprintf(w, "note: %s answered %d of %d binds privately (response_url), not in a thread; the first said: %q\n",
				r.Bot, r.Private, r.Commands, r.PrivateText)
		}
	}
}

// target is one of the project's performance targets, checked against this run.
type target struct {
	Target   string  `json:"target"`
	Measured string  `json:"measured"`
	Against  string  `json:"against"` // what the measurement is compared with
	Ratio    float64 `json:"ratio"`   // measured / against
	Bound    string  `json:"bound"`   // what the ratio must be
	Result   string  `json:"result"`  // "ok", "MISS", or "n/a" when not measured this run
}

// check fills t from a measurement and what it is compared with; ok says whether the ratio
// meets the bound. A zero against, or missing data, makes it n/a.
func (t target) check(measured, against float64, show func(float64) string, ok func(ratio float64) bool) target {
	if against <= 0 || measured < 0 {
		t.Result = "n/a"
		return t
	}
	t.Measured, t.Against = show(measured), show(against)
	t.Ratio = measured / against
	t.Result = "MISS"
	if ok(t.Ratio) {
		t.Result = "ok"
	}
	return t
}

func atMost(bound float64) func(float64) bool  { return func(r float64) bool { return r <= bound } }
func below(bound float64) func(float64) bool   { return func(r float64) bool { return r < bound } }
func atLeast(bound float64) func(float64) bool { return func(r float64) bool { return r >= bound } }

func showMillis(v float64) string { return millis(v).String() }
func showCount(v float64) string  { return trimFloat(v, 0) }
func showRate(v float64) string   { return trimFloat(v, 1) + "/s" }
func showMB(v float64) string     { return mb(int64(v)) }

func find(runs []runResult, bot string, inflight int) *runResult {
	for i := range runs {
		if runs[i].Bot == bot && (inflight == 0 || runs[i].InFlight == inflight) {
			return &runs[i]
		}
	}
	return nil
}

// evaluate checks the targets of issue 8, "Answers as fast as the network allows", against
// what this run measured. The answer targets compare bindtester with what the network allows:
// the bare bot's two posts plus one WeChat round trip, at the same percentile.
func evaluate(c config, res *results) []target {
	var ts []target
	rtt := float64(c.wechatRTT)
	for _, k := range c.inflight {
		bt, base := find(res.Latency, bindtester, k), find(res.Latency, bare, k)
		var m [5]float64 // bindtester's answer p50, p99, ack p99, Slack connections, bare's ack p99
		var b [2]float64 // bare's answer p50 and p99
		for i := range m {
			m[i] = -1
		}
		if bt != nil {
			m[0], m[1], m[2], m[3] = float64(bt.AnswerP50), float64(bt.AnswerP99), float64(bt.AckP99), float64(bt.NewSlackConns)
		}
		if base != nil {
			b[0], b[1], m[4] = float64(base.AnswerP50)+rtt, float64(base.AnswerP99)+rtt, float64(base.AckP99)
		}
		ts = append(ts,
			target{Target: fmt.Sprintf("answer p50, %d in flight ≤ 1.15 × (bare p50 + WeChat RTT)", k), Bound: "≤ 1.15"}.
				check(m[0], b[0], showMillis, atMost(1.15)),
			target{Target: fmt.Sprintf("answer p99, %d in flight ≤ 1.3 × (bare p99 + WeChat RTT)", k), Bound: "≤ 1.3"}.
				check(m[1], b[1], showMillis, atMost(1.3)),
			target{Target: fmt.Sprintf("ack p99, %d in flight ≤ bare's", k), Bound: "≤ 1"}.
				check(m[2], max(m[4], 0), showMillis, atMost(1)),
			target{Target: fmt.Sprintf("new Slack connections, %d in flight ≤ %d + 4 over %d binds", k, k, c.binds), Bound: "≤ 1"}.
				check(m[3], float64(k+4), showCount, atMost(1)),
		)
	}

	help, helpAgainst := -1.0, 0.0
	if h := res.HelpHeld; h != nil {
		help, helpAgainst = float64(h.AnswerP99), float64(100*time.Millisecond)
		if h.Lost > 0 {
			help = float64(c.timeout) // a lost help is as slow as it gets
		}
	}
	ts = append(ts, target{Target: fmt.Sprintf("help answer p99 < 100ms while %d binds wait %v on WeChat", c.heldBinds, c.held), Bound: "< 1"}.
		check(help, helpAgainst, showMillis, below(1)))

	rate, rateAgainst, lost := -1.0, 0.0, -1.0
	if bt := find(res.Loopback, bindtester, 0); bt != nil {
		rate, lost = bt.PerSecond, float64(bt.Lost)
	}
	if base := find(res.Loopback, bare, 0); base != nil {
		rateAgainst = base.PerSecond
	}
	ts = append(ts, target{Target: fmt.Sprintf("loopback commands/s, %d in flight ≥ 0.5 × bare's", c.loopbackInflight), Bound: "≥ 0.5"}.
		check(rate, rateAgainst, showRate, atLeast(0.5)))
	lostTarget := target{Target: fmt.Sprintf("loopback lost, %d in flight = 0", c.loopbackInflight), Bound: "= 0", Result: "n/a"}
	if lost >= 0 {
		lostTarget.Measured, lostTarget.Against, lostTarget.Result = showCount(lost), "0", "ok"
		if lost > 0 {
			lostTarget.Result = "MISS"
		}
	}
	ts = append(ts, lostTarget)

	rss := -1.0
	for _, m := range res.Memory {
		if m.Bot == bindtester {
			rss = float64(m.IdleRSS)
		}
	}
	ts = append(ts, target{Target: "idle RSS ≤ 20 MB", Bound: "≤ 1"}.check(rss, 20e6, showMB, atMost(1)))
	return ts
}

func printTargets(w io.Writer, ts []target) {
	fmt.Fprintln(w, "\nTARGETS (bindtester; ratio = measured / against)")
	tw := table(w)
	fmt.Fprintln(tw, "target\tmeasured\tagainst\tratio\tbound\tresult")
	for _, t := range ts {
		ratio := "-"
		if t.Result != "n/a" && t.Against != "0" {
			ratio = trimFloat(t.Ratio, 2)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Target, or(t.Measured, "-"), or(t.Against, "-"), ratio, t.Bound, t.Result)
	}
	tw.Flush()
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
