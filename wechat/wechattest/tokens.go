package wechattest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"time"
)

// DefaultTokenTTL is the lifetime of tokens until SetTokenTTL changes it (expires_in 7200).
const DefaultTokenTTL = 7200 * time.Second

// app is one Mini Program.
type app struct {
	secret  string   // for stable_token; "" refuses every secret
	refresh string   // authorizer_refresh_token; "" refuses every one
	current string   // the access token a non-forced fetch hands out while it is usable
	slots   int      // experiencer slots
	members []member // experiencers, in bind order
}

type component struct{ appid, secret, ticket string }

type tokenKind int

const (
	accessToken    tokenKind = iota // a Mini Program's access_token / authorizer_access_token
	componentToken                  // a third-party platform's component_access_token
)

type tokenState int

const (
	live     tokenState = iota
	expired             // ExpireTokens: 42001
	revoked             // RevokeTokens: 40001, still handed out by non-forced fetches
	replaced            // a forced refresh superseded it: 40001
)

type token struct {
	appid   string
	kind    tokenKind
	expires time.Time
	state   tokenState
}

// AddApp registers a Mini Program with the secret stable_token accepts (or changes its secret).
func (s *Server) AddApp(appid, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.app(appid).secret = secret
}

// SetComponent sets the third-party platform credentials api_component_token accepts.
func (s *Server) SetComponent(componentAppID, componentSecret, verifyTicket string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.comp = &component{componentAppID, componentSecret, verifyTicket}
}

// SetAuthorizerRefreshToken sets the authorizer_refresh_token api_authorizer_token accepts for appid.
func (s *Server) SetAuthorizerRefreshToken(appid, refreshToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.app(appid).refresh = refreshToken
}

// SetRotateRefreshTokens makes every api_authorizer_token answer carry a new
// authorizer_refresh_token; the old one then answers 61023.
func (s *Server) SetRotateRefreshTokens(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate = on
}

// AuthorizerRefreshToken returns the authorizer_refresh_token currently accepted for appid.
func (s *Server) AuthorizerRefreshToken(appid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps[appid]; a != nil {
		return a.refresh
	}
	return ""
}

// SetTokenTTL sets the lifetime (and expires_in) of tokens issued from now on; tokens used
// past it answer 42001.
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ttl = d
}

// ExpireTokens makes every usable token of appid (an app or the platform's component appid)
// answer 42001 "access_token expired". The next non-forced fetch mints a new one.
func (s *Server) ExpireTokens(appid string) { s.setState(appid, expired) }

// RevokeTokens makes every usable token of appid answer 40001 "invalid credential". Like real
// stable_token, non-forced fetches keep handing out the revoked current token until a fetch
// with force_refresh=true.
func (s *Server) RevokeTokens(appid string) { s.setState(appid, revoked) }

func (s *Server) setState(appid string, st tokenState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.appid == appid && t.state == live {
			t.state = st
		}
	}
}

// IssueToken mints a valid access token for appid and makes it the app's current one.
// It does not count as a token fetch.
func (s *Server) IssueToken(appid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.app(appid)
	return s.mint(appid, accessToken)
}

// app returns the Mini Program appid, registering it when unknown. Callers hold s.mu.
func (s *Server) app(appid string) *app {
	a := s.apps[appid]
	if a == nil {
		a = &app{slots: DefaultSlotLimit}
		s.apps[appid] = a
	}
	return a
}

// mint issues a new token; an access token becomes its app's current one. Callers hold s.mu.
func (s *Server) mint(appid string, kind tokenKind) string {
	prefix := "tok-"
	if kind == componentToken {
		prefix = "ctok-"
	}
	tok := prefix + randHex(16)
	s.tokens[tok] = &token{appid: appid, kind: kind, expires: time.Now().Add(s.ttl)}
	if kind == accessToken {
		s.apps[appid].current = tok
	}
	return tok
}

