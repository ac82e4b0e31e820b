package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/slackfake"
	"github.com/bindtester/bindtester/internal/pgtest"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

// replicaCommand is one slash command of the replicas test.
type replicaCommand struct {
	text, user string
	wechatID   string // "" for help
	masked     string
	envelope   string
}

// answers counts how the command was answered in msgs: status messages
// posted for it and final answers (the bind's "Done" in its thread or by DM,
// or help's private answer).
func (c replicaCommand) answers(msgs []slackfake.Message) (parents, final int) {
	for _, m := range msgs {
		switch {
		case c.wechatID == "" && m.Method == "response_url" && m.User == c.user:
			final++
		case c.wechatID == "" || m.Method != "chat.postMessage":
		case m.ThreadTS == "" && m.Channel == e2eChannel && strings.Contains(m.Text, "`"+c.masked+"`") && strings.Contains(m.Text, "working…"):
			parents++
		case strings.Contains(m.Text, "Done: `"+c.masked+"`"):
			final++
		}
	}
	return parents, final
}

// Three bots on one PostgreSQL database share one Slack app's Socket Mode
// envelopes (round-robin) and one WeChat token. One is killed with SIGKILL
// while WeChat has bound testers for it and not yet answered: other replicas
// resume those jobs once their leases run out. Every command is answered
// exactly once; the binds in flight at the kill once as well (their intent
// was certainly written: WeChat was called), anything else in flight at most
// once; grants whose time is up are each unbound once, by whichever replica
// claims them; WeChat hands out one token for all three.
func TestThreeReplicasOnOnePostgres(t *testing.T) {
	db := pgtest.DSN(t)
	sl := slackfake.NewServer(e2eBotToken, e2eAppToken)
	t.Cleanup(sl.Close)
	wx := wechattest.NewServer()
	t.Cleanup(wx.Close)
	wx.AddApp(testAppID, testAppSecret)
	wx.SetSlotLimit(testAppID, 100)
	e := procEnv(sl, wx, db)
	st := openTestStore(t, db) // the test's view of the replicas' database

	// Replicas start one after another, so each connection number is known to be whose.
	const victim = 1
	var procs []*proc
	var conns []int
	for i := range 3 {
		procs = append(procs, startProc(t, fmt.Sprintf("replica %d", i+1), e, "run"))
		if !sl.WaitLiveConnections(i+1, 20*time.Second) {
			t.Fatalf("replica %d never connected; live connections %v", i+1, sl.LiveConnections())
		}
		for _, n := range sl.LiveConnections() {
			if !slices.Contains(conns, n) {
				conns = append(conns, n)
			}
		}
	}

	// Grants whose time is up, written while all three sweep: each must be unbound once.
	ctx := context.Background()
	now := time.Now()
	type expiredGrant struct {
		id, masked, userstr string
		grant               bot.Grant
	}
	var expired []expiredGrant
	for i := 1; i <= 4; i++ {
		id := fmt.Sprintf("expired_%02d", i)
		us := wx.AddExperiencer(testAppID, id)
		g, err := st.SaveGrant(ctx, bot.Grant{AppID: testAppID, UserStr: us, Requester: e2eBinder,
			CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Duration(i) * time.Minute)}, id)
		if err != nil {
			t.Fatal(err)
		}
		expired = append(expired, expiredGrant{id, bot.MaskWechatID(id), us, g})
	}
	if !eventually(20*time.Second, func() bool {
		for _, x := range expired {
			if g, err := st.Grant(ctx, x.grant.ID); err != nil || g.State != bot.GrantEnded {
				return false
			}
		}
		return len(pendingJobs(t, st)) == 0
	}) {
		t.Fatalf("the expired grants were not all ended; experiencers %v", wx.Experiencers(testAppID))
	}

	var cmds []replicaCommand
	for i := range 30 {
		c := replicaCommand{user: e2eBinder}
		if i%5 == 4 {
			c.user, c.text = fmt.Sprintf("U0HELP%02d", i), "help"
		} else {
			c.wechatID = fmt.Sprintf("tester_%02d", i)
			c.masked, c.text = bot.MaskWechatID(c.wechatID), testAppID+" "+c.wechatID+" for 12h"
		}
		cmds = append(cmds, c)
	}
	next := 0
	send := func() *replicaCommand {
		c := &cmds[next]
		next++
		c.envelope = sl.SlashCommand(slackfake.SlashCommand{Text: c.text, UserID: c.user, ChannelID: e2eChannel})
		return c
	}
	waitAnswered := func(cs []replicaCommand) {
		t.Helper()
		if !eventually(20*time.Second, func() bool {
			msgs := sl.Messages()
			for _, c := range cs {
				if _, final := c.answers(msgs); final == 0 {
					return false
				}
			}
			return true
		}) {
			t.Fatalf("commands not all answered: %s", summary(sl, cs))
		}
	}

	// A first third, spread over time, every replica taking its turn.
	for range 10 {
		send()
		time.Sleep(30 * time.Millisecond)
	}
	waitAnswered(cmds[:10])

	// A burst of six binds while WeChat binds at once but holds its answers:
	// once WeChat has bound all six, two or so for the victim, it is killed.
	release := wx.HoldAnswers("/wxa/bind_tester")
	var burst []*replicaCommand
	for len(burst) < 6 {
		if c := send(); c.wechatID != "" {
			burst = append(burst, c)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !eventually(20*time.Second, func() bool {
		for _, c := range burst {
			if wx.UserStr(testAppID, c.wechatID) == "" {
				return false
			}
		}
		return true
	}) {
		release()
		t.Fatalf("WeChat never bound the whole burst: %s", summary(sl, cmds[:next]))
	}
	procs[victim].kill(t)
	// A bind killed after its status post and before where it is was stored
	// is answered by DM (its status message is left "working…"): which those
	// are is read now, before any resumer claims them.
	threadless := map[string]bool{}
	for _, j := range pendingJobs(t, st) {
		threadless[j.WechatMasked] = j.Kind == bot.JobBind && j.Thread.Channel == ""
	}
	release()
	// What the victim had taken and not answered when it died. Binds among
	// them reached WeChat, so their intent was written: each must be resumed
	// by another replica and answered once. Anything else (a help) at most once.
	// A connection number not among the first three is a replica's reconnect,
	// maybe the victim's: what went there counts as in flight too.
	atKill := sl.Messages()
	onVictim := func(ns []int) bool {
		return slices.ContainsFunc(ns, func(n int) bool { return n == conns[victim] || !slices.Contains(conns, n) })
	}
	var inFlight, resumable []int
	for i, c := range cmds[:next] {
		if _, final := c.answers(atKill); final == 0 && onVictim(sl.DeliveredTo(c.envelope)) {
			inFlight = append(inFlight, i)
			if c.wechatID != "" {
				resumable = append(resumable, i)
			}
		}
	}
	if len(resumable) == 0 {
		t.Fatalf("no bind of the burst was delivered to replica %d (connection %d): %s", victim+1, conns[victim], summary(sl, cmds[:next]))
	}

	// The rest, spread over time, right after the kill: the two live replicas share them.
	for next < len(cmds) {
		send()
		time.Sleep(30 * time.Millisecond)
	}
	var answerable []replicaCommand
	for i, c := range cmds {
		if !slices.Contains(inFlight, i) || slices.Contains(resumable, i) {
			answerable = append(answerable, c)
		}
	}
	waitAnswered(answerable)
	if !eventually(20*time.Second, func() bool { return len(pendingJobs(t, st)) == 0 }) {
		t.Fatalf("jobs still pending: %+v", pendingJobs(t, st))
	}
	for _, p := range procs {
		p.kill(t) // nothing is pending: nothing more can be said
	}

	msgs := sl.Messages()
	for i, c := range cmds {
		parents, final := c.answers(msgs)
		where := fmt.Sprintf("command %d %q (delivered to connections %v; replica %d was connection %d)", i, c.text, sl.DeliveredTo(c.envelope), victim+1, conns[victim])
		switch {
		case !slices.Contains(inFlight, i) || slices.Contains(resumable, i):
			if final != 1 {
				t.Errorf("%s: answered %d times, want once", where, final)
			}
		case final > 1:
			t.Errorf("%s, in flight at the kill: answered %d times, want at most once", where, final)
		}
		if c.wechatID == "" {
			continue
		}
		if parents > 1 || (final == 1 && parents != 1 && !threadless[c.masked]) {
			t.Errorf("%s: %d status messages for %d answers", where, parents, final)
		}
		if final == 0 {
			continue
		}
		parent, _, _, updates := thread(msgs, c.masked)
		if !threadless[c.masked] && (len(updates) == 0 || !strings.HasPrefix(updates[len(updates)-1].Text, "✅")) {
			t.Errorf("%s: status message %q ends as %+v, want ✅", where, parent.Text, updates)
		}
		if ev := eventsOf(t, st, bot.EventBound, c.masked); len(ev) != 1 || strings.Contains(ev[0].Detail, "outside") {
			t.Errorf("%s: bound events %+v, want one, the bot's", where, ev)
		}
		if g, err := st.FindGrant(ctx, testAppID, c.wechatID); err != nil || g.ExpiresAt.Sub(g.CreatedAt) != 12*time.Hour {
			t.Errorf("%s: grant %+v, %v; want 12h", where, g, err)
		}
	}
	for _, i := range resumable {
		c := cmds[i]
		if !slices.Equal(sl.DeliveredTo(c.envelope), []int{conns[victim]}) {
			continue // a reconnect's: maybe not the victim's
		}
		_, replies, _, _ := thread(msgs, c.masked)
		want := bot.English.T("job.resumed")
		if threadless[c.masked] {
			replies, want = sl.MessagesIn("D"+c.user, ""), want+" "+bot.English.T("job.thread_lost")
		}
		if done := withText(replies, "Done: `"+c.masked+"`"); len(done) != 1 || !strings.HasPrefix(done[0].Text, want) {
			t.Errorf("%s, in flight at the kill, was answered %+v; want once, by another replica, saying it was interrupted", c.masked, done)
		}
	}
	redelivered := 0
	for _, c := range cmds {
		if len(sl.DeliveredTo(c.envelope)) > 1 {
			redelivered++
		}
	}
	t.Logf("in flight at the kill: %v (binds resumed: %v); %d envelopes delivered again after the kill; %d Slack messages; deliveries %v",
		inFlight, resumable, redelivered, len(msgs), deliveries(sl, cmds))

	unbinds := unbindsOf(wx)
	for _, x := range expired {
		if unbinds[x.userstr] != 1 {
			t.Errorf("%s unbound %d times, want once (unbinds %v)", x.masked, unbinds[x.userstr], unbinds)
		}
		if ev := eventsOf(t, st, bot.EventExpired, x.masked); len(ev) != 1 || ev[0].GrantID != x.grant.ID {
			t.Errorf("%s: expired events %+v, want one for grant %d", x.masked, ev, x.grant.ID)
		}
		if dms := withText(sl.MessagesIn(e2eBinder, ""), "`"+x.masked+"`"); len(dms) != 1 || !strings.Contains(dms[0].Text, "has ended") {
			t.Errorf("DMs about %s: %+v, want one saying access ended", x.masked, dms)
		}
	}
	if len(unbinds) != len(expired) {
		t.Errorf("unbind_tester calls %v, want one for each of the %d expired grants only", unbinds, len(expired))
	}
	if n, f := wx.Calls("/cgi-bin/stable_token"), wx.TokenFetches(); n != 1 || f != 1 {
		t.Errorf("stable_token called %d times (%d tokens handed out) by three replicas, want one", n, f)
	}
}

// summary says how each command was answered, for failure messages.
func summary(sl *slackfake.Server, cmds []replicaCommand) string {
	msgs := sl.Messages()
	var b strings.Builder
	for _, c := range cmds {
		parents, final := c.answers(msgs)
		fmt.Fprintf(&b, "\n  %q: delivered to %v, acked %d, %d status messages, %d answers", c.text, sl.DeliveredTo(c.envelope), sl.AckCount(c.envelope), parents, final)
	}
	return b.String()
}

// deliveries lists the connections each command's envelope went to, for failure messages.
func deliveries(sl *slackfake.Server, cmds []replicaCommand) [][]int {
	var out [][]int
	for _, c := range cmds {
		out = append(out, sl.DeliveredTo(c.envelope))
	}
	return out
}
