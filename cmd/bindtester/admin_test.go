package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bindtester/bindtester/wechat/wechattest"
)

// adminEnv is a one-app setup for the admin subcommands against a fake WeChat,
// with its database in a temporary directory.
func adminEnv(t *testing.T) (*wechattest.Server, map[string]string) {
	t.Helper()
	fake := wechattest.NewServer()
	t.Cleanup(fake.Close)
	fake.AddApp(testAppID, testAppSecret)
	return fake, map[string]string{
		"WECHAT_API_BASE":     fake.URL,
		"WECHAT_APP_SECRET":   testAppSecret,
		"BINDTESTER_APPID":    testAppID,
		"BINDTESTER_APP_NAME": "Shop",
		"BINDTESTER_BINDERS":  "U0BINDER",
		"BINDTESTER_ADMINS":   "U0ADMIN",
		"BINDTESTER_DB":       filepath.Join(t.TempDir(), "bindtester.db"),
	}
}

// cli runs one admin subcommand and returns its output and error.
func cli(t *testing.T, e map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(ctxTimeout(t), args, env(e), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

// auditJSON reads `audit --admin --format json`.
func auditJSON(t *testing.T, e map[string]string) []map[string]string {
	t.Helper()
	out, errOut, err := cli(t, e, "audit", "--admin", "--format", "json")
	if err != nil {
		t.Fatalf("audit = %v\nstderr: %s", err, errOut)
	}
	var rows []map[string]string
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("audit --format json is not a JSON array of objects: %v\n%s", err, out)
	}
	return rows
}

func kinds(rows []map[string]string) string {
	var ks []string
	for _, r := range rows {
		ks = append(ks, r["kind"])
	}
	return strings.Join(ks, ",")
}

func TestAdminCommands(t *testing.T) {
	fake, e := adminEnv(t)

	t.Run("bind without --user or --admin is a usage error", func(t *testing.T) {
		out, _, err := cli(t, e, "bind", testAppID, "tester_one")
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--user") || !strings.Contains(err.Error(), "--admin") {
			t.Errorf("bind = %v, want a usage error naming --user and --admin", err)
		}
		if out != "" {
			t.Errorf("stdout = %q", out)
		}
	})

	t.Run("a user who may not bind is denied and WeChat sees nothing", func(t *testing.T) {
		out, errOut, err := cli(t, e, "bind", testAppID, "tester_one", "--user", "UNOTALLOWED")
		if !errors.Is(err, errNothingChanged) { // a refused bind exits non-zero, for scripts
			t.Fatalf("bind = %v, want errNothingChanged\nstderr: %s", err, errOut)
		}
		if !strings.Contains(out, "You may not bind testers to *Shop*") || !strings.Contains(out, "@U0ADMIN") {
			t.Errorf("stdout lacks the denial:\n%s", out)
		}
		if strings.Contains(out, "message 1") {
			t.Errorf("a denied bind posted a message:\n%s", out)
		}
		if c := fake.Calls("/wxa/bind_tester"); c != 0 {
			t.Errorf("WeChat saw %d bind calls", c)
		}
		rows := auditJSON(t, e)
		if len(rows) != 1 || rows[0]["kind"] != "denied" || rows[0]["actor"] != "UNOTALLOWED" || rows[0]["wechat_id"] != "te***ne" {
			t.Errorf("audit = %+v, want one denied row by UNOTALLOWED", rows)
		}
	})

	t.Run("an admin binds for 3 days", func(t *testing.T) {
		out, errOut, err := cli(t, e, "bind", "--admin", testAppID, "tester_one", "for", "3d")
		if err != nil {
			t.Fatalf("bind = %v\nstderr: %s", err, errOut)
		}
		for _, w := range []string{"Done: `te***ne` is now an experiencer of *Shop*", "Access ends", "✅"} {
			if !strings.Contains(out, w) {
				t.Errorf("stdout lacks %q:\n%s", w, out)
			}
		}
		if strings.Contains(out, "tester_one") {
			t.Errorf("stdout shows the full WeChat ID:\n%s", out)
		}
		if got := fake.Experiencers(testAppID); len(got) != 1 || fake.UserStr(testAppID, "tester_one") == "" {
			t.Errorf("experiencers = %v, want tester_one", got)
		}
		rows := auditJSON(t, e)
		if kinds(rows) != "bound,allowed,denied" {
			t.Fatalf("audit kinds = %s, want bound,allowed,denied", kinds(rows))
		}
		for _, r := range rows[:2] {
			if r["actor"] != "cli-admin" || r["app"] != testAppID || r["wechat_id"] != "te***ne" {
				t.Errorf("audit row = %+v, want actor cli-admin", r)
			}
		}
		if rows[0]["userstr"] != fake.UserStr(testAppID, "tester_one") || rows[0]["grant"] == "" {
			t.Errorf("bound row = %+v, want the userstr and the grant", rows[0])
		}
		if rows[1]["detail"] != "for 3d" {
			t.Errorf("allowed row detail = %q, want \"for 3d\"", rows[1]["detail"])
		}
	})

	t.Run("testers lists the grant", func(t *testing.T) {
		out, errOut, err := cli(t, e, "testers", "--admin", testAppID)
		if err != nil {
			t.Fatalf("testers = %v\nstderr: %s", err, errOut)
		}
		// (The requester shows as "cli-admin": only Slack IDs are mentions.)
		for _, w := range []string{"*Shop*: 1 of 15 experiencer slots in use", "`te***ne` — asked by ", "cli-admin", "(#1)"} {
			if !strings.Contains(out, w) {
				t.Errorf("stdout lacks %q:\n%s", w, out)
			}
		}
	})

	t.Run("a non-admin may not see the audit log", func(t *testing.T) {
		_, _, err := cli(t, e, "audit", "--user", "UNOTADMIN")
		if err == nil || !strings.Contains(err.Error(), "only admins") || !strings.Contains(err.Error(), "UNOTADMIN") {
			t.Errorf("audit = %v, want an error saying only admins may", err)
		}
	})

	t.Run("an admin unbinds", func(t *testing.T) {
		out, errOut, err := cli(t, e, "unbind", "--admin", testAppID, "tester_one")
		if err != nil {
			t.Fatalf("unbind = %v\nstderr: %s", err, errOut)
		}
		if !strings.Contains(out, "`te***ne` is no longer an experiencer of *Shop*") {
			t.Errorf("stdout:\n%s", out)
		}
		if got := fake.Experiencers(testAppID); len(got) != 0 {
			t.Errorf("experiencers after unbind = %v", got)
		}
		if c := fake.Calls("/wxa/unbind_tester"); c != 1 {
			t.Errorf("unbind calls = %d, want 1", c)
		}
	})

	t.Run("audit as JSON, newest first", func(t *testing.T) {
		rows := auditJSON(t, e)
		if kinds(rows) != "unbound,bound,allowed,denied" {
			t.Fatalf("audit kinds = %s, want unbound,bound,allowed,denied", kinds(rows))
		}
		for i := 1; i < len(rows); i++ {
			if rows[i-1]["time"] < rows[i]["time"] {
				t.Errorf("row %d (%s) is older than row %d (%s)", i-1, rows[i-1]["time"], i, rows[i]["time"])
			}
		}
		for _, r := range rows {
			for _, col := range eventColumns {
				if _, ok := r[col]; !ok {
					t.Errorf("row %+v lacks %q", r, col)
				}
			}
		}
	})

	t.Run("audit as CSV", func(t *testing.T) {
		out, _, err := cli(t, e, "audit", "--admin", "--format", "csv")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, "time,kind,actor,") {
			t.Errorf("CSV does not start with the header row:\n%s", out)
		}
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("not CSV: %v\n%s", err, out)
		}
		if len(recs) != 5 || strings.Join(recs[0], ",") != strings.Join(eventColumns, ",") {
			t.Fatalf("CSV = %q, want the header and 4 rows", recs)
		}
		var ks []string
		for _, r := range recs[1:] {
			ks = append(ks, r[1])
		}
		if got := strings.Join(ks, ","); got != "unbound,bound,allowed,denied" {
			t.Errorf("CSV kinds = %s", got)
		}
	})

	t.Run("audit as a table", func(t *testing.T) {
		out, _, err := cli(t, e, "audit", "--admin", "--format", "table")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if len(lines) != 5 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[0], "KIND") {
			t.Fatalf("table:\n%s", out)
		}
		for i, k := range []string{"unbound", "bound", "allowed", "denied"} {
			if f := strings.Fields(lines[i+1]); len(f) < 2 || f[1] != k {
				t.Errorf("table line %d = %q, want kind %s", i+1, lines[i+1], k)
			}
		}
	})

	t.Run("audit filters and limit", func(t *testing.T) {
		out, _, err := cli(t, e, "audit", "--admin", "--format", "json", "--who", "UNOTALLOWED")
		if err != nil {
			t.Fatal(err)
		}
		var rows []map[string]string
		if err := json.Unmarshal([]byte(out), &rows); err != nil || kinds(rows) != "denied" {
			t.Errorf("--who UNOTALLOWED = %s (%v)", out, err)
		}
		out, _, err = cli(t, e, "audit", "--admin", "--format", "json", "--limit", "1", "--app", testAppID)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil || kinds(rows) != "unbound" {
			t.Errorf("--limit 1 = %s (%v)", out, err)
		}
		if _, _, err := cli(t, e, "audit", "--admin", "--app", "nosuchapp"); err == nil || !strings.Contains(err.Error(), "nosuchapp") {
			t.Errorf("--app nosuchapp = %v", err)
		}
	})

	t.Run("unknown format is a usage error", func(t *testing.T) {
		_, _, err := cli(t, e, "audit", "--admin", "--format", "xml")
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "xml") {
			t.Errorf("audit --format xml = %v, want a usage error", err)
		}
	})

	if c := fake.Calls("/wxa/bind_tester"); c != 1 {
		t.Errorf("bind calls over the whole session = %d, want 1", c)
	}
}

