package wechat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindtester/bindtester/wechat"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

const (
	appID  = "wx0123456789abcdef"
	secret = "s3cr3t-app-secret-value"
)

// setup starts a fake WeChat with one app and a client using stable_token.
func setup(t testing.TB) (*wechattest.Server, *wechat.Client) {
	t.Helper()
	fake := wechattest.NewServer()
	t.Cleanup(fake.Close)
	fake.AddApp(appID, secret)
	return fake, newClient(fake.URL)
}

func newClient(base string) *wechat.Client {
	tr := wechat.NewTransport(wechat.Config{BaseURL: base, Backoff: time.Millisecond, Timeout: 2 * time.Second})
	tokens := wechat.NewTokenCache(wechat.StableTokens{T: tr, Secret: func(a string) (string, bool) {
		return secret, a == appID
	}}, 0)
	return wechat.NewClient(tr, tokens)
}

func TestBindReturnsUserStrAndSendsTokenOnlyInQuery(t *testing.T) {
	fake, c := setup(t)
	res, err := c.BindTester(context.Background(), appID, "tester_one")
	if err != nil {
		t.Fatal(err)
	}
	if res.UserStr == "" || res.UserStr != fake.UserStr(appID, "tester_one") || res.AlreadyBound {
		t.Fatalf("got %+v, fake has userstr %q", res, fake.UserStr(appID, "tester_one"))
	}
	for _, r := range fake.Requests() {
		if r.Path != "/wxa/bind_tester" {
			continue
		}
		if r.Query.Get("access_token") == "" {
			t.Errorf("bind_tester without access_token in query: %v", r.Query)
		}
		if strings.Contains(string(r.Body), "access_token") {
			t.Errorf("access_token in body: %s", r.Body)
		}
		if !strings.Contains(string(r.Body), `"wechatid":"tester_one"`) {
			t.Errorf("body %s", r.Body)
		}
	}
}

// Every errcode in the catalog, as the answer to bind_tester: the typed error,
// its catalog action, and how many calls WeChat saw (retries and token refreshes).
func TestBindErrcodeCatalog(t *testing.T) {
	for _, code := range append(wechat.Codes(), 99999) {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			fake, c := setup(t)
			fake.FailNext("/wxa/bind_tester", 10, code)
			res, err := c.BindTester(context.Background(), appID, "tester_one")
			info := wechat.Lookup(code)
			wantCalls := map[wechat.Action]int{wechat.Retry: 3, wechat.RefreshToken: 2}[info.Action]
			if wantCalls == 0 {
				wantCalls = 1
			}
			if got := fake.Calls("/wxa/bind_tester"); got != wantCalls {
				t.Errorf("bind_tester calls = %d, want %d (action %v)", got, wantCalls, info.Action)
			}
			switch code {
			case 0:
				if err != nil {
					t.Fatalf("errcode 0: %v", err)
				}
				return
			case 85004:
				if err != nil || !res.AlreadyBound {
					t.Fatalf("85004: got %+v, %v; want AlreadyBound", res, err)
				}
				return
			}
			var we *wechat.Error
			if !errors.As(err, &we) || we.Code != code {
				t.Fatalf("err = %v, want *wechat.Error with code %d", err, code)
			}
			if we.Msg == "" {
				t.Errorf("errmsg lost: %+v", we)
			}
			if code == 99999 && (we.Info().Known || we.Info().Kind != wechat.KindUnknown) {
				t.Errorf("unknown code classified as %+v", we.Info())
			}
		})
	}
}

func TestCatalogCoversDocumentedCodes(t *testing.T) {
	for _, code := range []int{0, 85001, 85002, 85003, 85004, -1, 40001, 40014, 42001, 41001, 40013, 45009, 48001, 61003, 61007, 61023, 40164, 61004} {
		info := wechat.Lookup(code)
		if !info.Known || info.Meaning == "" {
			t.Errorf("errcode %d missing from catalog: %+v", code, info)
		}
	}
	want := map[int]wechat.Action{-1: wechat.Retry, 42001: wechat.RefreshToken, 45009: wechat.GiveUpToday, 85001: wechat.GiveUp, 61023: wechat.GiveUp}
	for code, a := range want {
		if got := wechat.Lookup(code).Action; got != a {
			t.Errorf("errcode %d action %v, want %v", code, got, a)
		}
	}
}

