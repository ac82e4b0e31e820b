package slackbot

import (
	"context"
	"strings"

	"github.com/slack-go/slack"

	"github.com/bindtester/bindtester/bot"
)

// The Adapter is the bot's Messenger: news outside a request.

// DM writes to a user in the bot's direct messages.
func (a *Adapter) DM(ctx context.Context, userID, text string) error {
	_, _, err := a.api.PostMessageContext(ctx, userID, slack.MsgOptionText(slackText(text), false))
	return err
}

// Reopen returns the thread at ref.
func (a *Adapter) Reopen(ref bot.ThreadRef) bot.Thread {
	return &channelThread{a: a, channel: ref.Channel, parentTS: ref.ParentTS, threadTS: ref.ThreadTS}
}

// Prompt posts an approval request with Approve and Deny buttons (Block Kit).
func (a *Adapter) Prompt(ctx context.Context, to string, p bot.Prompt) (bot.MessageRef, error) {
	channel, ts, err := a.api.PostMessageContext(ctx, to, promptOptions(p)...)
	return bot.MessageRef{Channel: channel, TS: ts}, err
}

// Reprompt replaces a prompt's text, its buttons kept.
func (a *Adapter) Reprompt(ctx context.Context, ref bot.MessageRef, p bot.Prompt) error {
	_, _, _, err := a.api.UpdateMessageContext(ctx, ref.Channel, ref.TS, promptOptions(p)...)
	return err
}

// promptOptions are a prompt's text (the notification) and its blocks: the
// text, then its buttons (in the block blockIDFor names).
func promptOptions(p bot.Prompt) []slack.MsgOption {
	blocks := []slack.Block{slack.NewSectionBlock(mrkdwn(p.Text), nil, nil)}
	if len(p.Buttons) > 0 {
		blocks = append(blocks, slack.NewActionBlock(blockIDFor(p), buttonElements(p.Buttons)...))
	}
	return []slack.MsgOption{slack.MsgOptionText(slackText(p.Text), false), slack.MsgOptionBlocks(blocks...)}
}

// blockIDFor names a prompt's button block: "approval" for approvals, as before.
func blockIDFor(p bot.Prompt) string {
	if len(p.Buttons) > 0 && p.Buttons[0].Action != bot.ActionApprove {
		return p.Buttons[0].Action
	}
	return "approval"
}

// clickAction is the action a button's action_id names.
func clickAction(actionID string) string {
	action, _, _ := strings.Cut(actionID, ".")
	return action
}

// Edit replaces a prompt with text, removing its buttons.
func (a *Adapter) Edit(ctx context.Context, ref bot.MessageRef, text string) error {
	_, _, _, err := a.api.UpdateMessageContext(ctx, ref.Channel, ref.TS, promptOptions(bot.Prompt{Text: text})...)
	return err
}
