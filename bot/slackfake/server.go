// Package slackfake is a fake Slack for end-to-end tests of the bot's Socket Mode adapter.
//
// A Server is a real HTTP server on 127.0.0.1 speaking both protocols a Socket Mode app uses:
// the Web API (point slack-go at it with slack.OptionAPIURL(server.URL)) and the Socket Mode
// websocket that apps.connections.open hands out. Tests push envelopes (slash commands, app
// mentions, block actions, app_home_opened, view submissions and closes), watch the acks and
// their response payloads, and read back every message, ephemeral, update, response_url post,
// file, modal and home tab the bot produced.
//
// Modals and home tabs follow Slack's rules: views.open takes only a trigger_id the fake put in
// an envelope, once, within 3 seconds (SetTriggerLifetime); views.update and views.publish
// answer hash_conflict for a stale hash; a view_submission's ack payload (response_action
// errors, update, push or clear) acts on the modal as Slack would. Views, OpenViews and HomeOf
// tell a test what the user sees. Switches make Slack misbehave the way it does in
// production: rate limits, slow methods, channels the bot is not in, unknown users, revoked
// tokens, disconnects and dead sockets.
//
// SetRoundTrip puts the fake a network away, for benchmarks: every HTTP request waits a round
// trip before it is handled, and every new connection costs one more (see package netsim), so
// a client that reuses its connections is faster than one that does not. NewConnections,
// Message.At, EnvelopeTimes and OnMessage let a benchmark time the answers.
//
// Like Slack, the fake lets one app hold up to MaxConnections websockets (replicas of the bot)
// and writes each envelope to one of them, taking the live connections in turn; an envelope
// left unacked on a connection that closes is redelivered to another one. Deliveries,
// DeliveredTo and AckCount tell a test which connection got what and how often it was acked.
//
// It has its own package because slack-go's slacktest answers apps.connections.open but sends no
// envelopes and records neither acks, pings nor response_url posts, and the design forbids
// testing HTTP through mocked interfaces.
package slackfake

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/bindtester/bindtester/internal/netsim"
)

// Identity of the fake workspace and of the bot user in it.
const (
	TeamID    = "T0001"
	BotUserID = "UBOT"
	BotID     = "B0001"
	AppID     = "A0001"
)

// Message is one thing the bot put in front of users, in the order the fake received them.
type Message struct {
	// Method is "chat.postMessage", "chat.postEphemeral", "chat.update", "response_url" or "file".
	Method string
	// Channel is where it landed. A user ID given to chat.postMessage is resolved to that
	// user's DM channel "D"+userID, as conversations.open would answer.
	Channel string
	// User is the recipient of an ephemeral, or the requester behind a response_url.
	User string
	// Text is the message text; for a file, its initial_comment.
	Text     string
	ThreadTS string
	// TS is the message's ts: the new ts the fake returned, or the ts that was updated.
	TS string
	// Blocks is the raw JSON of the blocks, "" when there were none.
	Blocks string
	// ResponseType, ReplaceOriginal and DeleteOriginal come from response_url posts.
	ResponseType                    string
	ReplaceOriginal, DeleteOriginal bool
	// FileName, FileTitle and FileBytes describe an uploaded file.
	FileName, FileTitle string
	FileBytes           []byte
	// At is when the fake recorded it: when the message became visible, for a benchmark.
	At time.Time
}

// Server is a fake Slack. Create it with NewServer and stop it with Close. All methods are
// safe for concurrent use.
type Server struct {
	// URL is the Web API base, ending in a slash: give it to slack.OptionAPIURL.
	URL string

	botToken, appToken string
	http               *httptest.Server
	listener           *netsim.Listener
	done               chan struct{}
	closeOnce          sync.Once
	kick               chan struct{} // wakes the envelope pump
	wg                 sync.WaitGroup

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every state change
	seq     int           // source of ids and timestamps

	// Socket Mode.
	appRevoked       bool
	tickets          map[string]bool
	conns            map[*wsConn]bool // every open connection, retired ones included
	live             []*wsConn        // open connections that take envelopes, oldest first
	turn             int              // round-robin cursor over live
	connSeq          int              // last connection number given out
	connections      int              // connections accepted (hello sent)
	refused          int              // connections refused with too_many_websockets
	redeliverUnacked bool
	pingInterval     time.Duration
	queue            []*envelope
	envelopes        map[string]*envelope
	acks             map[string]int
	ackPayloads      map[string]json.RawMessage

	// Every HTTP request.
	roundTrip time.Duration

	// Web API.
	messages      []Message
	onMessage     []func(Message)
	calls         map[string]int
	channelErrors map[string]string
	users         map[string]user
	groups        map[string][]string
	rateLimits    map[string]rateLimit
	latency       map[string]time.Duration
	responseURLs  map[string]*responseURL
	uploads       map[string]*upload

	// Views: modals and home tabs (views.go).
	views           map[string]*liveView // by view ID
	viewOrder       []string             // view IDs, in the order they were first opened or published
	viewLog         []View               // every version, in order
	homes           map[string]string    // user ID → home tab view ID
	externalIDs     map[string]string    // external_id → view ID
	triggers        map[string]*trigger  // trigger_id → what views.open needs to know
	triggerLifetime time.Duration
	homeTabOff      bool
}

