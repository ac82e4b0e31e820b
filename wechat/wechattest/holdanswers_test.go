package wechattest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// HoldAnswers carries the call out at once and withholds only its answer; a
// client that gives up gets none, and the bind stays done.
func TestHoldAnswers(t *testing.T) {
	s := newServer(t)
	tok := s.IssueToken(appID)
	release := s.HoldAnswers("/wxa/bind_tester")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+api("/wxa/bind_tester", tok), strings.NewReader(`{"wechatid":"alice"}`))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			err = errors.New("answered")
		}
		errc <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for s.UserStr(appID, "alice") == "" {
		if time.Now().After(deadline) {
			t.Fatal("the held call did not bind alice")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-errc:
		t.Fatalf("held answer arrived: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel() // the caller gives up: its answer is lost, the bind is not undone
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want canceled", err)
	}
	if s.UserStr(appID, "alice") == "" {
		t.Error("alice unbound when the answer was lost")
	}
	release()
	release() // idempotent
	wantCode(t, post(t, s, api("/wxa/bind_tester", tok), map[string]any{"wechatid": "alice"}), 85004)
	wantCode(t, post(t, s, api("/wxa/bind_tester", tok), map[string]any{"wechatid": "bob"}), 0)
}
