package main

import (
	"database/sql"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/slackfake"
)

// scanStoreKey is the session's store key: 32 printable bytes, so that the raw
// key is as easy to search for as its base64.
const scanStoreKey = "scan-store-key-raw-bytes-32-long"

// A whole session of `bindtester run`, at LOG_LEVEL=debug, against the fake
// Slack and the fake WeChat: binds that succeed, fail (85001, also with an
// errmsg that names the WeChat ID; 85002; 40164 with the bot's IP address), are
// already done (85004, added outside the bot), meet -1 and a lost answer
// (both resolved by the sweep), an approval that is approved, an app mention,
// unbind, testers, audit and mine, usage errors with WeChat IDs in them. Then
// everything the session left behind — the whole log, every message, block,
// file name and title the fake Slack received, the metrics, and every byte of
// the SQLite store (database, WAL and every table row) — is searched for every
// full WeChat ID used, the app secret, both Slack tokens, every access token
// WeChat issued and the store key (raw and base64).
func TestSessionLeavesNoSecretBehind(t *testing.T) {
	const (
		asker    = "U0ASKER"
		approver = "U0APPROVER"
		admin    = "UADMIN"
	)
	ids := map[string]string{ // what each WeChat ID is used for
		"scanid_alpha1":   "bound, then unbound",
		"scanid_bravo2":   "85001",
		"scanid_charlie3": "85002: no free slot",
		"scanid_delta4":   "85004: added outside the bot",
		"scanid_echo5":    "-1 until the sweep asks again",
		"scanid_foxtrot6": "a lost answer (timeout), resolved by the sweep",
		"scanid_golf7":    "85001 with an errmsg that names the WeChat ID",
		"scanid_hotel8":   "an approval, approved",
		"scanid_india9":   "an app mention",
		"scanid_juliet10": "a usage error",
		"scanid_kilo11":   "40164, with the IP address and the WeChat ID in the errmsg",
		"scanid_lima12":   "unbind of an ID the bot never bound",
	}
	dbPath := filepath.Join(t.TempDir(), "scan.db")
	opsAddr := freeAddr(t)
	keyB64 := base64.StdEncoding.EncodeToString([]byte(scanStoreKey))
	r := startRun(t, map[string]string{
		"BINDTESTER_DB":             dbPath,
		"BINDTESTER_STORE_KEY":      keyB64,
		"BINDTESTER_REQUESTERS":     asker,
		"BINDTESTER_APPROVERS":      approver,
		"BINDTESTER_OPS_ADDR":       opsAddr,
		"BINDTESTER_JOB_LEASE":      "3s",
		"BINDTESTER_SWEEP_INTERVAL": "200ms",
		"WECHAT_TIMEOUT":            "700ms",
	})
	r.connected(t)
	wx, sl := r.wechat, r.slack

	// seen is how many messages earlier steps already looked at.
	seen := 0
	waitFor := func(what string, ok func(m slackfake.Message) bool) slackfake.Message {
		t.Helper()
		var found slackfake.Message
		msgs, done := sl.WaitMessages(20*time.Second, func(ms []slackfake.Message) bool {
			for _, m := range ms[min(seen, len(ms)):] {
				if ok(m) {
					found = m
					return true
				}
			}
			return false
		})
		if !done {
			t.Fatalf("no message %s; messages since the last step: %+v\nlog:\n%s", what, msgs[min(seen, len(msgs)):], r.stderr.String())
		}
		return found
	}
	has := func(frags ...string) func(m slackfake.Message) bool {
		return func(m slackfake.Message) bool {
			for _, f := range frags {
				if !strings.Contains(m.Text, f) {
					return false
				}
			}
			return true
		}
	}
	slash := func(user, text string) {
		t.Helper()
		seen = len(sl.Messages())
		if env := sl.SlashCommand(slackfake.SlashCommand{Text: text, UserID: user, ChannelID: e2eChannel}); !sl.WaitAck(env, 5*time.Second) {
			t.Fatalf("%q was not acked", text)
		}
	}
	mask := bot.MaskWechatID
	bind := func(id string) { slash(e2eBinder, testAppID+" "+id) }

	bind("scanid_alpha1")
	waitFor("saying alpha1 is bound", has("Done: `"+mask("scanid_alpha1")+"`"))

	wx.SetOutcome("scanid_bravo2", 85001)
	bind("scanid_bravo2")
	waitFor("saying bravo2 is not found", has("WeChat cannot find `"+mask("scanid_bravo2")+"`"))

	wx.AddExperiencer(testAppID, "scanid_delta4")
	bind("scanid_delta4")
	waitFor("saying delta4 was added outside", has("`"+mask("scanid_delta4")+"`", "added outside this bot"))

	wx.SetSlotLimit(testAppID, len(wx.Experiencers(testAppID)))
	bind("scanid_charlie3")
	waitFor("saying the slots are full", has("no free experiencer slots"))
	wx.SetSlotLimit(testAppID, 15)

	wx.SetOutcome("scanid_echo5", -1)
	bind("scanid_echo5")
	waitFor("saying echo5's outcome is unknown", has("I could not tell whether WeChat did it"))
	wx.SetOutcome("scanid_echo5", 0)
	waitFor("saying echo5 is bound after all", has("Done: `"+mask("scanid_echo5")+"`"))

	release := wx.HoldAnswers("/wxa/bind_tester")
	bind("scanid_foxtrot6")
	waitFor("saying foxtrot6's outcome is unknown", has("I could not tell whether WeChat did it"))
	release()
	waitFor("saying foxtrot6 is bound after all", has("Done: `"+mask("scanid_foxtrot6")+"`"))

	wx.FailNextHTTP("/wxa/bind_tester", 1, 200, "application/json",
		`{"errcode":85001,"errmsg":"user scanid_golf7 not exist or user cannot be searched"}`)
	bind("scanid_golf7")
	waitFor("saying golf7 is not found", has("WeChat cannot find `"+mask("scanid_golf7")+"`"))

	wx.FailNextHTTP("/wxa/bind_tester", 1, 200, "application/json",
		`{"errcode":40164,"errmsg":"invalid ip 203.0.113.9 ipv6 ::ffff:203.0.113.9, not in whitelist, wechatid scanid_kilo11, rid: 6600aa11-0b"}`)
	bind("scanid_kilo11")
	waitFor("saying the bot's address is not allowed", has("allow-list"))

	slash(asker, testAppID+" scanid_hotel8")
	prompt := waitFor("prompting the approver", func(m slackfake.Message) bool {
		return m.Blocks != "" && strings.Contains(m.Text, mask("scanid_hotel8"))
	})
	value := regexp.MustCompile(`"value":"([0-9]+)"`).FindStringSubmatch(prompt.Blocks)
	if value == nil {
		t.Fatalf("no approval id in the prompt's blocks: %s", prompt.Blocks)
	}
	seen = len(sl.Messages())
	if env := sl.BlockAction(slackfake.BlockAction{UserID: approver, ChannelID: prompt.Channel, MessageTS: prompt.TS,
		ActionID: bot.ActionApprove, BlockID: "approval", Value: value[1]}); !sl.WaitAck(env, 5*time.Second) {
		t.Fatal("the approval click was not acked")
	}
	waitFor("saying hotel8 is bound", has("Done: `"+mask("scanid_hotel8")+"`"))

	seen = len(sl.Messages())
	sl.AppMention(slackfake.AppMention{UserID: e2eBinder, ChannelID: e2eChannel, Text: "<@" + slackfake.BotUserID + "> " + testAppID + " scanid_india9"})
	waitFor("saying india9 is bound", has("Done: `"+mask("scanid_india9")+"`"))

	slash(e2eBinder, testAppID+" scanid_juliet10 and more words")
	waitFor("refusing the extra words", has("Too many words"))
	slash(e2eBinder, "unbind "+testAppID+" scanid_lima12")
	waitFor("saying lima12 is not the bot's", has(mask("scanid_lima12")))
	slash(e2eBinder, "unbind "+testAppID+" scanid_alpha1")
	waitFor("saying alpha1 is unbound", has("Done: `"+mask("scanid_alpha1")+"` is no longer an experiencer"))
	slash(e2eBinder, "testers "+testAppID)
	waitFor("listing the testers", has("experiencer slots in use"))
	slash(e2eBinder, "mine")
	waitFor("listing the binder's grants", has("Your active grants"))
	slash(admin, "audit")
	waitFor("showing the audit log", has("Audit log"))
	slash(admin, "audit page 2")
	waitFor("showing the audit log's second page", has("Audit log"))

	_, metrics := get(t, "http://"+opsAddr+"/metrics")
	r.cancel()
	if err := r.wait(t, 15*time.Second); err != nil {
		t.Errorf("run after cancel = %v", err)
	}

	// Everything the session left behind.
	texts := map[string]string{"the log": r.stderr.String(), "the metrics": metrics}
	for i, m := range sl.Messages() {
		texts[fmt.Sprintf("Slack message %d (%s to %s)", i, m.Method, m.Channel+m.User)] =
			strings.Join([]string{m.Text, m.Blocks, m.FileName, m.FileTitle, string(m.FileBytes)}, "\n")
	}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if b, err := os.ReadFile(dbPath + suffix); err == nil {
			texts["the store file "+filepath.Base(dbPath+suffix)] = string(b)
		}
	}
	for table, rows := range dumpSQLite(t, dbPath) {
		texts["the store table "+table] = rows
	}

	// What must not be in any of it.
	secrets := map[string]string{
		"the Slack bot token": e2eBotToken, "the Slack app token": e2eAppToken, "the app secret": testAppSecret,
		"the store key": scanStoreKey, "the store key in base64": keyB64,
		"the store key in URL base64": base64.RawURLEncoding.EncodeToString([]byte(scanStoreKey)),
	}
	var tokens []string
	for _, rq := range wx.Requests() {
		if tok := rq.Query.Get("access_token"); tok != "" && !slices.Contains(tokens, tok) {
			tokens = append(tokens, tok)
			secrets["access token "+tok[:4]+"…"] = tok
			secrets["access token "+tok[:4]+"… in a URL"] = url.QueryEscape(tok)
		}
	}
	if len(tokens) == 0 {
		t.Error("WeChat issued no access token that was used: the token check checks nothing")
	}
	for id, use := range ids {
		secrets["the WeChat ID "+id+" ("+use+")"] = id
	}
	for name, text := range texts {
		for what, s := range secrets {
			if strings.Contains(text, s) {
				i := strings.Index(text, s)
				t.Errorf("%s shows %s: …%s…", name, what, text[max(0, i-120):min(len(text), i+len(s)+120)])
			}
		}
	}

	// The search looks at real data: what should be there is.
	for name, want := range map[string]string{
		"the log":                   mask("scanid_alpha1"),
		"the metrics":               "bindtester_audit_events_total",
		"the store file scan.db":    mask("scanid_alpha1"),
		"the store table events":    mask("scanid_golf7"),
		"the store table jobs":      mask("scanid_foxtrot6"),
		"the store table grants":    mask("scanid_india9"),
		"the store table approvals": mask("scanid_hotel8"),
	} {
		if !strings.Contains(texts[name], want) {
			t.Errorf("%s lacks %q: the scan may not be looking at the data", name, want)
		}
	}
	if n := len(texts); n < 40 {
		t.Errorf("only %d texts scanned", n)
	}
}

// dumpSQLite reads every row of every table of the SQLite database at path,
// read-only, as text: one line per row, columns separated by tabs (blobs as
// they are).
func dumpSQLite(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatalf("open the store read-only: %v", err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatalf("list the store's tables: %v", err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string]string{}
	for _, table := range tables {
		rs, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatalf("read table %s: %v", table, err)
		}
		cols, _ := rs.Columns()
		var b strings.Builder
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatalf("read a row of %s: %v", table, err)
			}
			for i, v := range vals {
				if i > 0 {
					b.WriteByte('\t')
				}
				switch v := v.(type) {
				case []byte:
					b.Write(v)
				default:
					fmt.Fprint(&b, v)
				}
			}
			b.WriteByte('\n')
		}
		rs.Close()
		out[table] = b.String()
	}
	return out
}