type user struct{ name, locale string }

type rateLimit struct{ left, retryAfter int }

// NewServer starts a fake Slack on 127.0.0.1 that accepts botToken on the Web API and
// appToken on apps.connections.open, over plain HTTP/1.1.
func NewServer(botToken, appToken string) *Server { return newServer(botToken, appToken, false) }

// NewServerTLS is NewServer over TLS, speaking HTTP/2 to clients that offer it, as Slack
// does: concurrent calls of one client can share one connection. Its certificate is
// self-signed (CertPEM); a client trusts it through its root CAs, e.g. SSL_CERT_FILE.
func NewServerTLS(botToken, appToken string) *Server { return newServer(botToken, appToken, true) }

// CertPEM is the PEM of the certificate a NewServerTLS server presents (nil without TLS).
func (s *Server) CertPEM() []byte {
	c := s.http.Certificate()
	if c == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func newServer(botToken, appToken string, tls bool) *Server {
	s := &Server{
		botToken:         botToken,
		appToken:         appToken,
		done:             make(chan struct{}),
		kick:             make(chan struct{}, 1),
		changed:          make(chan struct{}),
		tickets:          map[string]bool{},
		conns:            map[*wsConn]bool{},
		redeliverUnacked: true,
		pingInterval:     5 * time.Second,
		envelopes:        map[string]*envelope{},
		acks:             map[string]int{},
		ackPayloads:      map[string]json.RawMessage{},
		calls:            map[string]int{},
		channelErrors:    map[string]string{},
		users:            map[string]user{},
		groups:           map[string][]string{},
		rateLimits:       map[string]rateLimit{},
		latency:          map[string]time.Duration{},
		responseURLs:     map[string]*responseURL{},
		uploads:          map[string]*upload{},
		views:            map[string]*liveView{},
		homes:            map[string]string{},
		externalIDs:      map[string]string{},
		triggers:         map[string]*trigger{},
		triggerLifetime:  DefaultTriggerLifetime,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.serveAPI)
	mux.HandleFunc("/ws", s.serveWebsocket)
	mux.HandleFunc("/response/{id}", s.serveResponseURL)
	mux.HandleFunc("/upload/{id}", s.serveUpload)
	s.http = httptest.NewUnstartedServer(s.delayed(mux)) // listens on 127.0.0.1
	s.listener = netsim.Wrap(s.http.Listener)
	s.http.Listener = s.listener
	if tls {
		s.http.EnableHTTP2 = true
		s.http.StartTLS()
	} else {
		s.http.Start()
	}
	s.URL = s.http.URL + "/api/"
	s.wg.Add(1)
	go s.pump()
	return s
}

// Close drops every websocket, stops the server and waits for its goroutines.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.DropConnection()
		s.http.CloseClientConnections()
		s.http.Close()
		s.wg.Wait()
	})
}

// SetAppTokenRevoked makes apps.connections.open answer invalid_auth (or work again).
func (s *Server) SetAppTokenRevoked(revoked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appRevoked = revoked
}

// SetChannelError makes chat.postMessage, chat.postEphemeral and file uploads to channelID
// answer {"ok":false,"error":slackError}, e.g. "not_in_channel". An empty slackError clears it.
func (s *Server) SetChannelError(channelID, slackError string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slackError == "" {
		delete(s.channelErrors, channelID)
		return
	}
	s.channelErrors[channelID] = slackError
}

// SetUser makes users.info know the user.
func (s *Server) SetUser(id, name, locale string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = user{name: name, locale: locale}
}

// SetUserGroup sets the members usergroups.users.list answers for groupID.
func (s *Server) SetUserGroup(groupID string, members []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[groupID] = slices.Clone(members)
}

// RateLimit makes the next n calls to the Web API method answer HTTP 429 with Retry-After.
func (s *Server) RateLimit(method string, n, retryAfterSeconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimits[method] = rateLimit{left: n, retryAfter: retryAfterSeconds}
}

// SetLatency delays every answer of the Web API method by d (0 removes the delay).
func (s *Server) SetLatency(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency[method] = d
}

// SetRoundTrip makes every HTTP request the fake receives — Web API methods (on top of
// SetLatency), apps.connections.open and the websocket upgrade, response_url and upload URL
// posts — wait d before it is handled, and every connection accepted from now on wait d more
// before its first request is read, as a TCP and TLS handshake would. 0 removes both. Frames
// on an open websocket (envelopes, acks, pings) are not delayed.
func (s *Server) SetRoundTrip(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roundTrip = d
	s.listener.SetHandshake(d)
}

