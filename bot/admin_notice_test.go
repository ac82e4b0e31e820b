package bot_test

import (
	"strings"
	"testing"

	"github.com/bindtester/bindtester/bot"
)

// 40164's errmsg holds the bot's outgoing IP address: the public thread says
// an admin must add the bot's address to the allow-list, and only admins get
// the address, by DM, once an hour however many binds fail.
func TestIPAllowListAddressGoesToAdminsOnly(t *testing.T) {
	f := newFixture(t)
	b := f.bot()
	const errmsg = `{"errcode":40164,"errmsg":"invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: 6f2b"}`
	for i, id := range []string{"tester_one", "tester_two"} {
		f.fake.FailNextHTTP(bindPath, 1, 200, "application/json", errmsg)
		conv := run(t, b, "UALICE", "shop "+id)
		if len(conv.replies) != 1 {
			t.Fatalf("bind %d: %v", i+1, conv)
		}
		wantContains(t, "public reply", conv.replies[0], "IP allow-list", "@UADMIN")
		wantNotContains(t, "everything in public", conv.all(), "203.0.113.7")
	}
	dms := f.msgr.dmsTo("UADMIN")
	if len(dms) != 1 {
		t.Fatalf("admin DMs %q, want one (not one per failed bind)", dms)
	}
	wantContains(t, "admin DM", dms[0], "203.0.113.7", "40164", "*Shop*")
	for _, dm := range f.msgr.allDMs() {
		if dm.User != "UADMIN" && strings.Contains(dm.Text, "203") {
			t.Errorf("the address reached %s: %q", dm.User, dm.Text)
		}
	}
}

// An errmsg that echoes the WeChat ID it was about is masked before it is
// posted or stored.
func TestErrmsgEchoingTheWeChatIDIsMasked(t *testing.T) {
	f := newFixture(t)
	b := f.bot()
	f.fake.FailNextHTTP(bindPath, 1, 200, "application/json", `{"errcode":99999,"errmsg":"strange user TESTERONE rejected"}`)
	conv := run(t, b, "UALICE", "shop "+tester)
	wantContains(t, "reply", strings.Join(conv.replies, "\n"), "strange user "+bot.Escape(testerMasked)+" rejected")
	wantNotContains(t, "answers", strings.ToLower(conv.all()), tester)
	for _, e := range f.events(t, bot.AuditFilter{}) {
		if strings.Contains(strings.ToLower(e.Detail), tester) {
			t.Errorf("audit detail %q holds the WeChat ID", e.Detail)
		}
	}
}
