package wechattest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	appID  = "wx1234567890abcdef"
	secret = "s3cret"
)

// resp is a decoded answer.
type resp struct {
	status int
	ctype  string
	raw    []byte
	m      map[string]any
}

func (r resp) errcode() int {
	f, _ := r.m["errcode"].(float64)
	return int(f)
}

func (r resp) str(k string) string { s, _ := r.m[k].(string); return s }

// send makes one call; safe to use from any goroutine.
func send(s *Server, method, path string, body any) (resp, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return resp{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		return resp{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer hr.Body.Close()
	raw, err := io.ReadAll(hr.Body)
	if err != nil {
		return resp{}, err
	}
	r := resp{status: hr.StatusCode, ctype: hr.Header.Get("Content-Type"), raw: raw}
	if strings.HasPrefix(r.ctype, "application/json") {
		if err := json.Unmarshal(raw, &r.m); err != nil {
			return r, fmt.Errorf("bad JSON %q: %w", raw, err)
		}
	}
	return r, nil
}

func do(t *testing.T, s *Server, method, path string, body any) resp {
	t.Helper()
	r, err := send(s, method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func post(t *testing.T, s *Server, path string, body any) resp {
	t.Helper()
	return do(t, s, http.MethodPost, path, body)
}

func api(path, tok string) string { return path + "?access_token=" + url.QueryEscape(tok) }

func wantCode(t *testing.T, r resp, code int) {
	t.Helper()
	if r.errcode() != code || r.str("errmsg") != ErrMsg(code) {
		t.Fatalf("got %d %s, want errcode %d %q", r.status, r.raw, code, ErrMsg(code))
	}
}

func newServer(t *testing.T) *Server {
	t.Helper()
	s := NewServer()
	t.Cleanup(s.Close)
	s.AddApp(appID, secret)
	return s
}

func stable(t *testing.T, s *Server, force bool) string {
	t.Helper()
	r := post(t, s, "/cgi-bin/stable_token", map[string]any{
		"grant_type": "client_credential", "appid": appID, "secret": secret, "force_refresh": force})
	wantCode(t, r, 0)
	if r.str("access_token") == "" || r.m["expires_in"] == nil {
		t.Fatalf("stable_token: %s", r.raw)
	}
	return r.str("access_token")
}

// probe reports the errcode an API call with tok gets.
func probe(t *testing.T, s *Server, tok string) int {
	t.Helper()
	return post(t, s, api("/wxa/memberauth", tok), map[string]any{"action": "get_experiencer"}).errcode()
}

func TestStableTokenErrors(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct {
		name string
		body any
		want int
	}{
		{"unknown appid", map[string]any{"grant_type": "client_credential", "appid": "wxnope", "secret": secret}, 40013},
		{"wrong secret", map[string]any{"grant_type": "client_credential", "appid": appID, "secret": "bad"}, 40125},
		{"wrong grant", map[string]any{"grant_type": "password", "appid": appID, "secret": secret}, 40002},
		{"not an object", "{", 47001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, post(t, s, "/cgi-bin/stable_token", tc.body), tc.want)
		})
	}
	if n := s.TokenFetches(); n != 0 {
		t.Errorf("TokenFetches = %d after failures", n)
	}
}

func TestStableTokenReuseAndForce(t *testing.T) {
	s := newServer(t)
	a := stable(t, s, false)
	if b := stable(t, s, false); b != a {
		t.Fatalf("non-forced fetch minted a new token")
	}
	c := stable(t, s, true)
	if c == a {
		t.Fatalf("forced fetch returned the old token")
	}
	if got := probe(t, s, a); got != 40001 {
		t.Errorf("old token after force: %d, want 40001", got)
	}
	if got := probe(t, s, c); got != 0 {
		t.Errorf("new token: %d, want 0", got)
	}
	if n := s.TokenFetches(); n != 3 {
		t.Errorf("TokenFetches = %d, want 3", n)
	}
}

func TestExpireAndRevoke(t *testing.T) {
	s := newServer(t)
	a := stable(t, s, false)
	s.ExpireTokens(appID)
	if got := probe(t, s, a); got != 42001 {
		t.Fatalf("expired token: %d", got)
	}
	b := stable(t, s, false)
	if b == a || probe(t, s, b) != 0 {
		t.Fatalf("non-forced fetch after expiry should mint a working token")
	}

	s.RevokeTokens(appID)
	if got := probe(t, s, b); got != 40001 {
		t.Fatalf("revoked token: %d", got)
	}
	if c := stable(t, s, false); c != b {
		t.Fatalf("non-forced fetch after revoke should return the revoked token")
	}
	c := stable(t, s, true)
	if c == b || probe(t, s, c) != 0 {
		t.Fatalf("forced fetch after revoke should mint a working token")
	}
}

func TestTokenTTL(t *testing.T) {
	s := newServer(t)
	s.SetTokenTTL(50 * time.Millisecond)
	a := stable(t, s, false)
	time.Sleep(100 * time.Millisecond)
	if got := probe(t, s, a); got != 42001 {
		t.Fatalf("token past TTL: %d", got)
	}
	s.SetTokenTTL(time.Hour)
	r := post(t, s, "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": appID, "secret": secret})
	if r.str("access_token") == a || r.m["expires_in"] != 3600.0 {
		t.Fatalf("fetch after TTL: %s", r.raw)
	}
}

func TestAccessTokenChecks(t *testing.T) {
	s := newServer(t)
	tok := s.IssueToken(appID)
	for _, tc := range []struct {
		name, path string
		body       any
		want       int
	}{
		{"valid", api("/wxa/memberauth", tok), map[string]any{"action": "get_experiencer"}, 0},
		{"missing", "/wxa/memberauth", map[string]any{"action": "get_experiencer"}, 41001},
		{"in body", "/wxa/memberauth", map[string]any{"action": "get_experiencer", "access_token": tok}, 41001},
		{"unknown", api("/wxa/memberauth", "tok-nope"), map[string]any{"action": "get_experiencer"}, 40001},
		{"bind in body", "/wxa/bind_tester", map[string]any{"wechatid": "alice", "access_token": tok}, 41001},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, post(t, s, tc.path, tc.body), tc.want) })
	}
	if s.UserStr(appID, "alice") != "" {
		t.Error("bind with token in body took effect")
	}
}

