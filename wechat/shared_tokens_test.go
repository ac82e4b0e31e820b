package wechat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindtester/bindtester/wechat"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

const (
	appID2  = "wx00000000000000b2"
	secret2 = "another-app-secret"
	compID  = "wxcomponent000001"
)

// replica is one bot process's token stack: its own HTTP layer, cache and client,
// sharing only the store (and, for a third-party platform, the refresh tokens).
type replica struct {
	cache  *wechat.TokenCache
	client *wechat.Client
}

func newTransport(fake *wechattest.Server) *wechat.Transport {
	return wechat.NewTransport(wechat.Config{BaseURL: fake.URL, Backoff: time.Millisecond, Timeout: 2 * time.Second})
}

func stableSource(tr *wechat.Transport) wechat.StableTokens {
	secrets := map[string]string{appID: secret, appID2: secret2}
	return wechat.StableTokens{T: tr, Secret: func(a string) (string, bool) { s, ok := secrets[a]; return s, ok }}
}

// stableReplicas starts n replicas using stable_token through store.
func stableReplicas(fake *wechattest.Server, store wechat.TokenStore, n int) []replica {
	var rs []replica
	for range n {
		tr := newTransport(fake)
		cache := wechat.NewTokenCache(wechat.SharedTokens{Fetcher: stableSource(tr), Store: store, Prefix: "app:"}, 0)
		rs = append(rs, replica{cache, wechat.NewClient(tr, cache)})
	}
	return rs
}

// componentReplicas starts n replicas as a third-party platform through store,
// all keeping their refresh tokens in refresh (the shared database).
func componentReplicas(fake *wechattest.Server, store wechat.TokenStore, refresh wechat.RefreshTokens, n int) []replica {
	var rs []replica
	for range n {
		tr := newTransport(fake)
		comp := wechat.NewComponentTokens(tr, compID, "component-secret", wechat.TicketString("ticket"), refresh, wechat.ShareComponentToken(store))
		cache := wechat.NewTokenCache(wechat.SharedTokens{Fetcher: comp, Store: store, Prefix: "app:"}, 0)
		rs = append(rs, replica{cache, wechat.NewClient(tr, cache)})
	}
	return rs
}

var testerSeq struct {
	sync.Mutex
	n int
}

