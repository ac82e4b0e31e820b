package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/store"
	"github.com/bindtester/bindtester/wechat"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

// newWeChat builds the WeChat client for the configured credential mode. With
// a store, the tokens it fetches are shared through st by every process on
// that database (one fetch per app, however many replicas). As a third-party
// platform it keeps the authorizer_refresh_tokens WeChat rotates in st, so a
// restart does not fall back to the spent one in the settings; only that mode
// needs st.
func newWeChat(s settings, log *slog.Logger, st *store.Store) (weChat, error) {
	t := wechat.NewTransport(wechat.Config{BaseURL: s.WeChatAPIBase, Timeout: s.WeChatTimeout, Logger: log, Observe: s.observeWeChat})
	var tokens wechat.TokenSource
	var plat *bot.PlatformOptions
	switch s.Creds {
	case credsSecret:
		secrets := map[string]string{}
		for _, a := range s.Policy.Apps {
			secrets[a.ID] = s.AppSecret
			if a.SecretEnv != "" {
				secrets[a.ID] = s.getenv(a.SecretEnv)
			}
		}
		tokens = wechat.NewTokenCache(shared(st, wechat.StableTokens{T: t, Secret: func(appid string) (string, bool) {
			v, ok := secrets[appid]
			return v, ok && v != ""
		}}), 0)
	case credsComponent:
		refresh := map[string]string{}
		for _, a := range s.Policy.Apps {
			refresh[a.ID] = s.Component.RefreshToken
			if a.RefreshTokenEnv != "" {
				refresh[a.ID] = s.getenv(a.RefreshTokenEnv)
			}
		}
		if st == nil {
			return weChat{}, errors.New("third-party platform credentials need the store, to keep rotated authorizer_refresh_tokens")
		}
		var ticket wechat.TicketSource = st.Tickets(s.Component.AppID) // where the ticket endpoint keeps it
		switch {
		case s.Component.TicketFile != "":
			ticket = wechat.TicketFile(s.Component.TicketFile)
		case s.Component.Ticket != "":
			ticket = wechat.TicketString(s.Component.Ticket)
		}
		rt := st.RefreshTokens(refresh)
		ct := wechat.NewComponentTokens(t, s.Component.AppID, s.Component.Secret, ticket, rt, wechat.ShareComponentToken(st.Tokens()))
		tokens = wechat.NewTokenCache(shared(st, ct), 0)
		plat = &bot.PlatformOptions{WeChat: authorizers{ct}, RefreshTokens: rt, Tickets: st.Tickets(s.Component.AppID)}
	case credsService:
		tokens = wechat.NewTokenCache(wechat.TokenService{T: t, URL: s.TokenService}, 0)
	case credsStatic:
		tokens = wechat.StaticTokens(s.AccessToken)
	default:
		return weChat{}, fmt.Errorf("no WeChat credentials configured")
	}
	// Trial versions change when developers upload one: a minute is brief enough.
	client := wechat.NewClient(t, tokens).LimitPerApp(s.PerApp).CacheQRCodes(10 * time.Minute).CacheVersions(time.Minute)
	return weChat{Client: client, platform: plat}, nil
}

// weChat is the WeChat client and, for a third-party platform, what the bot
// needs to discover its apps.
type weChat struct {
	*wechat.Client
	platform *bot.PlatformOptions
}

// authorizers lists a platform's authorizers with WeChat's largest pages.
type authorizers struct{ *wechat.ComponentTokens }

func (a authorizers) Authorizers(ctx context.Context) ([]wechat.Authorizer, error) {
	return a.ComponentTokens.Authorizers(ctx)
}

// shared puts f's tokens in st for every process on it, when there is a store.
func shared(st *store.Store, f wechat.Fetcher) wechat.Fetcher {
	if st == nil {
		return f
	}
	return wechat.SharedTokens{Fetcher: f, Store: st.Tokens(), Prefix: "app:"}
}

// sandbox is an in-process fake WeChat for the console when no credentials are set.
type sandbox struct {
	fake   *wechattest.Server
	client *wechat.Client
	apps   []bot.App
}

// Sandbox WeChat IDs with a fixed outcome, so every explanation can be tried.
var sandboxOutcomes = []struct {
	id   string
	code int
}{
	{"not_found_user", 85001},
	{"too_many_apps", 85003},
	{"busy_wechat", -1},
	{"expired_token", 42001},
	{"no_permission", 61007},
}

// Sandbox users: the console's default user may bind to the demo app, the guest
// may ask (an approver decides), the admin may do anything and approves;
// everyone else is denied.
const (
	sandboxUser  = "U0CONSOLE"
	sandboxGuest = "U0GUEST"
	sandboxAdmin = "U0ADMIN"
)

// newSandbox starts the fake and, when no app is configured, the demo app.
func newSandbox(s *settings) *sandbox {
	if s.Policy == nil {
		s.Policy = &bot.Policy{Admins: []string{sandboxAdmin}, Apps: []bot.App{{
			ID: "wx0123456789abcdef", Name: "Demo Mini Program", Aliases: []string{"demo"},
			Binders: []string{sandboxUser}, Requesters: []string{sandboxGuest}, Slots: 3,
		}}}
	}
	fake := wechattest.NewServer()
	const secret = "sandbox-secret"
	for _, a := range s.Policy.Apps {
		fake.AddApp(a.ID, secret)
		fake.SetSlotLimit(a.ID, a.Slots)
	}
	for _, o := range sandboxOutcomes {
		fake.SetOutcome(o.id, o.code)
	}
	sb := s.withCreds(credsSecret, secret)
	sb.WeChatAPIBase = fake.URL
	wx, _ := newWeChat(sb, slog.New(slog.DiscardHandler), nil) // app secrets: no store needed
	return &sandbox{fake: fake, client: wx.Client, apps: s.Policy.Apps}
}

func (sb *sandbox) Close() { sb.fake.Close() }

func (sb *sandbox) banner() string {
	var ids []string
	for _, o := range sandboxOutcomes {
		ids = append(ids, fmt.Sprintf("%s (%d)", o.id, o.code))
	}
	a := sb.apps[0]
	example := a.ID
	if len(a.Aliases) > 0 {
		example = a.Aliases[0]
	}
	approvals := "Approvals: \":user U…\" acts as someone else, \":approve N\" clicks Approve."
	if slices.Contains(a.Requesters, sandboxGuest) {
		approvals = fmt.Sprintf("Approvals: \":user %s\" asks, \":user %s\" then \":approve N\" decides.", sandboxGuest, sandboxAdmin)
	}
	return fmt.Sprintf(`*** SANDBOX: no WeChat credentials are set, so binds go to an in-process fake WeChat. ***
Nothing leaves this machine. Set WECHAT_APP_SECRET (or another credential, see .env.example) to use the real one.
Try: %s my_wechat_id   (%d slots; IDs with a fixed outcome: %s)
%s Type help for usage, quit to leave.
`, example, a.Slots, strings.Join(ids, ", "), approvals)
}
