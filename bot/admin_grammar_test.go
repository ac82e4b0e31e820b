package bot_test

import (
	"errors"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

func TestParseAdminGrammar(t *testing.T) {
	const (
		appid = "wx1234567890abcdef"
		d     = 24 * time.Hour
	)
	bindFor := func(app, id string, dur time.Duration) bot.Command {
		return bot.Command{Verb: bot.VerbBind, App: app, WechatID: id, Duration: dur}
	}
	unbind := func(app, id string, grant int64) bot.Command {
		return bot.Command{Verb: bot.VerbUnbind, App: app, WechatID: id, GrantID: grant}
	}
	audit := func(app, user string, page int) bot.Command {
		return bot.Command{Verb: bot.VerbAudit, App: app, User: user, Page: page}
	}
	for _, c := range []struct {
		name    string
		text    string
		want    bot.Command // when wantKey is ""
		wantKey string
		wantArg string
	}{
		// bind for <duration>
		{name: "for hours", text: "shop valid_id for 12h", want: bindFor("shop", "valid_id", 12*time.Hour)},
		{name: "for days", text: appid + " valid_id for 3d", want: bindFor(appid, "valid_id", 3*d)},
		{name: "for weeks", text: "shop valid_id for 2w", want: bindFor("shop", "valid_id", 14*d)},
		{name: "for in any case", text: "shop valid_id FOR 3D", want: bindFor("shop", "valid_id", 3*d)},
		{name: "four digits", text: "shop valid_id for 9999h", want: bindFor("shop", "valid_id", 9999*time.Hour)},
		{name: "no duration is the default", text: "shop valid_id", want: bindFor("shop", "valid_id", 0)},
		{name: "for alone", text: "shop valid_id for", wantKey: "usage.duration", wantArg: "for"},
		{name: "unknown unit", text: "shop valid_id for 3x", wantKey: "usage.duration", wantArg: "3x"},
		{name: "no unit", text: "shop valid_id for 3", wantKey: "usage.duration", wantArg: "3"},
		{name: "zero", text: "shop valid_id for 0h", wantKey: "usage.duration", wantArg: "0h"},
		{name: "negative", text: "shop valid_id for -1d", wantKey: "usage.duration", wantArg: "-1d"},
		{name: "fraction", text: "shop valid_id for 1.5d", wantKey: "usage.duration", wantArg: "1.5d"},
		{name: "Go duration", text: "shop valid_id for 1h30m", wantKey: "usage.duration", wantArg: "1h30m"},
		{name: "five digits", text: "shop valid_id for 10000h", wantKey: "usage.duration", wantArg: "10000h"},
		{name: "words after the duration", text: "shop valid_id for 3d now", wantKey: "usage.extra", wantArg: "now"},
		{name: "duration without for", text: "shop valid_id 3d", wantKey: "usage.extra", wantArg: "3d"},

		// unbind
		{name: "unbind by WeChat ID", text: "unbind shop valid_id", want: unbind("shop", "valid_id", 0)},
		{name: "unbind by grant", text: "UNBIND " + appid + " #42", want: unbind(appid, "", 42)},
		{name: "unbind nothing", text: "unbind", wantKey: "usage.unbind"},
		{name: "unbind app only", text: "unbind shop", wantKey: "usage.unbind"},
		{name: "unbind bad grant", text: "unbind shop #x1", wantKey: "usage.grant", wantArg: "#x1"},
		{name: "unbind grant zero", text: "unbind shop #0", wantKey: "usage.grant", wantArg: "#0"},
		{name: "unbind grant with a leading zero", text: "unbind shop #01", wantKey: "usage.grant", wantArg: "#01"},
		{name: "unbind negative grant", text: "unbind shop #-3", wantKey: "usage.grant", wantArg: "#-3"},
		{name: "unbind grant too large", text: "unbind shop #1234567890123456789", wantKey: "usage.grant", wantArg: "#1234567890123456789"},
		{name: "unbind bad WeChat ID", text: "unbind shop bad.id", wantKey: "usage.wechatid", wantArg: "bad.id"},
		{name: "unbind bad appid", text: "unbind wx12 valid_id", wantKey: "usage.appid", wantArg: "wx12"},
		{name: "unbind extra", text: "unbind shop #1 #2", wantKey: "usage.extra", wantArg: "#2"},

		// testers
		{name: "testers", text: "testers shop", want: bot.Command{Verb: bot.VerbTesters, App: "shop"}},
		{name: "testers by appid", text: "Testers " + appid, want: bot.Command{Verb: bot.VerbTesters, App: appid}},
		{name: "testers without app", text: "testers", wantKey: "usage.testers"},
		{name: "testers bad app", text: "testers <!channel>", wantKey: "usage.app", wantArg: "<!channel>"},
		{name: "testers extra", text: "testers shop games", wantKey: "usage.extra", wantArg: "games"},

		// mine
		{name: "mine", text: "mine", want: bot.Command{Verb: bot.VerbMine}},
		{name: "mine extra", text: "mine shop", wantKey: "usage.extra", wantArg: "shop"},

		// audit
		{name: "audit", text: "audit", want: audit("", "", 1)},
		{name: "audit app", text: "audit shop", want: audit("shop", "", 1)},
		{name: "audit mention", text: "audit <@UALICE>", want: audit("", "UALICE", 1)},
		{name: "audit mention with name", text: "audit <@UALICE|alice>", want: audit("", "UALICE", 1)},
		{name: "audit bare user id", text: "audit WALICE2", want: audit("", "WALICE2", 1)},
		{name: "audit page", text: "audit page 3", want: audit("", "", 3)},
		{name: "audit any order", text: "audit page 2 <@UALICE> " + appid, want: audit(appid, "UALICE", 2)},
		{name: "audit page zero", text: "audit page 0", wantKey: "usage.page", wantArg: "0"},
		{name: "audit page word", text: "audit page two", wantKey: "usage.page", wantArg: "two"},
		{name: "audit last page", text: "audit page 10000", want: audit("", "", 10000)},
		{name: "audit page too far", text: "audit page 10001", wantKey: "usage.page", wantArg: "10001"},
		{name: "audit page overflowing the offset", text: "audit page 1000000000000000000", wantKey: "usage.page", wantArg: "1000000000000000000"},
		{name: "audit two apps", text: "audit shop games", wantKey: "usage.audit", wantArg: "games"},
		{name: "audit two people", text: "audit <@UA1> <@UB2>", wantKey: "usage.audit", wantArg: "<@UB2>"},
		{name: "audit channel ping", text: "audit <!channel>", wantKey: "usage.audit", wantArg: "<!channel>"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := bot.Parse(c.text)
			if c.wantKey == "" {
				if err != nil {
					t.Fatalf("Parse(%q) error %v, want %+v", c.text, err, c.want)
				}
				if got != c.want {
					t.Fatalf("Parse(%q) = %+v, want %+v", c.text, got, c.want)
				}
				return
			}
			var ue *bot.UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) = %+v, %v; want usage error %s", c.text, got, err, c.wantKey)
			}
			if ue.Key != c.wantKey || ue.Arg != c.wantArg {
				t.Fatalf("Parse(%q): usage error %s %q, want %s %q", c.text, ue.Key, ue.Arg, c.wantKey, c.wantArg)
			}
		})
	}
}

