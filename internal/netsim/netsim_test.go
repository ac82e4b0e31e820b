package netsim_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bindtester/bindtester/internal/netsim"
)

func listen(t *testing.T) *netsim.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return netsim.Wrap(ln)
}

// serve starts an HTTP server on ln answering "ok".
func serve(t *testing.T, ln *netsim.Listener) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func TestCountsNewConnections(t *testing.T) {
	tests := []struct {
		name      string
		keepAlive bool
		requests  int
		want      int
	}{
		{"keep-alive reuses one connection", true, 5, 1},
		{"no keep-alive opens one per request", false, 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := listen(t)
			srv := serve(t, ln)
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: !tt.keepAlive}}
			defer c.CloseIdleConnections()
			for range tt.requests {
				get(t, c, srv.URL)
			}
			if got := ln.NewConnections(); got != tt.want {
				t.Errorf("NewConnections = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestHandshakeDelaysOnlyTheFirstRead(t *testing.T) {
	const handshake = 50 * time.Millisecond
	ln := listen(t)
	ln.SetHandshake(handshake)
	if ln.Handshake() != handshake {
		t.Fatalf("Handshake = %v", ln.Handshake())
	}
	srv := serve(t, ln)
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()

	begin := time.Now()
	get(t, c, srv.URL)
	if took := time.Since(begin); took < handshake {
		t.Errorf("first request on a new connection took %v, less than the handshake %v", took, handshake)
	}
	get(t, c, srv.URL) // same connection: no handshake; its speed is not asserted
	if got := ln.NewConnections(); got != 1 {
		t.Errorf("NewConnections = %d, want 1", got)
	}
}

func TestCloseEndsTheHandshakeWait(t *testing.T) {
	ln := listen(t)
	ln.SetHandshake(time.Hour)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c := <-accepted
	read := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		read <- err
	}()
	c.Close()
	if err := <-read; err == nil {
		t.Error("Read on a closed connection returned no error")
	}
}
