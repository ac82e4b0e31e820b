package main

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to age a grant
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", to age a grant

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/slackfake"
	"github.com/bindtester/bindtester/bot/store"
	"github.com/bindtester/bindtester/internal/pgtest"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

// dbEngines are the databases the durability tests run on: a SQLite file
// (one bot) and a PostgreSQL database of its own (see internal/pgtest).
var dbEngines = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "bindtester.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.DSN(t) }},
}

// A bot killed with SIGKILL after WeChat bound the tester but before it heard
// so: the next process on the same database finds the job once its lease has
// run out, asks WeChat again (85004: bound, by this very job), records the
// grant as the bot's with its end date and says in the original thread what
// happened; at the end date the worker unbinds exactly that tester.
func TestKilledAfterBindIsResumedByTheNextProcess(t *testing.T) {
	for _, eng := range dbEngines {
		t.Run(eng.name, func(t *testing.T) {
			t.Parallel()
			db := eng.dsn(t)
			sl := slackfake.NewServer(e2eBotToken, e2eAppToken)
			t.Cleanup(sl.Close)
			wx := wechattest.NewServer()
			t.Cleanup(wx.Close)
			wx.AddApp(testAppID, testAppSecret)
			bystander := wx.AddExperiencer(testAppID, "bystander_1") // added by hand in the WeChat console
			e := procEnv(sl, wx, db)
			const id, masked = "tester_kill", "te***ll"

			// WeChat binds at once but its answer never reaches bot A.
			release := wx.HoldAnswers("/wxa/bind_tester")
			defer release()
			a := startProc(t, "bot A", e, "run")
			if !sl.WaitLiveConnections(1, 20*time.Second) {
				t.Fatal("bot A never connected over Socket Mode")
			}
			sent := time.Now()
			sl.SlashCommand(slackfake.SlashCommand{Text: testAppID + " " + id + " for 12h", UserID: e2eBinder, ChannelID: e2eChannel})
			var parent slackfake.Message
			if !eventually(20*time.Second, func() bool {
				parent, _, _, _ = thread(sl.Messages(), masked)
				return parent.TS != "" && wx.UserStr(testAppID, id) != ""
			}) {
				t.Fatalf("WeChat never bound %s under a status message; messages %+v", id, sl.Messages())
			}
			// The status message is posted while WeChat binds, and where it is
			// stored beside the bind: killed before that, the resumed job
			// would answer by DM (TestKilledBeforeTheThreadIsStoredAnswersByDM).
			st := openTestStore(t, db)
			if !eventually(20*time.Second, func() bool {
				jobs := pendingJobs(t, st)
				return len(jobs) == 1 && jobs[0].Thread.ParentTS == parent.TS
			}) {
				t.Fatalf("the thread of the job was never stored: %+v", pendingJobs(t, st))
			}
			bound := time.Now()
			a.kill(t)
			release()
			if !strings.Contains(parent.Text, "working…") {
				t.Errorf("status message = %q, want the working… one", parent.Text)
			}
			if _, replies, files, updates := thread(sl.Messages(), masked); len(replies)+len(files)+len(updates) != 0 {
				t.Fatalf("bot A answered before it was killed (its WeChat timeout passed?): replies %+v updates %+v", replies, updates)
			}

			ctx := context.Background()
			b := startProc(t, "bot B", e, "run")
			if !eventually(20*time.Second, func() bool {
				_, replies, _, updates := thread(sl.Messages(), masked)
				return len(updates) > 0 && strings.HasPrefix(updates[len(updates)-1].Text, "✅") &&
					len(withText(replies, "Done: `"+masked+"`")) > 0 && len(pendingJobs(t, st)) == 0 // answered, and recorded as answered
			}) {
				t.Fatalf("bot B never finished the interrupted bind in its thread; messages %+v", sl.Messages())
			}
			b.kill(t)

			p2, replies, files, updates := thread(sl.Messages(), masked)
			if p2.TS != parent.TS {
				t.Errorf("a second status message was posted: %+v", p2)
			}
			done := withText(replies, "Done: `"+masked+"`")
			if len(done) != 1 || !strings.HasPrefix(done[0].Text, bot.English.T("job.resumed")) {
				t.Errorf("replies saying it is done: %+v; want one, saying first that the bot was interrupted", done)
			}
			if n := len(withText(replies, "could not tell")); n != 0 {
				t.Errorf("%d replies say the outcome is unknown; the resumed job knew it", n)
			}
			if len(files) != 1 {
				t.Errorf("%d QR codes in the thread, want 1", len(files))
			}
			for _, u := range updates[:len(updates)-1] {
				if !strings.HasPrefix(u.Text, "✅") && !strings.HasPrefix(u.Text, "⏳") {
					t.Errorf("status message went through %q", u.Text)
				}
			}
			if n := wx.Calls("/wxa/bind_tester"); n != 2 {
				t.Errorf("bind_tester called %d times, want 2: bot A's, and bot B asking again", n)
			}

			g, err := st.FindGrant(ctx, testAppID, id)
			if err != nil {
				t.Fatalf("no grant for the resumed bind: %v", err)
			}
			if g.ExpiresAt.Sub(g.CreatedAt) != 12*time.Hour || g.CreatedAt.Before(sent.Add(-time.Second)) || g.CreatedAt.After(bound.Add(time.Second)) {
				t.Errorf("grant from %v to %v; want 12h from the request (sent %v)", g.CreatedAt, g.ExpiresAt, sent)
			}
			if g.Requester != e2eBinder || g.Thread.ParentTS != parent.TS {
				t.Errorf("grant %+v: want requester %s and the original thread %s", g, e2eBinder, parent.TS)
			}
			boundEvents := eventsOf(t, st, bot.EventBound, masked)
			if len(boundEvents) != 1 || strings.Contains(boundEvents[0].Detail, "outside") || !strings.Contains(boundEvents[0].Detail, "resumed") {
				t.Errorf("bound events %+v: want one, resumed, not \"added outside this bot\"", boundEvents)
			}

			// Twelve hours later (the grant's end moved to the past: a process
			// cannot be given a fake clock), the worker unbinds that tester only.
			ageGrant(t, db, g.ID, time.Now().Add(-time.Minute))
			c := startProc(t, "bot C", e, "run")
			wantExpiredByWorker(t, st, wx, sl, g, id, bystander)
			c.kill(t)
			if n := wx.TokenFetches(); n != 1 {
				t.Errorf("%d access tokens fetched by three processes in turn, want 1: kept in the store", n)
			}
		})
	}
}

