package slackfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// MaxConnections is how many Socket Mode connections Slack lets one app hold at once. One
// more is answered with a "too_many_websockets" disconnect and closed.
const MaxConnections = 10

// slack-go dials with "Origin: https://api.slack.com", which the default origin check rejects.
var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// wsConn is one Socket Mode connection. Text frames are written under wmu; pings use
// WriteControl, which gorilla allows concurrently.
type wsConn struct {
	ws        *websocket.Conn
	n         int // connection number, from 1 in the order connections were accepted
	wmu       sync.Mutex
	closed    chan struct{}
	closeOnce sync.Once

	// Guarded by Server.mu.
	retired bool                 // sent a disconnect: takes no more envelopes
	unacked map[string]*envelope // written to this connection and not acked yet
}

func (c *wsConn) host() string { return fmt.Sprintf("slackfake-%d", c.n) }

func (c *wsConn) writeLocked(msg []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, msg)
}

func (c *wsConn) write(msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(msg)
}

// close drops the TCP connection without a close frame.
func (c *wsConn) close() {
	c.closeOnce.Do(func() {
		close(c.closed)
		_ = c.ws.Close()
	})
}

func disconnectMessage(reason, host string) []byte {
	msg, _ := json.Marshal(map[string]any{
		"type": "disconnect", "reason": reason,
		"debug_info": map[string]any{"host": host},
	})
	return msg
}

// SetPingInterval sets how often connections opened from now on are pinged (default 5s).
func (s *Server) SetPingInterval(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pingInterval = d
}

// SetRedeliverUnacked says whether an envelope written to a connection that then closes
// without acking it goes back to the queue for another connection (the default), as Slack
// redelivers it. The redelivery keeps the envelope ID and payload; an "events_api" envelope
// gets retry_attempt incremented and retry_reason "timeout". Off, such envelopes are lost.
func (s *Server) SetRedeliverUnacked(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redeliverUnacked = on
}

// Connections counts the websocket connections accepted so far (hello sent).
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

// ConnectionsOpened counts the distinct websocket connections ever accepted (hello sent),
// closed ones included; refused ones are not counted. It is the same count as Connections.
// A connection is live, and counted, by the time its client reads hello.
func (s *Server) ConnectionsOpened() int { return s.Connections() }

// WaitConnections waits until at least n websocket connections were accepted.
func (s *Server) WaitConnections(n int, timeout time.Duration) bool {
	return s.wait(timeout, func() bool { return s.connections >= n })
}

// LiveConnections returns the numbers of the open connections that take envelopes (not
// retired by a disconnect), oldest first. Connections are numbered from 1 in the order the
// fake accepted them; the number is also in hello's debug_info.host, "slackfake-<n>".
func (s *Server) LiveConnections() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.liveNumbersLocked()
}

func (s *Server) liveNumbersLocked() []int {
	ns := make([]int, len(s.live))
	for i, c := range s.live {
		ns[i] = c.n
	}
	return ns
}

// WaitLiveConnections waits until exactly n connections take envelopes.
func (s *Server) WaitLiveConnections(n int, timeout time.Duration) bool {
	return s.wait(timeout, func() bool { return len(s.live) == n })
}

// RefusedConnections counts the connections refused with "too_many_websockets".
func (s *Server) RefusedConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Disconnect sends {"type":"disconnect","reason":reason} on the newest connection that takes
// envelopes, as Slack does before it rotates a socket (reason "refresh_requested", "warning",
// ...). The connection takes no more envelopes; the client is expected to open a new one.
func (s *Server) Disconnect(reason string) {
	s.mu.Lock()
	n := 0
	if len(s.live) > 0 {
		n = s.live[len(s.live)-1].n
	}
	s.mu.Unlock()
	if n > 0 {
		s.DisconnectConnection(n, reason)
	}
}

// DisconnectConnection is Disconnect for connection number n. It reports whether n was a
// connection that took envelopes.
func (s *Server) DisconnectConnection(n int, reason string) bool {
	s.mu.Lock()
	c := s.liveLocked(n)
	if c != nil {
		c.retired = true
		s.live = slices.DeleteFunc(s.live, func(o *wsConn) bool { return o == c })
		s.notifyLocked()
	}
	s.mu.Unlock()
	if c == nil {
		return false
	}
	_ = c.write(disconnectMessage(reason, c.host()))
	return true
}

