package console

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/bindtester/bindtester/bot"
)

// The request form as questions: an empty line (or the Request access
// button, `:request`) asks for each field in turn, the way Slack's modal
// shows them, and asks again for those the core finds wrong, with the
// core's words. "cancel" at any question gives up.

// Forms is what the form needs of the core (the bot implements it).
type Forms interface {
	FormFor(ctx context.Context, userID string) bot.Form
	CheckForm(ctx context.Context, userID string, v bot.FormValues) (string, bot.FormErrors)
}

// form asks for a request and runs it; ask reads one answer (false: no more input).
func (c *Console) form(ctx context.Context, ask func() (string, bool)) error {
	forms, ok := c.Handler.(Forms)
	if !ok {
		return c.Handler.Handle(ctx, bot.Request{UserID: c.UserID, ChannelID: c.ChannelID, Locale: c.Locale}, c) // as Slack without a form
	}
	f := forms.FormFor(ctx, c.UserID)
	if len(f.Apps) == 0 {
		c.print("[only you] %s", bot.Plain(f.Text.NoApps))
		return nil
	}
	c.print("[form] %s", f.Text.Title)
	for i, a := range f.Apps {
		c.print("  %d) %s (%s–%s)", i+1, a.Label, bot.FormatDuration(a.Default), bot.FormatDuration(a.Max))
	}
	var v bot.FormValues
	questions := []struct {
		field bot.FormField
		label string
		into  *string
	}{
		{bot.FieldApp, fmt.Sprintf("%s [1-%d]", f.Text.App, len(f.Apps)), &v.App},
		{bot.FieldWechatID, f.Text.WechatID + " (" + f.Text.WechatHint + ")", &v.WechatID},
		{bot.FieldDuration, f.Text.Duration + " (" + f.Text.DurationHint + ")", &v.Duration},
		{bot.FieldReason, f.Text.Reason, &v.Reason},
	}
	wrong := map[bot.FormField]string{bot.FieldApp: "", bot.FieldWechatID: "", bot.FieldDuration: "", bot.FieldReason: ""}
	for len(wrong) > 0 {
		for _, q := range questions {
			problem, again := wrong[q.field]
			if !again {
				continue
			}
			if problem != "" {
				c.print("  ✗ %s", bot.Plain(problem))
			}
			c.ask(q.label)
			answer, ok := ask()
			if !ok || strings.EqualFold(strings.TrimSpace(answer), "cancel") {
				c.print("(%s)", f.Text.Close)
				return nil
			}
			*q.into = strings.TrimSpace(answer)
			if q.field == bot.FieldApp { // a number picks from the list
				if n, err := strconv.Atoi(*q.into); err == nil && n >= 1 && n <= len(f.Apps) {
					*q.into = f.Apps[n-1].ID
				} else if *q.into == "" && len(f.Apps) == 1 {
					*q.into = f.Apps[0].ID
				}
			}
		}
		line, problems := forms.CheckForm(ctx, c.UserID, v)
		wrong = map[bot.FormField]string{}
		for field, msg := range problems {
			wrong[field] = msg
		}
		if len(wrong) == 0 {
			return c.Handler.Handle(ctx, bot.Request{UserID: c.UserID, ChannelID: c.ChannelID, Text: line, Locale: c.Locale}, c)
		}
	}
	return nil
}

// ask prints a question of the form.
func (c *Console) ask(label string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.Out, "  %s: ", label)
}

// PrivateBlocks prints blocks only the requester sees, with their buttons.
func (c *Console) PrivateBlocks(_ context.Context, blocks []bot.Block) error {
	var parts []string
	for _, b := range blocks {
		text := bot.BlocksText([]bot.Block{b})
		if len(b.Buttons) > 0 {
			text += buttons(bot.Prompt{Buttons: b.Buttons})
		}
		if text != "" {
			parts = append(parts, strings.TrimPrefix(text, "\n"))
		}
	}
	c.print("%s", indent(bot.Plain(strings.Join(parts, "\n")), "[only you] "))
	return nil
}
