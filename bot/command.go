package bot

import (
	"fmt"
	"regexp"
	"strings"
)

// Verb is what a command asks for.
type Verb int

const (
	VerbHelp Verb = iota
	VerbBind
)

// Command is a parsed /bindtester line.
type Command struct {
	Verb     Verb
	App      string // appid or alias, as typed
	WechatID string
}

// UsageError says why a command line could not be understood; Key picks the
// explanation and Arg is the offending input (raw: escape before showing).
type UsageError struct {
	Key string
	Arg string
}

func (e *UsageError) Error() string { return fmt.Sprintf("usage: %s %q", e.Key, e.Arg) }

var (
	appIDPattern    = regexp.MustCompile(`^wx[0-9a-f]{16}$`)
	wechatIDPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{5,19}$`)
	aliasPattern    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)
)

// IsAppID reports whether s is shaped like a Mini Program appid.
func IsAppID(s string) bool { return appIDPattern.MatchString(s) }

// IsWechatID reports whether s follows WeChat's rules for a WeChat ID: 6–20
// characters, starting with a letter; letters, digits, _ and - (wxid_… IDs included).
func IsWechatID(s string) bool { return wechatIDPattern.MatchString(s) }

// subcommands are the words reserved for verbs; the ones not yet built are
// reported as unknown.
var subcommands = map[string]Verb{"help": VerbHelp}

// Parse reads the text after /bindtester (or after the bot's mention).
func Parse(text string) (Command, error) {
	words := strings.Fields(text)
	if len(words) == 0 {
		return Command{Verb: VerbHelp}, nil
	}
	first := words[0]
	if v, ok := subcommands[strings.ToLower(first)]; ok {
		if len(words) > 1 {
			return Command{}, &UsageError{Key: "usage.extra", Arg: strings.Join(words[1:], " ")}
		}
		return Command{Verb: v}, nil
	}
	looksLikeApp := IsAppID(first) || (aliasPattern.MatchString(first) && !strings.HasPrefix(strings.ToLower(first), "wx"))
	switch {
	case strings.HasPrefix(strings.ToLower(first), "wx") && !IsAppID(first):
		return Command{}, &UsageError{Key: "usage.appid", Arg: first}
	case !looksLikeApp:
		return Command{}, &UsageError{Key: "usage.app", Arg: first}
	case len(words) == 1:
		if IsAppID(first) {
			return Command{}, &UsageError{Key: "usage.missing_wechatid", Arg: first}
		}
		return Command{}, &UsageError{Key: "usage.unknown_subcommand", Arg: first}
	case len(words) > 2:
		return Command{}, &UsageError{Key: "usage.extra", Arg: strings.Join(words[2:], " ")}
	case !IsWechatID(words[1]):
		return Command{}, &UsageError{Key: "usage.wechatid", Arg: words[1]}
	}
	return Command{Verb: VerbBind, App: first, WechatID: words[1]}, nil
}
