// Package bot is bindtester's Slack-agnostic core: the command grammar, the
// permission policy, the request flow, and friendly explanations of every
// outcome in English and Simplified Chinese. Adapters (Slack in bot/slackbot,
// the console in bot/console) turn their input into a Request and implement
// Conversation; they hold no business rules.
package bot

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/bindtester/bindtester/wechat"
)

// WeChat is what the bot needs of the WeChat client.
type WeChat interface {
	BindTester(ctx context.Context, appid, wechatid string) (wechat.BindResult, error)
	TrialQRCode(ctx context.Context, appid, path string) (wechat.QRCode, error)
}

// Locales tells a user's language preference (a Slack locale like "zh-CN"), or "".
type Locales interface {
	Locale(ctx context.Context, userID string) string
}

// Request is one command as an adapter received it.
type Request struct {
	UserID    string // Slack user ID: permissions are checked on it, never on names
	ChannelID string
	Text      string // what follows /bindtester or the bot's mention
	Locale    string // optional; otherwise asked of Locales
}

// Conversation is how the bot answers one request; adapters implement it.
type Conversation interface {
	// Private shows text to the requester alone (usage errors, denials, help).
	Private(ctx context.Context, text string) error
	// Open posts a visible status message where the request was made and
	// returns the thread the outcome goes in.
	Open(ctx context.Context, text string) (Thread, error)
}

// Thread is the place one permitted request is answered.
type Thread interface {
	Reply(ctx context.Context, text string) error
	Attach(ctx context.Context, f File) error
	// Update replaces the status message with a one-line summary.
	Update(ctx context.Context, text string) error
}

// File is an attachment, such as the trial QR code.
type File struct {
	Name, Title, Comment string
	Data                 []byte
}

// ErrCannotAttach is what Thread.Attach returns where files cannot be shown
// (an answer through a slash command's response_url).
var ErrCannotAttach = errors.New("cannot attach files here")

// Options configures a Bot.
type Options struct {
	Policy  *Policy
	WeChat  WeChat
	Groups  GroupMembers // user group lookups (cache them: see GroupCache)
	Locales Locales      // may be nil
	Lang    Lang         // default language
	Log     *slog.Logger
	Timeout time.Duration // for the WeChat part of one request; default 30s
}

// Bot handles commands.
type Bot struct{ o Options }