// A bind whose WeChat answer comes after the bot's timeout (2s, two thirds of
// the lease): WeChat bound the tester, the bot could not know. The thread says
// the outcome is unknown and will be checked; when the retry is due the sweep
// asks again (85004: this job's own bind), records the grant as the bot's and
// says so in the thread; at the grant's end the worker unbinds that tester.
func TestLateWeChatAnswerIsTheBotsBind(t *testing.T) {
	for _, eng := range dbEngines {
		t.Run(eng.name, func(t *testing.T) {
			t.Parallel()
			db := eng.dsn(t)
			sl := slackfake.NewServer(e2eBotToken, e2eAppToken)
			t.Cleanup(sl.Close)
			wx := wechattest.NewServer()
			t.Cleanup(wx.Close)
			wx.AddApp(testAppID, testAppSecret)
			bystander := wx.AddExperiencer(testAppID, "bystander_1")
			st := openTestStore(t, db)
			ctx := context.Background()
			const id, masked = "tester_late", "te***te"

			p := startProc(t, "bot", procEnv(sl, wx, db), "run")
			if !sl.WaitLiveConnections(1, 20*time.Second) {
				t.Fatal("the bot never connected over Socket Mode")
			}
			release := wx.HoldAnswers("/wxa/bind_tester")
			defer release()
			sl.SlashCommand(slackfake.SlashCommand{Text: testAppID + " " + id + " for 12h", UserID: e2eBinder, ChannelID: e2eChannel})
			if !eventually(20*time.Second, func() bool {
				_, replies, _, updates := thread(sl.Messages(), masked)
				return len(withText(replies, "could not tell")) > 0 && len(updates) > 0
			}) {
				t.Fatalf("the thread never said the outcome is unknown; messages %+v", sl.Messages())
			}
			release() // WeChat answers normally again
			_, _, _, updates := thread(sl.Messages(), masked)
			if !strings.HasPrefix(updates[len(updates)-1].Text, "⏳") {
				t.Errorf("status %q, want ⏳ (being checked)", updates[len(updates)-1].Text)
			}
			if wx.UserStr(testAppID, id) == "" {
				t.Fatal("WeChat did not bind the tester")
			}

			if !eventually(20*time.Second, func() bool {
				_, replies, _, updates := thread(sl.Messages(), masked)
				return len(withText(replies, "Done: `"+masked+"`")) > 0 && strings.HasPrefix(updates[len(updates)-1].Text, "✅") &&
					len(pendingJobs(t, st)) == 0
			}) {
				t.Fatalf("the sweep never resolved the bind; messages %+v", sl.Messages())
			}
			_, replies, files, _ := thread(sl.Messages(), masked)
			if len(replies) != 2 || !strings.Contains(replies[0].Text, "could not tell") ||
				!strings.HasPrefix(replies[1].Text, bot.English.T("job.resumed")) || !strings.Contains(replies[1].Text, "Done: `"+masked+"`") {
				t.Errorf("replies %+v: want the unknown outcome, then what the check found", replies)
			}
			if len(files) != 1 {
				t.Errorf("%d QR codes, want 1", len(files))
			}
			if n := wx.Calls("/wxa/bind_tester"); n != 2 {
				t.Errorf("bind_tester called %d times, want 2: the late one and the check", n)
			}
			g, err := st.FindGrant(ctx, testAppID, id)
			if err != nil {
				t.Fatalf("no grant: %v", err)
			}
			if g.ExpiresAt.Sub(g.CreatedAt) != 12*time.Hour || g.Requester != e2eBinder {
				t.Errorf("grant %+v, want 12h for %s", g, e2eBinder)
			}
			if ev := eventsOf(t, st, bot.EventBound, masked); len(ev) != 1 || strings.Contains(ev[0].Detail, "outside") {
				t.Errorf("bound events %+v: want one, the bot's own", ev)
			}

			ageGrant(t, db, g.ID, time.Now().Add(-time.Minute)) // twelve hours later, while the bot runs
			wantExpiredByWorker(t, st, wx, sl, g, id, bystander)
			p.kill(t)
		})
	}
}

