package bot_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/bindtester/bindtester/bot"
)

func TestMaskWechatID(t *testing.T) {
	for _, c := range []struct{ id, want string }{
		{"abcdefgh", "ab***gh"},
		{"testerone", "te***ne"},
		{"wxid_abc123def456", "wx***56"},
		{"abcdef", "ab***ef"},
		{"abcde", "ab***de"},
		{"微信号码用户", "微信***用户"}, // runes, not bytes: never a broken character
		// short IDs are hidden entirely
		{"abcd", "***"},
		{"abc", "***"},
		{"a", "***"},
		{"", "***"},
	} {
		got := bot.MaskWechatID(c.id)
		if got != c.want {
			t.Errorf("MaskWechatID(%q) = %q, want %q", c.id, got, c.want)
		}
		if c.id != "" && strings.Contains(got, c.id) {
			t.Errorf("MaskWechatID(%q) = %q shows the whole ID", c.id, got)
		}
	}
}

var escapeCases = []struct{ in, escaped string }{
	{"", ""},
	{"plain text", "plain text"},
	{"<!channel>", "&lt;!channel&gt;"},
	{"<@U123>", "&lt;@U123&gt;"},
	{"<!subteam^S123>", "&lt;!subteam^S123&gt;"},
	{"<https://evil.example|click>", "&lt;https[:]//evil[.]example|click&gt;"},
	{"a & b", "a &amp; b"},
	{"&lt;", "&amp;lt;"}, // already-escaped text is escaped again, so it shows as typed
	{"&amp;&gt;", "&amp;amp;&amp;gt;"},
	{"微信 <b>", "微信 &lt;b&gt;"},
	// mrkdwn marks format nothing; links and domains are defanged
	{"*bold* _it_ ~strike~ `code`", "\u2217bold\u2217 \u02cdit\u02cd \u223cstrike\u223c \u02cbcode\u02cb"},
	{"see https://x.example or shop.example.com", "see https[:]//x[.]example or shop[.]example[.]com"},
	{"ok. Then", "ok. Then"},
	// control and invisible characters are shown, not obeyed
	{"abc\u202edef", `abc\u202Edef`},
	{"a\u200bb\u2060c\ufeffd", `a\u200Bb\u2060c\uFEFFd`},
	{"bell\a", `bell\u0007`},
	{"one\ntwo", "one two"},
	{"evil.com_ phish_evil.com", "evil[.]com\u02cd phish\u02cdevil[.]com"},
	{"a\u3164b\u2800c\ufe0fd", `a\u3164b\u2800c\uFE0Fd`},
	// the core's span markers are shown too, so no input forges a mention or a date
	{"\uE000uU1\uE001", `\uE000uU1\uE001`},
}

// Inside the bot's own code spans Slack formats nothing: what is shown there
// (an alias, a command to copy) stays as typed, so it can be typed back.
func TestCodeKeepsWhatCanBeTypedBack(t *testing.T) {
	for in, want := range map[string]string{
		"my_shop":          "my_shop",
		"a*b~c":            "a*b~c",
		"tick`tock":        "tick\u02cbtock",
		"<!channel>":       "&lt;!channel&gt;",
		"x\u202ey":         `x\u202Ey`,
		"see evil.example": "see evil[.]example",
	} {
		if got := bot.Code(in); got != want {
			t.Errorf("Code(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscape(t *testing.T) {
	for _, c := range escapeCases {
		if got := bot.Escape(c.in); got != c.escaped {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.escaped)
		}
	}
}

// Input cannot forge a span: escaped, a span's encoding is text, which the
// terminal (Plain) and Slack (any renderer of spans) show as typed.
func TestEscapedInputForgesNoSpan(t *testing.T) {
	slack := func(sp bot.Span) string { return "<@" + sp.ID + ">" } // any span would become markup
	for _, in := range []string{"\uE000uU1\uE001", "\uE000gS1\uE001 \uE000cC1\uE001", "\uE000d1700000000\uE001", "a\uE000uU1"} {
		for name, out := range map[string]string{"Escape": bot.Escape(in), "Code": bot.Code(in), "Echo": bot.Echo(in)} {
			for _, sp := range bot.Spans(out) {
				if sp.Kind != bot.SpanText {
					t.Errorf("%s(%q) = %q holds a %q span", name, in, out, sp.Kind)
				}
			}
			if got := bot.Render(out, slack); got != out || strings.Contains(got, "<@") {
				t.Errorf("%s(%q) rendered for Slack = %q, want it as escaped: %q", name, in, got, out)
			}
			if got := bot.Plain(out); strings.ContainsAny(got, "@#") || strings.Contains(got, "UTC") {
				t.Errorf("Plain(%s(%q)) = %q names someone, a channel or a date", name, in, got)
			}
		}
	}
}

func TestEchoCutsLongInput(t *testing.T) {
	long := strings.Repeat("ab", 100)
	if got := bot.Echo(long); len([]rune(got)) != 41 || !strings.HasSuffix(got, "…") {
		t.Errorf("Echo(200 chars) = %q (%d runes), want 40 and …", got, len([]rune(got)))
	}
}

var liveLink = regexp.MustCompile(`(?i)[a-z][a-z0-9+.-]*://\S`)

// FuzzEscape: whatever comes in, nothing in what goes out is Slack markup.
func FuzzEscape(f *testing.F) {
	for _, c := range escapeCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := bot.Escape(s)
		if strings.ContainsAny(e, "<>*_~`\n\r") {
			t.Fatalf("Escape(%q) = %q has markup", s, e)
		}
		if strings.Count(e, "&") != strings.Count(e, "&amp;")+strings.Count(e, "&lt;")+strings.Count(e, "&gt;") {
			t.Fatalf("Escape(%q) = %q has a bare &", s, e)
		}
		if liveLink.MatchString(e) {
			t.Fatalf("Escape(%q) = %q has a live link", s, e)
		}
		if strings.ContainsAny(e, "\uE000\uE001") {
			t.Fatalf("Escape(%q) = %q has a span marker", s, e)
		}
		for _, r := range e {
			if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
				t.Fatalf("Escape(%q) = %q has an invisible or control character %U", s, e, r)
			}
		}
		if back := bot.Unescape(e); strings.ContainsAny(s, "<>&") && !strings.ContainsAny(back, "<>&") {
			t.Fatalf("Unescape(Escape(%q)) = %q lost the escaped characters", s, back)
		}
	})
}
