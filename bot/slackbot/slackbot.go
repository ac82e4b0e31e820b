// Package slackbot connects the bot core to Slack over Socket Mode: one event
// loop that acknowledges every envelope at once, then starts its work at once
// (up to a bound of commands in flight, past which the requester is told the
// bot is busy), and the Slack side of answering (parent message, thread
// replies, ephemeral and response_url fallbacks). It holds no business rules.
package slackbot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/bindtester/bindtester/bot"
)

// Handler is the bot core, as the adapter uses it.
type Handler interface {
	Handle(ctx context.Context, req bot.Request, conv bot.Conversation) error
	Click(ctx context.Context, c bot.Click, conv bot.Conversation) error
	// Busy tells userID privately that their request was not taken.
	Busy(ctx context.Context, userID string, conv bot.Conversation) error
}

// Config configures the Slack adapter.
type Config struct {
	BotToken string // xoxb-…
	AppToken string // xapp-…, Socket Mode
	APIURL   string // default https://slack.com/api/ (must end with /)
	// MaxInFlight bounds the commands handled at once (default 256). Each
	// starts as soon as it is acked, so a command that does not call WeChat
	// never waits behind those that do; past the bound the requester is told
	// at once to try again in a minute.
	MaxInFlight int
	Grace       time.Duration // how long in-flight work may finish after shutdown starts; default 20s
	Log         *slog.Logger
	// Observe, if set, is told the type of every envelope as it is acked. For metrics.
	Observe func(envelopeType string)
	// OnBusy, if set, is called for every request answered busy. For metrics.
	OnBusy func()
	// Seen, if set, records an envelope's key (event or trigger id) and says
	// whether it is new across every replica of the bot (the store answers),
	// so a redelivery that lands on another replica is handled once. Without
	// it, redeliveries are recognized within this process only.
	Seen func(ctx context.Context, key string) (bool, error)
	// HomeViewers, if set, keeps who opened their App Home across every
	// replica (the store), so changes republish it; without it, a home is
	// published only when it is opened.
	HomeViewers HomeViewers
}

// Adapter is the Slack side of the bot.
type Adapter struct {
	cfg     Config
	api     *slack.Client
	handler Handler
	log     *slog.Logger
	http    *http.Client

	botUserID string
	connected atomic.Bool
	sem       chan struct{} // one per command in flight
	busySem   chan struct{} // one per busy answer being sent
	inflight  sync.WaitGroup
	seen      *dedupe
	home      homeTab
}

// ErrAuth is returned by Run when Slack refuses the tokens for good.
var ErrAuth = errors.New("slack refused the tokens")

// New builds the adapter.
func New(cfg Config) *Adapter {
	if cfg.APIURL == "" {
		cfg.APIURL = slack.APIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 20 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	// slack-go's default client has no timeout and 2 idle connections per
	// host: every command in flight may keep one.
	hc := &http.Client{Timeout: 20 * time.Second, Transport: drainBodies{&http.Transport{
		Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: cfg.MaxInFlight + 4, IdleConnTimeout: 90 * time.Second,
		ForceAttemptHTTP2: true,
	}}}
	api := slack.New(cfg.BotToken,
		slack.OptionAppLevelToken(cfg.AppToken),
		slack.OptionAPIURL(cfg.APIURL),
		slack.OptionHTTPClient(hc),
		slack.OptionRetry(3), // waits out 429s using Retry-After; after OptionHTTPClient on purpose
		slack.OptionLog(slogWriter{cfg.Log}),
		// OptionDebug is never set: slack-go's debug log prints tokens.
	)
	return &Adapter{cfg: cfg, api: api, log: cfg.Log, http: hc,
		sem: make(chan struct{}, cfg.MaxInFlight), busySem: make(chan struct{}, 16), seen: newDedupe(10 * time.Minute)}
}

// Connected reports whether the Socket Mode connection is up (for health checks).
func (a *Adapter) Connected() bool { return a.connected.Load() }

// API is the Slack Web API client, for lookups (user groups, locales).
func (a *Adapter) API() *slack.Client { return a.api }

// Run connects and serves until ctx is cancelled, then stops taking work, lets
// in-flight commands finish within the grace period and returns nil. It returns
// an error wrapping ErrAuth when Slack refuses the tokens (no point retrying).
// handler is usually a *bot.Bot.
func (a *Adapter) Run(ctx context.Context, handler Handler) error {
	a.handler = handler
	auth, err := a.api.AuthTestContext(ctx)
	if err != nil {
		return authError("SLACK_BOT_TOKEN", err)
	}
	a.botUserID = auth.UserID
	a.log.Info("slack: authenticated", "bot_user", auth.UserID, "team", auth.TeamID)

	sm := socketmode.New(a.api, socketmode.OptionLog(slogWriter{a.log}))
	smCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- sm.RunContext(smCtx) }()

	// Work outlives ctx by the grace period, so shutdown does not cut answers off.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	a.home.mu.Lock()
	a.home.ctx = workCtx // App Homes are kept current from now on
	a.home.mu.Unlock()

	for {
		select {
		case <-ctx.Done():
			stop()
			a.drain(cancelWork)
			return nil
		case err := <-done:
			if ctx.Err() != nil {
				a.drain(cancelWork)
				return nil
			}
			a.drain(cancelWork)
			return authError("SLACK_APP_TOKEN", err)
		case evt := <-sm.Events:
			a.event(workCtx, sm, evt)
		}
	}
}

