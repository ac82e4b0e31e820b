package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/store"
	"github.com/bindtester/bindtester/wechat"
)

// credentialMode is how the bot gets WeChat access tokens.
type credentialMode string

const (
	credsNone      credentialMode = "none"       // console sandbox only
	credsSecret    credentialMode = "app secret" // cgi-bin/stable_token
	credsComponent credentialMode = "third-party platform"
	credsService   credentialMode = "token service"
	credsStatic    credentialMode = "fixed access token"
)

// settings is everything read from the environment (and .env).
type settings struct {
	SlackAppToken, SlackBotToken, SlackAPIURL string

	WeChatAPIBase string
	WeChatTimeout time.Duration
	Creds         credentialMode
	AppSecret     string // one-app, stable_token
	Component     struct{ AppID, Secret, Ticket, TicketFile, RefreshToken string }
	// The third-party platform's own endpoint for WeChat's pushes (ticket,
	// authorization notices) and its message crypto; Listen "" is off.
	Notices      struct{ Listen, Token, AESKey string }
	Discovery    time.Duration // how often the platform's authorizers are listed; 0: never
	TokenService string
	AccessToken  string

	PolicyFile  string
	Policy      *bot.Policy
	Lang        bot.Lang
	MaxInFlight int // commands handled at once
	PerApp      int // WeChat calls in flight per Mini Program
	Grace       time.Duration
	DBPath      string        // the store: a SQLite file, or a postgres:// URL
	Lease       time.Duration // how long a job is its process's own before another may resume it
	GroupStale  time.Duration // how long the last known user group members count while lookups fail
	DBSet       bool          // BINDTESTER_DB was given (the console sandbox ignores it, and says so)
	StoreKey    []byte        // BINDTESTER_STORE_KEY; nil means the key file beside the database
	Sweep       time.Duration // how often the worker looks for expired grants and approvals
	OpsAddr     string        // where /healthz and /metrics are served; "" for nowhere
	LogLevel    slog.Level
	LogJSON     bool

	getenv        func(string) string                              // for variables named in the policy file (secret_env, …)
	observeWeChat func(path string, took time.Duration, err error) // metrics, when served
}

// withCreds is a copy of s using one app secret for every app (the sandbox).
func (s settings) withCreds(mode credentialMode, secret string) settings {
	s.Creds, s.AppSecret = mode, secret
	apps := make([]bot.App, len(s.Policy.Apps))
	for i, a := range s.Policy.Apps {
		a.SecretEnv = ""
		apps[i] = a
	}
	s.Policy = &bot.Policy{Admins: s.Policy.Admins, Apps: apps}
	return s
}

// jobTimeout is how long one request's WeChat part may take: 30s, or less
// when jobs are leased for less, so a job ends before its lease does.
func (s settings) jobTimeout() time.Duration {
	return min(30*time.Second, s.Lease*2/3)
}

// problems collects every settings problem, each naming the variable and the fix.
type problems []string

