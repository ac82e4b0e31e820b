package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"
)

// The scenarios, in the order they run.
const (
	scenarioLatency  = "latency"
	scenarioHelpHeld = "help-held"
	scenarioLoopback = "loopback"
	scenarioMemory   = "memory"
)

var allScenarios = []string{scenarioLatency, scenarioHelpHeld, scenarioLoopback, scenarioMemory}

// bench runs the scenarios; each run has fresh fakes and a fresh bot process.
type bench struct {
	cfg      config
	launch   *launcher
	progress io.Writer
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "bindbench: "+format+"\n", args...)
}

// settle is how long a bot is left alone before its memory is read.
const settle = 2 * time.Second

// load runs n binds, inflight at a time, each sender pausing think after an answer, against
// bot on fakes slackRTT and wechatRTT away.
func (b *bench) load(ctx context.Context, bot string, slackRTT, wechatRTT time.Duration, n, inflight int, think time.Duration) (runResult, error) {
	r := runResult{Bot: bot, InFlight: inflight}
	f := newFakes(b.cfg.slackTLS, slackRTT, wechatRTT)
	defer f.close()
	p, err := b.launch.start(ctx, bot, f)
	if err != nil {
		return r, err
	}
	defer p.kill()
	a := watchAnswers(f.slack, threadReply)
	slack0, wechat0 := f.slack.NewConnections(), f.wechat.NewConnections()
	runCtx, stop := p.watch(ctx)
	if w := b.cfg.warmup * inflight; w > 0 {
		if _, _, err := drive(runCtx, f.slack, a, w, inflight, warmupCommand, b.cfg.timeout, think); err != nil {
			stop()
			return r, fmt.Errorf("%s, %d in flight, warming up: %w", bot, inflight, err)
		}
	}
	out, took, err := drive(runCtx, f.slack, a, n, inflight, bindCommand, b.cfg.timeout, think)
	stop()
	if err != nil {
		return r, fmt.Errorf("%s, %d in flight: %w", bot, inflight, err)
	}
	r.NewSlackConns, r.NewWeChatConns = f.slack.NewConnections()-slack0, f.wechat.NewConnections()-wechat0
	summarize(&r, out, took)
	if bot != bindtester { // the memory target is bindtester's; the bare bot's idle figure is in memory
		return r, nil
	}
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	if rss, err := p.rss(); err == nil {
		r.RSSAfter = rss
	}
	return r, nil
}

// latency runs -binds binds at each -inflight, bare bot and bindtester in turn.
func (b *bench) latency(ctx context.Context, res *results) error {
	for _, k := range b.cfg.inflight {
		for _, bot := range b.cfg.bots {
			b.logf("latency: %s, %d binds, %d in flight", bot, b.cfg.binds, k)
			r, err := b.load(ctx, bot, b.cfg.slackRTT, b.cfg.wechatRTT, b.cfg.binds, k, b.cfg.think)
			if err != nil {
				return err
			}
			res.Latency = append(res.Latency, r)
		}
	}
	return nil
}

// loopback runs -loopback-commands binds, -loopback-inflight at a time, with no added latency.
func (b *bench) loopback(ctx context.Context, res *results) error {
	for _, bot := range b.cfg.bots {
		b.logf("loopback: %s, %d binds, %d in flight", bot, b.cfg.loopbackCommands, b.cfg.loopbackInflight)
		r, err := b.load(ctx, bot, 0, 0, b.cfg.loopbackCommands, b.cfg.loopbackInflight, 0)
		if err != nil {
			return err
		}
		res.Loopback = append(res.Loopback, r)
	}
	return nil
}