func TestBindTester(t *testing.T) {
	s := newServer(t)
	tok := s.IssueToken(appID)
	s.SetSlotLimit(appID, 2)
	s.SetOutcome("hidden", 85001)
	for i := range MaxAppsPerUser {
		s.AddExperiencer(fmt.Sprintf("wxother%02d", i), "busy")
	}
	bind := api("/wxa/bind_tester", tok)
	for _, tc := range []struct {
		name string
		body any
		want int
	}{
		{"first", map[string]any{"wechatid": "alice"}, 0},
		{"again", map[string]any{"wechatid": "alice"}, 85004},
		{"outcome", map[string]any{"wechatid": "hidden"}, 85001},
		{"too many apps", map[string]any{"wechatid": "busy"}, 85003},
		{"empty", map[string]any{"wechatid": ""}, 47001},
		{"missing", map[string]any{}, 47001},
		{"not JSON", "nope", 47001},
		{"second", map[string]any{"wechatid": "bob"}, 0},
		{"slots full", map[string]any{"wechatid": "carol"}, 85002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, s, bind, tc.body)
			wantCode(t, r, tc.want)
			if tc.want == 0 {
				id := tc.body.(map[string]any)["wechatid"].(string)
				if us := r.str("userstr"); us == "" || us != s.UserStr(appID, id) {
					t.Fatalf("userstr %q, server has %q", us, s.UserStr(appID, id))
				}
			}
		})
	}
	if got := s.Experiencers(appID); len(got) != 2 || got[0] != s.UserStr(appID, "alice") {
		t.Errorf("Experiencers = %v", got)
	}
	s.SetOutcome("hidden", 0)
	s.SetSlotLimit(appID, 3)
	wantCode(t, post(t, s, bind, map[string]any{"wechatid": "hidden"}), 0)
}

