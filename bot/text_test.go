package bot

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// verbRE matches one fmt verb, including "%%".
var verbRE = regexp.MustCompile(`%[-+# 0]*[0-9]*(\.[0-9]+)?(\[[0-9]+\])?[a-zA-Z%]`)

var verbIndexRE = regexp.MustCompile(`\[([0-9]+)\]`)

func verbs(s string) []string { return verbRE.FindAllString(s, -1) }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// languages lists every translation with its name, English first.
var languages = []struct {
	lang Lang
	text map[string]string
}{
	{English, textEN},
	{Chinese, textZH},
}

func TestTextKeysMatch(t *testing.T) {
	for _, tr := range languages[1:] {
		t.Run(string(tr.lang), func(t *testing.T) {
			for _, k := range sortedKeys(textEN) {
				if _, ok := tr.text[k]; !ok {
					t.Errorf("key %q is in textEN but missing in %s", k, tr.lang)
				}
			}
			for _, k := range sortedKeys(tr.text) {
				if _, ok := textEN[k]; !ok {
					t.Errorf("key %q is in %s but not in textEN", k, tr.lang)
				}
			}
		})
	}
	if texts[English] == nil || texts[Chinese] == nil {
		t.Fatal("texts does not register every language")
	}
}

func TestTextVerbsMatch(t *testing.T) {
	for _, tr := range languages[1:] {
		for _, k := range sortedKeys(textEN) {
			s, ok := tr.text[k]
			if !ok {
				continue // reported by TestTextKeysMatch
			}
			t.Run(string(tr.lang)+"/"+k, func(t *testing.T) {
				want, got := verbs(textEN[k]), verbs(s)
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("fmt verbs differ:\n en: %q\n %s: %q\n text: %q", want, tr.lang, got, s)
				}
			})
		}
	}
}

// TestTextFormats formats every text with arguments of the kinds its verbs
// expect, through Lang.T, and checks fmt reports no problem.
func TestTextFormats(t *testing.T) {
	for _, tr := range languages {
		for _, k := range sortedKeys(tr.text) {
			s := tr.text[k]
			// One argument per verb, in order, or at its explicit index (%[2]s).
			var args []any
			for _, v := range verbs(s) {
				if v[len(v)-1] == '%' {
					continue
				}
				var arg any = "ARG"
				if v[len(v)-1] == 'd' {
					arg = 42
				}
				if m := verbIndexRE.FindStringSubmatch(v); m != nil {
					i, _ := strconv.Atoi(m[1])
					for len(args) < i {
						args = append(args, nil)
					}
					args[i-1] = arg
					continue
				}
				args = append(args, arg)
			}
			out := tr.lang.T(k, args...)
			if strings.Contains(out, "%!") {
				t.Errorf("%s %q: bad formatting: %q", tr.lang, k, out)
			}
			if n := strings.Count(out, "ARG"); n != strings.Count(strings.Join(verbs(s), ""), "s") {
				t.Errorf("%s %q: %d string arguments used, want one per %%s: %q", tr.lang, k, n, out)
			}
		}
	}
}

func TestTextNotEmpty(t *testing.T) {
	for _, tr := range languages {
		for _, k := range sortedKeys(tr.text) {
			s := tr.text[k]
			if strings.TrimSpace(s) == "" {
				t.Errorf("%s %q is empty", tr.lang, k)
			}
			if s != strings.TrimSpace(s) {
				t.Errorf("%s %q has leading or trailing space: %q", tr.lang, k, s)
			}
		}
	}
}

// TestTextStructure checks that translations keep the line structure and
// emoji of the English text, and balanced mrkdwn markers.
func TestTextStructure(t *testing.T) {
	for _, tr := range languages {
		for _, k := range sortedKeys(tr.text) {
			s, en := tr.text[k], textEN[k]
			if got, want := strings.Count(s, "\n"), strings.Count(en, "\n"); got != want {
				t.Errorf("%s %q has %d line breaks, English has %d", tr.lang, k, got, want)
			}
			for _, tok := range []string{"✅", "❌"} {
				if got, want := strings.Count(s, tok), strings.Count(en, tok); got != want {
					t.Errorf("%s %q has %d %q, English has %d", tr.lang, k, got, tok, want)
				}
			}
			for _, line := range strings.Split(s, "\n") {
				if strings.Count(line, "`")%2 != 0 {
					t.Errorf("%s %q: unbalanced backticks in %q", tr.lang, k, line)
				}
				if strings.Count(line, "*")%2 != 0 {
					t.Errorf("%s %q: unbalanced asterisks in %q", tr.lang, k, line)
				}
			}
		}
	}
}

var (
	codeRE = regexp.MustCompile("`[^`\n]+`")
	boldRE = regexp.MustCompile(`\*[^*\n]+\*`)
)

