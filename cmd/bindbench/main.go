// Command bindbench measures how fast bindtester answers slash commands, next to a bare
// slack-go Socket Mode bot that does the least a bot can (ack, post a parent message, reply in
// its thread), both against the fake Slack (bot/slackfake) and the fake WeChat
// (wechat/wechattest) with network round trips added (see internal/netsim). It is the
// measurement behind "answers as fast as the network allows":
//
//	go run ./cmd/bindbench                    # every scenario, the defaults below
//	go run ./cmd/bindbench -scenarios latency -binds 50
//	go run ./cmd/bindbench -bin /tmp/bindtester -json results.json
//
// Each run of a scenario starts fresh fakes and a fresh bot process: bindtester is the real
// binary (built from this module with `go build` unless -bin names one) in its default `run`
// mode with a clean environment and a temporary SQLite database; the bare bot is this program
// re-executed with BINDBENCH_BARE=1. Every command goes to a channel of its own, so its answer
// is the first reply in a thread of that channel. Times count from the moment the fake wrote
// the envelope to the bot's websocket: the ack is when the fake read the ack, the answer when
// it recorded the reply.
//
// Scenarios (-scenarios):
//
//	latency    -binds binds, -inflight at a time (closed loop), Slack -slack-rtt and WeChat
//	           -wechat-rtt away: ack and answer p50/p99, commands/s, new connections; -think
//	           pauses each sender after an answer
//	help-held  -held-binds binds that WeChat holds -held each, then 20 help commands one after
//	           the other: how fast help is answered while binds wait (bindtester only)
//	loopback   no added latency, -loopback-commands binds, -loopback-inflight at a time:
//	           commands/s and lost answers (none within -timeout)
//	memory     each bot's resident memory (VmRSS) once started and idle
//
// It prints a table per scenario, then TARGETS: each of the project's targets with the
// measured value, the ratio and ok or MISS. A MISS is a finding, not a failure: the exit
// status is 0 unless something could not run (a build, a process that did not start or died).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv(bareEnv) == "1" {
		if err := runBare(ctx, os.Getenv, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "bindbench bare bot:", err)
			os.Exit(1)
		}
		return
	}
	switch err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "bindbench:", err)
		os.Exit(1)
	}
}

