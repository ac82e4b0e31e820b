package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/console"
	"github.com/bindtester/bindtester/bot/slackbot"
)

// runSlack serves Slack until a signal, then finishes in-flight work and returns nil.
func runSlack(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	s, p := loadSettings(getenv)
	missing(&p, s, "To try the bot without Slack, run: bindtester console")
	if err := p.err(); err != nil {
		return err
	}
	log := newLogger(s, stderr)
	wx, err := newWeChat(s, log)
	if err != nil {
		return err
	}
	adapter := slackbot.New(slackbot.Config{BotToken: s.SlackBotToken, AppToken: s.SlackAppToken, APIURL: s.SlackAPIURL,
		Workers: s.Workers, Grace: s.Grace, Log: log})
	b := bot.New(bot.Options{Policy: s.Policy, WeChat: wx, Lang: s.Lang, Log: log,
		Groups:  bot.NewGroupCache(slackbot.GroupMembers{API: adapter.API()}, 5*time.Minute),
		Locales: &slackbot.Locales{API: adapter.API()}})
	announce(log, s)
	return adapter.Run(ctx, b)
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
		fmt.Fprint(stdout, sb.banner())
	} else {
		if s.Policy == nil {
			return errors.New("BINDTESTER_APPID: no Mini Program is configured: set BINDTESTER_APPID or BINDTESTER_POLICY_FILE, or unset the WeChat credentials to use the sandbox")
		}
		var err error
		if wx, err = newWeChat(s, log); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Console: real WeChat (%s) at %s, as %s in %s. Type help, or quit.\n", s.Creds, s.WeChatAPIBase, *user, *channel)
	}
	b := bot.New(bot.Options{Policy: s.Policy, WeChat: wx, Lang: s.Lang, Log: log})
	c := &console.Console{Handler: b, UserID: *user, ChannelID: *channel, Locale: *lang, Out: stdout}
	return c.Run(ctx, stdin)
}

func checkConfig(getenv func(string) string, stdout io.Writer) error {
	s, p := loadSettings(getenv)
	missing(&p, s, "needed by run; console works without it")
	if err := p.err(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Settings OK. WeChat credentials: %s. Mini Programs:\n", s.Creds)
	for _, a := range s.Policy.Apps {
		who := fmt.Sprintf("%d binder entries", len(a.Binders))
		if len(a.Binders) == 0 {
			who = "admins only (no binders configured)"
		}
		fmt.Fprintf(stdout, "  %s %q: %s, %d slots\n", a.ID, a.Name, who, a.Slots)
	}
	return nil
}
