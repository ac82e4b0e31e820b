package bot_test

import (
	"context"
	"testing"

	"github.com/bindtester/bindtester/bot"
)

// Do says what a command did, from the audit records it wrote: a bind
// changed something, a denial and a help did not, and a bind waiting for an
// approval says it asked.
func TestDoReturnsWhatHappened(t *testing.T) {
	f := newFixture(t)
	approvalPolicy(f)
	b := f.bot()
	last := func(o bot.Outcome) bot.EventKind {
		if len(o.Events) == 0 {
			return ""
		}
		return o.Events[len(o.Events)-1].Kind
	}
	do := func(user, text string) bot.Outcome {
		t.Helper()
		out, err := b.Do(context.Background(), bot.Request{UserID: user, ChannelID: "CSHOP", Text: text}, &recConv{t: t})
		if err != nil {
			t.Fatalf("%s %q: %v", user, text, err)
		}
		return out
	}
	if out := do("UALICE", "shop "+tester); !out.Changed() || last(out) != bot.EventBound {
		t.Errorf("bind: %+v; want bound, changed", out)
	}
	if out := do("UBOB", "shop other_tester"); out.Changed() || last(out) != bot.EventDenied {
		t.Errorf("denied bind: %+v; want denied, nothing changed", out)
	}
	if out := do("UREQ", "shop asked_tester"); out.Changed() || last(out) != bot.EventRequested {
		t.Errorf("bind needing approval: %+v; want requested, nothing changed yet", out)
	}
	if out := do("UALICE", "help"); out.Changed() || len(out.Events) != 0 {
		t.Errorf("help: %+v; want no records", out)
	}
}
