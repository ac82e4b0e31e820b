package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot/slackfake"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The ops endpoint says healthy once Slack is connected, and its metrics count
// what the bot did: envelopes, audit events, WeChat calls.
func TestOpsEndpointHealthAndMetrics(t *testing.T) {
	addr := freeAddr(t)
	r := startRun(t, map[string]string{"BINDTESTER_OPS_ADDR": addr})
	r.connected(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get(t, "http://"+addr+"/healthz")
		if code == http.StatusOK && strings.TrimSpace(body) == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz = %d %q", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.slack.SlashCommand(slackfake.SlashCommand{Text: testAppID + " tester_one", UserID: e2eBinder, ChannelID: "C0SHOP"})
	if _, ok := r.slack.WaitMessages(10*time.Second, func(ms []slackfake.Message) bool {
		for _, m := range ms {
			if m.Method == "chat.update" {
				return true
			}
		}
		return false
	}); !ok {
		t.Fatal("no answer")
	}
	_, metrics := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`bindtester_audit_events_total{kind="allowed"} 1`,
		`bindtester_audit_events_total{kind="bound"} 1`,
		`bindtester_slack_envelopes_total{type="slash_commands"} 1`,
		`bindtester_wechat_request_duration_seconds_count{path="/wxa/bind_tester",result="ok"} 1`,
		`bindtester_wechat_request_duration_seconds_count{path="/cgi-bin/stable_token",result="ok"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, testAppSecret) || strings.Contains(metrics, "tester_one") {
		t.Error("metrics show a secret or a WeChat ID")
	}
}

func TestOpsEndpointUnhealthy(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := serveOps(ctx, addr, func(context.Context) error { return errors.New("not connected to Slack") }, newMetrics(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	code, body := get(t, "http://"+addr+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not connected to Slack") {
		t.Errorf("healthz = %d %q", code, body)
	}
	// A taken port stops startup with the variable named.
	if err := serveOps(ctx, addr, nil, newMetrics(), slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "BINDTESTER_OPS_ADDR") {
		t.Errorf("second listener: %v", err)
	}
}
