package wechat_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindtester/bindtester/wechat"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

const (
	platToken  = "platform-token-Zq81"
	platKey    = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aQ"
	platAppID  = "wx00c0ffee00c0ffee"
	platTicket = "ticket@@@SECRET-ticket-value-0451"
)

// recorder is a NoticeHandler on a real 127.0.0.1 server, with what it handled, observed and logged.
type recorder struct {
	h   *wechat.NoticeHandler
	srv *httptest.Server

	mu       sync.Mutex
	handled  []wechat.Notice
	observed []string
	log      bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.Write(p)
}

func newRecorder(t *testing.T, configure func(*wechat.NoticeHandler)) *recorder {
	t.Helper()
	r := &recorder{}
	r.h = &wechat.NoticeHandler{
		Crypt: newCrypt(t, platToken, platKey, platAppID),
		Handle: func(_ context.Context, n wechat.Notice) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.handled = append(r.handled, n)
			return nil
		},
		Observe: func(result string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.observed = append(r.observed, result)
		},
		Log: slog.New(slog.NewTextHandler(r, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if configure != nil {
		configure(r.h)
	}
	r.srv = httptest.NewServer(r.h)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) state() ([]wechat.Notice, []string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wechat.Notice{}, r.handled...), append([]string{}, r.observed...), r.log.String()
}

var encryptRE = regexp.MustCompile(`<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>`)

// push sends n and returns the status, the answer, and the encrypted text and signature sent.
func (r *recorder) push(t *testing.T, n wechattest.PushNotice, edit func(*http.Request)) (int, string, string, string) {
	t.Helper()
	req, err := wechattest.NewPushRequest(context.Background(), r.srv.URL, platToken, platKey, platAppID, n)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	var enc string
	if m := encryptRE.FindSubmatch(body); m != nil {
		enc = string(m[1])
	}
	sig := req.URL.Query().Get("msg_signature")
	if edit != nil {
		edit(req)
	}
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer), enc, sig
}

func TestNoticeHandlerAcceptsTicket(t *testing.T) {
	r := newRecorder(t, nil)
	created := time.Unix(1700000000, 0)
	status, answer, enc, _ := r.push(t, wechattest.PushNotice{Ticket: platTicket, CreateTime: created}, nil)
	if status != http.StatusOK || answer != "success" {
		t.Fatalf("answer %d %q", status, answer)
	}
	handled, observed, log := r.state()
	want := wechat.Notice{AppID: platAppID, InfoType: "component_verify_ticket", CreateTime: created, Ticket: platTicket}
	if len(handled) != 1 || handled[0] != want {
		t.Fatalf("handled %+v", handled)
	}
	if len(observed) != 1 || observed[0] != wechat.NoticeOK {
		t.Fatalf("observed %v", observed)
	}
	if strings.Contains(log, platTicket) || strings.Contains(log, enc) || !strings.Contains(log, "component_verify_ticket") {
		t.Fatalf("log: %s", log)
	}
}

func TestNoticeHandlerAcceptsAuthorization(t *testing.T) {
	r := newRecorder(t, nil)
	n := wechattest.PushNotice{InfoType: "authorized", AuthorizerAppID: "wx1234567890abcdef",
		AuthorizationCode: "queryauthcode@@@abc", PreAuthCode: "preauthcode@@@def"}
	if status, answer, _, _ := r.push(t, n, nil); status != http.StatusOK || answer != "success" {
		t.Fatalf("answer %d %q", status, answer)
	}
	handled, _, log := r.state()
	if len(handled) != 1 || handled[0].InfoType != "authorized" || handled[0].AuthorizerAppID != n.AuthorizerAppID ||
		handled[0].AuthorizationCode != n.AuthorizationCode || handled[0].PreAuthCode != n.PreAuthCode {
		t.Fatalf("handled %+v", handled)
	}
	if strings.Contains(log, n.AuthorizationCode) || strings.Contains(log, n.PreAuthCode) {
		t.Fatalf("log shows codes: %s", log)
	}
}