// config is the parsed flags.
type config struct {
	slackRTT, wechatRTT time.Duration
	binds               int
	inflight            []int
	loopbackInflight    int
	loopbackCommands    int
	held                time.Duration
	heldBinds, helps    int
	timeout             time.Duration
	warmup              int           // binds before the measured ones, per in-flight slot
	think               time.Duration // a latency sender's pause between an answer and its next command
	slackTLS            bool
	bin                 string
	scenarios, bots     []string
	jsonPath            string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("bindbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: bindbench [flags]\n\n"+
			"Measures bindtester against a bare slack-go bot on the fake Slack and fake WeChat with\n"+
			"network latency added; prints a table per scenario and the TARGETS. Flags:\n\n")
		fs.PrintDefaults()
	}
	fs.DurationVar(&c.slackRTT, "slack-rtt", 40*time.Millisecond, "round trip to Slack: every Web API call and response_url post waits it, a new connection costs one more")
	fs.DurationVar(&c.wechatRTT, "wechat-rtt", 120*time.Millisecond, "round trip to WeChat, the same way, in the latency scenario")
	fs.IntVar(&c.binds, "binds", 200, "binds per run in the latency scenario")
	inflight := fs.String("inflight", "1,10", "commands in flight in the latency scenario: one run per value, comma-separated")
	fs.IntVar(&c.loopbackInflight, "loopback-inflight", 50, "commands in flight in the loopback scenario")
	fs.IntVar(&c.loopbackCommands, "loopback-commands", 1000, "binds in the loopback scenario")
	fs.DurationVar(&c.held, "held", 8*time.Second, "how long WeChat holds each bind_tester call in the help-held scenario")
	fs.IntVar(&c.heldBinds, "held-binds", 20, "binds waiting on WeChat in the help-held scenario")
	fs.IntVar(&c.helps, "helps", 20, "help commands sent, one after the other, in the help-held scenario")
	fs.BoolVar(&c.slackTLS, "slack-tls", true, "the fake Slack speaks TLS with HTTP/2, as Slack does (both bots trust its certificate through SSL_CERT_FILE); false: plain HTTP/1.1")
	fs.IntVar(&c.warmup, "warmup", 1, "binds per in-flight slot sent first and not measured, for both bots (the first answers of a fresh process wait for new connections and a Slack locale lookup); 0 measures them. New connections are counted from before the warm-up")
	fs.DurationVar(&c.think, "think", 0, "in the latency scenario, how long each sender waits after an answer before its next command, as a person reads before typing again; 0 sends it the instant the answer is seen")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "how long to wait for an answer before counting the command lost")
	fs.StringVar(&c.bin, "bin", "", "the bindtester binary; empty: go build ./cmd/bindtester of the module in the current directory")
	scenarios := fs.String("scenarios", strings.Join(allScenarios, ","), "the scenarios to run, comma-separated")
	bots := fs.String("bots", bare+","+bindtester, "the bots to measure, comma-separated: bare, bindtester")
	fs.StringVar(&c.jsonPath, "json", "", "also write the results and targets as JSON to this file (- for standard output)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q (see -h)", fs.Args())
	}
	var err error
	if c.inflight, err = positiveInts(*inflight); err != nil {
		return c, fmt.Errorf("-inflight: %w", err)
	}
	if c.scenarios, err = choose(*scenarios, allScenarios); err != nil {
		return c, fmt.Errorf("-scenarios: %w", err)
	}
	if c.bots, err = choose(*bots, []string{bare, bindtester}); err != nil {
		return c, fmt.Errorf("-bots: %w", err)
	}
	for name, n := range map[string]int{"-binds": c.binds, "-loopback-inflight": c.loopbackInflight,
		"-loopback-commands": c.loopbackCommands, "-held-binds": c.heldBinds, "-helps": c.helps} {
		if n <= 0 {
			return c, fmt.Errorf("%s must be positive, not %d", name, n)
		}
	}
	if c.slackRTT < 0 || c.wechatRTT < 0 || c.held < 0 || c.think < 0 || c.timeout <= 0 {
		return c, errors.New("durations must not be negative, and -timeout must be positive")
	}
	return c, nil
}

func positiveInts(list string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// choose parses a comma-separated subset of known, keeping known's order.
func choose(list string, known []string) ([]string, error) {
	var picked []string
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(known, f) {
			return nil, fmt.Errorf("%q is not one of %s", f, strings.Join(known, ", "))
		}
		picked = append(picked, f)
	}
	var out []string
	for _, k := range known {
		if slices.Contains(picked, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// run is the whole benchmark: it parses args, runs the scenarios and reports on stdout;
// progress goes to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("this executable, to run the bare bot: %w", err)
	}
	dir, err := os.MkdirTemp("", "bindbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{cfg: cfg, launch: &launcher{self: self, bin: cfg.bin, dir: dir}, progress: stderr}
	if slices.Contains(cfg.bots, bindtester) && b.launch.bin == "" {
		b.logf("building ./cmd/bindtester")
		if b.launch.bin, err = buildBindtester(ctx, dir); err != nil {
			return err
		}
	}

	res := &results{Settings: settingsOf(cfg)}
	steps := map[string]func(context.Context, *results) error{
		scenarioLatency: b.latency, scenarioHelpHeld: b.helpHeld,
		scenarioLoopback: b.loopback, scenarioMemory: b.memory,
	}
	for _, s := range cfg.scenarios {
		if err := steps[s](ctx, res); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		printScenario(stdout, s, cfg, res)
	}
	res.Targets = evaluate(cfg, res)
	printTargets(stdout, res.Targets)
	if cfg.jsonPath != "" {
		return writeJSON(cfg.jsonPath, stdout, res)
	}
	return nil
}

func writeJSON(path string, stdout io.Writer, res *results) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if path == "-" {
		_, err = stdout.Write(data)
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
