package wechattest

import (
	"net/http"
	"sync"
	"time"
)

// Faults apply to a path before normal handling, in this order: Hold, then latency (the round
// trip plus the path's own), then the
// queue of FailNext / FailNextHTTP answers. Every call still counts in Calls and Requests.
// HoldAnswers applies after handling: the call is carried out, only its answer waits.

// fault is one queued answer for a path.
type fault struct {
	errcode int    // a WeChat JSON answer, when raw is false
	raw     bool   // a raw HTTP answer
	status  int    // raw only
	ctype   string // raw only
	body    string // raw only
}

func (f fault) reply() reply {
	if !f.raw {
		return answer(f.errcode, nil)
	}
	return reply{f.status, f.ctype, []byte(f.body)}
}

// FailNext makes the next n calls to path (e.g. "/wxa/bind_tester") answer HTTP 200
// {"errcode":errcode,"errmsg":...}. Calls queue behind faults already pending for path.
func (s *Server) FailNext(path string, n int, errcode int) {
	s.queue(path, n, fault{errcode: errcode})
}

// FailNextHTTP makes the next n calls to path answer a raw HTTP status, Content-Type and body
// (a 502, an HTML error page, truncated JSON...). An empty contentType sends none.
func (s *Server) FailNextHTTP(path string, n int, status int, contentType, body string) {
	s.queue(path, n, fault{raw: true, status: status, ctype: contentType, body: body})
}

func (s *Server) queue(path string, n int, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[path] = append(s.faults[path], f)
	}
}

// SetLatency makes every call to path wait d before it is handled; 0 removes the delay. The
// wait ends early, without an answer, when the client goes away or the server closes.
func (s *Server) SetLatency(path string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.latency, path)
		return
	}
	s.latency[path] = d
}

// SetRoundTrip makes every call, whatever its path, wait d before it is handled (on top of the
// path's SetLatency), and every connection accepted from now on wait d more before its first
// request is read, as a TCP and TLS handshake would (see package netsim). 0 removes both.
func (s *Server) SetRoundTrip(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rtt = max(d, 0)
	s.listener.SetHandshake(d)
}

type hold struct {
	ch   chan struct{}
	once sync.Once
}

// Hold makes calls to path block until release is called; a call whose client goes away stops
// waiting, without an answer. Calls arriving after release pass. release may be called more
// than once. While a hold is pending, Hold for the same path returns a release for that hold.
func (s *Server) Hold(path string) (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.holds[path]
	if h == nil {
		h = &hold{ch: make(chan struct{})}
		s.holds[path] = h
	}
	return func() {
		h.once.Do(func() { close(h.ch) })
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.holds[path] == h {
			delete(s.holds, path)
		}
	}
}

// HoldAnswers makes calls to path be carried out at once — a bind_tester binds, an
// unbind_tester unbinds — and their answers withheld until release is called: WeChat acted,
// but the caller has not heard. A call whose client goes away first (it timed out, or its
// process died) gets no answer at all, and what it did stays done: a lost answer. Calls
// arriving after release are answered normally. release may be called more than once; while
// an answer hold is pending, HoldAnswers for the same path returns a release for that hold.
func (s *Server) HoldAnswers(path string) (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.answerHolds[path]
	if h == nil {
		h = &hold{ch: make(chan struct{})}
		s.answerHolds[path] = h
	}
	return func() {
		h.once.Do(func() { close(h.ch) })
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.answerHolds[path] == h {
			delete(s.answerHolds, path)
		}
	}
}

// wait applies a hold and a latency. It reports false when the request should be dropped
// because its client went away or the server is closing.
func (s *Server) wait(r *http.Request, h *hold, d time.Duration) bool {
	ctx := r.Context()
	if h != nil {
		select {
		case <-h.ch:
		case <-ctx.Done():
			return false
		case <-s.closed:
			return false
		}
	}
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		case <-s.closed:
			return false
		}
	}
	return true
}