// wantExpiredByWorker waits for a running bot's worker to end grant g of
// WeChat ID id, then checks it unbound exactly that tester, once, recorded
// it and told the requester; bystander, bound by hand, stays.
func wantExpiredByWorker(t *testing.T, st *store.Store, wx *wechattest.Server, sl *slackfake.Server, g bot.Grant, id, bystander string) {
	t.Helper()
	ctx := context.Background()
	if !eventually(20*time.Second, func() bool {
		got, err := st.Grant(ctx, g.ID)
		return err == nil && got.State == bot.GrantEnded && len(pendingJobs(t, st)) == 0
	}) {
		t.Fatalf("the worker did not end the grant; fake experiencers %v", wx.Experiencers(testAppID))
	}
	if wx.UserStr(testAppID, id) != "" {
		t.Errorf("%s is still an experiencer", id)
	}
	if got := wx.Experiencers(testAppID); len(got) != 1 || got[0] != bystander {
		t.Errorf("experiencers %v, want only the bystander %s", got, bystander)
	}
	who := g.UserStr // WeChat gives no userstr with 85004: then the grant is unbound by WeChat ID
	if who == "" {
		who = id
	}
	if unbinds := unbindsOf(wx); len(unbinds) != 1 || unbinds[who] != 1 {
		t.Errorf("unbind_tester calls %v; want one, for %s", unbinds, id)
	}
	if ev := eventsOf(t, st, bot.EventExpired, g.WechatMasked); len(ev) != 1 || ev[0].GrantID != g.ID {
		t.Errorf("expired events %+v, want one for grant %d", ev, g.ID)
	}
	if !eventually(20*time.Second, func() bool { return len(withText(sl.MessagesIn(g.Requester, ""), "`"+g.WechatMasked+"`")) > 0 }) {
		t.Errorf("the requester was not told access to %s ended", g.WechatMasked)
	}
	if dms := withText(sl.MessagesIn(g.Requester, ""), "`"+g.WechatMasked+"`"); len(dms) != 1 || !strings.Contains(dms[0].Text, "has ended") {
		t.Errorf("DMs to the requester about %s: %+v, want one saying access ended", g.WechatMasked, dms)
	}
}

