// Package bot is bindtester's Slack-agnostic core: the command grammar, the
// permission policy, the request flow, and friendly explanations of every
// outcome in English and Simplified Chinese. Adapters (Slack in bot/slackbot,
// the console in bot/console) turn their input into a Request and implement
// Conversation; they hold no business rules.
package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bindtester/bindtester/wechat"
)

// WeChat is what the bot needs of the WeChat client.
type WeChat interface {
	BindTester(ctx context.Context, appid, wechatid string) (wechat.BindResult, error)
	UnbindTester(ctx context.Context, appid string, who wechat.Tester) error
	Experiencers(ctx context.Context, appid string) ([]string, error)
	TrialQRCode(ctx context.Context, appid, path string) (wechat.QRCode, error)
	VersionInfo(ctx context.Context, appid string) (wechat.VersionInfo, error)
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
	Admin     bool   // the command line's explicit --admin: permission checks are skipped
	// NoApproval says the caller cannot deliver approval prompts (the command
	// line): a request that needs an approval is sent to Slack instead.
	NoApproval bool
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
	// Ref says where the thread is, so later news (approvals, expiry) can go there.
	Ref() ThreadRef
}

// Messenger sends news outside a request: DMs, replies in a thread answered
// earlier, and approval prompts with Approve and Deny buttons. Adapters implement it.
type Messenger interface {
	DM(ctx context.Context, userID, text string) error
	// Reopen returns the thread at ref (ref.Channel is never empty).
	Reopen(ref ThreadRef) Thread
	// Prompt posts p to a channel, or to a user by DM, and says where it landed.
	Prompt(ctx context.Context, to string, p Prompt) (MessageRef, error)
	// Edit replaces a prompt's text and removes its buttons.
	Edit(ctx context.Context, ref MessageRef, text string) error
	// Reprompt replaces a prompt's text and keeps its buttons (a request
	// that needs more approvals).
	Reprompt(ctx context.Context, ref MessageRef, p Prompt) error
}

// Prompt is a message with buttons (an approval request, an expiry
// reminder); a click on one comes back as Click{Action, Value} of it.
type Prompt struct {
	Text    string
	Buttons []Button
}

// Button is one of a Prompt's buttons.
type Button struct {
	Action, Label, Value string
	Style                ButtonStyle
}

// ButtonStyle is how a button stands out.
type ButtonStyle string

const (
	StyleDefault ButtonStyle = ""
	StylePrimary ButtonStyle = "primary"
	StyleDanger  ButtonStyle = "danger"
)

// Button actions.
const (
	ActionApprove = "approve"
	ActionDeny    = "deny"
	ActionExtend  = "extend"  // Value: "<grant id>:<duration>"
	ActionEnd     = "end"     // End now: Value "<grant id>"
	ActionRequest = "request" // Request access: opens the request form (no Value)
)

// Click is a person pressing a prompt's button.
type Click struct {
	UserID string
	Action string // ActionApprove or ActionDeny
	Value  string // Prompt.Value
}

// File is an attachment, such as the trial QR code.
type File struct {
	Name, Title, Comment string
	Data                 []byte
}

// noMessenger stands in where nothing can be sent unprompted: each send fails.
type noMessenger struct{}

var errNoMessenger = errors.New("no messenger: cannot send news outside a request")

func (noMessenger) DM(context.Context, string, string) error { return errNoMessenger }
func (noMessenger) Reopen(ThreadRef) Thread                  { return noThread{} }
func (noMessenger) Prompt(context.Context, string, Prompt) (MessageRef, error) {
	return MessageRef{}, errNoMessenger
}

func (noMessenger) Reprompt(context.Context, MessageRef, Prompt) error { return errNoMessenger }
func (noMessenger) Edit(context.Context, MessageRef, string) error     { return errNoMessenger }

// noThread is a thread noMessenger cannot reach: each send fails.
type noThread struct{}

func (noThread) Reply(context.Context, string) error  { return errNoMessenger }
func (noThread) Attach(context.Context, File) error   { return errNoMessenger }
func (noThread) Update(context.Context, string) error { return errNoMessenger }
func (noThread) Ref() ThreadRef                       { return ThreadRef{} }

// noGroups stands in where user groups cannot be looked up (the console and
// the command line): members of a group get the lookup-failed answer.
type noGroups struct{}

