package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// after returns the output that follows the first line containing marker, or
// fails the test. It lets a transcript be checked step by step.
func after(t *testing.T, out, marker string) string {
	t.Helper()
	i := strings.Index(out, marker)
	if i < 0 {
		t.Fatalf("transcript lacks %q:\n%s", marker, out)
	}
	return out[i+len(marker):]
}

// until returns the output before the first console prompt, i.e. the answer to one line.
func until(s string) string {
	if i := strings.Index(s, "\n/bindtester "); i >= 0 {
		return s[:i]
	}
	return s
}

var grantRef = regexp.MustCompile("unbind demo #([0-9]+)")

// TestConsoleSandboxApprovalFlow types the sandbox's approval story, with no
// BINDTESTER_DB: the sandbox must keep its state in a temporary database and
// leave nothing in the working directory (or in the temporary directory).
func TestConsoleSandboxApprovalFlow(t *testing.T) {
	cwd, tmp := t.TempDir(), t.TempDir()
	t.Chdir(cwd)
	t.Setenv("TMPDIR", tmp) // where os.MkdirTemp puts the sandbox database

	script := []string{
		":user U0GUEST",
		"audit",             // a guest may not read the audit log
		"demo guest_wechat", // needs an approval: request #1
		":approve 1",        // the guest is not an approver
		":user U0ADMIN",
		":approve 1", // approved and bound
		":approve 1", // already decided
		":user U0GUEST",
		"mine", // grant #1 in a fresh database (checked below)
		"testers demo",
		":user U0ADMIN",
		"testers demo",
		"unbind demo #1",
		"audit",
		"demo x_wechat for 90d", // too long
		"quit",
	}

	var stdout, stderr bytes.Buffer
	in := strings.NewReader(strings.Join(script, "\n") + "\n")
	if err := run(ctxTimeout(t), []string{"console"}, env(nil), in, &stdout, &stderr); err != nil {
		t.Fatalf("console = %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	defer func() {
		if t.Failed() {
			t.Logf("transcript:\n%s", out)
		}
	}()

	rest := after(t, out, "(now acting as U0GUEST)")
	if a := until(after(t, rest, "/bindtester ")); !strings.Contains(a, "Only admins can read the audit log") {
		t.Errorf("guest's audit = %q", a)
	}

	// The guest asks: a parent message, a prompt to the approver, a note in the thread.
	rest = after(t, rest, "[#C0CONSOLE, message 1] @U0GUEST asked to bind `gu***at`")
	step := until(rest)
	for _, w := range []string{"waiting for approval", "[DM to @U0ADMIN, message 2] @U0GUEST asks to bind `gu***at`",
		"(request #1)", "[Approve] (type :approve 1)  [Deny] (type :deny 1)", "[thread of 1] This Mini Program needs an approval: I asked @U0ADMIN"} {
		if !strings.Contains(step, w) {
			t.Errorf("the request's answer lacks %q:\n%s", w, step)
		}
	}
	if strings.Contains(step, "Done:") {
		t.Error("bound before anyone approved")
	}

	// The guest cannot approve their own request.
	rest = after(t, rest, "\n/bindtester ")
	step = until(rest)
	if !strings.Contains(step, "[only you] Only the approvers of this Mini Program can decide: @U0ADMIN") {
		t.Errorf(":approve 1 as the guest = %q", step)
	}

	// The admin approves: the prompt is updated, the outcome goes to the thread of message 1.
	rest = after(t, rest, "(now acting as U0ADMIN)")
	rest = after(t, rest, "\n/bindtester ")
	step = until(rest)
	for _, w := range []string{"[message 2 updated] ✅ @U0ADMIN approved: @U0GUEST may bind `gu***at`",
		"[thread of 1] @U0GUEST, @U0ADMIN approved your request",
		"[thread of 1] Done: `gu***at` is now an experiencer of *Demo Mini Program*",
		"[message 1 updated] ✅ @U0GUEST: `gu***at` is an experiencer"} {
		if !strings.Contains(step, w) {
			t.Errorf(":approve 1 as the admin lacks %q:\n%s", w, step)
		}
	}

	// Clicking again changes nothing.
	rest = after(t, rest, "\n/bindtester ")
	step = until(rest)
	if !strings.Contains(step, "[only you] Already decided: @U0ADMIN approved it") || strings.Contains(step, "Done:") {
		t.Errorf("second :approve 1 = %q", step)
	}

	// The guest's grants and the app's testers.
	rest = after(t, rest, "(now acting as U0GUEST)")
	rest = after(t, rest, "\n/bindtester ")
	step = until(rest)
	if !strings.Contains(step, "Your active grants (1):") || !strings.Contains(step, "`gu***at` on *Demo Mini Program*") {
		t.Errorf("mine = %q", step)
	}
	if m := grantRef.FindStringSubmatch(step); m == nil || m[1] != "1" {
		t.Errorf("mine names grant %v, want #1 (the script unbinds #1)", m)
	}
	rest = after(t, rest, "\n/bindtester ")
	step = until(rest)
	if !strings.Contains(step, "*Demo Mini Program*: 1 of 3 experiencer slots in use") || !strings.Contains(step, "`gu***at` — asked by @U0GUEST") {
		t.Errorf("testers demo as the guest = %q", step)
	}
	rest = after(t, rest, "(now acting as U0ADMIN)")
	rest = after(t, rest, "\n/bindtester ")
	step = until(rest)
	if !strings.Contains(step, "1 of 3 experiencer slots in use") || !strings.Contains(step, "(#1)") {
		t.Errorf("testers demo as the admin = %q", step)
	}

	// The admin unbinds the guest's grant; the guest is told.
	rest = after(t, rest, "\n/bindtester ")
	step = until(rest)
	for _, w := range []string{"[only you] Done: `gu***at` is no longer an experiencer of *Demo Mini Program*",
		"[DM to @U0GUEST] `gu***at` was removed as an experiencer of *Demo Mini Program* by @U0ADMIN"} {
		if !strings.Contains(step, w) {
			t.Errorf("unbind demo #1 lacks %q:\n%s", w, step)
		}
	}

	// The audit log, newest first.
	rest = after(t, rest, "\n/bindtester ")
	step = until(rest)
	if !strings.Contains(step, "Audit log, newest first (page 1):") {
		t.Errorf("audit = %q", step)
	}
	last := -1
	for _, k := range []string{"*unbound* @U0ADMIN", "*bound* @U0ADMIN", "*approved* @U0ADMIN", "*requested* @U0GUEST"} {
		i := strings.Index(step, k)
		if i < 0 || i < last {
			t.Errorf("audit: %q missing or out of order (newest first):\n%s", k, step)
			break
		}
		last = i
	}
	if !strings.Contains(step, "(for @U0GUEST)") {
		t.Errorf("audit does not say whose request the admin acted on:\n%s", step)
	}

	// Too long.
	rest = after(t, rest, "\n/bindtester ")
	step = until(rest)
	if !strings.Contains(step, "[only you] 90d is longer than *Demo Mini Program* allows: at most 30d") {
		t.Errorf("demo x_wechat for 90d = %q", step)
	}

	for _, full := range []string{"guest_wechat", "x_wechat"} {
		for _, l := range postedLine.FindAllString(out, -1) {
			if strings.Contains(l, full) {
				t.Errorf("a posted line shows the full WeChat ID %q: %q", full, l)
			}
		}
	}

	// Nothing was written to the working directory, and the temporary database is gone.
	for _, dir := range []string{cwd, tmp} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			t.Errorf("the sandbox left %s in %s", e.Name(), dir)
		}
	}
}

