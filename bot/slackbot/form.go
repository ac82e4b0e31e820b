package slackbot

import (
	"context"
	"fmt"
	"strings"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/bindtester/bindtester/bot"
)

// The request form as a Slack modal: `/bindtester` alone opens it
// (views.open with the command's trigger_id); its submission is checked
// before the ack, so problems show inline (response_action: errors), and a
// valid one runs as the command would, answered in the channel it came
// from (or the requester's DM).

// Forms is what the form needs of the core (the bot implements it).
type Forms interface {
	FormFor(ctx context.Context, userID string) bot.Form
	CheckForm(ctx context.Context, userID string, v bot.FormValues) (string, bot.FormErrors)
}

// formCallback names the modal's submissions.
const formCallback = "bindtester_request"

// openForm opens the request form for user, asked in channel; false where
// there is none to open (no Forms, no app to pick, Slack refused), and help
// answers instead.
func (a *Adapter) openForm(ctx context.Context, triggerID, user, channel string) bool {
	forms, ok := a.handler.(Forms)
	if !ok || triggerID == "" {
		return false
	}
	f := forms.FormFor(ctx, user)
	if len(f.Apps) == 0 {
		return false
	}
	if _, err := a.api.OpenViewContext(ctx, triggerID, formView(f, channel)); err != nil {
		a.log.Warn("slack: could not open the request form; answering with help", "error", err)
		return false
	}
	return true
}

// formView is the modal for f; channel (where it was asked) rides along.
func formView(f bot.Form, channel string) slack.ModalViewRequest {
	var opts []*slack.OptionBlockObject
	for _, app := range f.Apps {
		opts = append(opts, slack.NewOptionBlockObject(app.ID, plainText(app.Label), plainText(fmt.Sprintf("%s–%s", bot.FormatDuration(app.Default), bot.FormatDuration(app.Max)))))
	}
	picker := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plainText(f.Text.App), string(bot.FieldApp), opts...)
	if len(opts) == 1 {
		picker.InitialOption = opts[0]
	}
	wechat := slack.NewPlainTextInputBlockElement(plainText(f.Text.WechatHint), string(bot.FieldWechatID))
	duration := slack.NewPlainTextInputBlockElement(plainText(f.Text.DurationHint), string(bot.FieldDuration))
	reason := slack.NewPlainTextInputBlockElement(nil, string(bot.FieldReason))
	reason.Multiline = true
	durationBlock := slack.NewInputBlock(string(bot.FieldDuration), plainText(f.Text.Duration), nil, duration)
	durationBlock.Optional = true
	reasonBlock := slack.NewInputBlock(string(bot.FieldReason), plainText(f.Text.Reason), nil, reason)
	reasonBlock.Optional = true
	return slack.ModalViewRequest{Type: slack.VTModal, CallbackID: formCallback, PrivateMetadata: channel,
		Title: plainText(f.Text.Title), Submit: plainText(f.Text.Submit), Close: plainText(f.Text.Close),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock(string(bot.FieldApp), plainText(f.Text.App), nil, picker),
			slack.NewInputBlock(string(bot.FieldWechatID), plainText(f.Text.WechatID), plainText(f.Text.WechatHint), wechat),
			durationBlock, reasonBlock,
		}}}
}

// formSubmission handles a submission of the request form, its ack
// included; false for any other envelope (the loop acks those itself).
func (a *Adapter) formSubmission(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) bool {
	cb, ok := evt.Data.(slack.InteractionCallback)
	forms, isForms := a.handler.(Forms)
	if evt.Type != socketmode.EventTypeInteractive || !ok || cb.Type != slack.InteractionTypeViewSubmission ||
		cb.View.CallbackID != formCallback || !isForms || evt.Request == nil {
		return false
	}
	value := func(f bot.FormField) string {
		v := cb.View.State.Values[string(f)][string(f)]
		if v.SelectedOption.Value != "" {
			return v.SelectedOption.Value
		}
		return v.Value
	}
	line, problems := forms.CheckForm(ctx, cb.User.ID, bot.FormValues{App: value(bot.FieldApp), WechatID: value(bot.FieldWechatID),
		Duration: value(bot.FieldDuration), Reason: value(bot.FieldReason)})
	if len(problems) > 0 { // shown beside the fields; nothing is done
		errs := map[string]string{}
		for f, msg := range problems {
			errs[string(f)] = bot.Plain(msg) // plain text beside the field
		}
		if err := sm.Ack(*evt.Request, slack.NewErrorsViewSubmissionResponse(errs)); err != nil {
			a.log.Warn("slack: ack failed", "type", evt.Type, "error", err)
		}
		return true
	}
	if err := sm.Ack(*evt.Request); err != nil { // the modal closes
		a.log.Warn("slack: ack failed", "type", evt.Type, "error", err)
	}
	if !a.seen.first("view:" + cb.View.ID + ":" + cb.View.Hash) {
		return true
	}
	channel := strings.TrimSpace(cb.View.PrivateMetadata)
	conv := &formConversation{a: a, channel: channel, user: cb.User.ID}
	a.spawn(ctx, cb.User.ID, "view:"+cb.View.ID, conv, func(ctx context.Context) error {
		return a.handler.Handle(ctx, bot.Request{UserID: cb.User.ID, ChannelID: channel, Text: line}, conv)
	})
	return true
}

// formConversation answers a submitted form: in the channel it was opened
// from (privately as an ephemeral message there), or, where the bot cannot
// post there or none is known, in the requester's DM.
type formConversation struct {
	a             *Adapter
	channel, user string
}

func (c *formConversation) Private(ctx context.Context, text string) error {
	if c.channel != "" {
		if _, err := c.a.api.PostEphemeralContext(ctx, c.channel, c.user, slack.MsgOptionText(slackText(text), false)); err == nil {
			return nil
		}
	}
	return c.a.DM(ctx, c.user, text)
}

func (c *formConversation) PrivateBlocks(ctx context.Context, blocks []bot.Block) error {
	if c.channel != "" {
		if _, err := c.a.api.PostEphemeralContext(ctx, c.channel, c.user, blockOptions(blocks)...); err == nil {
			return nil
		}
	}
	return c.a.dmBlocks(ctx, c.user, blocks)
}

func (c *formConversation) Open(ctx context.Context, text string) (bot.Thread, error) {
	for _, to := range []string{c.channel, c.user} {
		if to == "" {
			continue
		}
		channel, ts, err := c.a.api.PostMessageContext(ctx, to, slack.MsgOptionText(slackText(text), false))
		if err == nil {
			return &channelThread{a: c.a, channel: channel, parentTS: ts, threadTS: ts}, nil
		}
		c.a.log.Info("slack: cannot post the form's answer here; trying the requester's DM", "channel", to, "error", err)
	}
	return nil, fmt.Errorf("slack: nowhere to answer the form of %s", c.user)
}
