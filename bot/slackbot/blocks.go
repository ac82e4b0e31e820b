package slackbot

import (
	"fmt"
	"strconv"

	"github.com/slack-go/slack"

	"github.com/bindtester/bindtester/bot"
)

// Block Kit for the core's blocks and buttons.

// Slack's limits on what a block holds.
const (
	maxSectionText = 3000
	maxHeaderText  = 150
	maxButtonText  = 75
	maxFields      = 10
	maxMsgBlocks   = 50  // in a message
	maxViewBlocks  = 100 // in a view (App Home)
)

// slackBlocks renders blocks: a header for a heading (a divider before each
// but the first), a section for the text and fields, and an actions block
// for the buttons (block_id "b<n>", unique in the message or view).
func slackBlocks(blocks []bot.Block) []slack.Block {
	var out []slack.Block
	for i, b := range blocks {
		if b.Heading != "" {
			if i > 0 {
				out = append(out, slack.NewDividerBlock())
			}
			out = append(out, slack.NewHeaderBlock(plainText(clip(b.Heading, maxHeaderText))))
		}
		var fields []*slack.TextBlockObject
		for _, f := range b.Fields[:min(len(b.Fields), maxFields)] {
			fields = append(fields, mrkdwn(f))
		}
		if b.Text != "" || len(fields) > 0 {
			var text *slack.TextBlockObject
			if b.Text != "" {
				text = mrkdwn(b.Text)
			}
			out = append(out, slack.NewSectionBlock(text, fields, nil))
		}
		if len(b.Buttons) > 0 {
			out = append(out, slack.NewActionBlock("b"+strconv.Itoa(i), buttonElements(b.Buttons)...))
		}
	}
	return out
}

// msgBlocks are blocks as a message holds them.
func msgBlocks(blocks []bot.Block) []slack.Block {
	return capBlocks(slackBlocks(blocks), maxMsgBlocks)
}

// blockOptions post blocks as a message: their text (the notification) and the blocks.
func blockOptions(blocks []bot.Block) []slack.MsgOption {
	return []slack.MsgOption{slack.MsgOptionText(slackText(bot.BlocksText(blocks)), false), slack.MsgOptionBlocks(msgBlocks(blocks)...)}
}

// capBlocks keeps blocks within Slack's limit n, ending with a line that
// says the rest was left out.
func capBlocks(blocks []slack.Block, n int) []slack.Block {
	if len(blocks) <= n {
		return blocks
	}
	return append(blocks[:n-1:n-1], slack.NewContextBlock("", mrkdwn(fmt.Sprintf("… %d more blocks left out", len(blocks)-n+1))))
}

// buttonElements are buttons; an action_id is the button's action, made
// unique in its block with ".<n>" where two share one (clickAction undoes that).
func buttonElements(buttons []bot.Button) []slack.BlockElement {
	count := map[string]int{}
	for _, b := range buttons {
		count[b.Action]++
	}
	var out []slack.BlockElement
	for i, b := range buttons {
		id := b.Action
		if count[b.Action] > 1 {
			id = fmt.Sprintf("%s.%d", b.Action, i)
		}
		e := slack.NewButtonBlockElement(id, b.Value, plainText(clip(b.Label, maxButtonText)))
		e.Style = slack.Style(b.Style)
		out = append(out, e)
	}
	return out
}

// mrkdwn is a mrkdwn text object of the core's text s, its spans rendered.
func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, slackText(clip(s, maxSectionText)), false, true)
}

// plainText is a plain_text object of the core's text s, where Slack
// renders no mention or date: they are shown as the terminal shows them.
func plainText(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, bot.Plain(s), false, false)
}

// clip shortens the core's text s to at most n characters, marking the cut
// with "…"; it never cuts a span (a mention rendered is longer than the
// span: Slack counts a mention by its ID, so the room left is enough).
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	cut := n - 1
	for i := cut - 1; i >= 0 && r[i] != '\uE001'; i-- {
		if r[i] == '\uE000' { // inside a span: cut before it
			cut = i
			break
		}
	}
	return string(r[:cut]) + "…"
}