func (p *problems) add(variable, format string, args ...any) {
	*p = append(*p, variable+": "+fmt.Sprintf(format, args...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New("settings problems:\n  - " + strings.Join(p, "\n  - "))
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// loadSettings reads the environment through getenv and reports every problem at once.
// Slack tokens are checked by the commands that need them.
func loadSettings(getenv func(string) string) (settings, problems) {
	s := settings{getenv: getenv}
	var p problems
	s.SlackAppToken = getenv("SLACK_APP_TOKEN")
	s.SlackBotToken = getenv("SLACK_BOT_TOKEN")
	s.SlackAPIURL = or(getenv("SLACK_API_URL"), "https://slack.com/api/")
	if s.SlackAppToken != "" && !strings.HasPrefix(s.SlackAppToken, "xapp-") {
		p.add("SLACK_APP_TOKEN", "must be an app-level token starting with xapp- (Slack app settings → Basic Information → App-Level Tokens, scope connections:write)")
	}
	if s.SlackBotToken != "" && !strings.HasPrefix(s.SlackBotToken, "xoxb-") {
		p.add("SLACK_BOT_TOKEN", "must be a bot token starting with xoxb- (Slack app settings → OAuth & Permissions)")
	}
	if !strings.HasPrefix(s.SlackAPIURL, "http://") && !strings.HasPrefix(s.SlackAPIURL, "https://") {
		p.add("SLACK_API_URL", "%q is not an http(s) URL; leave it unset for https://slack.com/api/", s.SlackAPIURL)
	} else if !strings.HasSuffix(s.SlackAPIURL, "/") {
		s.SlackAPIURL += "/"
	}

	s.WeChatAPIBase = or(getenv("WECHAT_API_BASE"), "https://api.weixin.qq.com")
	if !strings.HasPrefix(s.WeChatAPIBase, "http://") && !strings.HasPrefix(s.WeChatAPIBase, "https://") {
		p.add("WECHAT_API_BASE", "%q is not an http(s) URL; leave it unset for https://api.weixin.qq.com", s.WeChatAPIBase)
	}
	s.WeChatTimeout = duration(&p, getenv, "WECHAT_TIMEOUT", 10*time.Second)
	s.Grace = duration(&p, getenv, "BINDTESTER_SHUTDOWN_GRACE", 20*time.Second)
	if getenv("BINDTESTER_WORKERS") != "" {
		p.add("BINDTESTER_WORKERS", "was replaced: commands no longer wait for a worker; set BINDTESTER_MAX_IN_FLIGHT (commands at once, default 256) and BINDTESTER_WECHAT_PER_APP (WeChat calls at once per Mini Program, default 16) instead")
	}
	s.MaxInFlight = number(&p, getenv, "BINDTESTER_MAX_IN_FLIGHT", 256)
	s.PerApp = number(&p, getenv, "BINDTESTER_WECHAT_PER_APP", 16)
	s.Sweep = duration(&p, getenv, "BINDTESTER_SWEEP_INTERVAL", time.Minute)
	s.Lease = duration(&p, getenv, "BINDTESTER_JOB_LEASE", 45*time.Second)
	s.GroupStale = duration(&p, getenv, "BINDTESTER_GROUP_STALE", 15*time.Minute)
	s.OpsAddr = getenv("BINDTESTER_OPS_ADDR")
	if _, _, err := net.SplitHostPort(s.OpsAddr); s.OpsAddr != "" && err != nil {
		p.add("BINDTESTER_OPS_ADDR", "%q is not host:port, like 127.0.0.1:9090 or :9090", s.OpsAddr)
	}
	s.DBPath, s.DBSet = or(getenv("BINDTESTER_DB"), "bindtester.db"), getenv("BINDTESTER_DB") != ""
	if k := getenv("BINDTESTER_STORE_KEY"); k != "" {
		key, err := store.ParseKey(k)
		if err != nil {
			p.add("BINDTESTER_STORE_KEY", "%v; generate one with: head -c 32 /dev/urandom | base64", err)
		}
		s.StoreKey = key
	}

	s.AppSecret = getenv("WECHAT_APP_SECRET")
	s.Component.AppID = getenv("WECHAT_COMPONENT_APPID")
	s.Component.Secret = getenv("WECHAT_COMPONENT_SECRET")
	s.Component.Ticket = getenv("WECHAT_COMPONENT_VERIFY_TICKET")
	s.Component.TicketFile = getenv("WECHAT_COMPONENT_VERIFY_TICKET_FILE")
	s.Component.RefreshToken = getenv("WECHAT_AUTHORIZER_REFRESH_TOKEN")
	s.Notices.Listen = getenv("BINDTESTER_PLATFORM_LISTEN")
	s.Notices.Token = getenv("WECHAT_COMPONENT_MSG_TOKEN")
	s.Notices.AESKey = getenv("WECHAT_COMPONENT_AES_KEY")
	if v := strings.ToLower(getenv("BINDTESTER_DISCOVERY_EVERY")); v == "off" || v == "0" {
		s.Discovery = 0
	} else if d, err := time.ParseDuration(or(v, "6h")); err != nil || d < time.Minute {
		p.add("BINDTESTER_DISCOVERY_EVERY", "%q: use a duration of at least 1m like 6h, or off", v)
	} else {
		s.Discovery = d
	}
	s.TokenService = getenv("WECHAT_TOKEN_SERVICE_URL")
	s.AccessToken = getenv("WECHAT_ACCESS_TOKEN")

	s.Lang = bot.ParseLang(or(getenv("BINDTESTER_LANG"), "en"), "")
	if s.Lang == "" {
		p.add("BINDTESTER_LANG", "%q is not a language I speak: use en or zh", getenv("BINDTESTER_LANG"))
		s.Lang = bot.English
	}
	switch strings.ToLower(or(getenv("LOG_LEVEL"), "info")) {
	case "debug":
		s.LogLevel = slog.LevelDebug
	case "info":
		s.LogLevel = slog.LevelInfo
	case "warn":
		s.LogLevel = slog.LevelWarn
	case "error":
		s.LogLevel = slog.LevelError
	default:
		p.add("LOG_LEVEL", "%q: use debug, info, warn or error", getenv("LOG_LEVEL"))
	}
	switch strings.ToLower(or(getenv("LOG_FORMAT"), "text")) {
	case "text":
	case "json":
		s.LogJSON = true
	default:
		p.add("LOG_FORMAT", "%q: use text or json", getenv("LOG_FORMAT"))
	}

	s.Policy = loadPolicy(&p, getenv, &s)
	s.Creds = credentials(&p, &s, getenv)
	return s, p
}

// loadPolicy reads the apps and permissions: a policy file for several apps, or
// BINDTESTER_APPID and friends for one.
func loadPolicy(p *problems, getenv func(string) string, s *settings) *bot.Policy {
	admins := splitList(getenv("BINDTESTER_ADMINS"))
	oneApp := []string{"BINDTESTER_APPID", "BINDTESTER_APP_NAME", "BINDTESTER_APP_ALIASES", "BINDTESTER_BINDERS", "BINDTESTER_CHANNELS",
		"BINDTESTER_SLOTS", "BINDTESTER_QR_PATH", "BINDTESTER_DEFAULT_DURATION", "BINDTESTER_MAX_DURATION", "BINDTESTER_REQUESTERS",
		"BINDTESTER_REQUIRE_APPROVAL", "BINDTESTER_REQUIRE_REASON", "BINDTESTER_APPROVALS_NEEDED", "BINDTESTER_APPROVERS", "BINDTESTER_APPROVAL_CHANNEL", "BINDTESTER_APPROVAL_TTL"}
	s.PolicyFile = getenv("BINDTESTER_POLICY_FILE")
	if s.PolicyFile != "" {
		for _, v := range oneApp {
			if getenv(v) != "" {
				p.add(v, "is ignored when BINDTESTER_POLICY_FILE is set: put the app in the policy file, or unset BINDTESTER_POLICY_FILE")
			}
		}
		pol, err := bot.LoadPolicyFile(s.PolicyFile)
		if err != nil {
			p.add("BINDTESTER_POLICY_FILE", "%v", err)
			return nil
		}
		pol.Admins = append(pol.Admins, admins...)
		policyProblems(p, pol.Validate()) // only BINDTESTER_ADMINS can be wrong now
		return pol
	}
	appid := getenv("BINDTESTER_APPID")
	if appid == "" && getenv("WECHAT_COMPONENT_APPID") != "" {
		// Every app as discovery finds it, open to admins only: there must be one.
		if len(admins) == 0 {
			p.add("BINDTESTER_ADMINS", "is empty, and without BINDTESTER_POLICY_FILE or BINDTESTER_APPID the Mini Programs discovery finds are open to admins only: list at least one admin, or give a policy file with defaults: (see policy.example.yaml)")
		}
		pol := bot.PolicyForDiscovery(admins)
		policyProblems(p, pol.Validate())
		return pol
	}
	if appid == "" {
		if len(admins) > 0 {
			policyProblems(p, (&bot.Policy{Admins: admins, Apps: []bot.App{{ID: "wx0000000000000000"}}}).Validate())
		}
		return nil // console falls back to its sandbox app; run and check-config report it
	}
	pol := &bot.Policy{Admins: admins, Apps: []bot.App{{
		ID: appid, Name: or(getenv("BINDTESTER_APP_NAME"), appid), Aliases: splitList(getenv("BINDTESTER_APP_ALIASES")),
		Binders: splitList(getenv("BINDTESTER_BINDERS")), Channels: splitList(getenv("BINDTESTER_CHANNELS")),
		Slots: number(p, getenv, "BINDTESTER_SLOTS", bot.DefaultSlots), QRPath: getenv("BINDTESTER_QR_PATH"),
		DefaultDuration: accessDuration(p, getenv, "BINDTESTER_DEFAULT_DURATION"), MaxDuration: accessDuration(p, getenv, "BINDTESTER_MAX_DURATION"),
		Requesters: splitList(getenv("BINDTESTER_REQUESTERS")), Approvers: splitList(getenv("BINDTESTER_APPROVERS")),
		RequireApproval: boolean(p, getenv, "BINDTESTER_REQUIRE_APPROVAL"), ApprovalChannel: getenv("BINDTESTER_APPROVAL_CHANNEL"),
		RequireReason: boolean(p, getenv, "BINDTESTER_REQUIRE_REASON"), ApprovalsNeeded: number(p, getenv, "BINDTESTER_APPROVALS_NEEDED", 0),
		ApprovalTTL: accessDuration(p, getenv, "BINDTESTER_APPROVAL_TTL"),
	}}}
	policyProblems(p, pol.Validate())
	return pol
}

// oneAppVariable is the variable behind each policy field in a one-app setup.
var oneAppVariable = map[string]string{
	"admins": "BINDTESTER_ADMINS", "apps": "BINDTESTER_APPID", "appid": "BINDTESTER_APPID",
	"aliases": "BINDTESTER_APP_ALIASES", "binders": "BINDTESTER_BINDERS", "channels": "BINDTESTER_CHANNELS",
	"slots": "BINDTESTER_SLOTS", "default_duration": "BINDTESTER_DEFAULT_DURATION", "max_duration": "BINDTESTER_MAX_DURATION",
	"requesters": "BINDTESTER_REQUESTERS", "approvers": "BINDTESTER_APPROVERS", "approval_channel": "BINDTESTER_APPROVAL_CHANNEL", "approvals_needed": "BINDTESTER_APPROVALS_NEEDED",
}

// policyProblems reports a policy built from the environment, naming the variable of each field.
func policyProblems(p *problems, err error) {
	var pe bot.PolicyError
	if !errors.As(err, &pe) {
		return
	}
	for _, pr := range pe {
		p.add(or(oneAppVariable[pr.Field], pr.Field), "%s", pr.Msg)
	}
}

// credentials works out how tokens are obtained; exactly one way may be set.
func credentials(p *problems, s *settings, getenv func(string) string) credentialMode {
	var set []credentialMode
	if s.AppSecret != "" || (s.Policy != nil && anyApp(s.Policy, func(a bot.App) bool { return a.SecretEnv != "" })) {
		set = append(set, credsSecret)
	}
	if s.Component.AppID != "" {
		set = append(set, credsComponent)
	}
	if s.TokenService != "" {
		set = append(set, credsService)
	}
	if s.AccessToken != "" {
		set = append(set, credsStatic)
	}
	if len(set) == 0 {
		return credsNone
	}
	if len(set) > 1 {
		p.add("WECHAT_*", "set only one way to get WeChat tokens, found %v: WECHAT_APP_SECRET (or secret_env), WECHAT_COMPONENT_APPID, WECHAT_TOKEN_SERVICE_URL or WECHAT_ACCESS_TOKEN", set)
		return set[0]
	}
	switch set[0] {
	case credsComponent:
		if s.Component.Secret == "" {
			p.add("WECHAT_COMPONENT_SECRET", "is required with WECHAT_COMPONENT_APPID (open platform → third-party platform → details)")
		}
		if s.Component.Ticket != "" && s.Component.TicketFile != "" {
			p.add("WECHAT_COMPONENT_VERIFY_TICKET", "set at most one of WECHAT_COMPONENT_VERIFY_TICKET or WECHAT_COMPONENT_VERIFY_TICKET_FILE; with neither, the ticket is read from the store, where BINDTESTER_PLATFORM_LISTEN keeps it")
		}
		if s.Notices.Listen != "" {
			if s.Notices.Token == "" {
				p.add("WECHAT_COMPONENT_MSG_TOKEN", "is required with BINDTESTER_PLATFORM_LISTEN: the message token of the platform (open platform → third-party platform → development settings)")
			}
			if _, err := wechat.NewMsgCrypt(or(s.Notices.Token, "x"), s.Notices.AESKey, s.Component.AppID); err != nil {
				p.add("WECHAT_COMPONENT_AES_KEY", "%v (the platform's 43-character message encryption key, beside the message token)", err)
			}
		}
		if s.Policy != nil {
			for _, a := range s.Policy.Apps {
				switch {
				case a.RefreshTokenEnv != "" && getenv(a.RefreshTokenEnv) == "":
					p.add(a.RefreshTokenEnv, "is empty: it should hold the authorizer_refresh_token of %s", a.ID)
				case s.Discovery > 0: // discovery takes each app's token from WeChat
				case a.RefreshTokenEnv == "" && (s.Component.RefreshToken == "" || len(s.Policy.Apps) > 1):
					p.add("WECHAT_AUTHORIZER_REFRESH_TOKEN", "%s has no authorizer_refresh_token: set WECHAT_AUTHORIZER_REFRESH_TOKEN (one app) or refresh_token_env in the policy file", a.ID)
				}
			}
		}
	case credsSecret:
		if s.Policy != nil {
			for _, a := range s.Policy.Apps {
				switch {
				case a.SecretEnv != "" && getenv(a.SecretEnv) == "":
					p.add(a.SecretEnv, "is empty: it should hold the app secret of %s", a.ID)
				case a.SecretEnv == "" && (s.AppSecret == "" || len(s.Policy.Apps) > 1):
					p.add("WECHAT_APP_SECRET", "%s has no app secret: set WECHAT_APP_SECRET (one app) or secret_env in the policy file", a.ID)
				}
			}
		}
	case credsService:
		if !strings.HasPrefix(s.TokenService, "http://") && !strings.HasPrefix(s.TokenService, "https://") {
			p.add("WECHAT_TOKEN_SERVICE_URL", "is not an http(s) URL")
		}
	}
	return set[0]
}

func anyApp(p *bot.Policy, f func(bot.App) bool) bool {
	for _, a := range p.Apps {
		if f(a) {
			return true
		}
	}
	return false
}

func or(v, fallback string) string {
	if v == "" {
		return fallback
	}
	return v
}

func duration(p *problems, getenv func(string) string, name string, def time.Duration) time.Duration {
	v := getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.add(name, "%q is not a positive duration like 10s or 2m", v)
		return def
	}
	return d
}

// accessDuration reads a duration like 12h, 14d or 2w; unset is 0 (the default).
func accessDuration(p *problems, getenv func(string) string, name string) time.Duration {
	v := getenv(name)
	if v == "" {
		return 0
	}
	d, ok := bot.ParseDuration(v)
	if !ok {
		p.add(name, "%q is not a duration like 12h, 14d or 2w", v)
	}
	return d
}

func boolean(p *problems, getenv func(string) string, name string) bool {
	switch strings.ToLower(getenv(name)) {
	case "", "false", "no", "0":
		return false
	case "true", "yes", "1":
		return true
	}
	p.add(name, "%q: use true or false", getenv(name))
	return false
}

func number(p *problems, getenv func(string) string, name string, def int) int {
	v := getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		p.add(name, "%q is not a positive whole number", v)
		return def
	}
	return n
}
