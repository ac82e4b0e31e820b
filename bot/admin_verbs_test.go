package bot_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// testers joins WeChat's experiencer list with the bot's grants.
func TestTestersVerb(t *testing.T) {
	for _, c := range []struct {
		name    string
		user    string
		allowed bool
	}{
		{name: "binder", user: "UALICE", allowed: true},
		{name: "binder through a group", user: "UCAROL", allowed: true},
		{name: "admin", user: "UADMIN", allowed: true},
		{name: "approver", user: "UAPP1", allowed: true},
		{name: "stranger", user: "UDAVE"},
		{name: "binder of another app", user: "UBOB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.policy.Apps[0].Slots = 12
			f.policy.Apps[0].Approvers = []string{"UAPP1"}
			b := f.bot()
			g := mustBind(t, f, b, "UALICE", "shop "+tester, tester)
			outside := f.fake.AddExperiencer(appShop, "outsider_x")
			f.fake.Reset()

			conv := run(t, b, c.user, "testers shop")
			if len(conv.privates) != 1 || len(conv.opens) != 0 {
				t.Fatalf("want one private answer; got %v", conv)
			}
			out := conv.privates[0]
			if !c.allowed {
				wantContains(t, "denial", out, "You may not see the experiencers of *Shop*", "@UADMIN")
				wantNotContains(t, "denial", out, testerMasked, outside[:10])
				if n := len(f.fake.Requests()); n != 0 {
					t.Errorf("WeChat got %d requests for a denied listing", n)
				}
				return
			}
			if n := f.fake.Calls(memberPath); n != 1 {
				t.Errorf("memberauth called %d times, want 1", n)
			}
			lines := strings.Split(out, "\n")
			if len(lines) != 4 {
				t.Fatalf("want a header, two experiencers and the trial version:\n%s", out)
			}
			wantContains(t, "trial version", lines[3], "Trial version: 1.0.0")
			wantContains(t, "header", lines[0], "*Shop*: 2 of 12 experiencer slots in use")
			wantContains(t, "bot's grant", lines[1], "`"+testerMasked+"`", "asked by @UALICE", "(#"+itoa(g.ID)+")", g.ExpiresAt.UTC().Format(bot.UTCLayout))
			wantContains(t, "outsider", lines[2], "added outside this bot", outside[:10])
			wantNotContains(t, "listing", out, tester, "outsider_x", "%!")
		})
	}
	t.Run("none", func(t *testing.T) {
		f := newFixture(t)
		conv := run(t, f.bot(), "UALICE", "testers shop")
		if len(conv.privates) != 1 {
			t.Fatalf("got %v", conv)
		}
		wantContains(t, "listing", conv.privates[0], "0 of 15", "No experiencers.")
	})
}

