package bot

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Verb is what a command asks for.
type Verb int

const (
	VerbHelp    Verb = iota
	VerbBind         // <app> <wechat-id> [for <duration>]
	VerbUnbind       // unbind <app> <wechat-id | #grant>
	VerbTesters      // testers <app>
	VerbMine         // mine
	VerbAudit        // audit [app] [<@user>] [page N]
	VerbApps         // apps [refresh]: admins
	VerbExtend       // extend #N [time]
	VerbHome         // home: App Home as an answer
)

// Command is a parsed /bindtester line.
type Command struct {
	Verb     Verb
	App      string        // appid or alias, as typed
	WechatID string        // bind, unbind
	GrantID  int64         // unbind #N
	Duration time.Duration // bind "for 3d"; 0 for the app's default
	User     string        // audit: a Slack user ID
	Page     int           // audit: 1-based
	Refresh  bool          // apps refresh: discover first
	Reason   string        // bind "because …": why (raw: escape before showing)
	For      string        // bind "for @user": whose grant it is (admins bind on behalf)
}

// maxReason bounds a reason, so it fits a prompt and an audit row.
const maxReason = 300

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
	grantPattern    = regexp.MustCompile(`^#([1-9][0-9]{0,17})$`)
	userRefPattern  = regexp.MustCompile(`^(?:<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|([UW][A-Z0-9]{2,}))$`)
	durationPattern = regexp.MustCompile(`^([0-9]{1,4})(h|d|w)$`)
)

// IsAppID reports whether s is shaped like a Mini Program appid.
func IsAppID(s string) bool { return appIDPattern.MatchString(s) }

// IsWechatID reports whether s follows WeChat's rules for a WeChat ID: 6–20
// characters, starting with a letter; letters, digits, _ and - (wxid_… IDs included).
func IsWechatID(s string) bool { return wechatIDPattern.MatchString(s) }

// ParseDuration reads an access duration: a number of hours, days or weeks ("12h", "3d", "2w").
func ParseDuration(s string) (time.Duration, bool) {
	m := durationPattern.FindStringSubmatch(strings.ToLower(s))
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
	if n == 0 {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// FormatDuration writes a duration the way ParseDuration reads it.
func FormatDuration(d time.Duration) string {
	switch {
	case d%(7*24*time.Hour) == 0:
		return fmt.Sprintf("%dw", d/(7*24*time.Hour))
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return fmt.Sprintf("%dh", (d+time.Hour-1)/time.Hour)
}

// Parse reads the text after /bindtester (or after the bot's mention).
func Parse(text string) (Command, error) {
	words := strings.Fields(text)
	if len(words) == 0 {
		return Command{Verb: VerbHelp}, nil
	}
	if spec := lookupCommand(words[0]); spec != nil {
		cmd, err := spec.parse(words[1:])
		cmd.Verb = spec.verb
		return cmd, err
	}
	first := words[0]
	if err := checkApp(first); err != nil {
		return Command{}, err
	}
	switch {
	case len(words) == 1:
		if IsAppID(first) {
			return Command{}, &UsageError{Key: "usage.missing_wechatid", Arg: first}
		}
		return Command{}, &UsageError{Key: "usage.unknown_subcommand", Arg: first}
	case !IsWechatID(words[1]):
		return Command{}, &UsageError{Key: "usage.wechatid", Arg: words[1]}
	}
	cmd := Command{Verb: VerbBind, App: first, WechatID: words[1]}
	// Then, in any order: "for <time>", "for <@user>"; "because <why>" last.
	for rest := words[2:]; len(rest) > 0; {
		var m []string // rest[1] as a user, if it is one
		if len(rest) >= 2 {
			m = userRefPattern.FindStringSubmatch(rest[1])
		}
		switch {
		case strings.EqualFold(rest[0], "for") && m != nil && cmd.For == "":
			cmd.For, rest = m[1]+m[2], rest[2:]
		case strings.EqualFold(rest[0], "for") && cmd.Duration == 0:
			if len(rest) < 2 {
				return Command{}, &UsageError{Key: "usage.duration", Arg: "for"}
			}
			d, ok := ParseDuration(rest[1])
			if !ok {
				return Command{}, &UsageError{Key: "usage.duration", Arg: rest[1]}
			}
			cmd.Duration, rest = d, rest[2:]
		case strings.EqualFold(rest[0], "because"):
			reason := strings.Join(rest[1:], " ")
			if reason == "" || len([]rune(reason)) > maxReason {
				return Command{}, &UsageError{Key: "usage.reason", Arg: strings.Join(rest, " ")}
			}
			cmd.Reason, rest = reason, nil
		default:
			return Command{}, &UsageError{Key: "usage.extra", Arg: strings.Join(rest, " ")}
		}
	}
	return cmd, nil
}

// checkApp reports an appid or alias that cannot be one.
func checkApp(s string) error {
	switch {
	case strings.HasPrefix(strings.ToLower(s), "wx") && !IsAppID(s):
		return &UsageError{Key: "usage.appid", Arg: s}
	case !IsAppID(s) && !aliasPattern.MatchString(s):
		return &UsageError{Key: "usage.app", Arg: s}
	}
	return nil
}

// maxAuditPage bounds "audit page N", so the offset it makes cannot overflow.
const maxAuditPage = 10000