// FormatDuration writes what ParseDuration reads, in the largest whole unit.
func TestDurationRoundTrip(t *testing.T) {
	const d = 24 * time.Hour
	for _, c := range []struct {
		in   string
		want time.Duration
		out  string // FormatDuration(want)
	}{
		{"12h", 12 * time.Hour, "12h"},
		{"1h", time.Hour, "1h"},
		{"36h", 36 * time.Hour, "36h"},
		{"24h", d, "1d"},
		{"3d", 3 * d, "3d"},
		{"7d", 7 * d, "1w"},
		{"14d", 14 * d, "2w"},
		{"30d", 30 * d, "30d"},
		{"2w", 14 * d, "2w"},
		{"2W", 14 * d, "2w"},
	} {
		got, ok := bot.ParseDuration(c.in)
		if !ok || got != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", c.in, got, ok, c.want)
			continue
		}
		out := bot.FormatDuration(got)
		if out != c.out {
			t.Errorf("FormatDuration(%v) = %q, want %q", got, out, c.out)
		}
		if back, ok := bot.ParseDuration(out); !ok || back != got {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", got, back, ok)
		}
	}
	// Durations the grammar cannot write are rounded up to whole hours.
	for in, want := range map[time.Duration]string{time.Second: "1h", 90 * time.Minute: "2h", 25 * time.Hour: "25h"} {
		if got := bot.FormatDuration(in); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", "h", "0d", "3", "3x", "1.5d", "-2h", "10000h", " 3d"} {
		if got, ok := bot.ParseDuration(bad); ok {
			t.Errorf("ParseDuration(%q) = %v, want not a duration", bad, got)
		}
	}
}