// Someone else's grant and no grant at all get the same answer, so trying
// numbers or IDs reveals nothing; testers follows the app's channels.
func TestOthersGrantsStayHidden(t *testing.T) {
	f := newFixture(t)
	b := f.bot()
	g := mustBind(t, f, b, "UALICE", "shop "+tester, tester)
	theirs := run(t, b, "UCAROL", "unbind shop #"+itoa(g.ID)).privates
	none := run(t, b, "UCAROL", "unbind shop #"+itoa(g.ID+1000)).privates
	if len(theirs) != 1 || len(none) != 1 || strings.ReplaceAll(theirs[0], itoa(g.ID), "N") != strings.ReplaceAll(none[0], itoa(g.ID+1000), "N") {
		t.Errorf("someone else's grant: %q; no grant: %q; want the same answer", theirs, none)
	}
	// A stranger gets one answer whether grant N exists or not.
	if a, c := run(t, b, "UDAVE", "unbind shop #"+itoa(g.ID)).privates, run(t, b, "UDAVE", "unbind shop #"+itoa(g.ID+1000)).privates; len(a) != 1 || len(c) != 1 || a[0] != c[0] {
		t.Errorf("a stranger's unbind of an existing grant: %q; of a missing one: %q; want the same", a, c)
	}
	theirs = run(t, b, "UCAROL", "unbind shop "+tester).privates
	none = run(t, b, "UCAROL", "unbind shop "+"tester_two").privates
	if len(theirs) != 1 || len(none) != 1 || strings.ReplaceAll(theirs[0], testerMasked, "X") != strings.ReplaceAll(none[0], bot.MaskWechatID("tester_two"), "X") {
		t.Errorf("someone else's WeChat ID: %q; an unknown one: %q; want the same answer", theirs, none)
	}

	// games may be used in CGAMES only: testers too (admins anywhere).
	conv := &recConv{t: t}
	b.Handle(context.Background(), bot.Request{UserID: "UBOB", ChannelID: "CGAMES", Text: "games bob_tester"}, conv)
	if len(conv.updates) != 1 || !strings.HasPrefix(conv.updates[0], "✅") {
		t.Fatalf("bind to games in its channel: %v", conv)
	}
	bobMasked := bot.MaskWechatID("bob_tester")
	conv = &recConv{t: t}
	b.Handle(context.Background(), bot.Request{UserID: "UBOB", ChannelID: "COTHER", Text: "testers games"}, conv)
	if len(conv.privates) != 1 || strings.Contains(conv.privates[0], bobMasked) {
		t.Fatalf("testers outside the app's channel: %v; want a denial that lists nobody", conv)
	}
	wantContains(t, "denial", conv.privates[0], "#CGAMES")
	conv = &recConv{t: t}
	b.Handle(context.Background(), bot.Request{UserID: "UADMIN", ChannelID: "COTHER", Text: "testers games"}, conv)
	if len(conv.privates) != 1 || !strings.Contains(conv.privates[0], bobMasked) {
		t.Errorf("an admin's testers anywhere: %v", conv)
	}
}

