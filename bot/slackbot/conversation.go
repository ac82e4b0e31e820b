package slackbot

import (
	"bytes"
	"context"
	"errors"
	"log/slog"

	"github.com/slack-go/slack"

	"github.com/bindtester/bindtester/bot"
)

// slashConversation answers a slash command: privately through its response_url,
// publicly with a parent message and a thread, or all through the response_url
// where the bot cannot post in the channel.
type slashConversation struct {
	a   *Adapter
	cmd slack.SlashCommand
}

func (c *slashConversation) Private(ctx context.Context, text string) error {
	return c.respond(ctx, text)
}

func (c *slashConversation) PrivateBlocks(ctx context.Context, blocks []bot.Block) error {
	return c.a.respondBlocks(ctx, c.cmd.ResponseURL, blocks)
}

// respondBlocks answers blocks privately through a response_url (the
// blocks' text is the notification).
func (a *Adapter) respondBlocks(ctx context.Context, responseURL string, blocks []bot.Block) error {
	return slack.PostWebhookCustomHTTPContext(ctx, responseURL, a.http, &slack.WebhookMessage{Text: slackText(bot.BlocksText(blocks)),
		ResponseType: slack.ResponseTypeEphemeral, Blocks: &slack.Blocks{BlockSet: msgBlocks(blocks)}})
}

// dmBlocks writes blocks to a user in the bot's direct messages.
func (a *Adapter) dmBlocks(ctx context.Context, user string, blocks []bot.Block) error {
	_, _, err := a.api.PostMessageContext(ctx, user, blockOptions(blocks)...)
	return err
}

func (c *slashConversation) respond(ctx context.Context, text string) error {
	return slack.PostWebhookCustomHTTPContext(ctx, c.cmd.ResponseURL, c.a.http,
		&slack.WebhookMessage{Text: slackText(text), ResponseType: slack.ResponseTypeEphemeral})
}

// cannotPost are the errors that say the bot is not welcome in the channel:
// expected, unlike the others, though every failure is answered privately.
func cannotPost(err error) bool {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		err = errors.New(se.Err)
	}
	switch err.Error() {
	case "not_in_channel", "channel_not_found", "is_archived", "restricted_action", "cannot_dm_bot":
		return true
	}
	return false
}

func (c *slashConversation) Open(ctx context.Context, text string) (bot.Thread, error) {
	_, ts, err := c.a.api.PostMessageContext(ctx, c.cmd.ChannelID, slack.MsgOptionText(slackText(text), false))
	if err != nil {
		level := slog.LevelWarn
		if cannotPost(err) {
			level = slog.LevelInfo
		}
		c.a.log.Log(ctx, level, "slack: cannot post in the channel; answering through response_url", "channel", c.cmd.ChannelID, "error", err)
		return &privateThread{c: c}, c.respond(ctx, text)
	}
	return &channelThread{a: c.a, channel: c.cmd.ChannelID, parentTS: ts, threadTS: ts}, nil
}

// mentionConversation answers an @mention inside the thread it was made in.
type mentionConversation struct {
	a                       *Adapter
	channel, user, threadTS string
}

func (c *mentionConversation) Private(ctx context.Context, text string) error {
	_, err := c.a.api.PostEphemeralContext(ctx, c.channel, c.user, slack.MsgOptionText(slackText(text), false), slack.MsgOptionTS(c.threadTS))
	return err
}

func (c *mentionConversation) PrivateBlocks(ctx context.Context, blocks []bot.Block) error {
	_, err := c.a.api.PostEphemeralContext(ctx, c.channel, c.user, append(blockOptions(blocks), slack.MsgOptionTS(c.threadTS))...)
	return err
}

func (c *mentionConversation) Open(ctx context.Context, text string) (bot.Thread, error) {
	_, ts, err := c.a.api.PostMessageContext(ctx, c.channel, slack.MsgOptionText(slackText(text), false), slack.MsgOptionTS(c.threadTS))
	if err != nil {
		return nil, err
	}
	return &channelThread{a: c.a, channel: c.channel, parentTS: ts, threadTS: c.threadTS}, nil
}

// channelThread is a status message (parentTS) and the thread under threadTS.
type channelThread struct {
	a                  *Adapter
	channel            string
	parentTS, threadTS string
}

func (t *channelThread) Reply(ctx context.Context, text string) error {
	_, _, err := t.a.api.PostMessageContext(ctx, t.channel, slack.MsgOptionText(slackText(text), false), slack.MsgOptionTS(t.threadTS))
	return err
}

func (t *channelThread) Attach(ctx context.Context, f bot.File) error {
	_, err := t.a.api.UploadFileContext(ctx, slack.UploadFileParameters{
		Reader: bytes.NewReader(f.Data), FileSize: len(f.Data), Filename: f.Name, Title: slackText(f.Title),
		InitialComment: slackText(f.Comment), Channel: t.channel, ThreadTimestamp: t.threadTS,
	})
	return err
}

func (t *channelThread) Update(ctx context.Context, text string) error {
	_, _, _, err := t.a.api.UpdateMessageContext(ctx, t.channel, t.parentTS, slack.MsgOptionText(slackText(text), false))
	return err
}

func (t *channelThread) Ref() bot.ThreadRef {
	return bot.ThreadRef{Channel: t.channel, ParentTS: t.parentTS, ThreadTS: t.threadTS}
}

// privateThread answers through the response_url alone.
type privateThread struct{ c *slashConversation }

func (t *privateThread) Reply(ctx context.Context, text string) error { return t.c.respond(ctx, text) }

// Attach cannot send a file through a response_url.
func (t *privateThread) Attach(context.Context, bot.File) error { return bot.ErrCannotAttach }

func (t *privateThread) Update(ctx context.Context, text string) error { return t.c.respond(ctx, text) }

// Ref is empty: a response_url lasts 30 minutes, so later news goes by DM.
func (t *privateThread) Ref() bot.ThreadRef { return bot.ThreadRef{} }

// clickConversation answers a button click privately, through its
// response_url; a click in a view (App Home) has none, and is answered by
// DM, where also a thread it opens (End now) goes.
type clickConversation struct {
	a           *Adapter
	responseURL string
	user        string
}

func (c *clickConversation) Private(ctx context.Context, text string) error {
	if c.responseURL == "" {
		return c.a.DM(ctx, c.user, text)
	}
	return slack.PostWebhookCustomHTTPContext(ctx, c.responseURL, c.a.http,
		&slack.WebhookMessage{Text: slackText(text), ResponseType: slack.ResponseTypeEphemeral, ReplaceOriginal: false})
}

func (c *clickConversation) PrivateBlocks(ctx context.Context, blocks []bot.Block) error {
	if c.responseURL == "" {
		return c.a.dmBlocks(ctx, c.user, blocks)
	}
	return c.a.respondBlocks(ctx, c.responseURL, blocks)
}

func (c *clickConversation) Open(ctx context.Context, text string) (bot.Thread, error) {
	return (&formConversation{a: c.a, user: c.user}).Open(ctx, text)
}