// TestConsoleUserSwitch: :user changes who acts; other : lines print the console's help.
func TestConsoleUserSwitch(t *testing.T) {
	out, _ := consoleRun(t, nil, nil,
		"demo my_wechat_id",
		":user UOTHER",
		"demo other_wechat",
		":user U0ADMIN",
		"demo admin_wechat",
		":bogus",
		":approve",
		"quit")
	for _, w := range []string{
		"[#C0CONSOLE, message 1] @U0CONSOLE asked to bind `my***id`",
		"(now acting as UOTHER)",
		"[only you] You may not bind testers to *Demo Mini Program*",
		"(now acting as U0ADMIN)",
		"@U0ADMIN asked to bind `ad***at`",
		"console commands: :user U…, :approve N, :deny N, quit",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("stdout lacks %q:\n%s", w, out)
		}
	}
	if n := strings.Count(out, "console commands:"); n != 2 {
		t.Errorf("console help printed %d times, want 2 (:bogus, :approve without a number)", n)
	}
}

// TestConsoleSandboxDeny: the admin denies with :deny; nothing is bound.
func TestConsoleSandboxDeny(t *testing.T) {
	out, _ := consoleRun(t, []string{"--user", "U0GUEST"}, nil,
		"demo guest_wechat",
		":user U0ADMIN",
		":deny 1",
		":approve 1",
		"testers demo",
		"quit")
	for _, w := range []string{
		"[message 2 updated] ❌ @U0ADMIN denied",
		"[thread of 1] @U0GUEST, @U0ADMIN denied your request",
		"[message 1 updated] ❌",
		"Already decided: @U0ADMIN denied it",
		"0 of 3 experiencer slots in use",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("stdout lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "Done:") {
		t.Errorf("a denied request was bound:\n%s", out)
	}
}