// unbind: one's own grants, or anyone's for admins; WeChat is told the
// userstr when the bot has one, the WeChat ID otherwise.
func TestUnbindVerb(t *testing.T) {
	for _, c := range []struct {
		name     string
		prebound bool   // a grant without a userstr (see seedUserstrlessGrant)
		user     string // who unbinds the grant UALICE asked for
		target   string // the argument after "unbind shop"; "#" means the grant's id
		ok       bool
		body     string // "userstr" or "wechatid": what WeChat gets
		told     bool   // UALICE gets a DM
		private  []string
	}{
		{name: "requester by WeChat ID", user: "UALICE", target: tester, ok: true, body: "userstr",
			private: []string{"Done: `" + testerMasked + "` is no longer an experiencer of *Shop*"}},
		{name: "requester by grant id", user: "UALICE", target: "#", ok: true, body: "userstr"},
		{name: "requester, any case of the WeChat ID", user: "UALICE", target: "TesterOne", ok: true, body: "userstr"},
		{name: "admin, someone else's grant", user: "UADMIN", target: tester, ok: true, body: "userstr", told: true},
		{name: "admin by grant id", user: "UADMIN", target: "#", ok: true, body: "userstr", told: true},
		// Someone else's grant: the answer is the one for a grant that does not
		// exist, naming nobody; a stranger learns nothing about the app's grants.
		{name: "another binder is denied", user: "UCAROL", target: tester,
			private: []string{"I have no record of binding `" + testerMasked + "` to *Shop* for you"}},
		{name: "another binder by grant id is denied", user: "UCAROL", target: "#",
			private: []string{"There is no active grant #1 on *Shop*"}},
		{name: "stranger is denied", user: "UDAVE", target: tester, private: []string{"You may not see the experiencers of *Shop*"}},
		{name: "stranger by grant id is denied", user: "UDAVE", target: "#", private: []string{"You may not see the experiencers of *Shop*"}},
		{name: "already bound: requester unbinds by the sealed WeChat ID", prebound: true, user: "UALICE", target: "#", ok: true, body: "wechatid"},
		{name: "already bound: admin by WeChat ID", prebound: true, user: "UADMIN", target: tester, ok: true, body: "wechatid", told: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			b := f.bot()
			var g bot.Grant
			if c.prebound {
				g = seedUserstrlessGrant(t, f, "UALICE", tester, bot.DefaultDuration)
			} else {
				g = mustBind(t, f, b, "UALICE", "shop "+tester, tester)
			}
			if (g.UserStr == "") != c.prebound {
				t.Fatalf("grant userstr %q (already bound: %v)", g.UserStr, c.prebound)
			}
			f.fake.Reset()
			target := c.target
			if target == "#" {
				target = "#" + itoa(g.ID)
			}
			conv := run(t, b, c.user, "unbind shop "+target)
			if len(conv.privates) != 1 || len(conv.opens) != 0 {
				t.Fatalf("want one private answer; got %v", conv)
			}
			wantContains(t, "answer", conv.privates[0], c.private...)
			wantNotContains(t, "answer", conv.privates[0], tester)
			after := f.grant(t, g.ID)
			evs := f.events(t, bot.AuditFilter{})
			last := evs[len(evs)-1]
			if !c.ok {
				wantNotContains(t, "denial", conv.privates[0], "UALICE") // whose grant it is stays hidden
				if n := len(f.fake.Requests()); n != 0 {
					t.Errorf("WeChat got %d requests for a denied unbind", n)
				}
				if after.State != bot.GrantActive {
					t.Errorf("grant %s after a denied unbind", after.State)
				}
				if last.Kind != bot.EventDenied || last.Actor != c.user || last.Requester != "UALICE" || last.GrantID != g.ID || last.WechatMasked != testerMasked {
					t.Errorf("last audit row %+v, want denied by %s", last, c.user)
				}
				if n := len(f.msgr.allDMs()); n != 0 {
					t.Errorf("%d DMs for a denied unbind", n)
				}
				return
			}
			want := map[string]string{"userstr": g.UserStr}
			if c.body == "wechatid" {
				want = map[string]string{"wechatid": tester}
			}
			wantBodies(t, f.fake, unbindPath, want)
			if f.fake.UserStr(appShop, tester) != "" {
				t.Error("the fake still has the tester")
			}
			if after.State != bot.GrantEnded || after.EndedBy != c.user {
				t.Errorf("grant %s ended by %q, want ended by %s", after.State, after.EndedBy, c.user)
			}
			if last.Kind != bot.EventUnbound || last.Actor != c.user || last.Requester != "UALICE" || last.GrantID != g.ID || last.UserStr != g.UserStr {
				t.Errorf("last audit row %+v, want unbound by %s", last, c.user)
			}
			dms := f.msgr.dmsTo("UALICE")
			if c.told {
				if len(dms) != 1 || !strings.Contains(dms[0], "`"+testerMasked+"` was removed as an experiencer of *Shop* by @"+c.user) {
					t.Errorf("DMs to the requester %q", dms)
				}
			} else if len(dms) != 0 {
				t.Errorf("the requester was DMed about their own unbind: %q", dms)
			}
			noFullID(t, evs, tester)
		})
	}
}

