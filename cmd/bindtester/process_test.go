package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/slackfake"
	"github.com/bindtester/bindtester/bot/store"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

// The durability tests kill the bot with SIGKILL, so the bot must be a real
// process. It is this test binary itself: started with childEnv set to the
// arguments, it is bindtester (main, before any test machinery runs), built
// with the same flags as the tests (-race included) and with nothing to build.
const childEnv = "BINDTESTER_TEST_CHILD"

func init() {
	args, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	os.Args = append(os.Args[:1], strings.Fields(args)...)
	main()
	os.Exit(0)
}

// proc is one bindtester process.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *syncBuffer // its stdout and stderr
	done chan struct{}
}

// startProc starts `bindtester args…` with exactly the settings in e (none
// of the test's own environment), in a temporary directory (so no .env is
// read). It is killed when the test ends, and its log is shown if the test
// failed; a data race it reports fails the test.
func startProc(t *testing.T, name string, e map[string]string, args ...string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("the test binary: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(exe)
	cmd.Dir = dir
	cmd.Env = []string{childEnv + "=" + strings.Join(args, " "), "HOME=" + dir, "TMPDIR=" + dir}
	for _, k := range []string{"GORACE", "GOCOVERDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{name: name, cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill(t)
		log := p.log.String()
		if strings.Contains(log, "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race:\n%s", name, log)
		} else if t.Failed() {
			t.Logf("log of %s:\n%s", name, log)
		}
	})
	return p
}

// kill sends SIGKILL (kill -9: no shutdown, no grace) and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not die after SIGKILL", p.name)
	}
}

// exited reports whether the process has ended on its own.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// durableStoreKey is BINDTESTER_STORE_KEY of the durability tests: every process
// and the test itself open the store with it.
var durableStoreKey = bytes.Repeat([]byte{0x3c}, store.KeySize)

// procEnv is a complete `bindtester run` setup on the fakes and database db,
// with short job leases and sweeps so resumptions happen within the test.
func procEnv(sl *slackfake.Server, wx *wechattest.Server, db string) map[string]string {
	return map[string]string{
		"SLACK_APP_TOKEN":           e2eAppToken,
		"SLACK_BOT_TOKEN":           e2eBotToken,
		"SLACK_API_URL":             sl.URL,
		"WECHAT_API_BASE":           wx.URL,
		"WECHAT_APP_SECRET":         testAppSecret,
		"BINDTESTER_APPID":          testAppID,
		"BINDTESTER_APP_NAME":       "Shop",
		"BINDTESTER_BINDERS":        e2eBinder,
		"BINDTESTER_ADMINS":         "UADMIN",
		"BINDTESTER_DB":             db,
		"BINDTESTER_STORE_KEY":      base64.StdEncoding.EncodeToString(durableStoreKey),
		"BINDTESTER_JOB_LEASE":      jobLease.String(),
		"BINDTESTER_SWEEP_INTERVAL": "200ms",
		"BINDTESTER_SHUTDOWN_GRACE": "1s",
		"LOG_LEVEL":                 "info",
	}
}

// jobLease is BINDTESTER_JOB_LEASE of the processes: a job of a killed process
// is resumed this long after it was claimed. Its WeChat part may take 2/3 of
// it (2s), plenty for a fake on 127.0.0.1 even on a loaded machine.
const jobLease = 3 * time.Second

// openTestStore opens the processes' database from the test, closed when the test ends.
func openTestStore(t *testing.T, db string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := store.Open(ctx, db, durableStoreKey)
	if err != nil {
		t.Fatalf("open store %s: %v", db, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// eventsOf lists the audit events of kind about masked, oldest first.
func eventsOf(t *testing.T, st *store.Store, kind bot.EventKind, masked string) []bot.Event {
	t.Helper()
	all, err := st.Events(context.Background(), bot.AuditFilter{AppID: testAppID})
	if err != nil {
		t.Fatalf("audit events: %v", err)
	}
	var out []bot.Event
	for i := len(all) - 1; i >= 0; i-- {
		if e := all[i]; e.Kind == kind && e.WechatMasked == masked {
			out = append(out, e)
		}
	}
	return out
}

// pendingJobs lists the jobs not yet answered: work a process may still
// resume and answer, now or after a lease runs out.
func pendingJobs(t *testing.T, st *store.Store) []bot.Job {
	t.Helper()
	jobs, err := st.DueJobs(context.Background(), time.Now().Add(24*time.Hour), 1000)
	if err != nil {
		t.Fatalf("due jobs: %v", err)
	}
	return jobs
}

// eventually polls cond every 20ms until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// unbindsOf counts the unbind_tester calls that named each userstr or WeChat ID.
func unbindsOf(wx *wechattest.Server) map[string]int {
	n := map[string]int{}
	for _, r := range wx.Requests() {
		if r.Path != "/wxa/unbind_tester" {
			continue
		}
		var who struct {
			UserStr  string `json:"userstr"`
			WechatID string `json:"wechatid"`
		}
		if err := json.Unmarshal(r.Body, &who); err == nil {
			n[who.UserStr+who.WechatID]++
		}
	}
	return n
}