var errNoGroups = errors.New("user groups cannot be looked up here (no Slack connection)")

func (noGroups) Members(context.Context, string) ([]string, error) { return nil, errNoGroups }

// App finds a configured app by appid or alias.
func (b *Bot) App(key string) (*App, bool) { return b.policy().App(key) }

// ErrCannotAttach is what Thread.Attach returns where files cannot be shown
// (an answer through a slash command's response_url).
var ErrCannotAttach = errors.New("cannot attach files here")

// Options configures a Bot.
type Options struct {
	Policy    *Policy
	WeChat    WeChat
	Groups    GroupMembers // user group lookups (cache them: see GroupCache); nil: none can be looked up
	Locales   Locales      // may be nil
	Lang      Lang         // default language
	Log       *slog.Logger
	Timeout   time.Duration // for the WeChat part of one request; default 30s
	Store     Store         // audit, grants, approvals
	Messenger Messenger     // DMs, approval prompts, news in earlier threads
	Now       func() time.Time
	// Owner names this process on the jobs it leases (default: random);
	// Lease is how long a lease lasts (default Timeout + 15s): a job whose
	// process died is resumed elsewhere that long after it was claimed.
	Owner string
	Lease time.Duration
	// Platform, for a WeChat third-party platform, discovers its apps and
	// keeps its ticket; nil otherwise.
	Platform *PlatformOptions
	// Homes is told whose App Home changed, to show them the new one; nil: no App Home.
	Homes HomeViews
}

// Bot handles commands.
type Bot struct {
	o Options

	pol atomic.Pointer[Policy]

	noticeMu sync.Mutex
	notices  map[string]time.Time // admin notices sent, by what they were about (see tellAdmins)
}

// newOwner names this process on its leases: host, pid and a random part.
func newOwner() string {
	host, _ := os.Hostname()
	var r [4]byte
	rand.Read(r[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(r[:]))
}

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
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Owner == "" {
		o.Owner = newOwner()
	}
	if o.Lease <= 0 {
		o.Lease = o.Timeout + 15*time.Second
	}
	if o.Messenger == nil {
		o.Messenger = noMessenger{}
	}
	if o.Groups == nil {
		o.Groups = noGroups{}
	}
	if o.Homes == nil {
		o.Homes = noHomes{}
	}
	for i := range o.Policy.Apps {
		o.Policy.Apps[i].WithDefaults()
	}
	b := &Bot{o: o, notices: map[string]time.Time{}}
	if o.Store != nil {
		b.o.Store = watchChanges{Store: o.Store, b: b}
	}
	b.pol.Store(o.Policy)
	return b
}

// policy is the policy in force: Options.Policy, with the apps a third-party
// platform's discovery found once it has run (see SetPolicy).
func (b *Bot) policy() *Policy { return b.pol.Load() }

// SetPolicy replaces the policy in force; a running command sees it from its next step.
func (b *Bot) SetPolicy(p *Policy) {
	for i := range p.Apps {
		p.Apps[i].WithDefaults()
	}
	b.pol.Store(p)
}

func (b *Bot) lang(ctx context.Context, req Request) Lang {
	loc := req.Locale
	if loc == "" {
		return b.userLang(ctx, req.UserID)
	}
	return ParseLang(loc, b.o.Lang)
}

// userLang is the language of someone the bot writes to unprompted.
func (b *Bot) userLang(ctx context.Context, user string) Lang {
	if b.o.Locales == nil || user == "" {
		return b.o.Lang
	}
	return ParseLang(b.o.Locales.Locale(ctx, user), b.o.Lang)
}

func (b *Bot) who(req Request) Who {
	return Who{UserID: req.UserID, ChannelID: req.ChannelID, Admin: req.Admin}
}

// Busy answers a request the adapter did not take because too many are in
// flight: at once, privately, and without touching anything.
func (b *Bot) Busy(ctx context.Context, userID string, conv Conversation) error {
	return conv.Private(ctx, b.userLang(ctx, userID).T("busy"))
}

