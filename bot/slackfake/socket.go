package slackfake

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// slack-go dials with "Origin: https://api.slack.com", which the default origin check rejects.
var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// wsConn is one Socket Mode connection. Text frames are written under wmu; pings use
// WriteControl, which gorilla allows concurrently.
type wsConn struct {
	ws        *websocket.Conn
	wmu       sync.Mutex
	closed    chan struct{}
	closeOnce sync.Once
	retired   bool // sent a disconnect: takes no more envelopes (guarded by Server.mu)
}

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

// SetPingInterval sets how often connections opened from now on are pinged (default 5s).
func (s *Server) SetPingInterval(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pingInterval = d
}

// Connections counts the websocket connections that completed so far (hello sent).
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

// WaitConnections waits until at least n websocket connections completed.
func (s *Server) WaitConnections(n int, timeout time.Duration) bool {
	return s.wait(timeout, func() bool { return s.connections >= n })
}

// Disconnect sends {"type":"disconnect","reason":reason} on the newest connection, as Slack
// does before it rotates a socket (reason "refresh_requested", "warning", ...). The connection
// takes no more envelopes; the client is expected to open a new one.
func (s *Server) Disconnect(reason string) {
	s.mu.Lock()
	c := s.active
	if c != nil {
		c.retired = true
		s.active = nil
	}
	s.mu.Unlock()
	if c == nil {
		return
	}
	msg, _ := json.Marshal(map[string]any{
		"type": "disconnect", "reason": reason,
		"debug_info": map[string]any{"host": "slackfake"},
	})
	_ = c.write(msg)
}

// DropConnection closes every websocket abruptly (no close frame), like a network failure.
// Envelopes sent afterwards wait for the next connection.
func (s *Server) DropConnection() {
	s.mu.Lock()
	var conns []*wsConn
	for c := range s.conns {
		conns = append(conns, c)
	}
	clear(s.conns)
	s.active = nil
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
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
	c := &wsConn{ws: ws, closed: make(chan struct{})}

	s.mu.Lock()
	hello, _ := json.Marshal(map[string]any{
		"type":            "hello",
		"num_connections": len(s.conns) + 1,
		"debug_info": map[string]any{
			"host": "slackfake", "build_number": 1, "approximate_connection_time": 18060,
		},
		"connection_info": map[string]any{"app_id": AppID},
	})
	interval := s.pingInterval
	s.mu.Unlock()
	if err := c.write(hello); err != nil {
		c.close()
		return
	}

	s.mu.Lock()
	select {
	case <-s.done: // Close has begun: it would not see this connection
		s.mu.Unlock()
		c.close()
		return
	default:
	}
	s.wg.Add(2) // under mu with done open, so Close waits for both goroutines
	s.conns[c] = true
	s.active = c
	s.connections++
	s.notifyLocked()
	s.mu.Unlock()
	s.kickPump()

	defer s.wg.Done()
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

// readAcks records the client's acks, {"envelope_id":"…","payload":…}, until the connection ends.
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
		s.mu.Lock()
		s.acks[ack.EnvelopeID]++
		if len(ack.Payload) > 0 {
			s.ackPayloads[ack.EnvelopeID] = ack.Payload
		}
		s.notifyLocked()
		s.mu.Unlock()
	}
}

// forget removes a dead connection; another live one, if any, takes envelopes instead.
func (s *Server) forget(c *wsConn) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.active == c {
		s.active = nil
		for other := range s.conns {
			if !other.retired {
				s.active = other
			}
		}
	}
	s.mu.Unlock()
	c.close()
	s.kickPump()
}

func (s *Server) kickPump() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// pump writes queued envelopes, in order, to the active connection. An envelope whose write
// fails goes back to the head of the queue.
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

func (s *Server) deliverOne() bool {
	s.mu.Lock()
	c := s.active
	s.mu.Unlock()
	if c == nil {
		return false
	}
	c.wmu.Lock() // before re-checking, so a Disconnect cannot overtake this envelope
	defer c.wmu.Unlock()
	s.mu.Lock()
	if s.active != c {
		s.mu.Unlock()
		return true
	}
	if len(s.queue) == 0 {
		s.mu.Unlock()
		return false
	}
	env := s.queue[0]
	s.queue = s.queue[1:]
	s.mu.Unlock()
	if err := c.writeLocked(env.raw); err != nil {
		s.mu.Lock()
		s.queue = append([]*envelope{env}, s.queue...)
		s.mu.Unlock()
		s.forget(c)
	}
	return true
}
