// Package netsim makes a loopback server behave a little more like one across a network, for
// benchmarks of the bot against the fakes: it counts the connections a server accepts and can
// make each new connection cost a handshake, the round trip (or two) a TCP and TLS handshake
// takes before the first request arrives. On loopback a new connection is nearly free, so
// without it a client that opens a connection per request looks as fast as one that reuses
// them; with it, reuse shows.
//
// Wrap a listener and hand it to the server:
//
//	srv := httptest.NewUnstartedServer(h)
//	ln := netsim.Wrap(srv.Listener)
//	ln.SetHandshake(40 * time.Millisecond)
//	srv.Listener = ln
//	srv.Start()
//
// It lives under internal/ because it serves the fakes and the bench command, not the bot.
package netsim

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Listener is a net.Listener that counts accepted connections and delays each one's first
// Read by the handshake time in force when it was accepted. Its methods are safe for
// concurrent use.
type Listener struct {
	net.Listener
	accepted  atomic.Int64
	handshake atomic.Int64 // nanoseconds
}

// Wrap returns a Listener accepting from ln, with no handshake delay.
func Wrap(ln net.Listener) *Listener { return &Listener{Listener: ln} }

// SetHandshake makes connections accepted from now on wait d before their first Read returns,
// as if the client's first bytes arrived only after a handshake; 0 (the default) removes it.
func (l *Listener) SetHandshake(d time.Duration) { l.handshake.Store(int64(max(d, 0))) }

// Handshake returns the delay set by SetHandshake.
func (l *Listener) Handshake() time.Duration { return time.Duration(l.handshake.Load()) }

// NewConnections counts the connections accepted so far.
func (l *Listener) NewConnections() int { return int(l.accepted.Load()) }

// Accept waits for the next connection, counts it and wraps it so that its first Read pays
// the handshake.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	d := l.Handshake()
	if d <= 0 {
		return c, nil
	}
	return &conn{Conn: c, ready: time.Now().Add(d), closed: make(chan struct{})}, nil
}

// conn is an accepted connection whose first Read waits for the handshake, counted from the
// moment it was accepted. Close ends the wait.
type conn struct {
	net.Conn
	ready     time.Time // when the handshake is over
	once      sync.Once // the handshake wait
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *conn) Read(p []byte) (int, error) {
	c.once.Do(c.waitHandshake)
	return c.Conn.Read(p)
}

func (c *conn) waitHandshake() {
	t := time.NewTimer(time.Until(c.ready))
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.closed:
	}
}

func (c *conn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}