// authError says which token Slack refused, without showing it.
func authError(variable string, err error) error {
	msg := err.Error()
	switch msg {
	case "invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired", "not_allowed_token_type":
		return fmt.Errorf("%w: %s was refused (%s); check it in your Slack app settings", ErrAuth, variable, msg)
	}
	return fmt.Errorf("slack: %w", err)
}

// drain waits for in-flight commands up to the grace period.
func (a *Adapter) drain(cancelWork context.CancelFunc) {
	finished := make(chan struct{})
	go func() { a.inflight.Wait(); close(finished) }()
	select {
	case <-finished:
		a.log.Info("slack: stopped; all in-flight commands finished")
	case <-time.After(a.cfg.Grace):
		a.log.Warn("slack: grace period over; cancelling in-flight commands", "grace", a.cfg.Grace)
		cancelWork()
		<-finished
	}
}

// event is the one place envelopes are read: ack first, then hand off. A
// form's submission is the one exception: it is checked before its ack,
// which carries the problems found (formSubmission).
func (a *Adapter) event(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	if a.formSubmission(ctx, sm, evt) {
		if a.cfg.Observe != nil {
			a.cfg.Observe(string(evt.Type))
		}
		return
	}
	if evt.Request != nil && evt.Request.EnvelopeID != "" {
		if err := sm.Ack(*evt.Request); err != nil {
			a.log.Warn("slack: ack failed", "type", evt.Type, "error", err)
		}
		// sm.Ack only hands the ack to slack-go's writer goroutine, which the
		// scheduler runs next on this P, unless a goroutine started now takes
		// its place: then the ack waits for the command's first burst of work
		// (parsing, the store), or for another P to steal it. Yielding here lets
		// the writer send it first (bindbench: ack p50 and p99 lower in paired
		// runs, by up to half on a quiet machine).
		runtime.Gosched()
		if a.cfg.Observe != nil {
			a.cfg.Observe(string(evt.Type))
		}
	}
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		a.connected.Store(false) // every reconnect starts here
		a.log.Debug("slack: connecting")
	case socketmode.EventTypeConnected:
		a.connected.Store(true)
		a.log.Info("slack: connected")
	case socketmode.EventTypeConnectionError:
		a.connected.Store(false)
		a.log.Warn("slack: connection error; slack-go retries", "error", fmt.Sprint(evt.Data))
	case socketmode.EventTypeDisconnect:
		a.connected.Store(false)
		a.log.Info("slack: disconnect requested; reconnecting")
	case socketmode.EventTypeIncomingError:
		// A frame slack-go could not read; the connection may well be fine, and
		// if it is not, the reconnect begins with EventTypeConnecting.
		a.log.Warn("slack: unreadable incoming frame", "error", fmt.Sprint(evt.Data))
	case socketmode.EventTypeErrorWriteFailed:
		a.log.Warn("slack: write failed (an ack may be lost; Slack redelivers events)")
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok || !a.seen.first("slash:"+cmd.TriggerID) {
			return
		}
		conv := &slashConversation{a: a, cmd: cmd}
		a.spawn(ctx, cmd.UserID, "slash:"+cmd.TriggerID, conv, func(ctx context.Context) error {
			if strings.TrimSpace(cmd.Text) == "" && a.openForm(ctx, cmd.TriggerID, cmd.UserID, cmd.ChannelID) { // `/bindtester` alone: the form
				return nil
			}
			return a.handler.Handle(ctx, bot.Request{UserID: cmd.UserID, ChannelID: cmd.ChannelID, Text: cmd.Text}, conv)
		})
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok || cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) == 0 ||
			!a.seen.first("click:"+cb.TriggerID) {
			return
		}
		act := cb.ActionCallback.BlockActions[0]
		click := bot.Click{UserID: cb.User.ID, Action: clickAction(act.ActionID), Value: act.Value}
		conv := &clickConversation{a: a, responseURL: cb.ResponseURL, user: cb.User.ID}
		a.spawn(ctx, cb.User.ID, "click:"+cb.TriggerID, conv, func(ctx context.Context) error {
			if click.Action == bot.ActionRequest && a.openForm(ctx, cb.TriggerID, cb.User.ID, cb.Channel.ID) {
				return nil
			}
			return a.handler.Click(ctx, click, conv)
		})
	case socketmode.EventTypeEventsAPI:
		ev, ok := evt.Data.(slackevents.EventsAPIEvent)
		if !ok {
			return
		}
		cb, _ := ev.Data.(*slackevents.EventsAPICallbackEvent)
		if h, ok := ev.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent); ok && cb != nil && h.Tab == "home" && a.seen.first("event:"+cb.EventID) {
			a.spawn(ctx, h.User, "", nil, func(ctx context.Context) error { a.homeOpened(ctx, h.User); return nil })
			return
		}
		m, ok := ev.InnerEvent.Data.(*slackevents.AppMentionEvent)
		if !ok || cb == nil || m.BotID != "" || !a.seen.first("event:"+cb.EventID) {
			return
		}
		thread := m.ThreadTimeStamp
		if thread == "" {
			thread = m.TimeStamp
		}
		req := bot.Request{UserID: m.User, ChannelID: m.Channel, Text: a.stripMention(m.Text)}
		conv := &mentionConversation{a: a, channel: m.Channel, user: m.User, threadTS: thread}
		a.spawn(ctx, m.User, "event:"+cb.EventID, conv, func(ctx context.Context) error { return a.handler.Handle(ctx, req, conv) })
	}
}