// New makes a Bot.
func New(o Options) *Bot {
	if o.Lang == "" {
		o.Lang = English
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	return &Bot{o: o}
}

func (b *Bot) lang(ctx context.Context, req Request) Lang {
	loc := req.Locale
	if loc == "" && b.o.Locales != nil {
		loc = b.o.Locales.Locale(ctx, req.UserID)
	}
	return ParseLang(loc, b.o.Lang)
}

// Handle runs one command to the end, answering through conv. The returned error
// is for logs only: the requester has been told what they need to know.
func (b *Bot) Handle(ctx context.Context, req Request, conv Conversation) error {
	l := b.lang(ctx, req)
	cmd, err := Parse(req.Text)
	var ue *UsageError
	if errors.As(err, &ue) {
		if _, isApp := b.o.Policy.App(ue.Arg); isApp && ue.Key == "usage.unknown_subcommand" {
			ue.Key = "usage.missing_wechatid" // an alias alone: the WeChat ID is missing
		}
		b.o.Log.Info("usage error", "user", req.UserID, "problem", ue.Key)
		return conv.Private(ctx, l.T(ue.Key, Escape(ue.Arg))+"\n"+l.T("usage.see_help"))
	}
	switch cmd.Verb {
	case VerbBind:
		return b.bind(ctx, l, req, cmd, conv)
	default:
		return conv.Private(ctx, b.help(ctx, l, req))
	}
}

func (b *Bot) help(ctx context.Context, l Lang, req Request) string {
	apps, admin, lookupErr := b.o.Policy.BindableApps(ctx, b.o.Groups, Who{UserID: req.UserID, ChannelID: req.ChannelID})
	example := "wx1234567890abcdef"
	if len(apps) > 0 {
		example = apps[0].ID
		if len(apps[0].Aliases) > 0 {
			example = apps[0].Aliases[0]
		}
	}
	lines := []string{l.T("usage", Escape(example))}
	if lookupErr != nil {
		b.o.Log.Warn("user group lookup failed", "user", req.UserID, "error", lookupErr)
		lines = append(lines, l.T("usage.lookup_failed"))
	}
	if len(apps) == 0 && lookupErr == nil {
		lines = append(lines, l.T("usage.no_apps", b.admins(l)))
	} else {
		names := make([]string, len(apps))
		for i, a := range apps {
			names[i] = appLabel(a)
		}
		lines = append(lines, l.T("usage.apps", strings.Join(names, ", ")))
	}
	if admin {
		lines = append(lines, l.T("usage.admin"))
	}
	return strings.Join(lines, "\n")
}

// appLabel shows an app as "*Name* (`alias`, `wx…`)".
func appLabel(a *App) string {
	keys := append(append([]string{}, a.Aliases...), a.ID)
	return "*" + Escape(a.Name) + "* (`" + Escape(strings.Join(keys, "`, `")) + "`)"
}

// admins names whom to ask, as Slack mentions.
func (b *Bot) admins(l Lang) string {
	if len(b.o.Policy.Admins) == 0 {
		return l.T("admins.none")
	}
	m := make([]string, len(b.o.Policy.Admins))
	for i, id := range b.o.Policy.Admins {
		m[i] = mention(id)
	}
	return strings.Join(m, ", ")
}

func mention(id string) string {
	if isGroupID(id) {
		return "<!subteam^" + id + ">"
	}
	return "<@" + id + ">"
}

func (b *Bot) bind(ctx context.Context, l Lang, req Request, cmd Command, conv Conversation) error {
	app, ok := b.o.Policy.App(cmd.App)
	if !ok {
		key := "app.unknown"
		if IsAppID(cmd.App) {
			key = "app.unknown_appid"
		}
		b.o.Log.Info("unknown app", "user", req.UserID, "app", cmd.App)
		return conv.Private(ctx, l.T(key, Escape(cmd.App), b.help(ctx, l, req)))
	}
	masked := MaskWechatID(cmd.WechatID)
	log := b.o.Log.With("user", req.UserID, "channel", req.ChannelID, "app", app.ID, "wechatid", masked)
	d := b.o.Policy.CanBind(ctx, b.o.Groups, Who{UserID: req.UserID, ChannelID: req.ChannelID}, app)
	if !d.Allowed {
		log.Info("bind denied", "reason", int(d.Reason))
		return conv.Private(ctx, b.denial(l, d, app))
	}

	thread, err := conv.Open(ctx, l.T("parent.working", req.UserID, masked, Escape(app.Name), app.ID))
	if err != nil {
		log.Error("could not post the status message", "error", err)
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, b.o.Timeout)
	defer cancel()
	res, err := b.o.WeChat.BindTester(wctx, app.ID, cmd.WechatID)
	if err != nil {
		log.Warn("bind failed", "error", err)
		reply, short := b.explain(l, app, masked, err)
		// The WeChat failure is explained and logged; only answering failures go up.
		return errors.Join(thread.Reply(ctx, reply),
			thread.Update(ctx, l.T("summary.failed", req.UserID, masked, Escape(app.Name), short)))
	}
	log.Info("bound", "already", res.AlreadyBound)
	text := l.T("bind.ok", masked, Escape(app.Name))
	if res.AlreadyBound {
		text = l.T("bind.already", masked, Escape(app.Name))
	}
	var errs []error
	qr, qerr := b.o.WeChat.TrialQRCode(wctx, app.ID, app.QRPath)
	if qerr != nil {
		log.Warn("no trial QR code", "error", qerr)
		errs = append(errs, thread.Reply(ctx, text+"\n"+l.T("bind.open_no_qr", masked)))
	} else {
		errs = append(errs, thread.Reply(ctx, text+"\n"+l.T("bind.open_qr", masked)))
		err := thread.Attach(ctx, File{Name: app.ID + "-trial.jpg", Title: l.T("bind.qr_title", app.Name), Data: qr.Image})
		if errors.Is(err, ErrCannotAttach) {
			err = thread.Reply(ctx, l.T("bind.qr_elsewhere"))
		}
		errs = append(errs, err)
	}
	errs = append(errs, thread.Update(ctx, l.T("summary.ok", req.UserID, masked, Escape(app.Name))))
	return errors.Join(errs...)
}

func (b *Bot) denial(l Lang, d Decision, app *App) string {
	name := Escape(app.Name)
	switch d.Reason {
	case reasonWrongChannel:
		chans := make([]string, len(app.Channels))
		for i, c := range app.Channels {
			chans[i] = "<#" + c + ">"
		}
		return l.T("deny.channel", name, strings.Join(chans, ", "))
	case reasonAdminOnly:
		return l.T("deny.admin_only", name, b.admins(l))
	case reasonLookupFailed:
		return l.T("deny.lookup_failed", name)
	}
	return l.T("deny.not_binder", name, b.admins(l))
}