// Each refusal: the right status and result, Handle not called, nothing secret in the log.
func TestNoticeHandlerRefuses(t *testing.T) {
	now := time.Now()
	hour := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	random := []byte(pamRandom)
	inner := []byte("<xml><AppId>" + platAppID + "</AppId><InfoType>component_verify_ticket</InfoType>" +
		"<ComponentVerifyTicket>" + platTicket + "</ComponentVerifyTicket></xml>")
	badPad := plainByHand(random, inner, platAppID)
	badPad = append(badPad, bytes.Repeat([]byte{9}, 32-len(badPad)%32)...)
	badPad[len(badPad)-1] = 0
	badLen := plainByHand(random, inner, platAppID)
	binary.BigEndian.PutUint32(badLen[16:20], uint32(len(badLen)))
	badLen = append(badLen, bytes.Repeat([]byte{byte(32 - len(badLen)%32)}, 32-len(badLen)%32)...)
	query := func(k, v string) func(*http.Request) {
		return func(req *http.Request) {
			q := req.URL.Query()
			q.Set(k, v)
			req.URL.RawQuery = q.Encode()
		}
	}
	cases := []struct {
		name   string
		n      wechattest.PushNotice
		edit   func(*http.Request)
		status int
		result string
	}{
		{"bad signature", wechattest.PushNotice{Signature: strings.Repeat("0", 40)}, nil, 401, wechat.NoticeBadSignature},
		{"no signature", wechattest.PushNotice{}, query("msg_signature", ""), 401, wechat.NoticeBadSignature},
		{"nonce changed", wechattest.PushNotice{}, query("nonce", "42"), 401, wechat.NoticeBadSignature},
		{"old timestamp", wechattest.PushNotice{Timestamp: hour(-10 * time.Minute)}, nil, 400, wechat.NoticeStale},
		{"future timestamp", wechattest.PushNotice{Timestamp: hour(10 * time.Minute)}, nil, 400, wechat.NoticeStale},
		{"timestamp not a number", wechattest.PushNotice{Timestamp: "soon"}, nil, 400, wechat.NoticeBadPayload},
		{"other appid in plaintext", wechattest.PushNotice{TrailerAppID: "wx0badbadbadbadbad"}, nil, 400, wechat.NoticeWrongAppID},
		{"other appid in inner XML", wechattest.PushNotice{InnerAppID: "wx0badbadbadbadbad"}, nil, 400, wechat.NoticeWrongAppID},
		{"other appid in envelope", wechattest.PushNotice{EnvelopeAppID: "wx0badbadbadbadbad"}, nil, 400, wechat.NoticeWrongAppID},
		{"garbage base64", wechattest.PushNotice{Encrypt: "%%%" + platTicket + "%%%"}, nil, 400, wechat.NoticeBadPayload},
		{"bad padding", wechattest.PushNotice{Encrypt: cbcByHand(t, platKey, badPad)}, nil, 400, wechat.NoticeBadPayload},
		{"bad inner length", wechattest.PushNotice{Encrypt: cbcByHand(t, platKey, badLen)}, nil, 400, wechat.NoticeBadPayload},
		{"inner not XML", wechattest.PushNotice{Encrypt: sealByHand(t, platKey, random, []byte(platTicket), platAppID)}, nil, 400, wechat.NoticeBadPayload},
		{"ticket missing", wechattest.PushNotice{}, nil, 400, wechat.NoticeBadPayload},
		{"not encrypt_type=aes", wechattest.PushNotice{}, query("encrypt_type", "raw"), 400, wechat.NoticeBadPayload},
		{"body not XML", wechattest.PushNotice{}, func(req *http.Request) {
			req.Body = io.NopCloser(strings.NewReader(platTicket))
			req.ContentLength = int64(len(platTicket))
		}, 400, wechat.NoticeBadPayload},
		{"body too large", wechattest.PushNotice{}, func(req *http.Request) {
			big := "<xml><Encrypt>" + strings.Repeat("A", 70<<10) + "</Encrypt></xml>"
			req.Body = io.NopCloser(strings.NewReader(big))
			req.ContentLength = int64(len(big))
		}, 413, wechat.NoticeBadPayload},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRecorder(t, nil)
			if c.n.Ticket == "" && c.name != "ticket missing" {
				c.n.Ticket = platTicket
			}
			status, answer, enc, sig := r.push(t, c.n, c.edit)
			handled, observed, log := r.state()
			if status != c.status || len(handled) != 0 || len(observed) != 1 || observed[0] != c.result {
				t.Fatalf("status %d (want %d), handled %d, observed %v (want %s)", status, c.status, len(handled), observed, c.result)
			}
			for _, secret := range []string{platTicket, enc, sig, platToken} {
				if secret != "" && (strings.Contains(log, secret) || strings.Contains(answer, secret)) {
					t.Fatalf("log or answer shows %.12q…: %s / %s", secret, log, answer)
				}
			}
			if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "result="+c.result) || !strings.Contains(log, "remote=127.0.0.1") {
				t.Fatalf("log: %s", log)
			}
		})
	}
}