// The command line cannot deliver approval prompts: a bind that needs one is
// refused with a pointer to Slack, recorded, and WeChat sees nothing.
func TestAdminBindNeedingApprovalIsSentToSlack(t *testing.T) {
	fake, e := adminEnv(t)
	e["BINDTESTER_REQUESTERS"] = "U0ASKER"
	out, errOut, err := cli(t, e, "bind", testAppID, "tester_one", "--user", "U0ASKER")
	if !errors.Is(err, errNothingChanged) {
		t.Fatalf("bind = %v, want errNothingChanged\n%s", err, errOut)
	}
	if !strings.Contains(out, "ask in Slack") {
		t.Errorf("output does not send the requester to Slack:\n%s", out)
	}
	if strings.Contains(out, "[Approve]") {
		t.Errorf("an approval prompt was printed:\n%s", out)
	}
	if n := fake.Calls("/wxa/bind_tester"); n != 0 {
		t.Errorf("bind_tester called %d times", n)
	}
	if got := kinds(auditJSON(t, e)); got != "denied" {
		t.Errorf("audit kinds = %s, want denied", got)
	}
}

// A bind WeChat refuses, an unbind of nobody and an extend of no grant exit
// non-zero (the core's Outcome says nothing changed); what works does not.
func TestAdminExitStatusSaysWhetherAnythingChanged(t *testing.T) {
	fake, e := adminEnv(t)
	fake.SetOutcome("hidden_user", 85001)
	if _, _, err := cli(t, e, "bind", "--admin", testAppID, "hidden_user"); !errors.Is(err, errNothingChanged) {
		t.Errorf("bind refused by WeChat: %v, want errNothingChanged", err)
	}
	if _, _, err := cli(t, e, "bind", "--admin", testAppID, "tester_one"); err != nil {
		t.Errorf("bind: %v", err)
	}
	if _, _, err := cli(t, e, "unbind", "--user", "U0BINDER", testAppID, "never_bound"); !errors.Is(err, errNothingChanged) {
		t.Errorf("unbind of nobody: %v, want errNothingChanged", err)
	}
	if _, _, err := cli(t, e, "testers", "--admin", testAppID); err != nil {
		t.Errorf("testers: %v", err)
	}
	// extend says so too: a grant that exists gets more time, one that does not changes nothing.
	if _, _, err := cli(t, e, "extend", "--admin", "#1", "3d"); err != nil {
		t.Errorf("extend #1: %v", err)
	}
	if _, _, err := cli(t, e, "extend", "--admin", "#99", "3d"); !errors.Is(err, errNothingChanged) {
		t.Errorf("extend of no grant: %v, want errNothingChanged", err)
	}
}
