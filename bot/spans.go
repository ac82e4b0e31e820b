package bot

import (
	"strconv"
	"strings"
	"time"
)

// Spans: the core's text carries people, user groups, channels and dates as
// typed spans, which each adapter renders in its own way. Slack shows them
// as mentions and <!date> (so each reader sees their own time zone); the
// terminal as @U…, #C… and a UTC date (see Plain). The core itself writes
// no Slack markup.
//
// A span is U+E000, one kind byte, the payload, U+E001, inside an ordinary
// string, so the code that builds texts (Lang.T, concatenation,
// strings.Join) keeps working on them. User input cannot forge one: Escape
// and Code show U+E000 and U+E001 as \uE000 and \uE001.

const (
	spanOpen  = '\uE000'
	spanClose = '\uE001'
)

// SpanKind says what a span is; for the typed ones it is also the kind byte
// of its encoding.
type SpanKind byte

const (
	SpanText    SpanKind = 0   // literal text (Span.Text)
	SpanUser    SpanKind = 'u' // a Slack user (Span.ID)
	SpanGroup   SpanKind = 'g' // a Slack user group (Span.ID)
	SpanChannel SpanKind = 'c' // a Slack channel (Span.ID)
	SpanDate    SpanKind = 'd' // a moment (Span.At), payload in Unix seconds
)

// Span is one piece of a text: literal text, or a typed reference.
type Span struct {
	Kind SpanKind
	Text string    // SpanText
	ID   string    // SpanUser, SpanGroup, SpanChannel
	At   time.Time // SpanDate
}

func span(k SpanKind, payload string) string {
	return string(spanOpen) + string(rune(k)) + payload + string(spanClose)
}

// mention names a person or user group: "bindtester" for none, a name that
// is not a Slack ID (the command line's "cli-admin") as literal text.
func mention(id string) string {
	if id == "" {
		return "bindtester"
	}
	if !isSlackID(id) {
		return Escape(id)
	}
	if isGroupID(id) {
		return span(SpanGroup, id)
	}
	return span(SpanUser, id)
}

// channelRef names a channel.
func channelRef(id string) string { return span(SpanChannel, id) }

// dateRef is a moment, which each reader sees in their own time zone where
// the adapter can do that.
func dateRef(t time.Time) string { return span(SpanDate, strconv.FormatInt(t.Unix(), 10)) }

// Spans splits s into its spans, literal text between them. A malformed
// marker (unterminated, of an unknown kind, with a bad payload) is text.
func Spans(s string) []Span {
	var out []Span
	var text strings.Builder
	for s != "" {
		i := strings.IndexRune(s, spanOpen)
		if i < 0 {
			text.WriteString(s)
			break
		}
		text.WriteString(s[:i])
		rest := s[i+len(string(spanOpen)):]
		if sp, n, ok := parseSpan(rest); ok {
			if text.Len() > 0 {
				out = append(out, Span{Kind: SpanText, Text: text.String()})
				text.Reset()
			}
			out = append(out, sp)
			s = rest[n:]
			continue
		}
		text.WriteRune(spanOpen)
		s = rest
	}
	if text.Len() > 0 {
		out = append(out, Span{Kind: SpanText, Text: text.String()})
	}
	return out
}

// parseSpan reads a span's kind, payload and end from rest (what follows
// U+E000) and says how much of rest it took.
func parseSpan(rest string) (Span, int, bool) {
	end := strings.IndexRune(rest, spanClose)
	if end < 1 {
		return Span{}, 0, false
	}
	k, payload := SpanKind(rest[0]), rest[1:end]
	n := end + len(string(spanClose))
	switch k {
	case SpanUser, SpanGroup, SpanChannel:
		if isSpanID(payload) {
			return Span{Kind: k, ID: payload}, n, true
		}
	case SpanDate:
		if sec, err := strconv.ParseInt(payload, 10, 64); err == nil {
			return Span{Kind: k, At: time.Unix(sec, 0).UTC()}, n, true
		}
	}
	return Span{}, 0, false
}

// isSpanID reports an ID as Slack writes them: capital letters and digits,
// so nothing an adapter puts around it can be broken out of.
func isSpanID(id string) bool {
	for _, r := range id {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return id != ""
}

// Render is s with each typed span replaced by f(span); literal text passes
// through unchanged.
func Render(s string, f func(Span) string) string {
	if !strings.ContainsRune(s, spanOpen) {
		return s
	}
	var b strings.Builder
	for _, sp := range Spans(s) {
		if sp.Kind == SpanText {
			b.WriteString(sp.Text)
			continue
		}
		b.WriteString(f(sp))
	}
	return b.String()
}

// Plain is s for a terminal: users @U…, user groups @S…, channels #C…,
// dates in UTC, and Escape's entities undone.
func Plain(s string) string {
	return Unescape(Render(s, func(sp Span) string {
		switch sp.Kind {
		case SpanChannel:
			return "#" + sp.ID
		case SpanDate:
			return sp.At.Format(UTCLayout)
		}
		return "@" + sp.ID
	}))
}

// UTCLayout is how a date reads where it cannot be shown in the reader's
// own time zone.
const UTCLayout = "2006-01-02 15:04 UTC"
