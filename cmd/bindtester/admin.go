package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/console"
)

// The admin subcommands (bind, unbind, testers, audit) run through the same bot
// core as Slack: the same permission checks, skipped only for an explicit
// --admin, and the same audit records.

// parseInterspersed parses flags wherever they stand among the arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// adminCLI is what the admin subcommands share: who acts, and the bot to act through.
type adminCLI struct {
	user, channel string
	admin         bool
	bot           *bot.Bot
	console       *console.Console
	audit         bot.AuditLog
	close         func()
}

func newAdminCLI(ctx context.Context, name string, args []string, getenv func(string) string, stdout, stderr io.Writer,
	extra func(*flag.FlagSet)) (*adminCLI, []string, error) {
	fs := flagSet(name, stderr)
	user := fs.String("user", "", "act as this Slack user ID, with their permissions")
	admin := fs.Bool("admin", false, "act as an admin: skip permission checks (recorded as actor \"cli-admin\" unless --user is given)")
	channel := fs.String("channel", "", "the channel ID to act in (for apps limited to channels)")
	if extra != nil {
		extra(fs)
	}
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if *user == "" && !*admin {
		return nil, nil, fmt.Errorf("%w: say who acts: --user U… (with that user's permissions) or --admin", errUsage)
	}
	if *user == "" {
		*user = "cli-admin"
	}
	s, p := loadSettings(getenv)
	if s.Policy == nil && len(p) == 0 {
		p.add("BINDTESTER_APPID", "no Mini Program is configured: set BINDTESTER_APPID (one app) or BINDTESTER_POLICY_FILE (several)")
	}
	if err := p.err(); err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, s.DBPath, s.StoreKey)
	if err != nil {
		return nil, nil, err
	}
	var wx bot.WeChat
	var plat *bot.PlatformOptions
	if s.Creds != credsNone {
		w, err := newWeChat(s, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), st)
		if err != nil {
			st.Close()
			return nil, nil, err
		}
		wx, plat = w, w.platform
	} else if name != "audit" {
		st.Close()
		return nil, nil, errors.New("WECHAT_APP_SECRET: no WeChat credentials are set; this command calls WeChat (see .env.example)")
	}
	c := &console.Console{UserID: *user, ChannelID: *channel, Out: stdout}
	b := bot.New(bot.Options{Policy: s.Policy, WeChat: wx, Lang: s.Lang, Store: st, Messenger: c, Lease: s.Lease, Timeout: s.jobTimeout(),
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), Platform: plat})
	c.Handler = b
	if plat != nil { // the apps discovery found, as the bot in Slack knows them
		if err := b.ReloadApps(ctx); err != nil {
			st.Close()
			return nil, nil, err
		}
	}
	return &adminCLI{user: *user, channel: *channel, admin: *admin, bot: b, console: c, audit: st, close: func() { st.Close() }}, rest, nil
}

// runAdminCommand runs bind, unbind, extend, testers or apps as one
// /bindtester line; the core says what it changed.
func runAdminCommand(ctx context.Context, verb string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var refresh *bool
	var extra func(*flag.FlagSet)
	if verb == "apps" {
		extra = func(fs *flag.FlagSet) {
			refresh = fs.Bool("refresh", false, "ask WeChat for the platform's authorizers first")
		}
	}
	cli, rest, err := newAdminCLI(ctx, verb, args, getenv, stdout, stderr, extra)
	if err != nil {
		return err
	}
	defer cli.close()
	text := strings.Join(rest, " ")
	if verb != "bind" {
		text = verb + " " + text
	}
	if refresh != nil && *refresh {
		text = "apps refresh"
	}
	// Approval prompts from here would print to this terminal, never reaching an approver.
	req := bot.Request{UserID: cli.user, ChannelID: cli.channel, Text: text, Admin: cli.admin, NoApproval: true}
	out, err := cli.bot.Do(ctx, req, cli.console)
	if changes := verb == "bind" || verb == "unbind" || verb == "extend"; changes && !out.Changed() {
		return errors.Join(err, errNothingChanged)
	}
	return err
}

// errNothingChanged makes a bind, unbind or extend that was refused or
// failed exit non-zero, for scripts.
var errNothingChanged = errors.New("nothing was changed (see the answer above)")

// runAudit prints audit records as a table, CSV or JSON.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var app, who, format string
	var limit int
	cli, rest, err := newAdminCLI(ctx, "audit", args, getenv, stdout, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&app, "app", "", "only this Mini Program (appid or alias)")
		fs.StringVar(&who, "who", "", "only records where this Slack user acted or asked")
		fs.StringVar(&format, "format", "table", "table, csv or json")
		fs.IntVar(&limit, "limit", 50, "at most this many records, newest first (0: all)")
	})
	if err != nil {
		return err
	}
	defer cli.close()
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected %q (use --app, --who, --format, --limit)", errUsage, strings.Join(rest, " "))
	}
	if format != "table" && format != "csv" && format != "json" {
		return fmt.Errorf("%w: --format %q: use table, csv or json", errUsage, format)
	}
	f := bot.AuditFilter{User: who, Limit: limit}
	if app != "" {
		a, ok := cli.bot.App(app)
		if !ok {
			return fmt.Errorf("--app %q: no such Mini Program in the settings", app)
		}
		f.AppID = a.ID
	}
	events, err := cli.bot.Audit(ctx, bot.Who{UserID: cli.user, Admin: cli.admin}, f)
	if errors.Is(err, bot.ErrForbidden) {
		return fmt.Errorf("%s may not read the audit log: only admins may (or use --admin)", cli.user)
	}
	if err != nil {
		return err
	}
	return writeEvents(stdout, format, events)
}

var eventColumns = []string{"time", "kind", "actor", "requester", "app", "wechat_id", "userstr", "errcode", "grant", "approval", "channel", "thread", "detail"}

func eventRow(e bot.Event) []string {
	num := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	return []string{e.At.UTC().Format(time.RFC3339), string(e.Kind), e.Actor, e.Requester, e.AppID, e.WechatMasked, e.UserStr,
		num(int64(e.ErrCode)), num(e.GrantID), num(e.ApprovalID), e.Channel, e.ThreadTS, e.Detail}
}

func writeEvents(w io.Writer, format string, events []bot.Event) error {
	switch format {
	case "json":
		rows := make([]map[string]string, len(events))
		for i, e := range events {
			row := map[string]string{}
			for j, v := range eventRow(e) {
				row[eventColumns[j]] = v
			}
			rows[i] = row
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write(eventColumns)
		for _, e := range events {
			cw.Write(eventRow(e))
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(eventColumns, "\t")))
	for _, e := range events {
		fmt.Fprintln(tw, strings.Join(eventRow(e), "\t"))
	}
	return tw.Flush()
}