// An admin can unbind someone the bot never bound (WeChat gets the WeChat
// ID); anyone else is told the bot has no such record.
func TestUnbindWithoutGrant(t *testing.T) {
	for _, c := range []struct {
		name, user, text string
		ok               bool
		private          []string
	}{
		{name: "admin, WeChat ID", user: "UADMIN", text: "unbind shop stranger_id", ok: true,
			private: []string{"Done: `st***id` is no longer an experiencer of *Shop*"}},
		{name: "binder, WeChat ID", user: "UALICE", text: "unbind shop stranger_id",
			private: []string{"I have no record of binding `st***id` to *Shop* for you"}},
		{name: "admin, unknown grant id", user: "UADMIN", text: "unbind shop #999",
			private: []string{"There is no active grant #999 on *Shop*"}},
		{name: "unknown app", user: "UADMIN", text: "unbind nosuch stranger_id",
			private: []string{"I don't know a Mini Program called `nosuch`"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			us := f.fake.AddExperiencer(appShop, "stranger_id")
			b := f.bot()
			conv := run(t, b, c.user, c.text)
			if len(conv.privates) != 1 {
				t.Fatalf("want one private answer; got %v", conv)
			}
			wantContains(t, "answer", conv.privates[0], c.private...)
			wantNotContains(t, "answer", conv.privates[0], "stranger_id")
			if !c.ok {
				if n := f.fake.Calls(unbindPath); n != 0 {
					t.Errorf("unbind_tester called %d times", n)
				}
				if !slices.Contains(f.fake.Experiencers(appShop), us) {
					t.Error("the experiencer is gone")
				}
				return
			}
			wantBodies(t, f.fake, unbindPath, map[string]string{"wechatid": "stranger_id"})
			if slices.Contains(f.fake.Experiencers(appShop), us) {
				t.Error("the fake still has the experiencer")
			}
			evs := f.eventsOf(t, bot.EventUnbound)
			if len(evs) != 1 || evs[0].Actor != c.user || evs[0].GrantID != 0 || evs[0].WechatMasked != "st***id" {
				t.Errorf("unbound rows %+v", evs)
			}
			noFullID(t, f.events(t, bot.AuditFilter{}), "stranger_id")
		})
	}
}

// A grant ended early is gone from mine and is not unbound again by the worker.
func TestUnbindThenSweep(t *testing.T) {
	f := newFixture(t)
	b := f.bot()
	g := mustBind(t, f, b, "UALICE", "shop "+tester+" for 1h", tester)
	run(t, b, "UALICE", "unbind shop #"+itoa(g.ID))
	f.fake.Reset()
	f.clock.Add(2 * time.Hour)
	sweep(t, b)
	if n := f.fake.Calls(unbindPath); n != 0 {
		t.Errorf("the worker unbound an ended grant (%d calls)", n)
	}
	if n := len(f.eventsOf(t, bot.EventExpired)); n != 0 {
		t.Errorf("%d expired rows for a grant unbound by hand", n)
	}
	// A second unbind of the same grant finds nothing to do.
	conv := run(t, b, "UALICE", "unbind shop #"+itoa(g.ID))
	wantContains(t, "second unbind", conv.all(), "There is no active grant #"+itoa(g.ID))
}

// mine lists one's own active grants only.
func TestMineVerb(t *testing.T) {
	f := newFixture(t)
	b := f.bot()
	a := mustBind(t, f, b, "UALICE", "shop alice_one for 2d", "alice_one")
	c := mustBind(t, f, b, "UALICE", "shop alice_two for 1d", "alice_two")
	carol := mustBind(t, f, b, "UCAROL", "shop carol_one", "carol_one")
	ended := mustBind(t, f, b, "UALICE", "shop alice_old", "alice_old")
	run(t, b, "UALICE", "unbind shop #"+itoa(ended.ID))

	conv := run(t, b, "UALICE", "mine")
	if len(conv.privates) != 1 {
		t.Fatalf("got %v", conv)
	}
	out := conv.privates[0]
	lines := strings.Split(out, "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and two grants:\n%s", out)
	}
	wantContains(t, "header", lines[0], "Your active grants (2)")
	// soonest to expire first
	wantContains(t, "first", lines[1], "`al***wo`", "*Shop*", "/bindtester unbind shop #"+itoa(c.ID), c.ExpiresAt.UTC().Format(bot.UTCLayout))
	wantContains(t, "second", lines[2], "`al***ne`", "/bindtester unbind shop #"+itoa(a.ID))
	wantNotContains(t, "mine", out, "#"+itoa(carol.ID), "ca***ne", "#"+itoa(ended.ID), "alice_one", "%!")

	conv = run(t, b, "UDAVE", "mine")
	wantContains(t, "nobody's grants", conv.all(), "You have no active grants")
	conv = run(t, b, "UCAROL", "mine")
	wantContains(t, "carol's grants", conv.all(), "(1)", "#"+itoa(carol.ID))
	wantNotContains(t, "carol's grants", conv.all(), "#"+itoa(a.ID))
}