func TestUnbindTester(t *testing.T) {
	s := newServer(t)
	tok := s.IssueToken(appID)
	alice := s.AddExperiencer(appID, "alice")
	s.AddExperiencer(appID, "bob")
	unbind := api("/wxa/unbind_tester", tok)
	for _, tc := range []struct {
		name string
		body any
		want int
	}{
		{"both", map[string]any{"userstr": alice, "wechatid": "alice"}, 47001},
		{"neither", map[string]any{}, 47001},
		{"userstr as wechatid", map[string]any{"wechatid": alice}, -1},
		{"by userstr", map[string]any{"userstr": alice}, 0},
		{"by wechatid", map[string]any{"wechatid": "bob"}, 0},
		{"not bound", map[string]any{"wechatid": "nobody"}, 0},
		{"unknown userstr", map[string]any{"userstr": "deadbeef"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, post(t, s, unbind, tc.body), tc.want) })
	}
	if got := s.Experiencers(appID); len(got) != 0 {
		t.Errorf("Experiencers after unbinding all = %v", got)
	}
}

func TestMemberAuth(t *testing.T) {
	s := newServer(t)
	tok := s.IssueToken(appID)
	path := api("/wxa/memberauth", tok)
	if r := post(t, s, path, map[string]any{"action": "get_experiencer"}); string(r.raw) != `{"errcode":0,"errmsg":"ok","members":[]}` {
		t.Errorf("empty list: %s", r.raw)
	}
	want := []string{s.AddExperiencer(appID, "zed"), s.AddExperiencer(appID, "amy"), s.AddExperiencer(appID, "kim")}
	r := post(t, s, path, map[string]any{"action": "get_experiencer"})
	wantCode(t, r, 0)
	var got []string
	for _, m := range r.m["members"].([]any) {
		got = append(got, m.(map[string]any)["userstr"].(string))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("members = %v, want bind order %v", got, want)
	}
	wantCode(t, post(t, s, path, map[string]any{"action": "get_admin"}), 47001)
}

func TestQRCode(t *testing.T) {
	s := newServer(t)
	tok := s.IssueToken(appID)
	page := "pages/index?x=1&y=2"
	r := do(t, s, http.MethodGet, api("/wxa/get_qrcode", tok)+"&path="+url.QueryEscape(page), nil)
	if r.status != 200 || r.ctype != "image/jpeg" {
		t.Fatalf("qrcode: %d %s", r.status, r.ctype)
	}
	if _, err := jpeg.Decode(bytes.NewReader(r.raw)); err != nil {
		t.Fatalf("qrcode is not a JPEG: %v", err)
	}
	reqs := s.Requests()
	if got := reqs[len(reqs)-1].Query.Get("path"); got != page {
		t.Errorf("recorded path %q, want %q", got, page)
	}
	r = do(t, s, http.MethodGet, api("/wxa/get_qrcode", "bad"), nil)
	if r.ctype != "application/json" {
		t.Fatalf("failure content type %q", r.ctype)
	}
	wantCode(t, r, 40001)
	wantCode(t, post(t, s, api("/wxa/get_qrcode", tok), nil), 43001)
}

