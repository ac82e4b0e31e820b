package wechat_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bindtester/bindtester/wechat"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

// stableTokenForces lists the force_refresh flag of every stable_token request.
func stableTokenForces(t *testing.T, fake *wechattest.Server) []bool {
	t.Helper()
	var forces []bool
	for _, r := range fake.Requests() {
		if r.Path != "/cgi-bin/stable_token" {
			continue
		}
		var body struct {
			Force bool `json:"force_refresh"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		forces = append(forces, body.Force)
	}
	return forces
}

func TestConcurrentColdCallsFetchOneToken(t *testing.T) {
	fake, c := setup(t)
	fake.SetSlotLimit(appID, 1000)
	fake.SetLatency("/cgi-bin/stable_token", 50*time.Millisecond) // keep the cache cold while all arrive
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.BindTester(context.Background(), appID, "tester_"+string(rune('a'+i%26))+string(rune('a'+i/26)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := fake.TokenFetches(); got != 1 {
		t.Fatalf("token fetches = %d, want 1", got)
	}
	if got := fake.Calls("/cgi-bin/stable_token"); got != 1 {
		t.Fatalf("stable_token calls = %d, want 1", got)
	}
}

func TestTokenIsCachedAcrossCalls(t *testing.T) {
	fake, c := setup(t)
	for _, id := range []string{"tester_a", "tester_b", "tester_c"} {
		if _, err := c.BindTester(context.Background(), appID, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := fake.TokenFetches(); got != 1 {
		t.Fatalf("token fetches = %d, want 1", got)
	}
}

// 42001: the token expired; a plain (non-forced) fetch gives a new one.
func TestRefreshAfterExpiredToken(t *testing.T) {
	fake, c := setup(t)
	ctx := context.Background()
	if _, err := c.BindTester(ctx, appID, "tester_a"); err != nil {
		t.Fatal(err)
	}
	fake.ExpireTokens(appID)
	if _, err := c.BindTester(ctx, appID, "tester_b"); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if got := stableTokenForces(t, fake); len(got) != 2 || got[0] || got[1] {
		t.Fatalf("stable_token force flags = %v, want [false false]", got)
	}
	if got := fake.Calls("/wxa/bind_tester"); got != 3 {
		t.Fatalf("bind calls = %d, want 3 (one rejected, retried once)", got)
	}
}

// 40001: WeChat keeps handing back the rejected token until forced; the cache
// asks without force first and forces only then.
func TestRefreshAfterRevokedTokenForcesOnlyWhenNeeded(t *testing.T) {
	fake, c := setup(t)
	ctx := context.Background()
	if _, err := c.BindTester(ctx, appID, "tester_a"); err != nil {
		t.Fatal(err)
	}
	fake.RevokeTokens(appID)
	if _, err := c.BindTester(ctx, appID, "tester_b"); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if got := stableTokenForces(t, fake); len(got) != 3 || got[0] || got[1] || !got[2] {
		t.Fatalf("stable_token force flags = %v, want [false false true]", got)
	}
}

// A token rejected twice in a row is an error, not a loop.
func TestRejectedTokenRetriedOnlyOnce(t *testing.T) {
	fake, c := setup(t)
	fake.FailNext("/wxa/bind_tester", 5, 40001)
	_, err := c.BindTester(context.Background(), appID, "tester_a")
	if !isCode(err, 40001) {
		t.Fatalf("err = %v", err)
	}
	if got := fake.Calls("/wxa/bind_tester"); got != 2 {
		t.Fatalf("calls = %d, want 2", got)
	}
}

func TestInvalidateOnlyDropsTheCachedToken(t *testing.T) {
	fake, _ := setup(t)
	tr := wechat.NewTransport(wechat.Config{BaseURL: fake.URL})
	cache := wechat.NewTokenCache(wechat.StableTokens{T: tr, Secret: func(string) (string, bool) { return secret, true }}, 0)
	ctx := context.Background()
	tok, err := cache.Token(ctx, appID)
	if err != nil {
		t.Fatal(err)
	}
	cache.Invalidate(appID, "some-older-token")
	again, _ := cache.Token(ctx, appID)
	if again != tok || fake.TokenFetches() != 1 {
		t.Fatalf("a stale rejection dropped the current token (fetches %d)", fake.TokenFetches())
	}
}

func TestTokenRefreshedAheadOfExpiry(t *testing.T) {
	fake, c := setup(t)
	fake.SetTokenTTL(5 * time.Second) // refreshed when a fifth of it (1 s) is left
	ctx := context.Background()
	if _, err := c.BindTester(ctx, appID, "tester_a"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4100 * time.Millisecond) // past the refresh point, 0.9 s before expiry
	if _, err := c.BindTester(ctx, appID, "tester_b"); err != nil {
		t.Fatal(err)
	}
	if got := fake.TokenFetches(); got != 2 {
		t.Fatalf("token fetches = %d, want 2", got)
	}
	if got := fake.Calls("/wxa/bind_tester"); got != 2 {
		t.Fatalf("bind calls = %d, want 2 (no call with an expired token)", got)
	}
}

func TestComponentTokensWithTicketFileAndRotation(t *testing.T) {
	fake := wechattest.NewServer()
	defer fake.Close()
	fake.AddApp(appID, "unused")
	fake.SetComponent("wxcomponent000001", "component-secret", "ticket@@@1")
	fake.SetAuthorizerRefreshToken(appID, "refresh-1")
	fake.SetRotateRefreshTokens(true)
	ticket := filepath.Join(t.TempDir(), "ticket")
	if err := os.WriteFile(ticket, []byte("ticket@@@1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr := wechat.NewTransport(wechat.Config{BaseURL: fake.URL, Backoff: time.Millisecond})
	store := wechat.NewMemoryRefreshTokens(map[string]string{appID: "refresh-1"})
	tokens := wechat.NewTokenCache(wechat.NewComponentTokens(tr, "wxcomponent000001", "component-secret", wechat.TicketFile(ticket), store), 0)
	c := wechat.NewClient(tr, tokens)
	ctx := context.Background()
	if _, err := c.BindTester(ctx, appID, "tester_a"); err != nil {
		t.Fatal(err)
	}
	rotated, _ := store.RefreshToken(ctx, appID)
	if rotated == "refresh-1" || rotated != fake.AuthorizerRefreshToken(appID) {
		t.Fatalf("kept refresh token %q, WeChat has %q", rotated, fake.AuthorizerRefreshToken(appID))
	}
	// The authorizer token expires: the rotated refresh token gets a new one,
	// and the component token is reused.
	fake.ExpireTokens(appID)
	if _, err := c.BindTester(ctx, appID, "tester_b"); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if got := fake.Calls("/cgi-bin/component/api_component_token"); got != 1 {
		t.Fatalf("component token calls = %d, want 1", got)
	}
	if got := fake.Calls("/cgi-bin/component/api_authorizer_token"); got != 2 {
		t.Fatalf("authorizer token calls = %d, want 2", got)
	}
}

func TestComponentTokenErrors(t *testing.T) {
	fake := wechattest.NewServer()
	defer fake.Close()
	fake.AddApp(appID, "unused")
	fake.SetComponent("wxcomponent000001", "component-secret", "ticket-good")
	fake.SetAuthorizerRefreshToken(appID, "refresh-1")
	tr := wechat.NewTransport(wechat.Config{BaseURL: fake.URL, Backoff: time.Millisecond})
	ctx := context.Background()

	stale := wechat.NewClient(tr, wechat.NewTokenCache(wechat.NewComponentTokens(tr, "wxcomponent000001", "component-secret",
		wechat.TicketString("ticket-old"), wechat.NewMemoryRefreshTokens(map[string]string{appID: "refresh-1"})), 0))
	if _, err := stale.BindTester(ctx, appID, "tester_a"); !isCode(err, 61006) {
		t.Errorf("stale ticket: %v", err)
	}
	revoked := wechat.NewClient(tr, wechat.NewTokenCache(wechat.NewComponentTokens(tr, "wxcomponent000001", "component-secret",
		wechat.TicketString("ticket-good"), wechat.NewMemoryRefreshTokens(map[string]string{appID: "refresh-gone"})), 0))
	_, err := revoked.BindTester(ctx, appID, "tester_a")
	if !isCode(err, 61023) {
		t.Fatalf("bad refresh token: %v", err)
	}
	var we *wechat.Error
	errors.As(err, &we)
	if we.Info().Kind != wechat.KindCredentials {
		t.Errorf("61023 kind %v", we.Info().Kind)
	}
	unknown := wechat.NewClient(tr, wechat.NewTokenCache(wechat.NewComponentTokens(tr, "wxcomponent000001", "component-secret",
		wechat.TicketString("ticket-good"), wechat.NewMemoryRefreshTokens(nil)), 0))
	var nc wechat.ErrNoCredentials
	if _, err := unknown.BindTester(ctx, appID, "tester_a"); !errors.As(err, &nc) || nc.AppID != appID {
		t.Errorf("no refresh token: %v", err)
	}
	if _, err := wechat.TicketFile(filepath.Join(t.TempDir(), "missing")).Ticket(ctx); err == nil {
		t.Error("missing ticket file accepted")
	}
}

func TestTokenServiceAndStaticToken(t *testing.T) {
	fake := wechattest.NewServer()
	defer fake.Close()
	fake.AddApp(appID, secret)
	tr := wechat.NewTransport(wechat.Config{BaseURL: fake.URL, Backoff: time.Millisecond})
	ctx := context.Background()

	svc := wechat.NewClient(tr, wechat.NewTokenCache(wechat.TokenService{T: tr, URL: fake.URL + "/tokenservice"}, 0))
	if _, err := svc.BindTester(ctx, appID, "tester_a"); err != nil {
		t.Fatalf("token service: %v", err)
	}
	if fake.Calls("/tokenservice") != 1 {
		t.Fatalf("token service calls = %d", fake.Calls("/tokenservice"))
	}
	if _, err := svc.BindTester(ctx, "wx1111111111111111", "tester_a"); !errors.Is(err, wechat.ErrHTTPStatus) {
		t.Fatalf("token service for unknown app: %v", err)
	}

	static := wechat.NewClient(tr, wechat.StaticTokens(fake.IssueToken(appID)))
	if _, err := static.BindTester(ctx, appID, "tester_b"); err != nil {
		t.Fatalf("static token: %v", err)
	}
	bogus := wechat.NewClient(tr, wechat.StaticTokens("not-a-token"))
	if _, err := bogus.BindTester(ctx, appID, "tester_c"); !isCode(err, 40001) {
		t.Fatalf("bogus static token: %v", err)
	}
}

func TestStableTokenWithoutSecret(t *testing.T) {
	fake, _ := setup(t)
	tr := wechat.NewTransport(wechat.Config{BaseURL: fake.URL})
	c := wechat.NewClient(tr, wechat.NewTokenCache(wechat.StableTokens{T: tr, Secret: func(string) (string, bool) { return "", false }}, 0))
	var nc wechat.ErrNoCredentials
	if _, err := c.BindTester(context.Background(), appID, "tester_a"); !errors.As(err, &nc) {
		t.Fatalf("err = %v", err)
	}
	if fake.Calls("/cgi-bin/stable_token")+fake.Calls("/wxa/bind_tester") != 0 {
		t.Fatal("called WeChat without credentials")
	}
}

// When the refresh ahead of expiry fails, the token that still works is used.
func TestStillValidTokenUsedWhenEarlyRefreshFails(t *testing.T) {
	fake, c := setup(t)
	fake.SetTokenTTL(5 * time.Second) // refreshed when 1 s is left
	ctx := context.Background()
	if _, err := c.BindTester(ctx, appID, "tester_a"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4100 * time.Millisecond) // past the refresh point, 0.9 s before expiry
	fake.FailNext("/cgi-bin/stable_token", 3, -1)
	if _, err := c.BindTester(ctx, appID, "tester_b"); err != nil {
		t.Fatalf("bind with a still-valid token: %v", err)
	}
}

// refreshStore is a RefreshTokens whose saves can be made to fail (a full disk).
type refreshStore struct {
	*wechat.MemoryRefreshTokens
	mu   sync.Mutex
	fail bool
}

func (s *refreshStore) SaveRefreshToken(ctx context.Context, appid, token string) error {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	return s.MemoryRefreshTokens.SaveRefreshToken(ctx, appid, token)
}

// A rotated refresh token the store failed to keep is held in memory and used
// next time (the old one is spent), then saved once the store works again.
func TestRotatedRefreshTokenSurvivesAFailedSave(t *testing.T) {
	fake := wechattest.NewServer()
	defer fake.Close()
	fake.AddApp(appID, "unused")
	fake.SetComponent("wxcomponent000001", "component-secret", "ticket")
	fake.SetAuthorizerRefreshToken(appID, "refresh-1")
	fake.SetRotateRefreshTokens(true)
	tr := wechat.NewTransport(wechat.Config{BaseURL: fake.URL, Backoff: time.Millisecond})
	store := &refreshStore{MemoryRefreshTokens: wechat.NewMemoryRefreshTokens(map[string]string{appID: "refresh-1"}), fail: true}
	c := wechat.NewClient(tr, wechat.NewTokenCache(wechat.NewComponentTokens(tr, "wxcomponent000001", "component-secret", wechat.TicketString("ticket"), store), 0))
	ctx := context.Background()
	if _, err := c.BindTester(ctx, appID, "tester_a"); err != nil {
		t.Fatalf("bind while the store fails: %v", err)
	}
	store.mu.Lock()
	store.fail = false
	store.mu.Unlock()
	fake.ExpireTokens(appID)
	if _, err := c.BindTester(ctx, appID, "tester_b"); err != nil {
		t.Fatalf("bind after the failed save: %v", err)
	}
	if got, _ := store.RefreshToken(ctx, appID); got != fake.AuthorizerRefreshToken(appID) {
		t.Errorf("store keeps %q, WeChat honours %q", got, fake.AuthorizerRefreshToken(appID))
	}
}