// helpResult is the help-held scenario's outcome.
type helpResult struct {
	HeldBinds int    `json:"held_binds"`
	Held      millis `json:"held_ms"` // WeChat's delay on bind_tester
	// WaitingOnWeChat is how many binds were inside bind_tester when the first help was sent.
	WaitingOnWeChat int    `json:"waiting_on_wechat"`
	Helps           int    `json:"helps"`
	AckP50          millis `json:"ack_p50_ms"`
	AckP99          millis `json:"ack_p99_ms"`
	AnswerP50       millis `json:"answer_p50_ms"`
	AnswerP99       millis `json:"answer_p99_ms"`
	AnswerMax       millis `json:"answer_max_ms"`
	Lost            int    `json:"lost"`
}

// helpHeld starts -held-binds binds that WeChat holds -held each, then sends help commands
// one after the other and times their answers. It runs bindtester only: the bare bot has no
// help and no WeChat to wait on.
func (b *bench) helpHeld(ctx context.Context, res *results) error {
	if !slices.Contains(b.cfg.bots, bindtester) {
		return nil
	}
	b.logf("help-held: %d binds held %v by WeChat, then %d helps", b.cfg.heldBinds, b.cfg.held, b.cfg.helps)
	f := newFakes(b.cfg.slackTLS, b.cfg.slackRTT, 0)
	defer f.close()
	f.wechat.SetLatency("/wxa/bind_tester", b.cfg.held)
	p, err := b.launch.start(ctx, bindtester, f)
	if err != nil {
		return err
	}
	defer p.kill()
	runCtx, stop := p.watch(ctx)
	defer stop()

	ids := make([]string, b.cfg.heldBinds)
	for i := range ids {
		ids[i] = f.slack.SlashCommand(bindCommand(i).slash())
	}
	for _, id := range ids {
		if !f.slack.WaitAck(id, 10*time.Second) {
			if err := p.exited(); err != nil {
				return err
			}
			return fmt.Errorf("help-held: bindtester did not ack a bind within 10s")
		}
	}
	// Let the binds reach WeChat, as many as bindtester lets through at once.
	deadline := time.Now().Add(min(2*time.Second, b.cfg.held/2))
	for f.wechat.Calls("/wxa/bind_tester") < b.cfg.heldBinds && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	h := helpResult{HeldBinds: b.cfg.heldBinds, Held: millis(b.cfg.held), Helps: b.cfg.helps,
		WaitingOnWeChat: f.wechat.Calls("/wxa/bind_tester")}

	a := watchAnswers(f.slack, anyMessage)
	help := func(i int) command { return command{channel: fmt.Sprintf("H%06d", i), text: "help"} }
	out, _, err := drive(runCtx, f.slack, a, b.cfg.helps, 1, help, b.cfg.timeout, 0)
	if err != nil {
		return fmt.Errorf("help-held: %w", err)
	}
	var r runResult
	summarize(&r, out, 0)
	h.AckP50, h.AckP99, h.AnswerP50, h.AnswerP99, h.Lost = r.AckP50, r.AckP99, r.AnswerP50, r.AnswerP99, r.Lost
	h.AnswerMax = percentile(answersOf(out), 100)
	res.HelpHeld = &h
	return nil
}

func answersOf(out []outcome) []time.Duration {
	var ds []time.Duration
	for _, o := range out {
		if o.answered {
			ds = append(ds, o.answer)
		}
	}
	return ds
}

// memResult is a bot's resident memory once started and left idle.
type memResult struct {
	Bot     string `json:"bot"`
	IdleRSS int64  `json:"idle_rss_bytes"`
}

// memory starts each bot on fakes with no latency, leaves it idle and reads its memory.
func (b *bench) memory(ctx context.Context, res *results) error {
	for _, bot := range b.cfg.bots {
		b.logf("memory: %s, idle", bot)
		f := newFakes(b.cfg.slackTLS, 0, 0)
		p, err := b.launch.start(ctx, bot, f)
		if err != nil {
			f.close()
			return err
		}
		select {
		case <-time.After(settle):
		case <-ctx.Done():
		}
		rss, err := p.rss()
		p.kill()
		f.close()
		if err != nil {
			return err
		}
		res.Memory = append(res.Memory, memResult{Bot: bot, IdleRSS: rss})
	}
	return ctx.Err()
}