func TestComponentFlow(t *testing.T) {
	s := newServer(t)
	s.SetComponent("wxcomp", "csecret", "ticket@@@1")
	s.SetAuthorizerRefreshToken(appID, "refreshtoken@@@old")
	for _, tc := range []struct {
		name string
		body map[string]any
		want int
	}{
		{"unknown component", map[string]any{"component_appid": "wxnope", "component_appsecret": "csecret", "component_verify_ticket": "ticket@@@1"}, 40013},
		{"wrong secret", map[string]any{"component_appid": "wxcomp", "component_appsecret": "bad", "component_verify_ticket": "ticket@@@1"}, 40125},
		{"wrong ticket", map[string]any{"component_appid": "wxcomp", "component_appsecret": "csecret", "component_verify_ticket": "stale"}, 61006},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, post(t, s, "/cgi-bin/component/api_component_token", tc.body), tc.want)
		})
	}
	r := post(t, s, "/cgi-bin/component/api_component_token", map[string]any{
		"component_appid": "wxcomp", "component_appsecret": "csecret", "component_verify_ticket": "ticket@@@1"})
	wantCode(t, r, 0)
	cat := r.str("component_access_token")
	if probe(t, s, cat) != 40001 {
		t.Error("component_access_token accepted as an app access_token")
	}

	authz := func(cat, refresh string) resp {
		return post(t, s, "/cgi-bin/component/api_authorizer_token?component_access_token="+url.QueryEscape(cat),
			map[string]any{"component_appid": "wxcomp", "authorizer_appid": appID, "authorizer_refresh_token": refresh})
	}
	wantCode(t, authz("bad", "refreshtoken@@@old"), 40001)
	wantCode(t, authz(cat, "wrong"), 61023)
	r = authz(cat, "refreshtoken@@@old")
	wantCode(t, r, 0)
	if r.str("authorizer_refresh_token") != "refreshtoken@@@old" || probe(t, s, r.str("authorizer_access_token")) != 0 {
		t.Fatalf("authorizer token without rotation: %s", r.raw)
	}

	s.SetRotateRefreshTokens(true)
	r = authz(cat, "refreshtoken@@@old")
	wantCode(t, r, 0)
	next := r.str("authorizer_refresh_token")
	if next == "refreshtoken@@@old" || next != s.AuthorizerRefreshToken(appID) {
		t.Fatalf("rotation: got %q, server has %q", next, s.AuthorizerRefreshToken(appID))
	}
	wantCode(t, authz(cat, "refreshtoken@@@old"), 61023)
	wantCode(t, authz(cat, next), 0)

	s.ExpireTokens("wxcomp")
	wantCode(t, authz(cat, s.AuthorizerRefreshToken(appID)), 42001)
	if n := s.TokenFetches(); n != 4 {
		t.Errorf("TokenFetches = %d, want 4", n)
	}
}

func TestTokenService(t *testing.T) {
	s := newServer(t)
	r := do(t, s, http.MethodGet, "/tokenservice?appid="+appID, nil)
	wantCode(t, r, 0)
	if again := do(t, s, http.MethodGet, "/tokenservice?appid="+appID, nil); again.str("access_token") != r.str("access_token") {
		t.Error("token service minted a new token while the old one is valid")
	}
	r = do(t, s, http.MethodGet, "/tokenservice?appid=wxnope", nil)
	if r.status != http.StatusNotFound {
		t.Errorf("unknown appid: HTTP %d", r.status)
	}
	wantCode(t, r, 40013)
}

func TestFaults(t *testing.T) {
	s := newServer(t)
	tok := s.IssueToken(appID)
	bind := api("/wxa/bind_tester", tok)
	s.FailNext("/wxa/bind_tester", 2, -1)
	s.FailNextHTTP("/wxa/bind_tester", 1, http.StatusBadGateway, "text/html", "<html>502</html>")
	s.FailNextHTTP("/wxa/bind_tester", 1, http.StatusOK, "", `{"errcode":`)
	body := map[string]any{"wechatid": "alice"}
	wantCode(t, post(t, s, bind, body), -1)
	wantCode(t, post(t, s, bind, body), -1)
	if r := post(t, s, bind, body); r.status != 502 || r.ctype != "text/html" || string(r.raw) != "<html>502</html>" {
		t.Errorf("raw fault: %d %q %q", r.status, r.ctype, r.raw)
	}
	if r := post(t, s, bind, body); r.ctype != "" || string(r.raw) != `{"errcode":` {
		t.Errorf("truncated fault: %q %q", r.ctype, r.raw)
	}
	wantCode(t, post(t, s, bind, body), 0)
	if n := s.Calls("/wxa/bind_tester"); n != 5 {
		t.Errorf("Calls = %d, want 5", n)
	}
	s.FailNext("/cgi-bin/stable_token", 1, 45009)
	wantCode(t, post(t, s, "/cgi-bin/stable_token", nil), 45009)
}

