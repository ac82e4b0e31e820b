package bot_test

import (
	"strings"
	"testing"

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
	{"<https://evil.example|click>", "&lt;https://evil.example|click&gt;"},
	{"a & b", "a &amp; b"},
	{"&lt;", "&amp;lt;"}, // already-escaped text is escaped again, so it shows as typed
	{"&amp;&gt;", "&amp;amp;&amp;gt;"},
	{"微信 <b>", "微信 &lt;b&gt;"},
}

func TestEscapeUnescape(t *testing.T) {
	for _, c := range escapeCases {
		got := bot.Escape(c.in)
		if got != c.escaped {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.escaped)
		}
		if strings.ContainsAny(got, "<>") {
			t.Errorf("Escape(%q) = %q still has < or >", c.in, got)
		}
		if back := bot.Unescape(got); back != c.in {
			t.Errorf("Unescape(Escape(%q)) = %q", c.in, back)
		}
	}
}

func FuzzEscapeRoundTrip(f *testing.F) {
	for _, c := range escapeCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := bot.Escape(s)
		if strings.ContainsAny(e, "<>") {
			t.Fatalf("Escape(%q) = %q has < or >", s, e)
		}
		if strings.Count(e, "&") != strings.Count(e, "&amp;")+strings.Count(e, "&lt;")+strings.Count(e, "&gt;") {
			t.Fatalf("Escape(%q) = %q has a bare &", s, e)
		}
		if back := bot.Unescape(e); back != s {
			t.Fatalf("Unescape(Escape(%q)) = %q", s, back)
		}
	})
}
