package bot

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The grammar's rules as the documentation states them, written out again
// here rather than taken from command.go, so the fuzz target checks Parse
// against the rules and not against itself.
var (
	docAppID        = regexp.MustCompile(`^wx[0-9a-f]{16}$`)              // wx + 16 lowercase hex digits
	docAlias        = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`) // a letter, then up to 31 more
	docWechatID     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{5,19}$`) // 6–20, a letter first
	docUserID       = regexp.MustCompile(`^[UW][A-Z0-9]+$`)               // a Slack user ID
	fuzzFmtProblem  = regexp.MustCompile(`%!`)                            // fmt's complaints: %!s(MISSING), %!(EXTRA …)
	fuzzMaxDuration = time.Duration(9999) * 7 * 24 * time.Hour            // "for 9999w"
)

// FuzzParse: whatever follows /bindtester, Parse never panics and answers
// either a well-formed Command or a *UsageError whose key has a text in every
// language, whose argument was typed, and whose text takes exactly the
// arguments Handle gives it. Its seed corpus (testdata/fuzz/FuzzParse) is the
// grammar tests' own examples.
//
// Longer runs: go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 10m ./bot/
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		cmd, err := Parse(text)

		// The same words give the same answer: only whitespace separates them.
		norm := strings.Join(strings.Fields(text), " ")
		cmd2, err2 := Parse(norm)
		if cmd2 != cmd || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("Parse(%q) = %+v, %v but Parse(%q) = %+v, %v", text, cmd, err, norm, cmd2, err2)
		}

		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) || err != error(ue) {
				t.Fatalf("Parse(%q) error %T %v, want a *UsageError", text, err, err)
			}
			// Handle looks at the error first. Parse does return a partly
			// filled Command with some errors (testers, unbind and mine with
			// extra words), so only the contract the grammar tests state is
			// checked: never a bind alongside an error.
			if cmd.Verb == VerbBind {
				t.Fatalf("Parse(%q) returned the bind %+v alongside usage error %v", text, cmd, err)
			}
			fuzzCheckUsageError(t, text, norm, ue)
			return
		}
		fuzzCheckCommand(t, text, cmd)
	})
}

// fuzzCheckUsageError: the key has a text in English and Chinese, the argument is
// what was typed (never made up), and the text takes exactly the arguments
// Handle passes (one when Arg is set, none otherwise) without fmt complaints.
func fuzzCheckUsageError(t *testing.T, text, norm string, ue *UsageError) {
	t.Helper()
	for _, tr := range []struct {
		lang Lang
		text map[string]string
	}{{English, textEN}, {Chinese, textZH}} {
		s, ok := tr.text[ue.Key]
		if !ok {
			t.Fatalf("Parse(%q): usage error key %q has no %s text", text, ue.Key, tr.lang)
		}
		// Handle passes Echo(Arg) when Arg is set, nothing otherwise; a
		// stand-in argument keeps the input's own % signs out of the check.
		var out string
		if ue.Arg != "" {
			out = tr.lang.T(ue.Key, "ARG")
		} else {
			out = tr.lang.T(ue.Key)
		}
		if fuzzFmtProblem.MatchString(out) {
			t.Fatalf("Parse(%q): %s text of %q with arg %q is badly formatted: %q (template %q)", text, tr.lang, ue.Key, ue.Arg, out, s)
		}
	}
	if !strings.HasPrefix(ue.Key, "usage.") {
		t.Fatalf("Parse(%q): usage error key %q is not a usage text", text, ue.Key)
	}
	// Case aside: "shop valid_id FOR" quotes the word as "for".
	if ue.Arg != "" && !strings.Contains(strings.ToLower(norm), strings.ToLower(ue.Arg)) {
		t.Fatalf("Parse(%q): usage error %s quotes %q, which was not typed", text, ue.Key, ue.Arg)
	}
}

// fuzzCheckCommand: each verb carries exactly the fields its grammar fills, each
// within the documented rules.
func fuzzCheckCommand(t *testing.T, text string, cmd Command) {
	t.Helper()
	fail := func(why string) { t.Fatalf("Parse(%q) = %+v: %s", text, cmd, why) }
	validApp := func(s string) bool {
		return docAppID.MatchString(s) || (docAlias.MatchString(s) && !strings.HasPrefix(strings.ToLower(s), "wx"))
	}
	switch cmd.Verb {
	case VerbHelp, VerbMine:
		if cmd != (Command{Verb: cmd.Verb}) {
			fail("help and mine take no arguments")
		}
	case VerbBind:
		switch {
		case !validApp(cmd.App):
			fail("the app is neither an appid nor an alias")
		case !IsAppID(cmd.App) && docAppID.MatchString(cmd.App):
			fail("IsAppID disagrees with the documented appid rule")
		case !docWechatID.MatchString(cmd.WechatID) || !IsWechatID(cmd.WechatID):
			fail("the WeChat ID breaks WeChat's rules")
		case cmd.GrantID != 0 || cmd.User != "" || cmd.Page != 0:
			fail("a bind carries fields of other verbs")
		case cmd.Duration != 0 && (cmd.Duration < time.Hour || cmd.Duration > fuzzMaxDuration || cmd.Duration%time.Hour != 0):
			fail("the duration is not a whole number of hours between 1h and 9999w")
		}
		if cmd.Duration != 0 {
			if back, ok := ParseDuration(FormatDuration(cmd.Duration)); !ok || back != cmd.Duration {
				fail("FormatDuration does not write what ParseDuration reads back: " + FormatDuration(cmd.Duration))
			}
		}
		if IsCommandWord(cmd.App) {
			fail("a verb was taken for an app")
		}
	case VerbUnbind:
		switch {
		case !validApp(cmd.App):
			fail("the app is neither an appid nor an alias")
		case (cmd.GrantID == 0) == (cmd.WechatID == ""):
			fail("an unbind names exactly one of a grant and a WeChat ID")
		case cmd.GrantID < 0 || (cmd.WechatID == "" && cmd.GrantID < 1):
			fail("grants are numbered from 1")
		case cmd.WechatID != "" && (!docWechatID.MatchString(cmd.WechatID) || !IsWechatID(cmd.WechatID)):
			fail("the WeChat ID breaks WeChat's rules")
		case cmd.Duration != 0 || cmd.User != "" || cmd.Page != 0:
			fail("an unbind carries fields of other verbs")
		}
	case VerbTesters:
		if !validApp(cmd.App) || cmd != (Command{Verb: VerbTesters, App: cmd.App}) {
			fail("testers takes one app and nothing else")
		}
	case VerbAudit:
		switch {
		case cmd.App != "" && !validApp(cmd.App):
			fail("the app is neither an appid nor an alias")
		case cmd.User != "" && !docUserID.MatchString(cmd.User):
			fail("the user is not a Slack user ID")
		case cmd.Page < 1 || cmd.Page > maxAuditPage:
			fail("the page is out of bounds")
		case cmd.WechatID != "" || cmd.GrantID != 0 || cmd.Duration != 0:
			fail("an audit carries fields of other verbs")
		}
	default:
		fail("unknown verb")
	}
}
