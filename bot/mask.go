package bot

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaskWechatID hides all but the first and last two characters: "ab***yz".
func MaskWechatID(id string) string {
	r := []rune(id)
	if len(r) <= 4 {
		return "***"
	}
	return string(r[:2]) + "***" + string(r[len(r)-2:])
}

// slackEscaper makes text literal in Slack's mrkdwn: &, < and > are escaped
// (no <!channel>, mention or <link|label> can be smuggled in), the formatting
// marks are replaced by look-alikes that format nothing (mrkdwn has no escape
// character: *bold*, _italic_, ~strike~ and `code` spans, including the
// bot's own code spans around it, stay as typed), and line breaks become
// spaces, so no "> quote" can start a line.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;",
	"*", "∗", "_", "ˍ", "~", "∼", "`", "ˋ", "\r\n", " ", "\n", " ", "\r", " ")

// linkish finds what Slack would turn into a link by itself: URLs and domain names.
var linkish = regexp.MustCompile(`(?i)[a-z][a-z0-9+.-]*://[^\s]+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b`)

// Escape makes text that did not come from the bot's own templates — a WeChat
// errmsg, an app's name or alias, a typed argument — literal in a Slack
// message: no markup, no mention, no link (URLs and domains are defanged,
// https[:]//x[.]example), and control and invisible characters (U+202E,
// U+200B, …) shown as visible escapes (\u202E) rather than obeyed.
func Escape(s string) string {
	return defang(slackEscaper.Replace(visible(s))) // look-alikes first: "_" counts as part of a word for \b
}

// Code is Escape for text the bot puts inside its own code spans (a command
// to copy, an alias, an appid), where Slack formats nothing: only the
// backtick that would end the span is replaced, so what is shown can be
// typed back as it is.
func Code(s string) string {
	return defang(codeEscaper.Replace(visible(s)))
}

var codeEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "`", "\u02cb", "\r\n", " ", "\n", " ", "\r", " ")

// visible shows control and invisible characters as \uXXXX.
func visible(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r != '\n' && r != '\r' && invisible(r) {
			fmt.Fprintf(&b, "\\u%04X", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// invisible reports characters that show as nothing (or as a blank) and can
// hide or reorder text: controls, format characters (U+202E, U+200B, …),
// line and paragraph separators, variation selectors and the blank letters
// (U+3164, U+2800, …) that pass for spaces; and the span markers (see
// spans.go), so no user input can forge a mention or a date.
func invisible(r rune) bool {
	switch r {
	case utf8.RuneError, 0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0, spanOpen, spanClose:
		return true
	}
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Variation_Selector)
}

// defang breaks what Slack would turn into a link by itself. Every "://"
// is broken, not only those of the URLs linkish finds: a domain found first
// ("a.bc" in "a.bcd://x") would otherwise hide the scheme after it.
func defang(s string) string {
	s = linkish.ReplaceAllStringFunc(s, func(l string) string { return strings.ReplaceAll(l, ".", "[.]") })
	return strings.ReplaceAll(s, "://", "[:]//")
}

// echoLimit is how much of a typed argument an answer quotes back.
const echoLimit = 40

// Echo is Escape for quoting what someone typed: cut to a short length first.
func Echo(s string) string {
	if r := []rune(s); len(r) > echoLimit {
		s = string(r[:echoLimit]) + "…"
	}
	return Escape(s)
}

var slackUnescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

// Unescape undoes Escape's HTML escapes, for adapters that show plain text
// (the console); the look-alikes and visible escapes stay.
func Unescape(s string) string { return slackUnescaper.Replace(s) }