func TestHold(t *testing.T) {
	s := newServer(t)
	tok := s.IssueToken(appID)
	release := s.Hold("/wxa/bind_tester")
	done := make(chan resp, 1)
	go func() {
		r, _ := send(s, http.MethodPost, api("/wxa/bind_tester", tok), map[string]any{"wechatid": "alice"})
		done <- r
	}()
	for s.Calls("/wxa/bind_tester") == 0 {
		time.Sleep(time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("held call answered: %s", r.raw)
	case <-time.After(20 * time.Millisecond):
	}
	release()
	release() // idempotent
	wantCode(t, <-done, 0)
	wantCode(t, post(t, s, api("/wxa/bind_tester", tok), map[string]any{"wechatid": "bob"}), 0)
}

func TestHoldAndLatencyRespectContext(t *testing.T) {
	s := newServer(t)
	tok := s.IssueToken(appID)
	defer s.Hold("/wxa/memberauth")()
	s.SetLatency("/wxa/bind_tester", time.Hour)
	for _, path := range []string{"/wxa/memberauth", "/wxa/bind_tester"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+api(path, tok), strings.NewReader(`{}`))
		_, err := http.DefaultClient.Do(req)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: err = %v, want deadline exceeded", path, err)
		}
	}
}

func TestCloseReleasesWaiters(t *testing.T) {
	s := NewServer()
	s.AddApp(appID, secret)
	tok := s.IssueToken(appID)
	s.Hold("/wxa/memberauth")
	errc := make(chan error, 1)
	go func() {
		_, err := http.Post(s.URL+api("/wxa/memberauth", tok), "application/json", strings.NewReader(`{}`))
		errc <- err
	}()
	for s.Calls("/wxa/memberauth") == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Close() // must not hang on the held call
	if err := <-errc; err == nil {
		t.Error("held call got an answer from a closed server")
	}
}

func TestRoutingAndRecords(t *testing.T) {
	s := newServer(t)
	if r := do(t, s, http.MethodGet, "/nope", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown path: %d", r.status)
	}
	wantCode(t, do(t, s, http.MethodGet, "/wxa/bind_tester", nil), 43002)
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].Path != "/nope" || reqs[1].Method != http.MethodGet || reqs[1].ContentType != "application/json" {
		t.Errorf("Requests = %+v", reqs)
	}
	s.Reset()
	if len(s.Requests()) != 0 || s.Calls("/nope") != 0 {
		t.Error("Reset kept records")
	}
}

func TestConcurrentBinds(t *testing.T) {
	s := newServer(t)
	s.SetSlotLimit(appID, 10)
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for i := range 20 {
		wg.Go(func() {
			r, err := send(s, http.MethodPost, "/cgi-bin/stable_token", map[string]any{
				"grant_type": "client_credential", "appid": appID, "secret": secret})
			if err == nil {
				r, err = send(s, http.MethodPost, api("/wxa/bind_tester", r.str("access_token")), map[string]any{"wechatid": fmt.Sprint("u", i)})
			}
			if err != nil {
				t.Error(err)
			}
			codes <- r.errcode()
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[0] != 10 || count[85002] != 10 || len(s.Experiencers(appID)) != 10 {
		t.Errorf("outcomes %v, experiencers %d", count, len(s.Experiencers(appID)))
	}
}
