package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// process is one bot under measurement: the bare bot or bindtester.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *tail // its stdout and stderr
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// startProcess runs path with args and exactly the environment env, in dir.
func startProcess(name, path string, args, env []string, dir string) (*process, error) {
	cmd := exec.Command(path, args...)
	cmd.Dir, cmd.Env = dir, env
	p := &process{name: name, cmd: cmd, log: &tail{max: 64 << 10}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, path, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// exited returns an error describing the process's end and its log, or nil while it runs.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v); its log:\n%s", p.name, p.err, p.log)
	default:
		return nil
	}
}

// watch returns a context that is cancelled, with the reason, when the process ends.
func (p *process) watch(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-p.done:
			cancel(p.exited())
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

// kill ends the process at once (the benchmark has no use for a graceful shutdown) and waits
// for it to be gone.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// rss returns the process's resident set size, from VmRSS in /proc/<pid>/status (Linux).
func (p *process) rss() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("memory of %s: %w", p.name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("memory of %s: VmRSS %q: %w", p.name, v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("memory of %s: no VmRSS in /proc/%d/status", p.name, p.cmd.Process.Pid)
}

// tail is an io.Writer keeping the last max bytes written, safe for concurrent use.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

// buildBindtester builds ./cmd/bindtester of the module in the current
// directory into dir, as the Dockerfile builds the released binary.
func buildBindtester(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "bindtester")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "github.com/bindtester/bindtester/cmd/bindtester")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/bindtester: %w\n%s\nTo measure a tree that builds, e.g. HEAD:\n"+
			"  git worktree add /tmp/bench-head HEAD && (cd /tmp/bench-head && go build -o /tmp/bindtester ./cmd/bindtester)\n"+
			"then pass -bin /tmp/bindtester", err, bytes.TrimSpace(msg))
	}
	return out, nil
}
