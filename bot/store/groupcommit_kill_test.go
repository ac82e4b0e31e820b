package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// killChildDB, when set, makes TestGroupCommitKillChild the writer that
// TestGroupCommitSurvivesKill kills: it writes into that database from many
// goroutines and prints each write once the store has said it is done.
const killChildDB = "BINDTESTER_STORE_KILL_CHILD_DB"

// A process killed with SIGKILL in the middle of shared commits loses no
// write it was told was committed: every write whose call returned nil is
// there after reopening, and the database is intact. (Writes still waiting
// for their batch when the process died may be missing: their callers never
// heard they were done. A power cut is another matter, which synchronous=FULL
// covers and no test here can.)
func TestGroupCommitSurvivesKill(t *testing.T) {
	if os.Getenv(killChildDB) != "" {
		t.Skip("this is the child")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bindtester.db")
	openTest(t, path, testKey).Close() // created, migrated, with its key

	cmd := exec.Command(exe, "-test.run=^TestGroupCommitKillChild$", "-test.v")
	cmd.Env = append(os.Environ(), killChildDB+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		detail, ok := strings.CutPrefix(sc.Text(), "written ")
		if !ok {
			continue
		}
		acked[detail] = true
		if len(acked) == 400 && !killed {
			killed = true
			_ = cmd.Process.Signal(syscall.SIGKILL) // lines already printed are still read below
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("the child stopped after %d writes, before it could be killed", len(acked))
	}

	s := openTest(t, path, testKey)
	evs, err := s.Events(context.Background(), bot.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range evs {
		have[e.Detail] = true
	}
	var lost []string
	for d := range acked {
		if !have[d] {
			lost = append(lost, d)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d acknowledged writes lost by SIGKILL, e.g. %v", len(lost), len(acked), lost[:min(5, len(lost))])
	}
	if err := quickCheck(context.Background(), s.db, path); err != nil {
		t.Errorf("database after SIGKILL: %v", err)
	}
	t.Logf("%d writes acknowledged before SIGKILL, %d in the database", len(acked), len(evs))
}

// TestGroupCommitKillChild is the writer TestGroupCommitSurvivesKill kills.
func TestGroupCommitKillChild(t *testing.T) {
	path := os.Getenv(killChildDB)
	if path == "" {
		t.Skip("run by TestGroupCommitSurvivesKill")
	}
	s, err := Open(context.Background(), path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := 0; ; i++ {
				d := fmt.Sprintf("w%02d-%06d", g, i)
				if err := s.Record(context.Background(), bot.Event{At: time.Now(), Kind: bot.EventAllowed, Actor: "U1", Requester: "U1",
					AppID: "wx0123456789abcdef", Detail: d}); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				fmt.Println("written " + d)
				mu.Unlock()
			}
		})
	}
	wg.Wait() // until killed
}