func TestRetryOnSystemBusyThenSuccess(t *testing.T) {
	fake, c := setup(t)
	fake.FailNext("/wxa/bind_tester", 1, -1)
	if _, err := c.BindTester(context.Background(), appID, "tester_one"); err != nil {
		t.Fatal(err)
	}
	if got := fake.Calls("/wxa/bind_tester"); got != 2 {
		t.Fatalf("calls = %d, want 2", got)
	}
}

func TestNoRetryOnUserNotFound(t *testing.T) {
	fake, c := setup(t)
	fake.SetOutcome("hidden_user", 85001)
	_, err := c.BindTester(context.Background(), appID, "hidden_user")
	var we *wechat.Error
	if !errors.As(err, &we) || we.Code != 85001 {
		t.Fatalf("err = %v", err)
	}
	if got := fake.Calls("/wxa/bind_tester"); got != 1 {
		t.Fatalf("calls = %d, want 1", got)
	}
}

// A bind whose first attempt reached WeChat but whose answer was lost comes back
// 85004 on the retry: reported as already bound, not as a failure.
func TestRetriedBindThatMeetsItsOwnBindIsAlreadyBound(t *testing.T) {
	fake, c := setup(t)
	fake.AddExperiencer(appID, "tester_one")
	fake.FailNextHTTP("/wxa/bind_tester", 1, http.StatusBadGateway, "text/html", "<html>bad gateway</html>")
	res, err := c.BindTester(context.Background(), appID, "tester_one")
	if err != nil || !res.AlreadyBound || !res.Retried {
		t.Fatalf("got %+v, %v; want AlreadyBound and Retried", res, err)
	}
	// Without a failed attempt first, 85004 means someone else bound them.
	res, err = c.BindTester(context.Background(), appID, "tester_one")
	if err != nil || !res.AlreadyBound || res.Retried {
		t.Fatalf("got %+v, %v; want AlreadyBound, not Retried", res, err)
	}
}

func TestSlotLimitAndTooManyApps(t *testing.T) {
	fake, c := setup(t)
	fake.SetSlotLimit(appID, 1)
	if _, err := c.BindTester(context.Background(), appID, "first_tester"); err != nil {
		t.Fatal(err)
	}
	_, err := c.BindTester(context.Background(), appID, "second_tester")
	var we *wechat.Error
	if !errors.As(err, &we) || we.Code != 85002 || we.Info().Kind != wechat.KindSlotsFull {
		t.Fatalf("err = %v, want 85002", err)
	}
}

