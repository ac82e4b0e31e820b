package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

type tokenAnswer struct {
	status
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

func tokenFrom(value string, expiresIn int, path string) (Token, error) {
	if value == "" {
		return Token{}, &TransportError{Kind: ErrBadResponse, Path: path, Detail: "answer carries no token"}
	}
	if expiresIn <= 0 {
		expiresIn = 7200
	}
	now := time.Now()
	return Token{Value: value, ExpiresAt: now.Add(time.Duration(expiresIn) * time.Second), Fetched: now}, nil
}

// fetchUnlessRejected fetches without force and, only when that hands back the
// rejected token, once more with force: forced refreshes are rationed (20 a day)
// and end the token every other holder is using.
func fetchUnlessRejected(rejected string, fetch func(force bool) (Token, error)) (Token, error) {
	tok, err := fetch(false)
	if err == nil && rejected != "" && tok.Value == rejected {
		tok, err = fetch(true)
	}
	return tok, err
}

// StableTokens fetches a Mini Program's own token with its app secret from
// cgi-bin/stable_token, which, unlike cgi-bin/token, does not invalidate the
// token other processes hold. secret returns the app secret for an appid.
// It asks with force_refresh only when the plain answer is the rejected token.
type StableTokens struct {
	T      *Transport
	Secret func(appid string) (string, bool)
}

func (s StableTokens) Fetch(ctx context.Context, appid string, rejected string) (Token, error) {
	secret, ok := s.Secret(appid)
	if !ok {
		return Token{}, ErrNoCredentials{AppID: appid}
	}
	const path = "/cgi-bin/stable_token"
	return fetchUnlessRejected(rejected, func(force bool) (Token, error) {
		var out tokenAnswer
		err := s.T.withRetry(ctx, path, func(ctx context.Context) error {
			return s.T.do(ctx, request{method: http.MethodPost, path: path, out: &out, body: map[string]any{
				"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": force,
			}})
		})
		if err != nil {
			return Token{}, err
		}
		return tokenFrom(out.AccessToken, out.ExpiresIn, path)
	})
}

// ErrNoCredentials says the bot has no way to get a token for this appid.
type ErrNoCredentials struct{ AppID string }

func (e ErrNoCredentials) Error() string {
	return fmt.Sprintf("no WeChat credentials configured for %s", e.AppID)
}

// TokenService fetches tokens from a central token server that already holds them
// (WeChat recommends one per app): GET URL?appid=APPID answers
// {"access_token":"…","expires_in":N} (errcode/errmsg optional). When its answer is
// the token WeChat rejected, it is asked again with force_refresh=true.
type TokenService struct {
	T   *Transport
	URL string
}

func (s TokenService) Fetch(ctx context.Context, appid string, rejected string) (Token, error) {
	return fetchUnlessRejected(rejected, func(force bool) (Token, error) {
		q := map[string]string{"appid": appid}
		if force {
			q["force_refresh"] = "true"
		}
		var out tokenAnswer
		err := s.T.withRetry(ctx, "token service", func(ctx context.Context) error {
			return s.T.do(ctx, request{method: http.MethodGet, path: s.URL, query: q, out: &out}) // errors say "token service", not the URL
		})
		if err != nil {
			return Token{}, err
		}
		return tokenFrom(out.AccessToken, out.ExpiresIn, "token service")
	})
}

// TicketSource gives the third-party platform's current component_verify_ticket,
// which WeChat pushes to the platform's ticket receiver every 10 minutes.
type TicketSource interface {
	Ticket(ctx context.Context) (string, error)
}

// TicketString is a fixed ticket (from the environment).
type TicketString string

func (t TicketString) Ticket(context.Context) (string, error) {
	if t == "" {
		return "", errors.New("component_verify_ticket is empty")
	}
	return string(t), nil
}

// TicketFile reads the ticket from a file the platform's ticket receiver keeps current;
// it is read on every component token fetch, so a new ticket needs no restart.
type TicketFile string

func (f TicketFile) Ticket(context.Context) (string, error) {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return "", fmt.Errorf("reading component_verify_ticket: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("component_verify_ticket file %s is empty", f)
	}
	return t, nil
}

// RefreshTokens keeps each authorized Mini Program's authorizer_refresh_token.
type RefreshTokens interface {
	RefreshToken(ctx context.Context, appid string) (string, error)
	SaveRefreshToken(ctx context.Context, appid, token string) error
}

// MemoryRefreshTokens is a RefreshTokens seeded from settings; rotated tokens are kept in memory.
type MemoryRefreshTokens struct {
	mu sync.Mutex
	m  map[string]string
}

func NewMemoryRefreshTokens(seed map[string]string) *MemoryRefreshTokens {
	m := make(map[string]string, len(seed))
	for k, v := range seed {
		m[k] = v
	}
	return &MemoryRefreshTokens{m: m}
}

func (s *MemoryRefreshTokens) RefreshToken(_ context.Context, appid string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.m[appid]; ok && t != "" {
		return t, nil
	}
	return "", ErrNoCredentials{AppID: appid}
}

func (s *MemoryRefreshTokens) SaveRefreshToken(_ context.Context, appid, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[appid] = token
	return nil
}

// ComponentTokens fetches authorizer_access_tokens as a WeChat third-party platform:
// first the platform's component_access_token (cached on its own), then the Mini
// Program's token with its authorizer_refresh_token, keeping a rotated refresh token.
// Every api_authorizer_token answer is a new token, so the rejected token is not needed.
//
// A Fetch reads the app's refresh token, spends it and saves the one WeChat hands
// back in its place, so two fetches for one app must never overlap, or the second
// spends a token the first already replaced (61023). Within a process the TokenCache
// in front sees to that. Several replicas must wrap it in SharedTokens over the
// TokenStore they share, NewTokenCache(SharedTokens{Fetcher: c, Store: s, ...}, 0):
// then Fetch runs while holding that app's lock across all replicas, and the
// refresh-token read, the api_authorizer_token call and SaveRefreshToken all happen
// under it. Pass ShareComponentToken(s) too, so the replicas also share one
// component_access_token (the component lock is taken inside an app's lock, never
// the other way round). A rotated refresh token the RefreshTokens store failed to
// keep is held by this process only (and saved on its next fetch for the app); until
// then other replicas read the spent one.
type ComponentTokens struct {
	t             *Transport
	appID, secret string
	ticket        TicketSource
	refresh       RefreshTokens
	component     *TokenCache

	mu      sync.Mutex
	unsaved map[string]string // rotated refresh tokens the store failed to keep, per appid
}

// ComponentOption configures NewComponentTokens.
type ComponentOption func(*componentOptions)

type componentOptions struct{ store TokenStore }

// ShareComponentToken keeps the platform's component_access_token in store, under
// "component:<component appid>", so the replicas sharing store fetch it once between
// them and replace it once when WeChat rejects it.
func ShareComponentToken(store TokenStore) ComponentOption {
	return func(o *componentOptions) { o.store = store }
}

// NewComponentTokens builds the platform's token fetcher.
func NewComponentTokens(t *Transport, componentAppID, componentSecret string, ticket TicketSource, refresh RefreshTokens, opts ...ComponentOption) *ComponentTokens {
	var o componentOptions
	for _, opt := range opts {
		opt(&o)
	}
	c := &ComponentTokens{t: t, appID: componentAppID, secret: componentSecret, ticket: ticket, refresh: refresh}
	var f Fetcher = componentFetcher{c}
	if o.store != nil {
		f = SharedTokens{Fetcher: f, Store: o.store, Prefix: "component:"}
	}
	c.component = NewTokenCache(f, 0)
	return c
}

type componentFetcher struct{ c *ComponentTokens }

// Fetch asks for a new component_access_token; every answer is a new one.
func (f componentFetcher) Fetch(ctx context.Context, _ string, _ string) (Token, error) {
	ticket, err := f.c.ticket.Ticket(ctx)
	if err != nil {
		return Token{}, err
	}
	const path = "/cgi-bin/component/api_component_token"
	var out struct {
		status
		Token     string `json:"component_access_token"`
		ExpiresIn int    `json:"expires_in"`
	}
	err = f.c.t.withRetry(ctx, path, func(ctx context.Context) error {
		return f.c.t.do(ctx, request{method: http.MethodPost, path: path, out: &out, body: map[string]string{
			"component_appid": f.c.appID, "component_appsecret": f.c.secret, "component_verify_ticket": ticket,
		}})
	})
	if err != nil {
		return Token{}, err
	}
	return tokenFrom(out.Token, out.ExpiresIn, path)
}

// Fetch gets a new authorizer_access_token for appid (see ComponentTokens on running it
// on several replicas).
func (c *ComponentTokens) Fetch(ctx context.Context, appid string, _ string) (Token, error) {
	c.mu.Lock()
	refresh, unsaved := c.unsaved[appid]
	c.mu.Unlock()
	if unsaved { // the store missed the last rotation: the token WeChat now honours is this one
		if err := c.refresh.SaveRefreshToken(ctx, appid, refresh); err == nil {
			c.forget(appid)
		}
	} else {
		var err error
		if refresh, err = c.refresh.RefreshToken(ctx, appid); err != nil {
			return Token{}, err
		}
	}
	var err error
	const path = "/cgi-bin/component/api_authorizer_token"
	var out struct {
		status
		Token     string `json:"authorizer_access_token"`
		ExpiresIn int    `json:"expires_in"`
		Refresh   string `json:"authorizer_refresh_token"`
	}
	refreshed := false
	err = c.t.withRetry(ctx, path, func(ctx context.Context) error {
		for {
			cat, err := c.component.Token(ctx, c.appID)
			if err != nil {
				return &tokenFetchError{err}
			}
			err = c.t.do(ctx, request{method: http.MethodPost, path: path, out: &out,
				query: map[string]string{"component_access_token": cat},
				body:  map[string]string{"component_appid": c.appID, "authorizer_appid": appid, "authorizer_refresh_token": refresh}})
			var we *Error
			if errors.As(err, &we) && we.Info().Action == RefreshToken && !refreshed {
				refreshed = true
				c.component.Invalidate(c.appID, cat)
				continue
			}
			return err
		}
	})
	if err != nil {
		return Token{}, err
	}
	if out.Refresh != "" && out.Refresh != refresh {
		if err := c.refresh.SaveRefreshToken(ctx, appid, out.Refresh); err != nil {
			// The old refresh token is spent: hold the new one in memory, and save it next time.
			c.t.log.Warn("could not keep the rotated authorizer_refresh_token; holding it in memory", "appid", appid, "error", err)
			c.mu.Lock()
			if c.unsaved == nil {
				c.unsaved = map[string]string{}
			}
			c.unsaved[appid] = out.Refresh
			c.mu.Unlock()
		} else {
			c.forget(appid)
		}
	}
	return tokenFrom(out.Token, out.ExpiresIn, path)
}

func (c *ComponentTokens) forget(appid string) {
	c.mu.Lock()
	delete(c.unsaved, appid)
	c.mu.Unlock()
}
