package bot

import (
	"context"
	"strings"
	"time"
)

// The request form: what the command asks for (app, WeChat ID, how long,
// why), as fields an adapter shows (a Slack modal, the console's prompts).
// The core says which apps a person may pick and checks a submission with
// the command's own rules and words; a valid one runs as the command.

// Form is one person's request form.
type Form struct {
	Apps []FormApp // the apps they may bind to or ask for; none: they may not use the form
	Text FormText  // the form's words, in their language (plain text)
}

// FormText are a form's words.
type FormText struct {
	Title, Submit, Close                   string
	App, WechatID, WechatHint              string
	Duration, DurationHint, Reason, NoApps string
}

// FormApp is one choice of the form's app picker.
type FormApp struct {
	ID, Label                  string // Label: the app's name
	Default, Max               time.Duration
	NeedsApproval, NeedsReason bool
}

// FormField names a field of the form.
type FormField string

const (
	FieldApp      FormField = "app"
	FieldWechatID FormField = "wechat_id"
	FieldDuration FormField = "duration"
	FieldReason   FormField = "reason"
)

// FormValues are a submission, as typed or picked.
type FormValues struct {
	App, WechatID, Duration, Reason string
}

// FormErrors says, per field, what is wrong with a submission (plain text,
// in the submitter's language); empty when it is valid.
type FormErrors map[FormField]string

// FormFor is the form for userID: the apps they may bind to or ask for,
// with each one's default and maximum duration.
func (b *Bot) FormFor(ctx context.Context, userID string) Form {
	apps, admin, _ := b.policy().BindableApps(ctx, b.o.Groups, Who{UserID: userID})
	l := b.userLang(ctx, userID)
	f := Form{Text: FormText{Title: l.T("form.title"), Submit: l.T("form.submit"), Close: l.T("form.close"),
		App: l.T("form.app"), WechatID: l.T("form.wechat_id"), WechatHint: l.T("form.wechat_hint"),
		Duration: l.T("form.duration"), DurationHint: l.T("form.duration_hint"), Reason: l.T("form.reason"),
		NoApps: plainText(l.T("usage.no_apps", b.admins(l)))}}
	for _, a := range apps {
		needs := !admin && b.policy().CanBind(ctx, b.o.Groups, askedFor(Who{UserID: userID}, a), a).NeedsApproval
		f.Apps = append(f.Apps, FormApp{ID: a.ID, Label: a.Name, Default: a.DefaultDuration, Max: a.MaxDuration,
			NeedsApproval: needs, NeedsReason: a.RequireReason})
	}
	return f
}

// askedFor is who as the policy sees a request for app: one asked nowhere
// (a button in a DM, a form from App Home) counts as asked where the app
// allows, its first channel.
func askedFor(who Who, app *App) Who {
	if who.ChannelID == "" && len(app.Channels) > 0 {
		who.ChannelID = app.Channels[0]
	}
	return who
}

// CheckForm checks a submission by userID with the command's rules. Valid,
// it returns the command line that does what the form asks (run it with
// Handle); otherwise the problems, field by field, in plain text.
func (b *Bot) CheckForm(ctx context.Context, userID string, v FormValues) (string, FormErrors) {
	l := b.userLang(ctx, userID)
	errs := FormErrors{}
	form := b.FormFor(ctx, userID)
	var app *FormApp
	for i := range form.Apps {
		if form.Apps[i].ID == v.App {
			app = &form.Apps[i]
		}
	}
	if app == nil {
		errs[FieldApp] = plainText(l.T("form.pick_app"))
	}
	wechatID := strings.TrimSpace(v.WechatID)
	if !IsWechatID(wechatID) {
		errs[FieldWechatID] = plainText(l.T("usage.wechatid", Echo(wechatID)))
	}
	line := v.App + " " + wechatID
	if d := strings.TrimSpace(v.Duration); d != "" {
		dur, ok := ParseDuration(d)
		switch {
		case !ok:
			errs[FieldDuration] = plainText(l.T("usage.duration", Echo(d)))
		case app != nil && dur > app.Max:
			errs[FieldDuration] = plainText(l.T("usage.too_long", FormatDuration(dur), Escape(app.Label), FormatDuration(app.Max)))
		}
		line += " for " + d
	}
	reason := strings.Join(strings.Fields(v.Reason), " ")
	switch {
	case len([]rune(reason)) > maxReason:
		errs[FieldReason] = plainText(l.T("usage.reason"))
	case reason == "" && app != nil && app.NeedsReason:
		errs[FieldReason] = plainText(l.T("form.reason_required"))
	case reason != "":
		line += " because " + reason
	}
	if len(errs) > 0 {
		return "", errs
	}
	return line, nil
}

// plainText is a text as a form shows it: no Slack markup or escapes.
func plainText(s string) string {
	return Unescape(strings.NewReplacer("`", "", "*", "").Replace(s))
}