// Handle runs one command to the end, answering through conv. The returned error
// is for logs only: the requester has been told what they need to know.
func (b *Bot) Handle(ctx context.Context, req Request, conv Conversation) error {
	l := b.lang(ctx, req)
	cmd, err := Parse(req.Text)
	var ue *UsageError
	if errors.As(err, &ue) {
		if _, isApp := b.policy().App(ue.Arg); isApp && ue.Key == "usage.unknown_subcommand" {
			ue.Key = "usage.missing_wechatid" // an alias alone: the WeChat ID is missing
		}
		b.o.Log.Info("usage error", "user", req.UserID, "problem", ue.Key)
		text := l.T(ue.Key) // usage.testers and usage.unbind quote nothing
		if ue.Arg != "" {
			text = l.T(ue.Key, Echo(ue.Arg))
		}
		return conv.Private(ctx, text+"\n"+l.T("usage.see_help"))
	}
	if cmd.Verb == VerbBind {
		return b.bind(ctx, l, req, cmd, conv)
	}
	spec := specOf(cmd.Verb)
	if spec.who == forAdmins {
		if admin, _ := b.policy().IsAdmin(ctx, b.o.Groups, b.who(req)); !admin {
			return conv.Private(ctx, l.T(spec.deny, b.admins(l)))
		}
	}
	return spec.run(b, ctx, l, req, cmd, conv)
}

// helpAnswer answers with help and, for someone who may ask for an app, a
// Request access button (the form).
func (b *Bot) helpAnswer(ctx context.Context, l Lang, req Request, conv Conversation) error {
	block := Block{Text: b.help(ctx, l, req)}
	if len(b.FormFor(ctx, req.UserID).Apps) > 0 && !req.Admin {
		block.Buttons = []Button{{Action: ActionRequest, Label: l.T("home.request"), Style: StylePrimary}}
	}
	return privateBlocks(ctx, conv, []Block{block})
}

func (b *Bot) help(ctx context.Context, l Lang, req Request) string {
	apps, admin, lookupErr := b.policy().BindableApps(ctx, b.o.Groups, b.who(req))
	example := "wx1234567890abcdef"
	if len(apps) > 0 {
		example = apps[0].ID
		if len(apps[0].Aliases) > 0 {
			example = apps[0].Aliases[0]
		}
	}
	lines := []string{l.T("usage", Code(example))}
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
			if !admin && b.policy().CanBind(ctx, b.o.Groups, b.who(req), a).NeedsApproval {
				names[i] += " " + l.T("help.needs_approval")
			}
		}
		lines = append(lines, l.T("usage.apps", strings.Join(names, ", ")))
	}
	var adminLines []string
	for _, c := range commands {
		switch {
		case c.help != "" && (c.who == forEveryone || (c.who == forViewers && len(apps) > 0)):
			lines = append(lines, l.T(c.help))
		case admin && c.admin != "":
			adminLines = append(adminLines, l.T(c.admin))
		}
	}
	if admin {
		lines = append(append(lines, l.T("usage.admin")), adminLines...)
	}
	return strings.Join(lines, "\n")
}

// appLabel shows an app as "*Name* (`alias`, `wx…`)".
func appLabel(a *App) string {
	keys := append(append([]string{}, a.Aliases...), a.ID)
	for i, k := range keys {
		keys[i] = Code(k)
	}
	return "*" + Escape(a.Name) + "* (`" + strings.Join(keys, "`, `") + "`)"
}

// admins names whom to ask, as mentions.
func (b *Bot) admins(l Lang) string { return mentions(l, b.policy().Admins) }

// mentions names people and user groups (see mention).
func mentions(l Lang, ids []string) string {
	if len(ids) == 0 {
		return l.T("admins.none")
	}
	m := make([]string, len(ids))
	for i, id := range ids {
		m[i] = mention(id)
	}
	return strings.Join(m, ", ")
}

func (b *Bot) denial(l Lang, d Decision, app *App) string {
	name := Escape(app.Name)
	switch d.Reason {
	case reasonWrongChannel:
		chans := make([]string, len(app.Channels))
		for i, c := range app.Channels {
			chans[i] = channelRef(c)
		}
		return l.T("deny.channel", name, strings.Join(chans, ", "))
	case reasonAdminOnly:
		return l.T("deny.admin_only", name, b.admins(l))
	case reasonLookupFailed:
		return l.T("deny.lookup_failed", name)
	}
	return l.T("deny.not_binder", name, b.admins(l))
}