func TestNoticeHandlerRefusesGet(t *testing.T) {
	r := newRecorder(t, nil)
	resp, err := r.srv.Client().Get(r.srv.URL + "?encrypt_type=aes")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if handled, _, _ := r.state(); resp.StatusCode != http.StatusMethodNotAllowed || len(handled) != 0 {
		t.Fatalf("GET: %d, handled %d", resp.StatusCode, len(handled))
	}
}

// The same push twice is refused the second time, also by another replica sharing FirstSeen.
func TestNoticeHandlerRefusesReplay(t *testing.T) {
	same := wechattest.PushNotice{Ticket: platTicket, Random: []byte(pamRandom), Nonce: "1372623149",
		Timestamp: strconv.FormatInt(time.Now().Unix(), 10)}

	r := newRecorder(t, nil) // in-process guard
	for i, want := range []int{200, 400} {
		if status, _, _, _ := r.push(t, same, nil); status != want {
			t.Fatalf("push %d: %d, want %d", i, status, want)
		}
	}
	if handled, observed, _ := r.state(); len(handled) != 1 || strings.Join(observed, ",") != "ok,replay" {
		t.Fatalf("handled %d, observed %v", len(handled), observed)
	}

	var mu sync.Mutex
	seen := map[string]bool{}
	shared := func(_ context.Context, key string) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if seen[key] {
			return false, nil
		}
		seen[key] = true
		return true, nil
	}
	a := newRecorder(t, func(h *wechat.NoticeHandler) { h.FirstSeen = shared })
	b := newRecorder(t, func(h *wechat.NoticeHandler) { h.FirstSeen = shared })
	if status, _, _, _ := a.push(t, same, nil); status != 200 {
		t.Fatalf("replica a: %d", status)
	}
	if status, _, _, _ := b.push(t, same, nil); status != 400 {
		t.Fatalf("replica b: %d", status)
	}
	if _, observed, _ := b.state(); len(observed) != 1 || observed[0] != wechat.NoticeReplay {
		t.Fatalf("replica b observed %v", observed)
	}
	if len(seen) != 1 {
		t.Fatalf("%d keys", len(seen))
	}
	for k := range seen {
		if len(k) != 64 || strings.Contains(k, same.Nonce) {
			t.Fatalf("key %q is not a fixed-length digest", k)
		}
	}
}

