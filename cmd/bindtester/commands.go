package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/console"
	"github.com/bindtester/bindtester/bot/slackbot"
	"github.com/bindtester/bindtester/bot/store"
	"github.com/bindtester/bindtester/wechat"
)

// runSlack serves Slack until a signal, then finishes in-flight work and returns nil.
func runSlack(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	s, p := loadSettings(getenv)
	missing(&p, s, "To try the bot without Slack, run: bindtester console")
	if err := p.err(); err != nil {
		return err
	}
	log := newLogger(s, stderr)
	m := newMetrics()
	s.observeWeChat = m.observeWeChat
	st, err := openStore(ctx, s.DBPath, s.StoreKey)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.LockSoleReplica(); err != nil { // SQLite: one bot per file; PostgreSQL: any number
		return fmt.Errorf("BINDTESTER_DB: %w", err)
	}
	wx, err := newWeChat(s, log, st)
	if err != nil {
		return err
	}
	go prefetchTokens(ctx, wx.Client, s.Policy, log)
	adapter := slackbot.New(slackbot.Config{BotToken: s.SlackBotToken, AppToken: s.SlackAppToken, APIURL: s.SlackAPIURL,
		MaxInFlight: s.MaxInFlight, OnBusy: m.busy.Inc, Grace: s.Grace, Log: log, Observe: func(t string) { m.envelopes.WithLabelValues(t).Inc() },
		Seen: seenOnce(s.DBPath, st), HomeViewers: st})
	if s.OpsAddr != "" {
		healthy := func(ctx context.Context) error {
			if !adapter.Connected() {
				return errors.New("not connected to Slack")
			}
			return st.Ping(ctx)
		}
		if err := serveOps(ctx, s.OpsAddr, healthy, m, log); err != nil {
			return err
		}
	}
	b := bot.New(bot.Options{Policy: s.Policy, WeChat: wx, Lang: s.Lang, Log: log, Store: meteredStore{Store: st, events: m.events}, Messenger: adapter, Homes: adapter,
		Groups:  groupCache(slackbot.GroupMembers{API: adapter.API()}, s.GroupStale, log, m),
		Locales: &slackbot.Locales{API: adapter.API()}, Lease: s.Lease, Timeout: s.jobTimeout(), Platform: wx.platform})
	announce(log, s)
	if wx.platform != nil {
		if s.Notices.Listen != "" {
			if err := serveNotices(ctx, s, b, st, m, log); err != nil {
				return err
			}
		}
		stopPlatform := startPlatform(ctx, b, st, s, log)
		defer stopPlatform()
	}
	stopWorker := startWorker(ctx, b, s.Sweep)
	defer stopWorker() // before the store closes
	go returnStartupMemory(ctx, adapter.Connected)
	return adapter.Run(ctx, b)
}

// groupCache caches user groups for 5 minutes, and while Slack fails, the last
// known members for stale more; each failure is logged and counted.
func groupCache(src bot.GroupMembers, stale time.Duration, log *slog.Logger, m *metrics) *bot.GroupCache {
	c := bot.NewGroupCache(src, 5*time.Minute, stale)
	c.OnFailure = func(group string, usedStale bool, err error) {
		outcome := "denied"
		if usedStale {
			outcome = "stale"
		}
		log.Warn("user group lookup failed", "group", group, "outcome", outcome, "error", err)
		m.groupFailures.WithLabelValues(outcome).Inc()
	}
	return c
}

// seenOnce tells the Slack adapter whether an envelope is new across every
// replica on st, forgetting envelopes after a day (Slack redelivers for
// minutes). On SQLite there is one process, which recognizes redeliveries
// in memory: nil, and no write per command.
func seenOnce(dsn string, st *store.Store) func(ctx context.Context, key string) (bool, error) {
	if !store.IsPostgres(dsn) {
		return nil
	}
	var pruned atomic.Int64
	return func(ctx context.Context, key string) (bool, error) {
		now := time.Now()
		if last := pruned.Load(); now.UnixNano()-last > int64(10*time.Minute) && pruned.CompareAndSwap(last, now.UnixNano()) {
			if err := st.ForgetSeen(ctx, now.Add(-24*time.Hour)); err != nil {
				return false, err
			}
		}
		return st.FirstSeen(ctx, key, now)
	}
}