func TestTransportFailures(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		ctype     string
		body      string
		kind      error
		wantCalls int
	}{
		{"5xx is retried", http.StatusInternalServerError, "text/plain", "oops", wechat.ErrHTTPStatus, 3},
		{"4xx is not retried", http.StatusNotFound, "text/plain", "nope", wechat.ErrHTTPStatus, 1},
		{"html page", http.StatusOK, "text/html", "<html>gateway</html>", wechat.ErrBadResponse, 1},
		{"truncated json", http.StatusOK, "application/json", `{"errcode":`, wechat.ErrBadResponse, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, c := setup(t)
			fake.FailNextHTTP("/wxa/bind_tester", 10, tt.status, tt.ctype, tt.body)
			_, err := c.BindTester(context.Background(), appID, "tester_one")
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			var we *wechat.Error
			if errors.As(err, &we) {
				t.Fatalf("transport failure reported as errcode: %v", err)
			}
			if got := fake.Calls("/wxa/bind_tester"); got != tt.wantCalls {
				t.Fatalf("calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestFiveXXThenSuccess(t *testing.T) {
	fake, c := setup(t)
	fake.FailNextHTTP("/wxa/bind_tester", 2, http.StatusServiceUnavailable, "text/plain", "busy")
	if _, err := c.BindTester(context.Background(), appID, "tester_one"); err != nil {
		t.Fatal(err)
	}
	if got := fake.Calls("/wxa/bind_tester"); got != 3 {
		t.Fatalf("calls = %d, want 3", got)
	}
}

func TestConnectionRefusedIsUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := wechat.NewClient(wechat.NewTransport(wechat.Config{BaseURL: "http://" + addr, Backoff: time.Millisecond}), wechat.StaticTokens("fixed-token-abc"))
	_, err = c.BindTester(context.Background(), appID, "tester_one")
	if !errors.Is(err, wechat.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if strings.Contains(err.Error(), "fixed-token-abc") || strings.Contains(err.Error(), "access_token") {
		t.Fatalf("error text leaks the URL: %v", err)
	}
}

func TestDeadlineRespected(t *testing.T) {
	fake, c := setup(t)
	if _, err := c.BindTester(context.Background(), appID, "warm_up_token"); err != nil {
		t.Fatal(err)
	}
	fake.SetLatency("/wxa/bind_tester", 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.BindTester(ctx, appID, "tester_one")
	if !errors.Is(err, wechat.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if elapsed := time.Since(start); elapsed >= 5*time.Second {
		t.Fatalf("waited for WeChat (%v) past the caller's deadline", elapsed)
	}
}

// A transient failure whose backoff would outlast the caller's deadline is not retried.
func TestNoRetryPastDeadline(t *testing.T) {
	fake := wechattest.NewServer()
	defer fake.Close()
	fake.AddApp(appID, secret)
	tr := wechat.NewTransport(wechat.Config{BaseURL: fake.URL, Backoff: 10 * time.Second})
	c := wechat.NewClient(tr, wechat.StaticTokens(fake.IssueToken(appID)))
	fake.FailNext("/wxa/bind_tester", 5, -1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.BindTester(ctx, appID, "tester_one")
	var we *wechat.Error
	if !errors.As(err, &we) || we.Code != -1 {
		t.Fatalf("err = %v, want -1", err)
	}
	if got := fake.Calls("/wxa/bind_tester"); got != 1 {
		t.Fatalf("calls = %d, want 1", got)
	}
}

func TestUnbindListAndQRCode(t *testing.T) {
	fake, c := setup(t)
	ctx := context.Background()
	a, _ := c.BindTester(ctx, appID, "tester_a")
	b, _ := c.BindTester(ctx, appID, "tester_b")
	got, err := c.Experiencers(ctx, appID)
	if err != nil || len(got) != 2 || got[0] != a.UserStr || got[1] != b.UserStr {
		t.Fatalf("experiencers = %v, %v; want [%s %s]", got, err, a.UserStr, b.UserStr)
	}
	if err := c.UnbindTester(ctx, appID, wechat.Tester{UserStr: a.UserStr}); err != nil {
		t.Fatal(err)
	}
	if err := c.UnbindTester(ctx, appID, wechat.Tester{WechatID: "tester_b"}); err != nil {
		t.Fatal(err)
	}
	if left := fake.Experiencers(appID); len(left) != 0 {
		t.Fatalf("still bound: %v", left)
	}
	before := fake.Calls("/wxa/unbind_tester")
	for _, bad := range []wechat.Tester{{}, {UserStr: "x", WechatID: "y"}} {
		if err := c.UnbindTester(ctx, appID, bad); !errors.Is(err, wechat.ErrBadTester) {
			t.Errorf("unbind %+v: err = %v", bad, err)
		}
	}
	if fake.Calls("/wxa/unbind_tester") != before {
		t.Error("a malformed unbind reached WeChat")
	}

	qr, err := c.TrialQRCode(ctx, appID, "pages/index?foo=bar&x=1")
	if err != nil || qr.ContentType != "image/jpeg" || len(qr.Image) < 4 || qr.Image[0] != 0xFF || qr.Image[1] != 0xD8 {
		t.Fatalf("qr = %q %d bytes, %v", qr.ContentType, len(qr.Image), err)
	}
	var sent string
	for _, r := range fake.Requests() {
		if r.Path == "/wxa/get_qrcode" {
			sent = r.Query.Get("path")
		}
	}
	if sent != "pages/index?foo=bar&x=1" {
		t.Fatalf("path arrived as %q", sent)
	}
	fake.FailNext("/wxa/get_qrcode", 1, 48001)
	if _, err := c.TrialQRCode(ctx, appID, ""); !isCode(err, 48001) {
		t.Fatalf("qrcode JSON failure: %v", err)
	}
}

func isCode(err error, code int) bool {
	var we *wechat.Error
	return errors.As(err, &we) && we.Code == code
}

// No error text ever contains the access token or a secret.
func TestErrorsNeverContainSecrets(t *testing.T) {
	fake, c := setup(t)
	ctx := context.Background()
	var errs []error
	for _, code := range wechat.Codes() {
		fake.FailNext("/wxa/bind_tester", 3, code)
		_, err := c.BindTester(ctx, appID, "tester_x")
		errs = append(errs, err)
	}
	fake.FailNextHTTP("/wxa/bind_tester", 3, 500, "text/plain", "err")
	_, err := c.BindTester(ctx, appID, "tester_x")
	errs = append(errs, err)
	fake.SetLatency("/wxa/bind_tester", time.Second)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = c.BindTester(short, appID, "tester_x")
	cancel()
	errs = append(errs, err)
	fake.SetLatency("/wxa/bind_tester", 0)
	// A wrong secret fails the token fetch.
	tr := wechat.NewTransport(wechat.Config{BaseURL: fake.URL, Backoff: time.Millisecond})
	bad := wechat.NewClient(tr, wechat.NewTokenCache(wechat.StableTokens{T: tr, Secret: func(string) (string, bool) { return "wrong-secret-xyz", true }}, 0))
	_, err = bad.BindTester(ctx, appID, "tester_x")
	errs = append(errs, err)

	var tokens []string
	for _, r := range fake.Requests() {
		if tok := r.Query.Get("access_token"); tok != "" {
			tokens = append(tokens, tok)
		}
	}
	if len(tokens) == 0 {
		t.Fatal("no tokens seen")
	}
	for _, err := range errs {
		if err == nil {
			continue
		}
		msg := err.Error()
		for _, s := range append(tokens, secret, "wrong-secret-xyz", "access_token=") {
			if strings.Contains(msg, s) {
				t.Errorf("error %q contains %q", msg, s)
			}
		}
	}
}

// The JSON answer is decoded strictly by field, so a userstr is never mistaken.
func TestExperiencersOfEmptyApp(t *testing.T) {
	_, c := setup(t)
	got, err := c.Experiencers(context.Background(), appID)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
	b, _ := json.Marshal(got)
	if string(b) != "[]" {
		t.Fatalf("empty list encodes as %s", b)
	}
}

func TestConcurrentBindsShareOneClient(t *testing.T) {
	fake, c := setup(t)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.BindTester(context.Background(), appID, fmt.Sprintf("tester_%02d", i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := len(fake.Experiencers(appID)); n != 10 {
		t.Fatalf("%d bound", n)
	}
}

func BenchmarkBindTester(b *testing.B) {
	fake, c := setup(b)
	fake.SetSlotLimit(appID, 1<<30)
	ctx := context.Background()
	if _, err := c.BindTester(ctx, appID, "warm_up_token"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := c.BindTester(ctx, appID, fmt.Sprintf("bench_%09d", i)); err != nil {
			b.Fatal(err)
		}
	}
}

// A failing token endpoint is retried by the fetch alone, not again by every
// call that needed the token: -1 forever from stable_token costs 3 requests.
func TestTokenFetchFailureIsNotRetriedTwice(t *testing.T) {
	fake, c := setup(t)
	fake.FailNext("/cgi-bin/stable_token", 100, -1)
	_, err := c.BindTester(context.Background(), appID, "tester_one")
	if !isCode(err, -1) {
		t.Fatalf("err = %v, want -1", err)
	}
	if got := fake.Calls("/cgi-bin/stable_token"); got != 3 {
		t.Errorf("stable_token calls = %d, want 3", got)
	}
	if got := fake.Calls("/wxa/bind_tester"); got != 0 {
		t.Errorf("bind_tester calls = %d, want 0", got)
	}
}

// Only an image is a QR code: an error JSON sent with another content type is an error.
func TestQRCodeErrorWithWrongContentType(t *testing.T) {
	fake, c := setup(t)
	fake.FailNextHTTP("/wxa/get_qrcode", 1, http.StatusOK, "text/plain", `{"errcode":85074,"errmsg":"not released"}`)
	if _, err := c.TrialQRCode(context.Background(), appID, ""); !isCode(err, 85074) {
		t.Fatalf("err = %v, want errcode 85074", err)
	}
}

// The token service URL may carry credentials: no error text shows it, whatever the failure.
func TestTokenServiceURLNeverInErrors(t *testing.T) {
	fake := wechattest.NewServer()
	defer fake.Close()
	fake.AddApp(appID, secret)
	tr := wechat.NewTransport(wechat.Config{BaseURL: fake.URL, Backoff: time.Millisecond})
	svc := wechat.NewClient(tr, wechat.NewTokenCache(wechat.TokenService{T: tr, URL: fake.URL + "/tokenservice?key=TOPSECRET"}, 0))
	fake.FailNext("/tokenservice", 5, 40013)
	_, err := svc.BindTester(context.Background(), appID, "tester_a")
	if !isCode(err, 40013) {
		t.Fatalf("err = %v, want 40013", err)
	}
	if strings.Contains(err.Error(), "TOPSECRET") || strings.Contains(err.Error(), fake.URL) {
		t.Fatalf("error shows the token service URL: %v", err)
	}
}

// With LimitPerApp(2), two held binds fill one Mini Program's slots: a third
// call for it is never sent (ErrCrowded once its time is up), while another
// Mini Program's calls go straight through.
func TestLimitPerAppKeepsAppsApart(t *testing.T) {
	const other = "wxfedcba9876543210"
	fake := wechattest.NewServer()
	t.Cleanup(fake.Close)
	fake.AddApp(appID, secret)
	fake.AddApp(other, secret)
	tr := wechat.NewTransport(wechat.Config{BaseURL: fake.URL, Backoff: time.Millisecond, Timeout: 5 * time.Second})
	c := wechat.NewClient(tr, wechat.NewTokenCache(wechat.StableTokens{T: tr, Secret: func(string) (string, bool) { return secret, true }}, 0)).LimitPerApp(2)

	release := fake.Hold("/wxa/bind_tester")
	done := make(chan error, 2)
	for _, id := range []string{"tester_one", "tester_two"} {
		go func() { _, err := c.BindTester(context.Background(), appID, id); done <- err }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for fake.Calls("/wxa/bind_tester") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := fake.Calls("/wxa/bind_tester"); n != 2 {
		t.Fatalf("%d binds reached WeChat, want both", n)
	}

	if _, err := c.Experiencers(context.Background(), other); err != nil {
		t.Fatalf("another Mini Program waited behind the held binds: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Experiencers(ctx, appID)
	if !errors.Is(err, wechat.ErrCrowded) {
		t.Fatalf("third call for the full Mini Program: %v, want ErrCrowded", err)
	}
	if n := fake.Calls("/wxa/memberauth"); n != 1 {
		t.Errorf("memberauth reached WeChat %d times, want once (the other app's): the crowded call must not be sent", n)
	}

	release()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("held bind: %v", err)
		}
	}
	if _, err := c.Experiencers(context.Background(), appID); err != nil {
		t.Errorf("after the binds: %v, want the slots free again", err)
	}
}

// The trial QR code is one picture per app and path: kept, it is fetched once
// for many binds, concurrent ones included; failures are not kept, and a kept
// code is fetched again once its time is up.
func TestQRCodesCached(t *testing.T) {
	fake, c := setup(t)
	c.CacheQRCodes(200 * time.Millisecond)
	ctx := context.Background()
	fake.FailNext("/wxa/get_qrcode", 1, 48001)
	if _, err := c.TrialQRCode(ctx, appID, ""); err == nil {
		t.Fatal("the failure was not returned")
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if qr, err := c.TrialQRCode(ctx, appID, ""); err != nil || len(qr.Image) == 0 {
				t.Errorf("TrialQRCode = %d bytes, %v", len(qr.Image), err)
			}
		}()
	}
	wg.Wait()
	if n := fake.Calls("/wxa/get_qrcode"); n != 2 {
		t.Errorf("get_qrcode called %d times, want 2 (the failure, then one fetch for five binds)", n)
	}
	if _, err := c.TrialQRCode(ctx, appID, "pages/cart"); err != nil {
		t.Fatal(err)
	}
	if n := fake.Calls("/wxa/get_qrcode"); n != 3 {
		t.Errorf("another path: get_qrcode called %d times in all, want 3", n)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := c.TrialQRCode(ctx, appID, ""); err != nil {
		t.Fatal(err)
	}
	if n := fake.Calls("/wxa/get_qrcode"); n != 4 {
		t.Errorf("after the cache time: get_qrcode called %d times in all, want 4", n)
	}
}

// A QR code is judged by its bytes, whatever Content-Type WeChat sends with them.
func TestQRCodeJudgedByBytes(t *testing.T) {
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" // a PNG signature and the start of its header
	for _, tc := range []struct {
		name, ctype, body, want string
	}{
		{"jpeg as json", "application/json", string(wechattest.QRCodeJPEG()), "image/jpeg"},
		{"jpeg as text", "text/plain", string(wechattest.QRCodeJPEG()), "image/jpeg"},
		{"png without type", "", png, "image/png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, c := setup(t)
			fake.FailNextHTTP("/wxa/get_qrcode", 1, http.StatusOK, tc.ctype, tc.body)
			qr, err := c.TrialQRCode(context.Background(), appID, "")
			if err != nil || qr.ContentType != tc.want || string(qr.Image) != tc.body {
				t.Fatalf("qr = %q %d bytes, %v; want %s", qr.ContentType, len(qr.Image), err, tc.want)
			}
		})
	}
	fake, c := setup(t)
	fake.FailNextHTTP("/wxa/get_qrcode", 1, http.StatusOK, "image/jpeg", `{"errcode":85074,"errmsg":"not released"}`)
	if _, err := c.TrialQRCode(context.Background(), appID, ""); !isCode(err, 85074) {
		t.Fatalf("JSON error sent as image/jpeg: %v, want errcode 85074", err)
	}
	fake.FailNextHTTP("/wxa/get_qrcode", 1, http.StatusOK, "image/jpeg", "GIF89a not what we asked for")
	_, err := c.TrialQRCode(context.Background(), appID, "")
	var te *wechat.TransportError
	if !errors.As(err, &te) || !errors.Is(err, wechat.ErrBadResponse) || !strings.Contains(err.Error(), "neither the expected image nor JSON") {
		t.Fatalf("garbage bytes: %v, want a bad-response error", err)
	}
	if strings.Contains(err.Error(), "GIF89a") {
		t.Errorf("the body is quoted: %v", err)
	}
}

// The platform-era errcodes: each known, explained, and classified for who must act.
func TestCatalogPlatformCodes(t *testing.T) {
	want := map[int]wechat.Kind{
		40132: wechat.KindTester,
		89031: wechat.KindConfig, 89032: wechat.KindConfig, 89033: wechat.KindConfig, 89034: wechat.KindConfig,
		86004: wechat.KindConfig, 43104: wechat.KindConfig, 40097: wechat.KindConfig, 40091: wechat.KindConfig,
		61014: wechat.KindConfig, 61024: wechat.KindConfig,
		61005: wechat.KindCredentials, 40094: wechat.KindCredentials,
		48004: wechat.KindRestricted, 50002: wechat.KindRestricted,
		45011: wechat.KindTransient,
	}
	for code := 89501; code <= 89507; code++ {
		want[code] = wechat.KindIPAllowList
	}
	for code, kind := range want {
		info := wechat.Lookup(code)
		if !info.Known || info.Meaning == "" || info.Kind != kind {
			t.Errorf("errcode %d: %+v, want kind %v", code, info, kind)
		}
		if info.Action != wechat.GiveUp {
			t.Errorf("errcode %d: action %v, want give up", code, info.Action)
		}
	}
}
