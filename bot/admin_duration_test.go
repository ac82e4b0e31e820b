package bot_test

import (
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// "for <duration>" sets how long a grant lasts: within the app's maximum, the
// app's default when absent; anything else is a usage message and WeChat is
// not called at all.
func TestBindForDuration(t *testing.T) {
	const id = "tester_one"
	for _, c := range []struct {
		name    string
		app     func(a *bot.App) // adjusts Shop
		text    string
		want    time.Duration // the grant's length; 0 for a usage message
		private []string      // in the usage message
	}{
		{name: "for 3d", text: "shop " + id + " for 3d", want: 72 * time.Hour},
		{name: "for 12h", text: "shop " + id + " for 12h", want: 12 * time.Hour},
		{name: "for 2w", text: "shop " + id + " FOR 2W", want: 14 * 24 * time.Hour},
		{name: "exactly the maximum", text: "shop " + id + " for 30d", want: bot.DefaultMaxDuration},
		{name: "default when absent", text: "shop " + id, want: bot.DefaultDuration},
		{name: "the app's own default", app: func(a *bot.App) { a.DefaultDuration = 2 * 24 * time.Hour }, text: "shop " + id, want: 48 * time.Hour},
		{name: "longer than the maximum", text: "shop " + id + " for 5w",
			private: []string{"5w is longer than *Shop* allows: at most 30d"}},
		{name: "longer than the app's own maximum", app: func(a *bot.App) { a.MaxDuration = 7 * 24 * time.Hour }, text: "shop " + id + " for 8d",
			private: []string{"8d is longer than *Shop* allows: at most 1w"}},
		{name: "a default above the maximum is refused too", app: func(a *bot.App) { a.DefaultDuration, a.MaxDuration = 10*24*time.Hour, 5*24*time.Hour },
			text: "shop " + id, private: []string{"10d is longer than *Shop* allows: at most 5d"}},
		{name: "malformed", text: "shop " + id + " for 3x", private: []string{"`3x` is not a duration", "`for 3d`"}},
		{name: "zero", text: "shop " + id + " for 0d", private: []string{"`0d` is not a duration"}},
		{name: "fraction", text: "shop " + id + " for 1.5d", private: []string{"`1.5d` is not a duration"}},
		{name: "for without a duration", text: "shop " + id + " for", private: []string{"`for` is not a duration"}},
		{name: "words after the duration", text: "shop " + id + " for 3d please", private: []string{"I did not expect `please`"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			if c.app != nil {
				c.app(&f.policy.Apps[0])
			}
			b := f.bot()
			start := f.clock.Now()
			conv := run(t, b, "UALICE", c.text)
			if c.want == 0 {
				if len(conv.privates) != 1 || len(conv.opens) != 0 {
					t.Fatalf("want one usage message and no thread; got %v", conv)
				}
				wantContains(t, "usage message", conv.privates[0], c.private...)
				if n := len(f.fake.Requests()); n != 0 {
					t.Errorf("WeChat got %d requests, want none", n)
				}
				if gs := f.active(t, bot.GrantFilter{}); len(gs) != 0 {
					t.Errorf("grants recorded: %+v", gs)
				}
				return
			}
			gs := f.active(t, bot.GrantFilter{AppID: appShop})
			if len(gs) != 1 {
				t.Fatalf("%d active grants, want 1: %v", len(gs), conv)
			}
			g := gs[0]
			if !g.ExpiresAt.Equal(start.Add(c.want)) || !g.CreatedAt.Equal(start) {
				t.Errorf("grant from %v until %v, want %v until %v (%v)", g.CreatedAt, g.ExpiresAt, start, start.Add(c.want), c.want)
			}
			if g.Requester != "UALICE" || g.WechatMasked != "te***ne" || g.State != bot.GrantActive || g.UserStr != f.fake.UserStr(appShop, id) {
				t.Errorf("grant %+v", g)
			}
			if g.Thread != conv.ref(0) {
				t.Errorf("grant thread %+v, want the request's thread %+v", g.Thread, conv.ref(0))
			}
			// The success reply says when access ends and how to end it sooner.
			wantContains(t, "reply", conv.replies[0], "Access ends "+start.Add(c.want).UTC().Format(bot.UTCLayout), "`/bindtester unbind shop #"+itoa(g.ID)+"`")
			if ev := f.eventsOf(t, bot.EventAllowed); len(ev) != 1 || ev[0].Detail != "for "+bot.FormatDuration(c.want) {
				t.Errorf("allowed event %+v, want detail %q", ev, "for "+bot.FormatDuration(c.want))
			}
		})
	}
}