// withText returns the messages whose text contains s.
func withText(msgs []slackfake.Message, s string) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range msgs {
		if strings.Contains(m.Text, s) {
			out = append(out, m)
		}
	}
	return out
}

// ageGrant moves grant id's end to at, straight in the database: the test's
// stand-in for the passing of time, since a process has no fake clock.
func ageGrant(t *testing.T, dsn string, id int64, at time.Time) {
	t.Helper()
	driver, q := "sqlite", `UPDATE grants SET expires_at = ? WHERE id = ?`
	if !store.IsPostgres(dsn) {
		dsn = (&url.URL{Scheme: "file", Path: dsn, RawQuery: "_pragma=busy_timeout(5000)"}).String()
	} else {
		driver, q = "pgx", `UPDATE grants SET expires_at = $1 WHERE id = $2`
	}
	d, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := d.ExecContext(ctx, q, at.UnixNano(), id)
	if err != nil {
		t.Fatalf("age grant %d: %v", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("age grant %d: %d rows changed", id, n)
	}
}

// The status message is posted while WeChat binds. A process killed after
// WeChat bound but before Slack answered the status post (so before where it
// is could be stored) leaves a job without a thread: the next process still
// finishes it, and tells the requester by DM.
func TestKilledBeforeTheThreadIsStoredAnswersByDM(t *testing.T) {
	sl := slackfake.NewServer(e2eBotToken, e2eAppToken)
	t.Cleanup(sl.Close)
	wx := wechattest.NewServer()
	t.Cleanup(wx.Close)
	wx.AddApp(testAppID, testAppSecret)
	db := filepath.Join(t.TempDir(), "bindtester.db")
	e := procEnv(sl, wx, db)
	const id, masked = "tester_dm", "te***dm"

	release := wx.HoldAnswers("/wxa/bind_tester")
	defer release()
	a := startProc(t, "bot A", e, "run")
	if !sl.WaitLiveConnections(1, 20*time.Second) {
		t.Fatal("bot A never connected over Socket Mode")
	}
	sl.SetLatency("chat.postMessage", 30*time.Second) // the status post is still on its way
	sl.SlashCommand(slackfake.SlashCommand{Text: testAppID + " " + id + " for 12h", UserID: e2eBinder, ChannelID: e2eChannel})
	if !eventually(20*time.Second, func() bool { return wx.UserStr(testAppID, id) != "" }) {
		t.Fatal("WeChat never bound the tester")
	}
	a.kill(t)
	release()
	sl.SetLatency("chat.postMessage", 0)

	st := openTestStore(t, db)
	if jobs := pendingJobs(t, st); len(jobs) != 1 || jobs[0].Thread.Channel != "" {
		t.Fatalf("jobs %+v: want one, without a thread", jobs)
	}
	b := startProc(t, "bot B", e, "run")
	dm := "D" + e2eBinder
	if !eventually(20*time.Second, func() bool {
		return len(withText(sl.MessagesIn(dm, ""), "Done: `"+masked+"`")) == 1 && len(pendingJobs(t, st)) == 0
	}) {
		t.Fatalf("bot B never told the requester by DM; messages %+v", sl.Messages())
	}
	b.kill(t)
	if done := withText(sl.MessagesIn(dm, ""), "Done: `"+masked+"`"); !strings.HasPrefix(done[0].Text, bot.English.T("job.resumed")+" "+bot.English.T("job.thread_lost")) {
		t.Errorf("DM %q does not say first that the bot was interrupted and the status message was left behind", done[0].Text)
	}
	if _, err := st.FindGrant(context.Background(), testAppID, id); err != nil {
		t.Errorf("no grant for the resumed bind: %v", err)
	}
}
