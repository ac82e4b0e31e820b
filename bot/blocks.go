package bot

import (
	"context"
	"strings"
)

// Block is one part of an answer that is more than a line of text: a
// heading, text, fields shown side by side, and buttons. The core says what
// is shown; each adapter renders it (Block Kit in Slack, lines and
// ":action value" clicks in the console). App Home and `mine` are made of
// blocks.
type Block struct {
	Heading string   // a title (plain text); "" for none
	Text    string   // the block's text
	Fields  []string // short texts shown side by side (a label and its value each)
	Buttons []Button
}

// blockConversation is a Conversation that can answer privately with
// blocks; the others are given the blocks' text (BlocksText).
type blockConversation interface {
	PrivateBlocks(ctx context.Context, blocks []Block) error
}

// privateBlocks answers with blocks where conv can show them, in text otherwise.
func privateBlocks(ctx context.Context, conv Conversation, blocks []Block) error {
	if bc, ok := conv.(blockConversation); ok {
		return bc.PrivateBlocks(ctx, blocks)
	}
	return conv.Private(ctx, BlocksText(blocks))
}

// BlocksText is blocks as text alone, a line or more each (buttons left
// out), for notifications and for adapters without blocks.
func BlocksText(blocks []Block) string {
	var lines []string
	for _, b := range blocks {
		if b.Heading != "" {
			lines = append(lines, "*"+Escape(b.Heading)+"*")
		}
		if b.Text != "" {
			lines = append(lines, b.Text)
		}
		if len(b.Fields) > 0 {
			lines = append(lines, strings.Join(b.Fields, " · "))
		}
	}
	return strings.Join(lines, "\n")
}