// NewConnections counts the TCP connections the fake's HTTP listener accepted: Web API,
// response_url and upload connections, and each Socket Mode websocket (its upgrade is an HTTP
// request on a connection of its own, like any other).
func (s *Server) NewConnections() int { return s.listener.NewConnections() }

// delayed wraps h so that every request first waits the round trip (see SetRoundTrip).
func (s *Server) delayed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		d := s.roundTrip
		s.mu.Unlock()
		s.sleep(r, d)
		h.ServeHTTP(w, r)
	})
}

// sleep waits d, or less when the request's client goes away or the fake closes.
func (s *Server) sleep(r *http.Request, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-s.done:
	}
}

// OnMessage registers fn to be called with each message recorded from now on (At set), after
// the fake recorded it and before it answers the request that posted it, outside the fake's
// lock. Calls come from the goroutines serving requests, so they may be concurrent; keep fn
// quick, since the bot waits for its answer meanwhile.
func (s *Server) OnMessage(fn func(Message)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onMessage = append(s.onMessage, fn)
}

// Calls counts the requests the Web API method received, rejected ones included.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// MessagesIn returns, in order, the recorded messages in channel under the thread threadTS,
// or at the channel's top level when threadTS is "". A user ID as channel means that user's
// DM channel. A chat.update belongs where the message it updated was posted; an update of a
// message the fake did not see counts as top level.
func (s *Server) MessagesIn(channel, threadTS string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	dm := dmChannel(channel)
	var out []Message
	for _, m := range s.messages {
		if m.Channel != channel && m.Channel != dm {
			continue
		}
		thread := m.ThreadTS
		if m.Method == "chat.update" {
			thread = s.threadOfLocked(m.Channel, m.TS)
		}
		if thread == threadTS {
			out = append(out, m)
		}
	}
	return out
}

// threadOfLocked returns the thread_ts of the posted message channel/ts, "" if top level or
// unknown; s.mu must be held.
func (s *Server) threadOfLocked(channel, ts string) string {
	for _, m := range s.messages {
		if m.Method != "chat.update" && m.Channel == channel && m.TS == ts {
			return m.ThreadTS
		}
	}
	return ""
}

// Messages returns a copy of everything recorded so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// WaitMessages waits until done accepts the recorded messages, or timeout passes. It returns
// the messages it last saw and whether done accepted them. done is called with a copy, outside
// the fake's lock, after every change: it may call the fake's other methods.
func (s *Server) WaitMessages(timeout time.Duration, done func([]Message) bool) ([]Message, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		seen, changed := slices.Clone(s.messages), s.changed
		s.mu.Unlock()
		if done(seen) {
			return seen, true
		}
		select {
		case <-changed:
		case <-timer.C:
			return seen, false
		case <-s.done:
			return seen, false
		}
	}
}

// recordLocked stamps m with the time, keeps it and wakes the waiters; s.mu must be held. It
// returns m as recorded and the OnMessage hooks to call with it once s.mu is released.
func (s *Server) recordLocked(m Message) (Message, []func(Message)) {
	m.At = time.Now()
	s.messages = append(s.messages, m)
	s.notifyLocked()
	return m, s.onMessage
}

// record is recordLocked for a caller that does not hold s.mu; it calls the hooks.
func (s *Server) record(m Message) {
	s.mu.Lock()
	m, hooks := s.recordLocked(m)
	s.mu.Unlock()
	fire(m, hooks)
}

// fire calls the OnMessage hooks with m; s.mu must not be held.
func fire(m Message, hooks []func(Message)) {
	for _, fn := range hooks {
		fn(m)
	}
}

// notifyLocked wakes every waiter; s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// wait runs cond under s.mu after every change until it holds or timeout passes.
func (s *Server) wait(timeout time.Duration, cond func() bool) bool {
	return s.waitUnlocked(timeout, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return cond()
	})
}

// nextLocked returns a fresh sequence number; s.mu must be held.
func (s *Server) nextLocked() int {
	s.seq++
	return s.seq
}

// tsLocked returns a unique, increasing Slack timestamp; s.mu must be held.
func (s *Server) tsLocked() string {
	micro := 100 * s.nextLocked()
	return fmt.Sprintf("%d.%06d", 1700000000+micro/1000000, micro%1000000)
}

func (s *Server) ts() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tsLocked()
}

func (s *Server) id(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%s%08d", prefix, s.nextLocked())
}

// writeJSON answers 200 with v as JSON, as Slack does even for {"ok":false}.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// slackError answers {"ok":false,"error":code}.
func slackError(w http.ResponseWriter, code string) {
	writeJSON(w, map[string]any{"ok": false, "error": code})
}
