package bot_test

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/bindtester/bindtester/bot"
)

// slackMarkup is what the core must never write: mentions, user groups,
// channels, dates and pings are the adapters' (see bot.Spans).
var slackMarkup = []string{"<@", "<!", "<#"}

// The core writes people, user groups, channels and dates as spans, never
// as Slack markup: not in its templates, and not in anything a broad script
// of commands, clicks and news makes it say (the fixtures check each text).
func TestCoreWritesNoSlackMarkup(t *testing.T) {
	t.Run("templates", func(t *testing.T) {
		for lang, text := range bot.Texts {
			keys := make([]string, 0, len(text))
			for k := range text {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				for _, m := range slackMarkup {
					if strings.Contains(text[k], m) {
						t.Errorf("%s %q holds Slack markup %q: %q", lang, k, m, text[k])
					}
				}
			}
		}
	})

	t.Run("script", func(t *testing.T) {
		f := newFixture(t)
		approvalPolicy(f) // Shop: UREQ may ask, UAPP1 or UAPP2 approves
		b := f.bot()
		var convs []*recConv
		do := func(user, channel, text string) *recConv {
			t.Helper()
			conv, err := handle(t, b, bot.Request{UserID: user, ChannelID: channel, Text: text})
			if err != nil {
				t.Fatalf("%s %q: %v", user, text, err)
			}
			convs = append(convs, conv)
			return conv
		}
		do("UALICE", "CSHOP", "help")
		bound := do("UALICE", "CSHOP", "shop "+tester+" for 3d")
		denied := do("UBOB", "CSHOP", "games "+tester) // Games is bound in CGAMES only
		do("UREQ", "CSHOP", "shop othertester for 1d because demo")
		value, _ := promptValue(t, f.msgr)
		approved, err := click(t, b, "UAPP1", bot.ActionApprove, value)
		if err != nil {
			t.Fatalf("approve: %v", err)
		}
		convs = append(convs, approved)
		do("UADMIN", "CSHOP", "testers shop")
		do("UALICE", "CSHOP", "mine")
		do("UADMIN", "CSHOP", "audit")
		do("UADMIN", "CSHOP", "home") // App Home: soonest grants name their requesters, with dates
		do("UAPP1", "CSHOP", "home")
		apps := do("UADMIN", "CSHOP", "apps")
		do("UADMIN", "CSHOP", "unbind shop othertester") // UREQ is told who removed it

		all := f.msgr.raws()
		for _, c := range convs {
			all = append(all, c.raws()...)
		}
		for _, s := range all {
			for _, m := range slackMarkup {
				if strings.Contains(s, m) {
					t.Errorf("the core wrote Slack markup %q: %q", m, s)
				}
			}
		}
		status := slices.IndexFunc(bound.raws(), func(s string) bool { return strings.Contains(s, "asked to bind") })
		if status < 0 {
			t.Fatalf("no status message for the bind: %v", bound)
		}
		wantSpan(t, "the bind's status message", bound.raws()[status:status+1], bot.Span{Kind: bot.SpanUser, ID: "UALICE"})
		wantSpan(t, "the bind's thread", bound.raws(), bot.Span{Kind: bot.SpanDate})
		wantSpan(t, "the wrong channel's denial", denied.raws(), bot.Span{Kind: bot.SpanChannel, ID: "CGAMES"})
		wantSpan(t, "the apps list", apps.raws(), bot.Span{Kind: bot.SpanGroup, ID: "SQA"})
		wantSpan(t, "the approval prompt", f.msgr.raws(), bot.Span{Kind: bot.SpanUser, ID: "UREQ"})
		wantSpan(t, "the prompts and news", f.msgr.raws(), bot.Span{Kind: bot.SpanUser, ID: "UADMIN"}) // who unbound
		if dms := f.msgr.dmsTo("UREQ"); !slices.ContainsFunc(dms, func(s string) bool { return strings.Contains(s, "by @UADMIN") }) {
			t.Errorf("DMs to UREQ %q: want one saying UADMIN removed the tester", dms)
		}
	})
}

// wantSpan fails unless one of texts holds a span of want's kind (and ID,
// where want has one).
func wantSpan(t *testing.T, what string, texts []string, want bot.Span) {
	t.Helper()
	for _, s := range texts {
		for _, sp := range bot.Spans(s) {
			if sp.Kind == want.Kind && (want.ID == "" || sp.ID == want.ID) {
				return
			}
		}
	}
	t.Errorf("%s holds no %q span %s: %q", what, want.Kind, want.ID, texts)
}
