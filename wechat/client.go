// Package wechat is the bot's WeChat API client: it binds, unbinds and lists a Mini
// Program's experiencers (testers) and fetches its trial-version QR code, with access
// tokens that are cached, shared (also between replicas, through a TokenStore) and
// refreshed by themselves, retries decided in one place, and one typed error per
// WeChat errcode. It knows nothing of Slack.
package wechat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"golang.org/x/sync/semaphore"
)

// Client calls the Mini Program testers API.
type Client struct {
	t      *Transport
	tokens TokenSource

	perApp   int // calls in flight per Mini Program; 0: no bound
	mu       sync.Mutex
	slots    map[string]*semaphore.Weighted
	qr       *qrCache      // nil: every TrialQRCode asks WeChat
	versions *versionCache // nil: every VersionInfo asks WeChat
}

// NewClient makes a client that gets its access tokens from tokens.
func NewClient(t *Transport, tokens TokenSource) *Client {
	return &Client{t: t, tokens: tokens, slots: map[string]*semaphore.Weighted{}}
}

// Prefetch gets appid's access token now, so the first request does not
// wait for it (and a credential problem shows at startup).
func (c *Client) Prefetch(ctx context.Context, appid string) error {
	_, err := c.tokens.Token(ctx, appid)
	return err
}

// LimitPerApp lets at most n calls for one Mini Program be in flight at once
// (retries and token fetches included), so one app's slow answers or quota
// never hold every connection; the others wait for a slot as long as their
// context allows, then fail with ErrCrowded. n <= 0 removes the bound. Set it
// before the client is used.
func (c *Client) LimitPerApp(n int) *Client {
	c.perApp = n
	return c
}

// ErrCrowded says a call was never sent: too many calls for its Mini Program
// were in flight until its context ran out.
var ErrCrowded = errors.New("too many calls for this Mini Program were in flight; not sent")

// slot waits for one of appid's call slots; release gives it back.
func (c *Client) slot(ctx context.Context, appid string) (release func(), err error) {
	if c.perApp <= 0 {
		return func() {}, nil
	}
	c.mu.Lock()
	sem, ok := c.slots[appid]
	if !ok {
		sem = semaphore.NewWeighted(int64(c.perApp))
		c.slots[appid] = sem
	}
	c.mu.Unlock()
	if err := sem.Acquire(ctx, 1); err != nil {
		return nil, fmt.Errorf("%w (%w)", ErrCrowded, err)
	}
	return func() { sem.Release(1) }, nil
}

// call makes one API call for appid with retries and, after an invalid-token
// errcode, one retry with a fresh token.
func (c *Client) call(ctx context.Context, appid string, rq request) error {
	release, err := c.slot(ctx, appid)
	if err != nil {
		return err
	}
	defer release()
	refreshed := false
	return c.t.withRetry(ctx, rq.path, func(ctx context.Context) error {
		for {
			tok, err := c.tokens.Token(ctx, appid)
			if err != nil {
				return &tokenFetchError{err}
			}
			q := map[string]string{"access_token": tok}
			for k, v := range rq.query {
				q[k] = v
			}
			r := rq
			r.query = q
			err = c.t.do(ctx, r)
			if err != nil && retryable(err) && rq.uncertain != nil {
				*rq.uncertain = true // this attempt may have reached WeChat and been applied
			}
			var we *Error
			if errors.As(err, &we) && we.Info().Action == RefreshToken && !refreshed {
				refreshed = true
				c.tokens.Invalidate(appid, tok)
				continue
			}
			return err
		}
	})
}

// BindResult is the outcome of a successful bind.
type BindResult struct {
	UserStr      string // WeChat's opaque id for this experiencer (empty when already bound)
	AlreadyBound bool   // 85004: nothing was needed
	// Retried: an earlier attempt failed in a way that may have bound anyway
	// (a timeout, a 5xx, -1), so an 85004 is probably this very bind.
	Retried bool
}

// BindTester makes wechatid an experiencer of appid. 85004 (already bound), also
// when a retried attempt meets the bind its first attempt made, is a success with
// AlreadyBound set.
func (c *Client) BindTester(ctx context.Context, appid, wechatid string) (BindResult, error) {
	var out struct {
		status
		UserStr string `json:"userstr"`
	}
	var uncertain bool
	err := c.call(ctx, appid, request{method: http.MethodPost, path: "/wxa/bind_tester", body: map[string]string{"wechatid": wechatid},
		out: &out, uncertain: &uncertain})
	var we *Error
	if errors.As(err, &we) && we.Code == 85004 {
		return BindResult{AlreadyBound: true, Retried: uncertain}, nil
	}
	if err != nil {
		return BindResult{}, maybeApplied(err, uncertain)
	}
	return BindResult{UserStr: out.UserStr}, nil
}