// TestTextMrkdwnBoundaries checks that no *bold* or `code` marker touches a
// letter or digit outside it: Slack then shows the markers literally, which is
// the usual mistake in Chinese ("的*%s*体验者").
func TestTextMrkdwnBoundaries(t *testing.T) {
	touches := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	for _, tr := range languages {
		for _, k := range sortedKeys(tr.text) {
			s := tr.text[k]
			for _, re := range []*regexp.Regexp{codeRE, boldRE} {
				src := s
				if re == boldRE {
					src = codeRE.ReplaceAllStringFunc(s, func(c string) string { return strings.Repeat("x", len(c)) })
				}
				for _, m := range re.FindAllStringIndex(src, -1) {
					if m[0] > 0 {
						if r, _ := utf8.DecodeLastRuneInString(s[:m[0]]); touches(r) {
							t.Errorf("%s %q: %q is preceded by %q", tr.lang, k, s[m[0]:m[1]], r)
						}
					}
					if m[1] < len(s) {
						if r, _ := utf8.DecodeRuneInString(s[m[1]:]); touches(r) {
							t.Errorf("%s %q: %q is followed by %q", tr.lang, k, s[m[0]:m[1]], r)
						}
					}
				}
			}
		}
	}
}

// TestTextChineseIsTranslated catches English texts pasted into textZH.
func TestTextChineseIsTranslated(t *testing.T) {
	for _, k := range sortedKeys(textZH) {
		s := textZH[k]
		if !strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
			t.Errorf("zh %q has no Chinese: %q", k, s)
		}
		if en, ok := textEN[k]; ok && s == en {
			t.Errorf("zh %q is the English text", k)
		}
	}
}

func TestParseLang(t *testing.T) {
	for _, fallback := range []Lang{English, Chinese} {
		for _, c := range []struct {
			locale string
			want   Lang
		}{
			{"zh-CN", Chinese},
			{"zh-TW", Chinese},
			{"zh", Chinese},
			{"ZH-cn", Chinese},
			{"en-US", English},
			{"en-GB", English},
			{"en", English},
			{"fr-FR", fallback},
			{"ja-JP", fallback},
			{"", fallback},
		} {
			if got := ParseLang(c.locale, fallback); got != c.want {
				t.Errorf("ParseLang(%q, %q) = %q, want %q", c.locale, fallback, got, c.want)
			}
		}
	}
}

func TestLangT(t *testing.T) {
	// Each language answers with its own text.
	if got, want := Chinese.T("err.85002.short"), textZH["err.85002.short"]; got != want || got == textEN["err.85002.short"] {
		t.Errorf("Chinese.T(err.85002.short) = %q, want %q", got, want)
	}
	if got, want := English.T("err.85002.short"), textEN["err.85002.short"]; got != want {
		t.Errorf("English.T(err.85002.short) = %q, want %q", got, want)
	}
	if got, want := Chinese.T("err.unknown.short", 40013), fmt.Sprintf(textZH["err.unknown.short"], 40013); got != want {
		t.Errorf("Chinese.T(err.unknown.short, 40013) = %q, want %q", got, want)
	}

	// A key missing in a language falls back to English.
	const onlyEN = "test.only_en"
	textEN[onlyEN] = "only in English: %s"
	t.Cleanup(func() { delete(textEN, onlyEN) })
	if _, ok := textZH[onlyEN]; ok {
		t.Fatalf("%q unexpectedly in textZH", onlyEN)
	}
	for _, l := range []Lang{Chinese, English, Lang("fr")} {
		if got, want := l.T(onlyEN, "x"), "only in English: x"; got != want {
			t.Errorf("%s.T(%q) = %q, want the English %q", l, onlyEN, got, want)
		}
	}
	if got, want := Lang("fr").T("err.85002.short"), textEN["err.85002.short"]; got != want {
		t.Errorf("unknown language: T = %q, want English %q", got, want)
	}

	// An unknown key gives the key itself.
	for _, l := range []Lang{Chinese, English, Lang("fr")} {
		if got := l.T("no.such.key", 1, "a"); got != "no.such.key" {
			t.Errorf("%s.T(no.such.key) = %q, want the key", l, got)
		}
	}
}

// The expiry warning's hint is the rebind command alone: asking again gets the
// app's default duration, whatever the ending grant's was.
func TestExpiryWarningHintIsTheCommand(t *testing.T) {
	for _, tr := range languages {
		out := tr.lang.T("expiry.warning", "ab***yz", "Shop", "DATE", "/bindtester shop <wechat-id>")
		if !strings.Contains(out, "`/bindtester shop <wechat-id>`") {
			t.Errorf("%s expiry.warning adds to the command: %q", tr.lang, out)
		}
	}
}
