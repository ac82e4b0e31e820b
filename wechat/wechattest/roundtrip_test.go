package wechattest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/wechat/wechattest"
)

// post calls path on the server through c and drains the answer.
func post(ctx context.Context, c *http.Client, s *wechattest.Server, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, strings.NewReader(`{}`))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func TestNewConnections(t *testing.T) {
	tests := []struct {
		name      string
		keepAlive bool
		want      int
	}{
		{"keep-alive: one connection for three calls", true, 1},
		{"no keep-alive: one connection per call", false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := wechattest.NewServer()
			defer s.Close()
			tr := &http.Transport{DisableKeepAlives: !tt.keepAlive}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			for range 3 {
				if err := post(context.Background(), c, s, "/cgi-bin/stable_token"); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.NewConnections(); got != tt.want {
				t.Errorf("NewConnections = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestSetRoundTripDelaysEveryPath(t *testing.T) {
	const rtt = 60 * time.Millisecond
	s := wechattest.NewServer()
	defer s.Close()
	s.SetRoundTrip(rtt)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	ctx := context.Background()

	// New connection: handshake and round trip. Only lower bounds are checked.
	begin := time.Now()
	if err := post(ctx, c, s, "/wxa/bind_tester"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < 2*rtt {
		t.Errorf("first call took %v, want at least handshake + round trip = %v", took, 2*rtt)
	}
	for _, path := range []string{"/cgi-bin/stable_token", "/wxa/memberauth", "/no/such/path"} {
		begin := time.Now()
		if err := post(ctx, c, s, path); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(begin); took < rtt {
			t.Errorf("%s took %v, want at least the round trip %v", path, took, rtt)
		}
	}
	if got := s.NewConnections(); got != 1 {
		t.Errorf("NewConnections = %d, want 1 (keep-alive)", got)
	}

	// A path's own latency adds to the round trip.
	s.SetLatency("/wxa/bind_tester", time.Second)
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := post(short, c, s, "/wxa/bind_tester"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("bind_tester with 1s latency on top of the round trip, within 1s: %v, want a deadline error", err)
	}

	s.SetRoundTrip(0)
	s.SetLatency("/wxa/bind_tester", 0)
	short2, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if err := post(short2, c, s, "/wxa/bind_tester"); err != nil {
		t.Errorf("after SetRoundTrip(0): %v", err)
	}
}
