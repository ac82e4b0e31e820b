package slackbot

import (
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/bindtester/bindtester/bot"
)

// A long text is cut before a mention rather than through it, so what
// Slack shows never holds half a <@U…> or a stray span marker.
func TestClipNeverCutsASpan(t *testing.T) {
	text := strings.Repeat("x", 2990) + span('u', "U0123456789") + " and more text"
	got := slackText(clip(text, 3000))
	if strings.ContainsAny(got, "\uE000\uE001") || strings.Contains(got, "<@") || !strings.HasSuffix(got, "x…") {
		t.Errorf("clipped text ends %q; want it cut before the mention", got[len(got)-20:])
	}
	if short := "fits " + span('u', "U1"); clip(short, 3000) != short {
		t.Error("a text that fits was changed")
	}
}

// However many grants or requests, a message stays within Slack's 50
// blocks and App Home within 100, and says that some were left out.
func TestBlocksStayWithinSlackLimits(t *testing.T) {
	var many []bot.Block
	for range 80 {
		many = append(many, bot.Block{Text: "grant", Buttons: []bot.Button{{Action: bot.ActionEnd, Label: "End now", Value: "1"}}})
	}
	for _, c := range []struct {
		got  []slack.Block
		want int
	}{{msgBlocks(many), maxMsgBlocks}, {capBlocks(slackBlocks(many), maxViewBlocks), maxViewBlocks}} {
		if len(c.got) != c.want {
			t.Errorf("%d blocks; want %d", len(c.got), c.want)
		}
		if last, ok := c.got[len(c.got)-1].(*slack.ContextBlock); !ok || !strings.Contains(last.ContextElements.Elements[0].(*slack.TextBlockObject).Text, "left out") {
			t.Errorf("the last block %#v does not say the rest was left out", c.got[len(c.got)-1])
		}
	}
	if few := msgBlocks(many[:3]); len(few) != 6 {
		t.Errorf("3 blocks with buttons gave %d Slack blocks; want 6, nothing cut", len(few))
	}
}