func (s *Server) liveLocked(n int) *wsConn {
	for _, c := range s.live {
		if c.n == n {
			return c
		}
	}
	return nil
}

// DropConnection closes every websocket abruptly (no close frame), like a network failure.
// Envelopes sent afterwards wait for the next connection; envelopes written and not acked are
// redelivered then (see SetRedeliverUnacked).
func (s *Server) DropConnection() {
	s.mu.Lock()
	var conns []*wsConn
	for c := range s.conns {
		conns = append(conns, c)
		s.removeLocked(c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	s.kickPump()
}

// CloseConnection closes connection number n abruptly (no close frame), like a network
// failure or a replica that died. Its unacked envelopes go to the other connections (see
// SetRedeliverUnacked). It reports whether n was open.
func (s *Server) CloseConnection(n int) bool {
	s.mu.Lock()
	var found *wsConn
	for c := range s.conns {
		if c.n == n {
			found = c
			s.removeLocked(c)
		}
	}
	s.mu.Unlock()
	if found == nil {
		return false
	}
	found.close()
	s.kickPump()
	return true
}

// openConnection answers apps.connections.open with a one-use websocket URL.
func (s *Server) openConnection(w http.ResponseWriter) {
	ticket := s.id("ticket-")
	s.mu.Lock()
	s.tickets[ticket] = true
	s.mu.Unlock()
	wsURL := "ws" + strings.TrimPrefix(s.http.URL, "http") + "/ws?ticket=" + ticket + "&app_id=" + AppID
	writeJSON(w, map[string]any{"ok": true, "url": wsURL})
}

func (s *Server) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	valid := s.tickets[ticket]
	delete(s.tickets, ticket)
	s.mu.Unlock()
	if !valid {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &wsConn{ws: ws, closed: make(chan struct{}), unacked: map[string]*envelope{}}

	s.mu.Lock()
	select {
	case <-s.done: // Close has begun: it would not see this connection
		s.mu.Unlock()
		c.close()
		return
	default:
	}
	open := 0
	for o := range s.conns {
		if !o.retired {
			open++
		}
	}
	if open >= MaxConnections {
		s.refused++
		s.notifyLocked()
		s.mu.Unlock()
		_ = c.write(disconnectMessage("too_many_websockets", "slackfake"))
		_ = ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "too_many_websockets"),
			time.Now().Add(time.Second))
		c.close()
		return
	}
	s.wg.Add(2) // under mu with done open, so Close waits for this handler and its pinger
	defer s.wg.Done()
	s.connSeq++
	c.n = s.connSeq
	hello, _ := json.Marshal(map[string]any{
		"type":            "hello",
		"num_connections": open + 1,
		"debug_info": map[string]any{
			"host": c.host(), "build_number": 1, "approximate_connection_time": 18060,
		},
		"connection_info": map[string]any{"app_id": AppID},
	})
	interval := s.pingInterval
	// Live before the client can read hello, but the pump needs wmu, so hello goes first.
	// Taking wmu under mu is safe here only because nobody else knows c yet.
	c.wmu.Lock()
	s.conns[c] = true
	s.live = append(s.live, c)
	s.connections++
	s.notifyLocked()
	s.mu.Unlock()
	err = c.writeLocked(hello)
	c.wmu.Unlock()
	if err != nil {
		s.wg.Done() // no pinger
		s.forget(c)
		return
	}
	s.kickPump()

	go s.ping(c, interval)
	s.readAcks(c)
}

// ping sends a websocket ping right away and then every interval, as Slack does;
// slack-go reconnects when pings stop.
func (s *Server) ping(c *wsConn, interval time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := c.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(5*time.Second)); err != nil {
			return
		}
		select {
		case <-t.C:
		case <-c.closed:
			return
		case <-s.done:
			return
		}
	}
}