// openStore opens the database with the configured key, or the key file beside
// it. A new key file is made only for a new database: a database that already
// holds data with its key file gone cannot be read with a new key. PostgreSQL
// has no file to put a key beside: its key is BINDTESTER_STORE_KEY, the same
// for every replica.
func openStore(ctx context.Context, path string, key []byte) (*store.Store, error) {
	if store.IsPostgres(path) {
		if key == nil {
			return nil, errors.New("BINDTESTER_STORE_KEY: is not set, and a PostgreSQL store needs it: every replica must seal and find WeChat IDs with the same key; " +
				"generate one with: head -c 32 /dev/urandom | base64 (and keep it: without it the store's WeChat IDs and tokens cannot be read)")
		}
		st, err := store.Open(ctx, path, key)
		if errors.Is(err, store.ErrWrongKey) {
			return nil, fmt.Errorf("BINDTESTER_STORE_KEY: %w", err)
		}
		if err != nil {
			return nil, fmt.Errorf("BINDTESTER_DB: %w", err)
		}
		return st, nil
	}
	if isDir(path) {
		return nil, dirError(path)
	}
	if dir := filepath.Dir(path); !isDir(dir) {
		return nil, fmt.Errorf("BINDTESTER_DB: the folder %s of %s does not exist: create it, or point BINDTESTER_DB elsewhere", dir, path)
	}
	keySource := "BINDTESTER_STORE_KEY"
	if key == nil {
		keyFile := path + ".key"
		keySource = "the store key file " + keyFile
		if _, err := os.Stat(keyFile); errors.Is(err, os.ErrNotExist) && holdsData(path) {
			if err := store.CheckFile(ctx, path); err != nil { // a damaged or foreign file: say that first
				return nil, fmt.Errorf("BINDTESTER_DB: %w", err)
			}
			return nil, fmt.Errorf("BINDTESTER_STORE_KEY is not set and the key file %s is missing, but the database %s already holds data: "+
				"restore that key file, or set BINDTESTER_STORE_KEY to the key used to create the database "+
				"(a new key could read none of its WeChat IDs and tokens); to start afresh instead, move the database aside", keyFile, path)
		}
		var err error
		if key, err = store.LoadOrCreateKey(keyFile); err != nil {
			return nil, fmt.Errorf("BINDTESTER_STORE_KEY is not set and the key file cannot be used: %w", err)
		}
	}
	st, err := store.Open(ctx, path, key)
	if errors.Is(err, store.ErrWrongKey) {
		return nil, fmt.Errorf("%s: %w", keySource, err)
	}
	if err != nil {
		return nil, fmt.Errorf("BINDTESTER_DB: %w", err)
	}
	return st, nil
}

// dirError says BINDTESTER_DB names a folder, where a database file belongs.
func dirError(path string) error {
	return fmt.Errorf("BINDTESTER_DB: %s is a directory, not a database file; point BINDTESTER_DB at a file in it, like %s",
		path, filepath.Join(path, "bindtester.db"))
}

// holdsData reports whether the database at path (or its write-ahead log) is
// a file with something in it.
func holdsData(path string) bool {
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
			return true
		}
	}
	return false
}

