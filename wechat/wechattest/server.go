// Package wechattest runs a fake WeChat API server on 127.0.0.1 whose behaviour is
// programmable: Mini Programs and their credentials, third-party platform tokens, the accounts
// that authorized the platform and what they granted, trial versions, experiencer (tester)
// bindings, and injected faults (errcodes, raw HTTP failures, latency, held calls).
//
// It stands beside package wechat the way net/http/httptest stands beside net/http: the wechat
// client's tests, the bot's end-to-end tests and the bot's local sandbox all talk to it over real
// HTTP. It therefore does not import package testing. MemoryTokenStore stands in for the
// database through which bot replicas share their access tokens.
//
// SetRoundTrip puts the server a network away, for benchmarks: every call waits a round trip and
// every new connection a handshake more; NewConnections shows whether the client reuses them.
//
// Methods that take an appid register that Mini Program when it is unknown (without a secret, so
// stable_token refuses it until AddApp gives it one). Over HTTP, an unknown appid answers 40013.
package wechattest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"

	"github.com/bindtester/bindtester/internal/netsim"
)

// Server is a fake api.weixin.qq.com. Its zero value is not usable; call NewServer.
// All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:12345, with no trailing slash.
	URL string

	srv       *httptest.Server
	listener  *netsim.Listener
	closed    chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	apps     map[string]*app
	tokens   map[string]*token
	comp     *component
	ttl      time.Duration
	rotate   bool
	outcomes map[string]int
	faults   map[string][]fault
	latency  map[string]time.Duration
	rtt      time.Duration // SetRoundTrip
	holds    map[string]*hold
	calls    map[string]int
	fetches  int
	requests []Request
	plat     platform // authorizers and versions: platform.go

	answerHolds map[string]*hold // HoldAnswers
}

// Request is one HTTP request the server received, recorded before any fault or check applies.
type Request struct {
	Method, Path string
	Query        url.Values
	Body         []byte
	ContentType  string
}

// NewServer starts a fake WeChat server on 127.0.0.1 and returns it ready to use.
// It panics if it cannot listen, like httptest.NewServer.
func NewServer() *Server {
	s := &Server{
		closed:   make(chan struct{}),
		apps:     map[string]*app{},
		tokens:   map[string]*token{},
		ttl:      DefaultTokenTTL,
		outcomes: map[string]int{},
		faults:   map[string][]fault{},
		latency:  map[string]time.Duration{},
		holds:    map[string]*hold{},
		calls:    map[string]int{},
	}
	s.answerHolds = map[string]*hold{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("wechattest: listen on 127.0.0.1: %v", err))
	}
	s.listener = netsim.Wrap(ln)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener.Close() // its own listener, replaced
	s.srv.Listener = s.listener
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// Close releases held and sleeping calls, then shuts the server down.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.srv.Close()
}

// NewConnections counts the TCP connections the server accepted. A client that keeps its
// connections alive opens about as many as it has calls in flight at once.
func (s *Server) NewConnections() int { return s.listener.NewConnections() }

// Calls reports how many requests arrived for path (token endpoints and failed calls included).
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// TokenFetches reports the successful answers of stable_token, api_component_token,
// api_authorizer_token and the token service, together. IssueToken does not count.
func (s *Server) TokenFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// Requests returns a copy of every request received, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Query = cloneValues(r.Query)
		r.Body = append([]byte(nil), r.Body...)
		out[i] = r
	}
	return out
}

// Reset clears the observation counters and the request record. Apps, tokens, testers and
// faults are kept.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
	s.fetches = 0
	s.requests = nil
}

// call is what a handler gets: the parsed query, the raw body and, for routes that need an
// access_token, the appid that token belongs to.
type call struct {
	q     url.Values
	body  []byte
	appid string
}

type route struct {
	method string
	auth   bool // needs ?access_token= of a Mini Program
	h      func(*Server, call) reply
}