// bindAll makes n binds at once, the i-th on replica i%len(rs) for app apps[i/len(rs)%len(apps)],
// each with a new WeChat ID, and fails the test if any fails.
func bindAll(t *testing.T, rs []replica, apps []string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		testerSeq.Lock()
		testerSeq.n++
		id := fmt.Sprintf("tester_%04d", testerSeq.n)
		testerSeq.Unlock()
		r, app := rs[i%len(rs)], apps[i/len(rs)%len(apps)]
		wg.Go(func() {
			if _, err := r.client.BindTester(context.Background(), app, id); err != nil {
				errs <- fmt.Errorf("bind %s on %s: %w", id, app, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	failed := false
	for err := range errs {
		t.Error(err)
		failed = true
	}
	if failed {
		t.FailNow()
	}
}

// stableFetches lists, per appid, the force_refresh flag of every stable_token request.
func stableFetches(t *testing.T, fake *wechattest.Server) map[string][]bool {
	t.Helper()
	out := map[string][]bool{}
	for _, r := range fake.Requests() {
		if r.Path != "/cgi-bin/stable_token" {
			continue
		}
		var body struct {
			AppID string `json:"appid"`
			Force bool   `json:"force_refresh"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		out[body.AppID] = append(out[body.AppID], body.Force)
	}
	return out
}

// Three replicas with a cold cache, 30 binds at once across them and two apps: WeChat
// hands out one token per app.
func TestReplicasShareOneTokenFetchPerApp(t *testing.T) {
	fake := wechattest.NewServer()
	defer fake.Close()
	for app, sec := range map[string]string{appID: secret, appID2: secret2} {
		fake.AddApp(app, sec)
		fake.SetSlotLimit(app, 1000)
	}
	fake.SetLatency("/cgi-bin/stable_token", 50*time.Millisecond) // every replica arrives while the first fetch runs
	store := &wechattest.MemoryTokenStore{}
	rs := stableReplicas(fake, store, 3)

	bindAll(t, rs, []string{appID, appID2}, 30)
	want := map[string][]bool{appID: {false}, appID2: {false}}
	if got := stableFetches(t, fake); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stable_token requests per app (force flags) = %v, want %v", got, want)
	}
	// Each replica went to the store once per app, then served from its own cache.
	for _, app := range []string{appID, appID2} {
		if got := store.Acquired("app:" + app); got != 3 {
			t.Errorf("store locks for %s = %d, want 3 (one per replica)", app, got)
		}
	}
	bindAll(t, rs, []string{appID, appID2}, 6)
	if got := store.Acquired("app:" + appID); got != 3 {
		t.Errorf("warm replicas went to the store again: %d locks", got)
	}
}

// A token WeChat stops taking is replaced once for all replicas: after expiry with one
// plain fetch, after revocation with one plain and one forced fetch.
func TestReplicasReplaceARejectedTokenOnce(t *testing.T) {
	fake := wechattest.NewServer()
	defer fake.Close()
	for app, sec := range map[string]string{appID: secret, appID2: secret2} {
		fake.AddApp(app, sec)
		fake.SetSlotLimit(app, 1000)
	}
	fake.SetLatency("/cgi-bin/stable_token", 50*time.Millisecond)
	store := &wechattest.MemoryTokenStore{}
	rs := stableReplicas(fake, store, 3)
	bindAll(t, rs, []string{appID, appID2}, 6) // every replica holds both tokens

	for _, tc := range []struct {
		name   string
		reject func(appid string)
		want   []bool
	}{
		{"expired (42001)", fake.ExpireTokens, []bool{false}},
		{"revoked (40001)", fake.RevokeTokens, []bool{false, true}},
	} {
		fake.Reset()
		tc.reject(appID)
		bindAll(t, rs, []string{appID}, 12) // every replica meets the rejection
		got := stableFetches(t, fake)
		if !slices.Equal(got[appID], tc.want) || len(got) != 1 {
			t.Errorf("%s: stable_token requests (force flags) = %v, want %s: %v", tc.name, got, appID, tc.want)
		}
	}
}

// A rejection reported late, with a token another replica already replaced, neither
// discards the newer stored token nor fetches another.
func TestSharedTokensLateInvalidateKeepsNewerToken(t *testing.T) {
	fake, _ := setup(t)
	store := &wechattest.MemoryTokenStore{}
	rs := stableReplicas(fake, store, 2)
	a, b := rs[0].cache, rs[1].cache
	ctx := context.Background()
	t1, err := a.Token(ctx, appID)
	if err != nil {
		t.Fatal(err)
	}
	if tb, _ := b.Token(ctx, appID); tb != t1 {
		t.Fatalf("replicas hold different tokens %q and %q", t1, tb)
	}

	fake.RevokeTokens(appID)
	a.Invalidate(appID, t1)
	t2, err := a.Token(ctx, appID)
	if err != nil || t2 == t1 {
		t.Fatalf("after revocation: %q, %v", t2, err)
	}
	fetches := fake.Calls("/cgi-bin/stable_token")

	b.Invalidate(appID, t1) // b meets the revoked token only now
	if got, _ := b.Token(ctx, appID); got != t2 {
		t.Fatalf("late invalidation: replica b has %q, want the stored %q", got, t2)
	}
	a.Invalidate(appID, t1) // a repeats an old rejection
	if got, _ := a.Token(ctx, appID); got != t2 {
		t.Fatalf("repeated invalidation dropped a's newer token")
	}
	src := wechat.SharedTokens{Fetcher: stableSource(newTransport(fake)), Store: store, Prefix: "app:"}
	if got, err := src.Fetch(ctx, appID, t1); err != nil || got.Value != t2 {
		t.Fatalf("shared fetch rejecting the old token = %q, %v; want %q", got.Value, err, t2)
	}
	if got := fake.Calls("/cgi-bin/stable_token"); got != fetches {
		t.Fatalf("stable_token calls %d -> %d: a late rejection fetched again", fetches, got)
	}
	if got := store.Token("app:" + appID).Value; got != t2 {
		t.Fatalf("store holds %q, want %q", got, t2)
	}
	if _, err := rs[1].client.BindTester(ctx, appID, "tester_a"); err != nil || fake.Calls("/wxa/bind_tester") != 1 {
		t.Fatalf("bind with the shared token: %v (%d calls)", err, fake.Calls("/wxa/bind_tester"))
	}
}

// A replica with a cold cache whose early refresh fails uses the stored token, which
// still works, and does not ask again on every call.
func TestSharedTokensUseStoredTokenWhenEarlyRefreshFails(t *testing.T) {
	fake, _ := setup(t)
	store := &wechattest.MemoryTokenStore{}
	tok := fake.IssueToken(appID)
	now := time.Now()
	store.Put("app:"+appID, wechat.Token{Value: tok, Fetched: now.Add(-7000 * time.Second), ExpiresAt: now.Add(200 * time.Second)})
	fake.FailNext("/cgi-bin/stable_token", 3, -1) // the refresh fails, retries included
	c := stableReplicas(fake, store, 1)[0].client
	ctx := context.Background()
	for _, id := range []string{"tester_a", "tester_b"} {
		if _, err := c.BindTester(ctx, appID, id); err != nil {
			t.Fatalf("bind %s: %v", id, err)
		}
	}
	if got := fake.Calls("/cgi-bin/stable_token"); got != 3 {
		t.Fatalf("stable_token calls = %d, want 3 (one refresh, retried)", got)
	}
	for _, r := range fake.Requests() {
		if r.Path == "/wxa/bind_tester" && r.Query.Get("access_token") != tok {
			t.Fatal("bind_tester did not use the stored token")
		}
	}
	if got := store.Token("app:" + appID).Value; got != tok {
		t.Fatal("the failed refresh changed the stored token")
	}
}

// brokenStore is a TokenStore whose database is down.
type brokenStore struct{ err error }

func (s brokenStore) WithTokenLock(context.Context, string, func(context.Context, wechat.Token) (wechat.Token, error)) (wechat.Token, error) {
	return wechat.Token{}, s.err
}

// The store's own failures say so; WeChat's errors from a fetch under the lock pass as they are.
func TestSharedTokensErrors(t *testing.T) {
	fake, _ := setup(t)
	down := errors.New("connection refused")
	c := stableReplicas(fake, brokenStore{down}, 1)[0].client
	_, err := c.BindTester(context.Background(), appID, "tester_a")
	if !errors.Is(err, down) || !strings.Contains(err.Error(), "token store") {
		t.Fatalf("store down: %v", err)
	}
	if fake.Calls("/cgi-bin/stable_token")+fake.Calls("/wxa/bind_tester") != 0 {
		t.Fatal("called WeChat without the store")
	}

	fake.AddApp(appID, "a-changed-secret")
	c = stableReplicas(fake, &wechattest.MemoryTokenStore{}, 1)[0].client
	_, err = c.BindTester(context.Background(), appID, "tester_a")
	if !isCode(err, 40125) || strings.Contains(err.Error(), "token store") || strings.Contains(err.Error(), secret) {
		t.Fatalf("wrong secret: %v", err)
	}
}

// refreshTokensSent lists the authorizer_refresh_tokens sent to api_authorizer_token for
// appid, in order, a run of equal ones (a retry after a rejected component token) once.
func refreshTokensSent(t *testing.T, fake *wechattest.Server, appid string) []string {
	t.Helper()
	var out []string
	for _, r := range fake.Requests() {
		if r.Path != "/cgi-bin/component/api_authorizer_token" {
			continue
		}
		var body struct {
			AppID   string `json:"authorizer_appid"`
			Refresh string `json:"authorizer_refresh_token"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.AppID == appid && (len(out) == 0 || out[len(out)-1] != body.Refresh) {
			out = append(out, body.Refresh)
		}
	}
	return out
}

// Third-party platform replicas sharing a store: one component token and one authorizer
// token per app for all of them, and every api_authorizer_token call spends the latest
// rotated refresh token (the fake answers a spent one with 61023, failing the bind).
func TestComponentReplicasShareRefreshTokenRotation(t *testing.T) {
	fake := wechattest.NewServer()
	defer fake.Close()
	seeds := map[string]string{appID: "refresh-1", appID2: "refresh-2"}
	for app, rt := range seeds {
		fake.AddApp(app, "unused")
		fake.SetAuthorizerRefreshToken(app, rt)
		fake.SetSlotLimit(app, 1000)
	}
	fake.SetComponent(compID, "component-secret", "ticket")
	fake.SetRotateRefreshTokens(true)
	fake.SetLatency("/cgi-bin/component/api_component_token", 50*time.Millisecond)
	fake.SetLatency("/cgi-bin/component/api_authorizer_token", 50*time.Millisecond)
	refresh := wechat.NewMemoryRefreshTokens(seeds) // the replicas' shared database
	store := &wechattest.MemoryTokenStore{}
	rs := componentReplicas(fake, store, refresh, 3)
	sent := map[string][]string{}
	phase := func(name string, wantComponent, wantAuthorizerCalls, wantFetches int) {
		t.Helper()
		if got := fake.Calls("/cgi-bin/component/api_component_token"); got != wantComponent {
			t.Errorf("%s: api_component_token calls = %d, want %d", name, got, wantComponent)
		}
		if wantAuthorizerCalls >= 0 {
			if got := fake.Calls("/cgi-bin/component/api_authorizer_token"); got != wantAuthorizerCalls {
				t.Errorf("%s: api_authorizer_token calls = %d, want %d", name, got, wantAuthorizerCalls)
			}
		}
		if got := fake.TokenFetches(); got != wantFetches {
			t.Errorf("%s: tokens handed out = %d, want %d", name, got, wantFetches)
		}
		for app := range seeds {
			sent[app] = append(sent[app], refreshTokensSent(t, fake, app)...)
		}
		fake.Reset()
	}

	bindAll(t, rs, []string{appID, appID2}, 30)
	phase("cold", 1, 2, 3)

	// The component token and one authorizer token expire: the replica that refreshes
	// meets the expired component token (42001), replaces it once, and the others take
	// the new authorizer token from the store.
	fake.ExpireTokens(compID)
	fake.ExpireTokens(appID)
	bindAll(t, rs, []string{appID}, 9)
	phase("expired", 1, 2, 2)

	// Each replica in turn refreshes the app's token with the refresh token the one
	// before rotated; those still holding the old component token take the new one
	// from the store.
	for _, r := range rs {
		bindAll(t, rs, []string{appID}, 3) // all replicas pick up the current token
		fake.ExpireTokens(appID)
		bindAll(t, []replica{r}, []string{appID}, 1)
	}
	phase("one by one", 0, -1, 3)

	ctx := context.Background()
	for app, seed := range seeds {
		if s := sent[app]; len(s) == 0 || s[0] != seed || len(slices.Compact(slices.Sorted(slices.Values(s)))) != len(s) {
			t.Errorf("%s: refresh tokens sent %v: each must be new, starting with %q", app, s, seed)
		}
		if got, _ := refresh.RefreshToken(ctx, app); got != fake.AuthorizerRefreshToken(app) {
			t.Errorf("%s: stored refresh token %q, WeChat honours %q", app, got, fake.AuthorizerRefreshToken(app))
		}
	}
	if len(sent[appID]) != 1+1+3 {
		t.Errorf("refresh tokens spent for %s: %v, want 5", appID, sent[appID])
	}
}

// The hazard SharedTokens removes: replicas refreshing one app at once without it read
// the same refresh token, and all but the first spend it in vain (61023).
func TestUnsharedComponentReplicasSpendOneRefreshToken(t *testing.T) {
	fake := wechattest.NewServer()
	defer fake.Close()
	fake.AddApp(appID, "unused")
	fake.SetAuthorizerRefreshToken(appID, "refresh-1")
	fake.SetComponent(compID, "component-secret", "ticket")
	fake.SetRotateRefreshTokens(true)
	refresh := wechat.NewMemoryRefreshTokens(map[string]string{appID: "refresh-1"})
	const path = "/cgi-bin/component/api_authorizer_token"
	release := fake.Hold(path)
	defer release()
	errs := make(chan error, 3)
	for range 3 {
		tr := newTransport(fake)
		cache := wechat.NewTokenCache(wechat.NewComponentTokens(tr, compID, "component-secret", wechat.TicketString("ticket"), refresh), 0)
		go func() { _, err := cache.Token(context.Background(), appID); errs <- err }()
	}
	for deadline := time.Now().Add(5 * time.Second); fake.Calls(path) < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d api_authorizer_token calls arrived", fake.Calls(path))
		}
	}
	release()
	spent := 0
	for range 3 {
		if err := <-errs; isCode(err, 61023) {
			spent++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if spent != 2 {
		t.Fatalf("replicas refused a spent refresh token: %d, want 2", spent)
	}
}
