package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"
)

// DefaultBaseURL is WeChat's API host.
const DefaultBaseURL = "https://api.weixin.qq.com"

// Config sets up the HTTP layer shared by the API client and the token sources.
type Config struct {
	BaseURL     string        // default DefaultBaseURL (WECHAT_API_BASE)
	Timeout     time.Duration // per attempt; default 10s
	MaxAttempts int           // for transient failures; default 3
	Backoff     time.Duration // first retry wait, doubled each time, with jitter; default 200ms
	Logger      *slog.Logger  // default: discard
	// Observe, if set, is told of every HTTP attempt: the API path (never the
	// URL), how long it took and its error (nil on success). For metrics.
	Observe func(path string, took time.Duration, err error)
}

// Transport does one WeChat HTTP exchange at a time and classifies its result;
// Client and the token fetchers share it.
type Transport struct {
	r           *resty.Client
	timeout     time.Duration
	maxAttempts int
	backoff     time.Duration
	log         *slog.Logger
	observe     func(path string, took time.Duration, err error)
}

// NewTransport builds the shared HTTP layer on resty.
func NewTransport(cfg Config) *Transport {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := resty.New().
		SetBaseURL(strings.TrimRight(cfg.BaseURL, "/")).
		SetLogger(quietLogger{}). // resty logs full URLs, access_token included
		SetHeader("Accept", "application/json").
		SetTransport(&http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		})
	return &Transport{r: r, timeout: cfg.Timeout, maxAttempts: cfg.MaxAttempts, backoff: cfg.Backoff, log: cfg.Logger, observe: cfg.Observe}
}

// quietLogger drops resty's own log lines, whose text can carry the access token.
type quietLogger struct{}

func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Debugf(string, ...any) {}

// status is the errcode/errmsg pair every WeChat JSON answer carries.
type status struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func (s *status) apiStatus() *status { return s }

type answer interface{ apiStatus() *status }

// request is one WeChat exchange.
type request struct {
	method string
	path   string
	query  map[string]string
	body   any
	out    answer // decoded JSON answer; may be nil for status-only answers
	// raw, optional, is offered every 2xx body first and takes the non-JSON successes
	// (images), judged by the bytes; what it refuses is read as WeChat JSON.
	raw func(contentType string, body []byte) bool
	// uncertain, if set, is set to true when an attempt failed in a way that
	// may still have been applied at WeChat (and so is retried).
	uncertain *bool
}

// name is the request's path for logs and metrics: an absolute URL (the token
// service's) may hold credentials of its own.
func (rq request) name() string {
	if strings.Contains(rq.path, "://") {
		return "token service"
	}
	return rq.path
}

// do performs one attempt. Success is a nil error; a non-zero errcode is an *Error;
// anything else is a *TransportError.
func (t *Transport) do(ctx context.Context, rq request) (err error) {
	if t.observe != nil {
		start := time.Now()
		defer func() { t.observe(rq.name(), time.Since(start), err) }()
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	r := t.r.R().SetContext(ctx).SetQueryParams(rq.query)
	if rq.body != nil {
		r.SetHeader("Content-Type", "application/json").SetBody(rq.body)
	}
	resp, err := r.Execute(rq.method, rq.path)
	if err != nil {
		return transportError(rq.name(), err)
	}
	body, ctype := resp.Body(), resp.Header().Get("Content-Type")
	if resp.StatusCode() >= 300 {
		return &TransportError{Kind: ErrHTTPStatus, Path: rq.name(), Status: resp.StatusCode(), Detail: describe(body, ctype)}
	}
	if rq.raw != nil && rq.raw(ctype, body) {
		return nil
	}
	var st status
	if err := json.Unmarshal(body, &st); err != nil {
		detail := describe(body, ctype)
		if rq.raw != nil {
			detail += ", neither the expected image nor JSON"
		}
		return &TransportError{Kind: ErrBadResponse, Path: rq.name(), Status: resp.StatusCode(), Detail: detail, cause: errors.New("invalid JSON")}
	}
	if st.ErrCode != 0 {
		return &Error{Code: st.ErrCode, Msg: st.ErrMsg, Path: rq.name()}
	}
	if rq.out != nil {
		if err := json.Unmarshal(body, rq.out); err != nil {
			return &TransportError{Kind: ErrBadResponse, Path: rq.name(), Detail: "unexpected JSON fields", cause: errors.New("unexpected JSON fields")}
		}
	}
	return nil
}

// describe says what an unusable body was without quoting it: a body can echo
// the request (a WeChat ID) or the URL (the access token).
func describe(body []byte, ctype string) string {
	if ctype == "" {
		ctype = "no content type"
	}
	return fmt.Sprintf("%d bytes of %s", len(body), ctype)
}

// withRetry runs attempt until it succeeds, fails permanently, runs out of attempts,
// or the next wait would pass the caller's deadline. It is the one place retry
// decisions are made.
func (t *Transport) withRetry(ctx context.Context, path string, attempt func(ctx context.Context) error) error {
	var err error
	for n := 1; ; n++ {
		err = attempt(ctx)
		if err == nil || !retryable(err) || n >= t.maxAttempts {
			return err
		}
		wait := t.backoff << (n - 1)
		wait = wait/2 + rand.N(wait/2+1) // jitter: between half and all of it
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err
		}
		t.log.LogAttrs(ctx, slog.LevelWarn, "wechat call failed, retrying",
			slog.String("path", path), slog.Int("attempt", n), slog.Duration("wait", wait), slog.String("error", err.Error()))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}