// audit is for admins, newest first, ten to a page, filterable by app and person.
func TestAuditVerb(t *testing.T) {
	f := newFixture(t)
	b := f.bot()
	// 12 denials by UDAVE on Shop, a minute apart, then a bind by UBOB on Games.
	for i := range 12 {
		run(t, b, "UDAVE", fmt.Sprintf("shop dave_%04d", i))
		f.clock.Add(time.Minute)
	}
	conv, err := handle(t, b, bot.Request{UserID: "UBOB", ChannelID: "CGAMES", Text: "games bob_tester"})
	if err != nil || len(conv.updates) != 1 || !strings.HasPrefix(conv.updates[0], "✅") {
		t.Fatalf("bob's bind: %v %v", err, conv)
	}
	total := len(f.events(t, bot.AuditFilter{}))
	if total != 14 {
		t.Fatalf("%d audit rows, want 14", total)
	}

	entries := func(out string) []string {
		var es []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "• ") {
				es = append(es, l)
			}
		}
		return es
	}
	for _, c := range []struct {
		name, user, text string
		denied           bool
		n                int      // entries shown
		first, last      []string // in the first and last entry
		more             string   // the next-page hint, "" for none
		notWant          []string
	}{
		{name: "binder is refused", user: "UALICE", text: "audit", denied: true},
		{name: "stranger is refused", user: "UDAVE", text: "audit <@UDAVE>", denied: true},
		{name: "page 1, newest first", user: "UADMIN", text: "audit", n: 10,
			first: []string{"*bound*", "@UBOB", "`bo***er`", "→ Games"}, last: []string{"*denied*", "@UDAVE", "`da***04`", "→ Shop"},
			more: "`/bindtester audit page 2`"},
		{name: "page 2", user: "UADMIN", text: "audit page 2", n: 4,
			first: []string{"*denied*", "`da***03`"}, last: []string{"*denied*", "`da***00`"}},
		{name: "page 3 is empty", user: "UADMIN", text: "audit page 3"},
		{name: "by app", user: "UADMIN", text: "audit games", n: 2,
			first: []string{"*bound*", "→ Games"}, last: []string{"*allowed*", "→ Games"}, notWant: []string{"→ Shop"}},
		{name: "by person", user: "UADMIN", text: "audit <@UDAVE>", n: 10,
			first: []string{"`da***11`"}, more: "`/bindtester audit UDAVE page 2`", notWant: []string{"UBOB"}},
		{name: "by app and person, page 2", user: "UADMIN", text: "audit shop <@UDAVE|dave> page 2", n: 2,
			first: []string{"`da***01`"}, last: []string{"`da***00`"}},
		{name: "by app and person, hint keeps the filter", user: "UADMIN", text: "audit shop <@UDAVE>", n: 10,
			more: "`/bindtester audit shop UDAVE page 2`"},
		{name: "nobody matches", user: "UADMIN", text: "audit " + appVault},
	} {
		t.Run(c.name, func(t *testing.T) {
			conv := run(t, b, c.user, c.text)
			if len(conv.privates) != 1 || len(conv.opens) != 0 {
				t.Fatalf("want one private answer; got %v", conv)
			}
			out := conv.privates[0]
			if c.denied {
				wantContains(t, "answer", out, "Only admins can read the audit log", "@UADMIN")
				if len(entries(out)) != 0 {
					t.Errorf("a refusal shows audit rows:\n%s", out)
				}
				return
			}
			es := entries(out)
			if len(es) != c.n {
				t.Fatalf("%d entries, want %d:\n%s", len(es), c.n, out)
			}
			if c.n == 0 {
				wantContains(t, "answer", out, "No audit records match")
				return
			}
			wantContains(t, "header", out, "newest first")
			wantContains(t, "first entry", es[0], c.first...)
			wantContains(t, "last entry", es[len(es)-1], c.last...)
			if c.more != "" {
				wantContains(t, "answer", out, c.more)
			} else if strings.Contains(out, "More:") {
				t.Errorf("a next-page hint on the last page:\n%s", out)
			}
			wantNotContains(t, "answer", out, append(c.notWant, "dave_00", "bob_tester", "%!")...)
		})
	}
	if n := len(f.events(t, bot.AuditFilter{})); n != total {
		t.Errorf("reading the audit log wrote %d rows", n-total)
	}
}

