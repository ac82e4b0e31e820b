package slackbot

import (
	"strings"
	"testing"

	"github.com/bindtester/bindtester/bot"
)

// span is a span as the core writes it (see bot.Spans).
func span(kind byte, payload string) string { return "\uE000" + string(kind) + payload + "\uE001" }

func TestSlackText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain &lt;x&gt; *bold*", "plain &lt;x&gt; *bold*"},
		{span('u', "U1") + " asked", "<@U1> asked"},
		{"ask " + span('g', "S0ADMINS") + ", " + span('u', "W2"), "ask <!subteam^S0ADMINS>, <@W2>"},
		{"in " + span('c', "CGAMES") + " only", "in <#CGAMES> only"},
		{"ends " + span('d', "1700000000"), "ends <!date^1700000000^{date_short_pretty} {time}|2023-11-14 22:13 UTC>"},
		{"bad " + span('u', "U1|x") + " " + span('x', "U1") + " \uE000uU1", "bad " + span('u', "U1|x") + " " + span('x', "U1") + " \uE000uU1"},
	} {
		if got := slackText(c.in); got != c.want {
			t.Errorf("slackText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// Escaped input cannot become a mention in Slack.
func TestSlackTextOfEscapedInput(t *testing.T) {
	in := span('u', "U1") + span('g', "S1") + span('c', "C1") + span('d', "1")
	if got := slackText(bot.Escape(in)); strings.Contains(got, "<") {
		t.Errorf("slackText(Escape(%q)) = %q holds markup", in, got)
	}
}