// Unsigned junk never reaches FirstSeen; its errors and Handle's answer 500 so WeChat pushes again.
func TestNoticeHandlerFirstSeenAndHandleErrors(t *testing.T) {
	var calls int
	var mu sync.Mutex
	failing := func(context.Context, string) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return false, errors.New("database down")
	}
	r := newRecorder(t, func(h *wechat.NoticeHandler) { h.FirstSeen = failing })
	if status, _, _, _ := r.push(t, wechattest.PushNotice{Ticket: platTicket, Signature: strings.Repeat("f", 40)}, nil); status != 401 {
		t.Fatalf("bad signature: %d", status)
	}
	if status, _, _, _ := r.push(t, wechattest.PushNotice{Ticket: platTicket, Timestamp: "1409659813"}, nil); status != 400 {
		t.Fatalf("stale: %d", status)
	}
	mu.Lock()
	if calls != 0 {
		t.Fatalf("FirstSeen consulted %d times for refused pushes", calls)
	}
	mu.Unlock()
	if status, _, _, _ := r.push(t, wechattest.PushNotice{Ticket: platTicket}, nil); status != 500 {
		t.Fatalf("FirstSeen failing: %d", status)
	}
	if handled, observed, _ := r.state(); len(handled) != 0 || observed[len(observed)-1] != wechat.NoticeError {
		t.Fatalf("handled %d, observed %v", len(handled), observed)
	}

	h := newRecorder(t, func(h *wechat.NoticeHandler) {
		h.Handle = func(context.Context, wechat.Notice) error { return errors.New("store failed: " + platTicket) }
	})
	status, _, _, _ := h.push(t, wechattest.PushNotice{Ticket: platTicket}, nil)
	_, observed, log := h.state()
	if status != 500 || len(observed) != 1 || observed[0] != wechat.NoticeError || strings.Contains(log, platTicket) {
		t.Fatalf("Handle failing: %d, observed %v, log %s", status, observed, log)
	}
}

// A push whose Handle failed is handled when WeChat sends it again, identical;
// a push handled once is still refused the second time.
func TestNoticeHandlerRetryAfterAFailedHandle(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(map[bool]string{false: "in-process record", true: "shared record with Forget"}[shared], func(t *testing.T) {
			var mu sync.Mutex
			seen := map[string]bool{}
			fails := 1
			r := newRecorder(t, func(h *wechat.NoticeHandler) {
				next := h.Handle
				h.Handle = func(ctx context.Context, n wechat.Notice) error {
					mu.Lock()
					fail := fails > 0
					fails--
					mu.Unlock()
					if fail {
						return errors.New("store down")
					}
					return next(ctx, n)
				}
				if shared {
					h.FirstSeen = func(_ context.Context, key string) (bool, error) {
						mu.Lock()
						defer mu.Unlock()
						first := !seen[key]
						seen[key] = true
						return first, nil
					}
					h.Forget = func(_ context.Context, key string) error {
						mu.Lock()
						defer mu.Unlock()
						delete(seen, key)
						return nil
					}
				}
			})
			n := wechattest.PushNotice{Ticket: platTicket, Timestamp: strconv.FormatInt(time.Now().Unix(), 10), Nonce: "777",
				Random: []byte("0123456789abcdef")} // the very same push each time
			for i, want := range []int{500, 200, 400} {
				if status, _, _, _ := r.push(t, n, nil); status != want {
					t.Errorf("push %d answered %d, want %d", i+1, status, want)
				}
			}
			if handled, _, _ := r.state(); len(handled) != 1 {
				t.Errorf("handled %d times, want once", len(handled))
			}
		})
	}
}

// MaxAge and Now set the window.
func TestNoticeHandlerClock(t *testing.T) {
	sent := time.Unix(1409659813, 0)
	ts := strconv.FormatInt(sent.Unix(), 10)
	for _, c := range []struct {
		maxAge time.Duration
		want   int
	}{{time.Minute, 200}, {30 * time.Second, 400}} {
		r := newRecorder(t, func(h *wechat.NoticeHandler) {
			h.Now = func() time.Time { return sent.Add(50 * time.Second) }
			h.MaxAge = c.maxAge
		})
		if status, _, _, _ := r.push(t, wechattest.PushNotice{Ticket: platTicket, Timestamp: ts}, nil); status != c.want {
			t.Fatalf("sent 50s ago, MaxAge %v: %d, want %d", c.maxAge, status, c.want)
		}
	}
}