// fetch answers a token request for appid: the current token while it is live or revoked and
// within its lifetime (unless force), else a new one. force retires every older access token.
// It returns the token and its expires_in. Callers hold s.mu.
func (s *Server) fetch(appid string, force bool) (string, int) {
	if force {
		for _, t := range s.tokens {
			if t.appid == appid && t.kind == accessToken {
				t.state = replaced
			}
		}
	}
	tok := s.apps[appid].current
	t := s.tokens[tok]
	if t == nil || (t.state != live && t.state != revoked) || !time.Now().Before(t.expires) {
		tok = s.mint(appid, accessToken)
		t = s.tokens[tok]
	}
	s.fetches++
	return tok, expiresIn(t)
}

// checkToken validates a token of kind and returns its appid, or the errcode to answer.
// Callers hold s.mu.
func (s *Server) checkToken(tok string, kind tokenKind) (string, int) {
	if tok == "" {
		return "", 41001
	}
	t := s.tokens[tok]
	switch {
	case t == nil || t.kind != kind || t.state == revoked || t.state == replaced:
		return "", 40001
	case t.state == expired || !time.Now().Before(t.expires):
		return "", 42001
	}
	return t.appid, 0
}

func expiresIn(t *token) int {
	return int(math.Ceil(time.Until(t.expires).Seconds()))
}

// POST /cgi-bin/stable_token
func (s *Server) stableToken(c call) reply {
	var in struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if json.Unmarshal(c.body, &in) != nil {
		return answer(47001, nil)
	}
	if in.GrantType != "client_credential" {
		return answer(40002, nil)
	}
	a := s.apps[in.AppID]
	if a == nil {
		return answer(40013, nil)
	}
	if a.secret == "" || in.Secret != a.secret {
		return answer(40125, nil)
	}
	tok, exp := s.fetch(in.AppID, in.ForceRefresh)
	return answer(0, map[string]any{"access_token": tok, "expires_in": exp})
}

// POST /cgi-bin/component/api_component_token: a new component_access_token on every call;
// earlier ones stay valid for their lifetime.
func (s *Server) componentToken(c call) reply {
	var in struct {
		AppID  string `json:"component_appid"`
		Secret string `json:"component_appsecret"`
		Ticket string `json:"component_verify_ticket"`
	}
	switch {
	case json.Unmarshal(c.body, &in) != nil:
		return answer(47001, nil)
	case s.comp == nil || in.AppID != s.comp.appid:
		return answer(40013, nil)
	case in.Secret != s.comp.secret:
		return answer(40125, nil)
	case in.Ticket != s.comp.ticket:
		return answer(61006, nil)
	}
	tok := s.mint(in.AppID, componentToken)
	s.fetches++
	return answer(0, map[string]any{"component_access_token": tok, "expires_in": expiresIn(s.tokens[tok])})
}

// POST /cgi-bin/component/api_authorizer_token?component_access_token=CAT: a new
// authorizer_access_token on every call; earlier ones stay valid for their lifetime.
func (s *Server) authorizerToken(c call) reply {
	cid, code := s.checkToken(c.q.Get("component_access_token"), componentToken)
	if code != 0 {
		return answer(code, nil)
	}
	var in struct {
		CompAppID string `json:"component_appid"`
		AppID     string `json:"authorizer_appid"`
		Refresh   string `json:"authorizer_refresh_token"`
	}
	if json.Unmarshal(c.body, &in) != nil {
		return answer(47001, nil)
	}
	a := s.apps[in.AppID]
	if in.CompAppID != cid || a == nil {
		return answer(40013, nil)
	}
	if a.refresh == "" || in.Refresh != a.refresh {
		return answer(61023, nil)
	}
	if s.rotate {
		a.refresh = "refreshtoken@@@" + randHex(16)
	}
	tok := s.mint(in.AppID, accessToken)
	s.fetches++
	return answer(0, map[string]any{
		"authorizer_access_token":  tok,
		"expires_in":               expiresIn(s.tokens[tok]),
		"authorizer_refresh_token": a.refresh,
	})
}

// GET /tokenservice?appid=X: a company's central token service (not WeChat's), handing out
// tokens like a non-forced stable_token.
func (s *Server) tokenService(c call) reply {
	appid := c.q.Get("appid")
	if s.apps[appid] == nil {
		rp := answer(40013, nil)
		rp.status = http.StatusNotFound
		return rp
	}
	tok, exp := s.fetch(appid, false)
	return answer(0, map[string]any{"access_token": tok, "expires_in": exp})
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
