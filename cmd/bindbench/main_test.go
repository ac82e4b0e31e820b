package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be the bare bot, as bindbench re-executes itself for it.
func TestMain(m *testing.M) {
	if os.Getenv(bareEnv) == "1" {
		if err := runBare(context.Background(), os.Getenv, os.Stderr); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSmokeBareLatency runs a tiny latency scenario against the bare bot only (nothing to
// build): the tables, the targets and the JSON must come out, and every command be answered.
func TestSmokeBareLatency(t *testing.T) {
	out := filepath.Join(t.TempDir(), "results.json")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := run(ctx, []string{"-bots", "bare", "-scenarios", "latency", "-binds", "5", "-inflight", "1,2",
		"-slack-rtt", "5ms", "-wechat-rtt", "5ms", "-timeout", "20s", "-json", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	for _, want := range []string{"LATENCY", "TARGETS", "answer p50, 1 in flight", "n/a"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Latency []struct {
			Bot       string  `json:"bot"`
			InFlight  int     `json:"in_flight"`
			Commands  int     `json:"commands"`
			Lost      int     `json:"lost"`
			AnswerP50 float64 `json:"answer_p50_ms"`
		} `json:"latency"`
		Targets []struct{ Target, Result string } `json:"targets"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("JSON: %v\n%s", err, data)
	}
	if len(res.Latency) != 2 {
		t.Fatalf("latency runs = %+v, want 2 (1 and 2 in flight)", res.Latency)
	}
	for i, r := range res.Latency {
		if r.Bot != bare || r.InFlight != []int{1, 2}[i] || r.Commands != 5 || r.Lost != 0 || r.AnswerP50 <= 0 {
			t.Errorf("run %d = %+v, want the bare bot answering all 5 binds", i, r)
		}
	}
	for _, tg := range res.Targets {
		if tg.Result != "n/a" { // bindtester did not run
			t.Errorf("target %q = %s without bindtester, want n/a", tg.Target, tg.Result)
		}
	}
}

// TestThinkPausesEachSender runs the bare bot with -think: one sender, 4 binds, so at least
// 3 pauses of 100 ms lie between the first command and the last answer, and the run can make
// no more than 10 commands a second however fast the bot answers.
func TestThinkPausesEachSender(t *testing.T) {
	out := filepath.Join(t.TempDir(), "results.json")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := run(ctx, []string{"-bots", "bare", "-scenarios", "latency", "-binds", "4", "-inflight", "1", "-warmup", "0",
		"-slack-rtt", "1ms", "-wechat-rtt", "1ms", "-think", "100ms", "-json", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "the next command 100ms after an answer") {
		t.Errorf("the table does not say how long senders pause:\n%s", stdout.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Settings map[string]string `json:"settings"`
		Latency  []struct {
			Commands int     `json:"commands"`
			PerSec   float64 `json:"commands_per_second"`
		} `json:"latency"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("JSON: %v\n%s", err, data)
	}
	if res.Settings["think"] != "100ms" {
		t.Errorf("settings think = %q, want 100ms", res.Settings["think"])
	}
	if len(res.Latency) != 1 || res.Latency[0].Commands != 4 || res.Latency[0].PerSec <= 0 || res.Latency[0].PerSec > 10 {
		t.Errorf("latency = %+v, want 4 commands at no more than 10 a second", res.Latency)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		check   func(config) bool
	}{
		{nil, "", func(c config) bool {
			return c.binds == 200 && len(c.inflight) == 2 && c.slackRTT == 40*time.Millisecond &&
				c.wechatRTT == 120*time.Millisecond && len(c.scenarios) == 4 && len(c.bots) == 2 && c.held == 8*time.Second
		}},
		{[]string{"-scenarios", "memory,latency", "-bots", "bindtester"}, "", func(c config) bool {
			return strings.Join(c.scenarios, ",") == "latency,memory" && strings.Join(c.bots, ",") == bindtester
		}},
		{[]string{"-inflight", "1,x"}, "-inflight", nil},
		{[]string{"-inflight", "0"}, "-inflight", nil},
		{[]string{"-scenarios", "speed"}, "-scenarios", nil},
		{[]string{"-binds", "0"}, "-binds", nil},
		{[]string{"-think", "300ms"}, "", func(c config) bool { return c.think == 300*time.Millisecond }},
		{[]string{"-think", "-1s"}, "durations", nil},
		{[]string{"extra"}, "unexpected", nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c, err := parseFlags(tt.args, &bytes.Buffer{})
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.check != nil && !tt.check(c):
				t.Errorf("config = %+v", c)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 200)
	for i := range ds {
		ds[i] = time.Duration(200-i) * time.Millisecond // 200ms … 1ms, unsorted
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 100 * time.Millisecond}, {99, 198 * time.Millisecond}, {100, 200 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(ds, tt.p); time.Duration(got) != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, time.Duration(got), tt.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
}

func TestEvaluate(t *testing.T) {
	ms := func(n float64) millis { return millis(n * float64(time.Millisecond)) }
	c := config{wechatRTT: 100 * time.Millisecond, inflight: []int{1}, binds: 200, loopbackInflight: 50,
		heldBinds: 20, held: 8 * time.Second, timeout: 30 * time.Second}
	res := &results{
		Latency: []runResult{
			{Bot: bare, InFlight: 1, AnswerP50: ms(80), AnswerP99: ms(100), AckP99: ms(1)},
			// p50 within 1.15 × 180ms; p99 over 1.3 × 200ms; ack as fast; 6 connections > 1 + 4.
			{Bot: bindtester, InFlight: 1, AnswerP50: ms(200), AnswerP99: ms(300), AckP99: ms(1), NewSlackConns: 6},
		},
		HelpHeld: &helpResult{AnswerP99: ms(99)},
		Loopback: []runResult{{Bot: bare, PerSecond: 100}, {Bot: bindtester, PerSecond: 40, Lost: 1}},
		Memory:   []memResult{{Bot: bindtester, IdleRSS: 19e6}},
	}
	want := []string{"ok", "MISS", "ok", "MISS", "ok", "MISS", "MISS", "ok"}
	got := evaluate(c, res)
	if len(got) != len(want) {
		t.Fatalf("targets = %+v", got)
	}
	for i, tg := range got {
		if tg.Result != want[i] {
			t.Errorf("%s: %s (measured %s against %s), want %s", tg.Target, tg.Result, tg.Measured, tg.Against, want[i])
		}
	}
}