var routes = map[string]route{
	"/cgi-bin/stable_token":                   {http.MethodPost, false, (*Server).stableToken},
	"/cgi-bin/component/api_component_token":  {http.MethodPost, false, (*Server).componentToken},
	"/cgi-bin/component/api_authorizer_token": {http.MethodPost, false, (*Server).authorizerToken},
	"/tokenservice":                           {http.MethodGet, false, (*Server).tokenService},
	"/wxa/bind_tester":                        {http.MethodPost, true, (*Server).bindTester},
	"/wxa/unbind_tester":                      {http.MethodPost, true, (*Server).unbindTester},
	"/wxa/memberauth":                         {http.MethodPost, true, (*Server).memberAuth},
	"/wxa/get_qrcode":                         {http.MethodGet, true, (*Server).getQRCode},
	"/wxa/getversioninfo":                     {http.MethodPost, true, (*Server).versionInfo},

	"/cgi-bin/component/api_get_authorizer_list": {http.MethodPost, false, (*Server).authorizerList},
	"/cgi-bin/component/api_get_authorizer_info": {http.MethodPost, false, (*Server).authorizerInfo},
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body) // a short read is recorded as is
	path := r.URL.Path

	s.mu.Lock()
	s.calls[path]++
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: path, Query: r.URL.Query(),
		Body: body, ContentType: r.Header.Get("Content-Type"),
	})
	h, d, ah := s.holds[path], s.rtt+s.latency[path], s.answerHolds[path]
	s.mu.Unlock()

	if !s.wait(r, h, d) {
		panic(http.ErrAbortHandler) // client gone or server closing: drop the connection
	}
	rp := s.handle(r, path, body)
	if ah != nil && !s.wait(r, ah, 0) {
		panic(http.ErrAbortHandler) // carried out, but the answer is lost
	}
	rp.write(w)
}

func (s *Server) handle(r *http.Request, path string, body []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.faults[path]; len(q) > 0 {
		s.faults[path] = q[1:]
		return q[0].reply()
	}
	rt, ok := routes[path]
	if !ok {
		return reply{http.StatusNotFound, "text/plain; charset=utf-8", []byte("404 page not found\n")}
	}
	if r.Method != rt.method {
		if rt.method == http.MethodGet {
			return answer(43001, nil)
		}
		return answer(43002, nil)
	}
	c := call{q: r.URL.Query(), body: body}
	if rt.auth {
		appid, code := s.checkToken(c.q.Get("access_token"), accessToken)
		if code == 0 {
			code = s.permits(appid) // every such route needs permission set 18
		}
		if code != 0 {
			return answer(code, nil)
		}
		c.appid = appid
	}
	return rt.h(s, c)
}

// reply is a complete HTTP answer, built under the lock and written after it.
type reply struct {
	status int
	ctype  string
	body   []byte
}

func (rp reply) write(w http.ResponseWriter) {
	if rp.ctype == "" {
		w.Header()["Content-Type"] = nil // no sniffing: send none
	} else {
		w.Header().Set("Content-Type", rp.ctype)
	}
	w.WriteHeader(rp.status)
	w.Write(rp.body)
}

// answer builds a WeChat JSON answer (HTTP 200) carrying errcode, its errmsg and fields.
func answer(errcode int, fields map[string]any) reply {
	m := map[string]any{"errcode": errcode, "errmsg": ErrMsg(errcode)}
	for k, v := range fields {
		m[k] = v
	}
	b, _ := json.Marshal(m) // strings, numbers and slices of maps only: cannot fail
	return reply{http.StatusOK, "application/json", b}
}

// ErrMsg is the errmsg the server sends with errcode ("ok" for 0).
func ErrMsg(errcode int) string {
	if m, ok := errmsgs[errcode]; ok {
		return m
	}
	return fmt.Sprintf("fake error %d", errcode)
}

var errmsgs = map[int]string{
	-1:    "system error",
	0:     "ok",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40013: "invalid appid",
	40094: "invalid component credential",
	40125: "invalid appsecret",
	40164: "invalid ip, not in whitelist",
	41001: "access_token missing",
	42001: "access_token expired",
	43001: "require GET method",
	43002: "require POST method",
	45009: "reach max api daily quota limit",
	45011: "api minute-quota reach limit, must slower, retry next minute",
	47001: "data format error",
	48001: "api unauthorized",
	48004: "api forbidden for irregularities, view detail on mp.weixin.qq.com",
	50002: "user limited",
	61003: "component is not authorized by this account",
	61004: "access clientip is not registered",
	61005: "component ticket is expired",
	61006: "component ticket is invalid",
	61007: "api is unauthorized to component",
	61014: "must use component token for component api",
	61023: "invalid refresh_token",
	85001: "user not exist or user cannot be searched",
	85002: "number of tester reach bind limit",
	85003: "user already bind too many weapps",
	85004: "user already bind",
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