// Admin commands through the Bot's Audit method: admins or the command line's --admin only.
func TestAuditMethod(t *testing.T) {
	f := newFixture(t)
	b := f.bot()
	run(t, b, "UDAVE", "shop "+tester)
	for _, c := range []struct {
		who bot.Who
		ok  bool
	}{
		{bot.Who{UserID: "UADMIN"}, true},
		{bot.Who{Admin: true}, true},
		{bot.Who{UserID: "UALICE"}, false},
	} {
		evs, err := b.Audit(t.Context(), c.who, bot.AuditFilter{})
		if c.ok && (err != nil || len(evs) != 1) {
			t.Errorf("%+v: %v, %v", c.who, evs, err)
		}
		if !c.ok && !errorsIsForbidden(err) {
			t.Errorf("%+v: err %v, want ErrForbidden", c.who, err)
		}
	}
}

// A failed user group lookup is not a denial in unbind and testers: whoever
// is not otherwise allowed (they may be an admin through a group) hears that
// the lookup failed, and no denial is recorded.
func TestUnbindAndTestersWhenGroupLookupFails(t *testing.T) {
	f := newFixture(t)
	f.policy.Admins = []string{"SADMINS"}
	f.groups.m["SADMINS"] = []string{"UADMIN"}
	b := f.bot()
	g := mustBind(t, f, b, "UALICE", "shop "+tester, tester)
	f.groups.setFail(errSlackDown)
	f.fake.Reset()
	before := len(f.events(t, bot.AuditFilter{}))
	for _, c := range []struct{ user, text string }{
		{"UADMIN", "unbind shop " + tester}, // someone else's grant
		{"UADMIN", "unbind shop other_id"},  // no grant
		{"UDAVE", "unbind shop #" + itoa(g.ID)},
		{"UDAVE", "testers shop"},
	} {
		conv := run(t, b, c.user, c.text)
		if len(conv.privates) != 1 {
			t.Fatalf("%s %q: want one private answer; got %v", c.user, c.text, conv)
		}
		wantContains(t, c.user+" "+c.text, conv.privates[0], "could not check your Slack user groups", "*Shop*")
		wantNotContains(t, c.user+" "+c.text, conv.privates[0], "may not", "only they or an admin", "no record")
	}
	if evs := f.events(t, bot.AuditFilter{}); len(evs) != before {
		t.Errorf("audit rows added: %+v", evs[before:])
	}
	if n := len(f.fake.Requests()); n != 0 {
		t.Errorf("WeChat got %d requests", n)
	}
	if got := f.grant(t, g.ID); got.State != bot.GrantActive {
		t.Errorf("grant %s, want active", got.State)
	}

	// Those allowed without the groups go ahead.
	conv := run(t, b, "UALICE", "testers shop")
	wantContains(t, "UALICE's listing", conv.all(), "experiencer slots in use", "`"+testerMasked+"`")
	conv = run(t, b, "UALICE", "unbind shop "+tester)
	wantContains(t, "UALICE's unbind", conv.all(), "is no longer an experiencer")
}