// spawn starts work, after the envelope was acked, unless another replica
// has already taken key ("": not asked); past MaxInFlight it answers busy
// through conv instead (nil: drops it). A panic in work is logged (without the request's text) and the
// bot keeps serving.
func (a *Adapter) spawn(ctx context.Context, user, key string, conv bot.Conversation, work func(context.Context) error) {
	select {
	case a.sem <- struct{}{}:
	default:
		if conv != nil {
			a.busy(ctx, user, conv)
		}
		return
	}
	a.inflight.Add(1)
	go func() {
		defer a.inflight.Done()
		defer func() { <-a.sem }()
		defer func() {
			if r := recover(); r != nil { // a bug in one command must not stop the bot
				a.log.Error("command panicked", "user", user, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			}
		}()
		if a.cfg.Seen != nil && key != "" && !strings.HasSuffix(key, ":") {
			first, err := a.cfg.Seen(ctx, key)
			if err != nil { // better answered twice than never
				a.log.Warn("slack: could not check for a redelivery across replicas; handling it", "error", err)
			} else if !first {
				a.log.Info("slack: redelivered envelope already handled by a replica", "user", user)
				return
			}
		}
		if err := work(ctx); err != nil {
			a.log.Warn("command finished with errors", "user", user, "error", err)
		}
	}()
}

// busy tells user their request was not taken, unless so many busy answers
// are already on their way that this one would only add to the crowd.
func (a *Adapter) busy(ctx context.Context, user string, conv bot.Conversation) {
	if a.cfg.OnBusy != nil {
		a.cfg.OnBusy()
	}
	select {
	case a.busySem <- struct{}{}:
	default:
		a.log.Warn("slack: too many commands in flight; request dropped without an answer", "user", user, "max_in_flight", a.cfg.MaxInFlight)
		return
	}
	a.log.Warn("slack: too many commands in flight; answered busy", "user", user, "max_in_flight", a.cfg.MaxInFlight)
	a.inflight.Add(1)
	go func() {
		defer a.inflight.Done()
		defer func() { <-a.busySem }()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := a.handler.Busy(ctx, user, conv); err != nil {
			a.log.Warn("slack: busy answer not delivered", "user", user, "error", err)
		}
	}()
}

var mentionPattern = regexp.MustCompile(`<@[A-Z0-9]+(\|[^>]*)?>`)

// stripMention removes the bot's own mention from an app_mention's text.
func (a *Adapter) stripMention(text string) string {
	return strings.TrimSpace(mentionPattern.ReplaceAllStringFunc(text, func(m string) string {
		if strings.HasPrefix(m, "<@"+a.botUserID+">") || strings.HasPrefix(m, "<@"+a.botUserID+"|") {
			return " "
		}
		return m
	}))
}

// dedupe remembers keys for at least ttl (at most twice that), so a
// redelivered envelope is handled once: two generations of keys, the older
// dropped whole when the newer is ttl old, so no envelope costs a scan.
type dedupe struct {
	ttl       time.Duration
	mu        sync.Mutex
	cur, prev map[string]struct{}
	since     time.Time // when cur began
}

func newDedupe(ttl time.Duration) *dedupe {
	return &dedupe{ttl: ttl, cur: map[string]struct{}{}, prev: map[string]struct{}{}, since: time.Now()}
}

// first reports whether key is new; empty keys are always new.
func (d *dedupe) first(key string) bool {
	if strings.HasSuffix(key, ":") {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if now := time.Now(); now.Sub(d.since) > d.ttl {
		d.prev, d.cur, d.since = d.cur, map[string]struct{}{}, now
	}
	_, inCur := d.cur[key]
	_, inPrev := d.prev[key]
	if inCur || inPrev {
		return false
	}
	d.cur[key] = struct{}{}
	return true
}

// slogWriter routes slack-go's logger into slog (debug mode stays off).
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Output(_ int, s string) error {
	w.log.Debug("slack-go: " + strings.TrimSpace(s))
	return nil
}
