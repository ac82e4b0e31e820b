package slackfake_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/bindtester/bindtester/bot/slackfake"
)

// Over TLS the fake speaks HTTP/2, as Slack does: a client that offers it
// sends concurrent Web API calls over one connection, and Socket Mode still
// connects (wss) and gets its envelopes.
func TestTLSServerSharesOneConnection(t *testing.T) {
	fake := slackfake.NewServerTLS(botToken, appToken)
	t.Cleanup(fake.Close)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(fake.CertPEM()) {
		t.Fatal("CertPEM is not a certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	api := slack.New(botToken, slack.OptionAppLevelToken(appToken), slack.OptionAPIURL(fake.URL),
		slack.OptionHTTPClient(&http.Client{Transport: tr}))
	if _, err := api.AuthTestContext(context.Background()); err != nil { // the connection, before the crowd
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, _, err := api.PostMessageContext(context.Background(), "C1", slack.MsgOptionText("hi", false)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := fake.NewConnections(); n != 1 {
		t.Errorf("nine calls, eight at once, opened %d connections, want 1 (HTTP/2)", n)
	}

	// Socket Mode over wss, trusting the fake's certificate.
	ws := socketmode.New(api, socketmode.OptionDialer(&websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = ws.RunContext(ctx) }()
	if !fake.WaitConnections(1, 10*time.Second) {
		t.Fatal("Socket Mode never connected over TLS")
	}
}