// missing adds what run needs and is not set: Slack tokens, an app, credentials.
func missing(p *problems, s settings, hint string) {
	if s.SlackAppToken == "" {
		p.add("SLACK_APP_TOKEN", "is not set: create an app-level token with scope connections:write (Slack app settings → Basic Information) (%s)", hint)
	}
	if s.SlackBotToken == "" {
		p.add("SLACK_BOT_TOKEN", "is not set: install the app to your workspace and copy the Bot User OAuth Token (OAuth & Permissions) (%s)", hint)
	}
	if s.PolicyFile != "" && s.Policy == nil {
		return // the policy file's own problems are reported; credentials depend on it
	}
	if s.Policy == nil {
		p.add("BINDTESTER_APPID", "no Mini Program is configured: set BINDTESTER_APPID (one app) or BINDTESTER_POLICY_FILE (several)")
	}
	if s.Creds == credsNone {
		p.add("WECHAT_APP_SECRET", "no WeChat credentials: set WECHAT_APP_SECRET, or WECHAT_COMPONENT_APPID (+ secret, ticket, refresh token), WECHAT_TOKEN_SERVICE_URL or WECHAT_ACCESS_TOKEN (console uses a sandbox without them)")
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// startWorker runs the expiry worker until ctx ends or the returned func is
// called; that func stops it and waits, so the store is not closed under a sweep.
func startWorker(ctx context.Context, b *bot.Bot, every time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.RunWorker(ctx, every)
	}()
	return func() { cancel(); <-done }
}

// announce logs what the bot serves, and which apps only admins can use.
func announce(log interface{ Info(string, ...any) }, s settings) {
	for _, a := range s.Policy.Apps {
		log.Info("serving Mini Program", "appid", a.ID, "name", a.Name, "binders", len(a.Binders), "channels", len(a.Channels))
	}
	if ids := s.Policy.AdminOnlyApps(); len(ids) > 0 {
		log.Info("no binders configured: open to admins only (default deny)", "apps", strings.Join(ids, ","))
	}
	log.Info("WeChat credentials", "mode", string(s.Creds))
}

func runConsole(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flagSet("console", stderr)
	user := fs.String("user", sandboxUser, "Slack user ID to act as")
	channel := fs.String("channel", "C0CONSOLE", "channel ID the commands are typed in")
	lang := fs.String("lang", "", "answer in en or zh (default BINDTESTER_LANG)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	s, p := loadSettings(getenv)
	if err := p.err(); err != nil {
		return err
	}
	if getenv("LOG_LEVEL") == "" {
		s.LogLevel = slog.LevelError // keep the transcript readable; LOG_LEVEL=info shows the log
	}
	log := newLogger(s, stderr)
	var wx bot.WeChat
	if s.Creds == credsNone {
		sb := newSandbox(&s)
		defer sb.Close()
		wx = sb.client
		// Sandbox state is thrown away with the sandbox WeChat, always: pointing
		// it at a real database would end real grants that the fake "unbinds".
		dir, err := os.MkdirTemp("", "bindtester-sandbox-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		s.DBPath, s.StoreKey = filepath.Join(dir, "sandbox.db"), nil
		fmt.Fprint(stdout, sb.banner())
		if s.DBSet {
			fmt.Fprintln(stdout, "(BINDTESTER_DB is ignored: the sandbox keeps its records in a temporary database.)")
		}
	} else if s.Policy == nil {
		return errors.New("BINDTESTER_APPID: no Mini Program is configured: set BINDTESTER_APPID or BINDTESTER_POLICY_FILE, or unset the WeChat credentials to use the sandbox")
	}
	st, err := openStore(ctx, s.DBPath, s.StoreKey)
	if err != nil {
		return err
	}
	defer st.Close()
	if s.Creds != credsNone { // real WeChat: it may keep rotated refresh tokens in the store
		if wx, err = newWeChat(s, log, st); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Console: real WeChat (%s) at %s, as %s in %s, database %s. Type help, or quit.\n", s.Creds, s.WeChatAPIBase, *user, *channel, store.Describe(s.DBPath))
	}
	c := &console.Console{UserID: *user, ChannelID: *channel, Locale: *lang, Out: stdout}
	b := bot.New(bot.Options{Policy: s.Policy, WeChat: wx, Lang: s.Lang, Log: log, Store: st, Messenger: c, Lease: s.Lease, Timeout: s.jobTimeout()})
	c.Handler = b
	stopWorker := startWorker(ctx, b, s.Sweep)
	defer stopWorker() // before the store closes
	return c.Run(ctx, stdin)
}

func checkConfig(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stdout)
	askWeChat := fs.Bool("wechat", false, "also ask WeChat about each app: the experiencer slots in use, and problems such as the bot's IP address missing from the allow-list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, p := loadSettings(getenv)
	missing(&p, s, "needed by run; console works without it")
	switch fi, err := os.Stat(s.DBPath); {
	case store.IsPostgres(s.DBPath):
		if s.StoreKey == nil {
			p.add("BINDTESTER_STORE_KEY", "is not set, and a PostgreSQL store needs it (the same key on every replica); generate one with: head -c 32 /dev/urandom | base64")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := store.CheckPostgres(ctx, s.DBPath); err != nil {
			p.add("BINDTESTER_DB", "%v", err)
		}
	case err == nil && fi.IsDir():
		p.add("BINDTESTER_DB", "%s", strings.TrimPrefix(dirError(s.DBPath).Error(), "BINDTESTER_DB: "))
	case err == nil && fi.Size() > 0:
		if err := store.CheckFile(context.Background(), s.DBPath); err != nil {
			p.add("BINDTESTER_DB", "%v", err)
		}
	case !isDir(filepath.Dir(s.DBPath)):
		p.add("BINDTESTER_DB", "the folder of %s does not exist: create it, or point BINDTESTER_DB elsewhere", s.DBPath)
	}
	if err := p.err(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Settings OK. WeChat credentials: %s. Database: %s. Mini Programs:\n", s.Creds, store.Describe(s.DBPath))
	pol := s.Policy
	if s.Creds == credsComponent { // with the apps the last discovery found
		if st, err := openStore(ctx, s.DBPath, s.StoreKey); err == nil {
			if apps, err := st.PlatformApps(ctx); err == nil {
				pol = pol.WithPlatformApps(apps)
				fmt.Fprintf(stdout, "  (with the %d apps discovery last found; `bindtester apps --refresh --admin` asks WeChat again)\n", len(apps))
			}
			st.Close()
		}
	}
	for _, a := range pol.Apps {
		a.WithDefaults()
		fmt.Fprintln(stdout, "  "+effectivePolicy(pol, a))
	}
	if *askWeChat {
		return checkWeChat(ctx, s, stdout)
	}
	return nil
}

// checkWeChat asks WeChat for each app's experiencers and reports what it
// says. This is for an admin's terminal: WeChat's errmsg is shown whole, so a
// 40164/61004 shows the bot's outgoing IP address to add to the allow-list.
func checkWeChat(ctx context.Context, s settings, stdout io.Writer) error {
	var st *store.Store
	if s.Creds == credsComponent { // the platform's rotated refresh tokens live in the store
		var err error
		if st, err = openStore(ctx, s.DBPath, s.StoreKey); err != nil {
			return err
		}
		defer st.Close()
	}
	wx, err := newWeChat(s, slog.New(slog.DiscardHandler), st)
	if err != nil {
		return fmt.Errorf("WeChat: %w", err)
	}
	failed := 0
	fmt.Fprintf(stdout, "WeChat at %s:\n", s.WeChatAPIBase)
	for _, a := range s.Policy.Apps {
		a.WithDefaults()
		cctx, cancel := context.WithTimeout(ctx, s.jobTimeout())
		members, err := wx.Experiencers(cctx, a.ID)
		cancel()
		var we *wechat.Error
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "  %s: ok, %d of %d experiencer slots in use\n", a.ID, len(members), a.Slots)
			continue
		case errors.As(err, &we) && we.Info().Kind == wechat.KindIPAllowList:
			fmt.Fprintf(stdout, "  %s: errcode %d: %s\n    the bot's outgoing IP address (in the message above) is not on the allow-list: add it\n", a.ID, we.Code, we.Msg)
		case errors.As(err, &we):
			fmt.Fprintf(stdout, "  %s: errcode %d: %s (%s)\n", a.ID, we.Code, we.Msg, we.Info().Meaning)
		default:
			fmt.Fprintf(stdout, "  %s: %v\n", a.ID, err)
		}
		failed++
	}
	if failed > 0 {
		return fmt.Errorf("WeChat refused or failed for %d of %d apps (see above)", failed, len(s.Policy.Apps))
	}
	return nil
}

// prefetchTokens gets every app's access token at startup, so the first
// binds do not wait for it; an app whose credentials fail is logged now
// rather than at its first request.
func prefetchTokens(ctx context.Context, wx *wechat.Client, p *bot.Policy, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, a := range p.Apps {
		if err := wx.Prefetch(ctx, a.ID); err != nil && ctx.Err() == nil {
			log.Warn("wechat: no access token for this app at startup; its binds will fail until this is fixed", "app", a.ID, "error", err)
		}
	}
}

// effectivePolicy is one app's rules on one line, for a terminal.
func effectivePolicy(pol *bot.Policy, a bot.App) string {
	var who []string
	if len(a.Binders) > 0 {
		who = append(who, "bind: "+strings.Join(a.Binders, ","))
	}
	if len(a.Requesters) > 0 {
		who = append(who, "ask: "+strings.Join(a.Requesters, ",")+" (approved by "+strings.Join(pol.Approvers(&a), ",")+")")
	}
	if len(who) == 0 {
		who = append(who, "admins only (no binders or requesters)")
	}
	if a.RequireApproval {
		who = append(who, "every bind needs an approval")
	}
	if len(a.Channels) > 0 {
		who = append(who, "only in "+strings.Join(a.Channels, ","))
	}
	state := ""
	switch {
	case a.Platform == nil:
	case a.Platform.Revoked:
		state = " [authorization revoked: binds refused]"
	case !a.Platform.CanManageTesters():
		state = " [no permission set 18: binds refused]"
	default:
		state = " [platform: testers ok]"
	}
	return fmt.Sprintf("%s %q%s: %s; %d slots, grants %s by default (at most %s)", a.ID, a.Name, state, strings.Join(who, "; "), a.Slots,
		bot.FormatDuration(a.DefaultDuration), bot.FormatDuration(a.MaxDuration))
}

// returnStartupMemory gives the OS back what startup allocated and dropped
// (TLS handshakes, migrations, the policy file, the first token fetches)
// once Slack is connected: an idle bot's footprint is then what it holds,
// not its startup's high-water mark.
func returnStartupMemory(ctx context.Context, connected func() bool) {
	for !connected() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Second): // the first sweep and token prefetch are done by then
		debug.FreeOSMemory()
	}
}