// ErrMaybeApplied marks a failed change (bind, unbind) one of whose earlier
// attempts may have been carried out by WeChat anyway (its answer was a
// timeout, a 5xx or -1): whether WeChat has the change is unknown. The
// error also matches the last attempt's own error (errors.As *Error, …).
var ErrMaybeApplied = errors.New("an earlier attempt may have been carried out")

func maybeApplied(err error, uncertain bool) error {
	if !uncertain {
		return err
	}
	return fmt.Errorf("%w; last attempt: %w", ErrMaybeApplied, err)
}

// Tester names an experiencer to unbind: set exactly one field. UserStr is
// preferred; WeChat answers a userstr sent as a WeChat ID with -1.
type Tester struct {
	UserStr  string
	WechatID string
}

// ErrBadTester says an unbind named neither or both of userstr and WeChat ID.
var ErrBadTester = errors.New("unbind needs exactly one of userstr or WeChat ID")

// UnbindTester removes an experiencer from appid.
func (c *Client) UnbindTester(ctx context.Context, appid string, who Tester) error {
	var body map[string]string
	switch {
	case (who.UserStr == "") == (who.WechatID == ""):
		return ErrBadTester
	case who.UserStr != "":
		body = map[string]string{"userstr": who.UserStr}
	default:
		body = map[string]string{"wechatid": who.WechatID}
	}
	var uncertain bool
	err := c.call(ctx, appid, request{method: http.MethodPost, path: "/wxa/unbind_tester", body: body, uncertain: &uncertain})
	return maybeApplied(err, uncertain)
}

// Experiencers lists appid's current experiencers as userstrs. WeChat never returns
// WeChat IDs: whoever wants names keeps its own WeChat ID to userstr record.
func (c *Client) Experiencers(ctx context.Context, appid string) ([]string, error) {
	var out struct {
		status
		Members []struct {
			UserStr string `json:"userstr"`
		} `json:"members"`
	}
	err := c.call(ctx, appid, request{method: http.MethodPost, path: "/wxa/memberauth", body: map[string]string{"action": "get_experiencer"}, out: &out})
	if err != nil {
		return nil, err
	}
	users := make([]string, len(out.Members))
	for i, m := range out.Members {
		users[i] = m.UserStr
	}
	return users, nil
}

// QRCode is the trial version's QR code image.
type QRCode struct {
	ContentType string // image/jpeg or image/png, from the image's bytes
	Image       []byte
}

// imageType names the image format body starts with, or "" when it is no JPEG
// or PNG. WeChat's Content-Type for QR codes is not to be trusted either way.
func imageType(body []byte) string {
	switch {
	case bytes.HasPrefix(body, []byte{0xFF, 0xD8, 0xFF}):
		return "image/jpeg"
	case bytes.HasPrefix(body, []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}):
		return "image/png"
	}
	return ""
}

// TrialQRCode fetches the trial version's QR code; path is the page to open
// (may be empty). See CacheQRCodes.
func (c *Client) TrialQRCode(ctx context.Context, appid, path string) (QRCode, error) {
	if c.qr != nil {
		return c.qr.get(ctx, appid+"\x00"+path, func(ctx context.Context) (QRCode, error) { return c.fetchQRCode(ctx, appid, path) })
	}
	return c.fetchQRCode(ctx, appid, path)
}

func (c *Client) fetchQRCode(ctx context.Context, appid, path string) (QRCode, error) {
	var qr QRCode
	q := map[string]string{}
	if path != "" {
		q["path"] = path
	}
	err := c.call(ctx, appid, request{method: http.MethodGet, path: "/wxa/get_qrcode", query: q,
		raw: func(_ string, body []byte) bool {
			ctype := imageType(body)
			if ctype == "" {
				return false // read as JSON: an errcode, or a bad response
			}
			qr = QRCode{ContentType: ctype, Image: body}
			return true
		}})
	if err != nil {
		return QRCode{}, err
	}
	if qr.Image == nil {
		return QRCode{}, &TransportError{Kind: ErrBadResponse, Path: "/wxa/get_qrcode", Detail: "no image in the answer"}
	}
	return qr, nil
}