// readAcks records the client's acks, {"envelope_id":"…","payload":…}, until the connection
// ends. An ack counts for its envelope whichever connection it comes on. The first ack of a
// view_submission acts on the modal (see SubmitView).
func (s *Server) readAcks(c *wsConn) {
	defer s.forget(c)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(data, &ack) != nil || ack.EnvelopeID == "" {
			continue
		}
		now := time.Now()
		s.mu.Lock()
		s.acks[ack.EnvelopeID]++
		if len(ack.Payload) > 0 {
			s.ackPayloads[ack.EnvelopeID] = ack.Payload
		}
		if env := s.envelopes[ack.EnvelopeID]; env != nil {
			if env.acked.IsZero() {
				env.acked = now
				if env.submits != "" { // Slack acts on the first answer only
					s.applyResponseActionLocked(env.submits, ack.Payload)
				}
			}
			if env.on != nil {
				delete(env.on.unacked, env.id)
				env.on = nil
			}
		}
		s.notifyLocked()
		s.mu.Unlock()
	}
}

// forget removes a dead connection; the other live ones take envelopes instead.
func (s *Server) forget(c *wsConn) {
	s.mu.Lock()
	s.removeLocked(c)
	s.mu.Unlock()
	c.close()
	s.kickPump()
}

// removeLocked unregisters c, once, and puts its unacked envelopes back at the head of the
// queue, oldest first, when redelivery is on; s.mu must be held.
func (s *Server) removeLocked(c *wsConn) {
	if !s.conns[c] {
		return
	}
	delete(s.conns, c)
	s.live = slices.DeleteFunc(s.live, func(o *wsConn) bool { return o == c })
	var back []*envelope
	for _, env := range c.unacked {
		env.on = nil
		if s.redeliverUnacked && s.acks[env.id] == 0 {
			back = append(back, env)
		}
	}
	clear(c.unacked)
	slices.SortFunc(back, func(a, b *envelope) int { return a.seq - b.seq })
	for _, env := range back {
		if env.typ == "events_api" {
			env.retryAttempt++
			env.retryReason = "timeout"
			env.raw = env.marshal()
		}
	}
	s.queue = append(back, s.queue...)
	s.notifyLocked()
}

func (s *Server) kickPump() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// pump writes queued envelopes, in order, one connection per envelope, taking the live
// connections in turn (round-robin). An envelope whose write fails goes back to the head of
// the queue.
func (s *Server) pump() {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case <-s.kick:
		}
		for s.deliverOne() {
		}
	}
}

// deliverOne writes the head of the queue to the next live connection. It returns false when
// there is nothing to write or nobody to write to.
func (s *Server) deliverOne() bool {
	s.mu.Lock()
	if len(s.live) == 0 || len(s.queue) == 0 {
		s.mu.Unlock()
		return false
	}
	c := s.live[s.turn%len(s.live)]
	s.mu.Unlock()

	c.wmu.Lock() // before re-checking, so a Disconnect cannot overtake this envelope
	defer c.wmu.Unlock()
	s.mu.Lock()
	if c.retired || !s.conns[c] {
		s.mu.Unlock()
		return true // pick again
	}
	if len(s.queue) == 0 {
		s.mu.Unlock()
		return false
	}
	env := s.queue[0]
	s.queue = s.queue[1:]
	if len(env.deliveries) > 0 && s.acks[env.id] > 0 {
		s.mu.Unlock() // a redelivery whose late ack arrived meanwhile
		return true
	}
	s.turn++
	// Recorded before the write, so an ack racing the write finds it.
	env.on = c
	c.unacked[env.id] = env
	env.deliveries = append(env.deliveries, c.n)
	firstSend := env.sent.IsZero()
	if firstSend {
		env.sent = time.Now()
	}
	raw := env.raw
	s.notifyLocked()
	s.mu.Unlock()

	if err := c.writeLocked(raw); err != nil {
		s.mu.Lock()
		if env.on == c { // not yet requeued by a DropConnection or CloseConnection racing the write
			env.on = nil
			delete(c.unacked, env.id)
			env.deliveries = env.deliveries[:len(env.deliveries)-1]
			if firstSend && len(env.deliveries) == 0 {
				env.sent = time.Time{}
			}
			s.queue = append([]*envelope{env}, s.queue...)
		}
		s.mu.Unlock()
		s.forget(c)
	}
	return true
}
