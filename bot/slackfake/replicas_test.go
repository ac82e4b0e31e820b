package slackfake_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bindtester/bindtester/bot/slackfake"
)

// rawClient is one Socket Mode connection driven by hand with gorilla/websocket, so a test
// decides when (and whether) it acks.
type rawClient struct {
	ws    *websocket.Conn
	hello map[string]any
}

// frame is a Socket Mode message as the fake writes it.
type frame struct {
	Type         string          `json:"type"`
	Reason       string          `json:"reason"`
	EnvelopeID   string          `json:"envelope_id"`
	Payload      json.RawMessage `json:"payload"`
	RetryAttempt int             `json:"retry_attempt"`
	RetryReason  string          `json:"retry_reason"`
}

// dialRaw opens a websocket the way slack-go does: apps.connections.open with the app token,
// then a dial of the URL it answers. It returns the client and its first frame.
func dialRaw(t *testing.T, fake *slackfake.Server) (*rawClient, frame) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fake.URL+"apps.connections.open", nil)
	req.Header.Set("Authorization", "Bearer "+appToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var open struct {
		OK  bool   `json:"ok"`
		URL string `json:"url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&open); err != nil || !open.OK {
		t.Fatalf("apps.connections.open = %+v, %v", open, err)
	}
	ws, _, err := websocket.DefaultDialer.Dial(open.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	c := &rawClient{ws: ws}
	first := c.read(t)
	return c, first
}

// dialReady opens a connection and checks that it was greeted with hello.
func dialReady(t *testing.T, fake *slackfake.Server) *rawClient {
	t.Helper()
	c, first := dialRaw(t, fake)
	if first.Type != "hello" {
		t.Fatalf("first frame = %+v, want hello", first)
	}
	return c
}

func (c *rawClient) read(t *testing.T) frame {
	t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(wait))
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %s: %v", data, err)
	}
	return f
}

// quiet checks that nothing arrives for d.
func (c *rawClient) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(d))
	if _, data, err := c.ws.ReadMessage(); err == nil {
		t.Fatalf("unexpected frame %s", data)
	}
}

func (c *rawClient) ack(t *testing.T, envelopeID string) {
	t.Helper()
	if err := c.ws.WriteJSON(map[string]any{"envelope_id": envelopeID}); err != nil {
		t.Fatal(err)
	}
}

func TestEnvelopesAreSharedRoundRobin(t *testing.T) {
	fake := newFake(t)
	clients := []*rawClient{dialReady(t, fake), dialReady(t, fake), dialReady(t, fake)}
	if got := fake.LiveConnections(); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("LiveConnections() = %v", got)
	}

	var ids []string
	for i := range 6 {
		ids = append(ids, fake.SlashCommand(slackfake.SlashCommand{Text: fmt.Sprint(i), UserID: "U1", ChannelID: "C1"}))
	}
	for i, id := range ids {
		c := clients[i%3]
		f := c.read(t)
		if f.Type != "slash_commands" || f.EnvelopeID != id {
			t.Fatalf("connection %d got %+v, want envelope %d (%s)", i%3+1, f, i, id)
		}
		c.ack(t, id)
	}
	for i, id := range ids {
		if !fake.WaitAck(id, wait) {
			t.Fatalf("envelope %d not acked", i)
		}
		if got := fake.DeliveredTo(id); !slices.Equal(got, []int{i%3 + 1}) {
			t.Errorf("DeliveredTo(envelope %d) = %v, want [%d]", i, got, i%3+1)
		}
		if d, a := fake.Deliveries(id), fake.AckCount(id); d != 1 || a != 1 {
			t.Errorf("envelope %d: Deliveries %d, AckCount %d, want 1 and 1", i, d, a)
		}
	}
	if n := fake.ConnectionsOpened(); n != 3 {
		t.Fatalf("ConnectionsOpened() = %d, want 3", n)
	}

	// A retired connection drops out of the rotation.
	if !fake.DisconnectConnection(2, "refresh_requested") {
		t.Fatal("DisconnectConnection(2) = false")
	}
	if f := clients[1].read(t); f.Type != "disconnect" || f.Reason != "refresh_requested" {
		t.Fatalf("connection 2 got %+v, want disconnect", f)
	}
	if got := fake.LiveConnections(); !slices.Equal(got, []int{1, 3}) {
		t.Fatalf("LiveConnections() after disconnect = %v", got)
	}
	for i := range 4 {
		id := fake.SlashCommand(slackfake.SlashCommand{Text: "more", UserID: "U1", ChannelID: "C1"})
		c, n := clients[0], 1
		if i%2 == 1 {
			c, n = clients[2], 3
		}
		if f := c.read(t); f.EnvelopeID != id {
			t.Fatalf("connection %d got %+v, want %s", n, f, id)
		}
		if got := fake.DeliveredTo(id); !slices.Equal(got, []int{n}) {
			t.Fatalf("DeliveredTo = %v, want [%d]", got, n)
		}
	}
	for _, c := range clients {
		c.quiet(t, 100*time.Millisecond) // one connection per envelope: nobody got extras
	}
}

func TestEleventhConnectionIsRefused(t *testing.T) {
	fake := newFake(t)
	for range slackfake.MaxConnections {
		dialReady(t, fake)
	}
	c, first := dialRaw(t, fake)
	if first.Type != "disconnect" || first.Reason != "too_many_websockets" {
		t.Fatalf("11th connection got %+v, want disconnect too_many_websockets", first)
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(wait))
	if _, data, err := c.ws.ReadMessage(); err == nil {
		t.Fatalf("refused connection still open, got %s", data)
	}
	if n, r := fake.ConnectionsOpened(), fake.RefusedConnections(); n != 10 || r != 1 {
		t.Fatalf("ConnectionsOpened %d, RefusedConnections %d, want 10 and 1", n, r)
	}
	if n := len(fake.LiveConnections()); n != 10 {
		t.Fatalf("%d live connections, want 10", n)
	}

	// The refused one takes no envelopes; once a slot frees, a new connection is welcome.
	fake.CloseConnection(4)
	if !fake.WaitLiveConnections(9, wait) {
		t.Fatal("closed connection still live")
	}
	dialReady(t, fake)
	if got := fake.LiveConnections(); len(got) != 10 || got[9] != 11 {
		t.Fatalf("LiveConnections() = %v, want 10 with the new number 11 last", got)
	}
}

func TestUnackedEnvelopeIsRedeliveredElsewhere(t *testing.T) {
	tests := []struct {
		name      string
		send      func(*slackfake.Server) string
		typ       string
		retry     int
		reason    string
		closeFrom string // "client" closes its socket; "server" uses CloseConnection
	}{
		{"slash command, client goes away", func(s *slackfake.Server) string {
			return s.SlashCommand(slackfake.SlashCommand{Text: "x", UserID: "U1", ChannelID: "C1"})
		}, "slash_commands", 0, "", "client"},
		{"app mention, client goes away", func(s *slackfake.Server) string {
			return s.AppMention(slackfake.AppMention{UserID: "U1", ChannelID: "C1", Text: "<@UBOT> hi"})
		}, "events_api", 1, "timeout", "client"},
		{"block action, server drops the socket", func(s *slackfake.Server) string {
			return s.BlockAction(slackfake.BlockAction{UserID: "U1", ChannelID: "C1", MessageTS: "1.2", ActionID: "a"})
		}, "interactive", 0, "", "server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			first, second := dialReady(t, fake), dialReady(t, fake)
			id := tt.send(fake)
			f := first.read(t) // round-robin starts with the oldest connection
			if f.EnvelopeID != id || f.Type != tt.typ || f.RetryAttempt != 0 {
				t.Fatalf("first delivery = %+v", f)
			}
			if tt.closeFrom == "client" {
				_ = first.ws.Close()
			} else if !fake.CloseConnection(1) {
				t.Fatal("CloseConnection(1) = false")
			}

			again := second.read(t)
			if again.EnvelopeID != id || again.Type != tt.typ || string(again.Payload) != string(f.Payload) ||
				again.RetryAttempt != tt.retry || again.RetryReason != tt.reason {
				t.Fatalf("redelivery = %+v, want envelope %s, retry %d %q, same payload", again, id, tt.retry, tt.reason)
			}
			second.ack(t, id)
			if !fake.WaitAck(id, wait) {
				t.Fatal("ack not seen")
			}
			if got := fake.DeliveredTo(id); !slices.Equal(got, []int{1, 2}) {
				t.Fatalf("DeliveredTo = %v, want [1 2]", got)
			}
			if d, a := fake.Deliveries(id), fake.AckCount(id); d != 2 || a != 1 {
				t.Fatalf("Deliveries %d, AckCount %d, want 2 and 1", d, a)
			}
			second.quiet(t, 100*time.Millisecond)
		})
	}
}

func TestUnackedEnvelopeWaitsForTheNextConnection(t *testing.T) {
	fake := newFake(t)
	first := dialReady(t, fake)
	id := fake.AppMention(slackfake.AppMention{UserID: "U1", ChannelID: "C1", Text: "<@UBOT> hi"})
	if f := first.read(t); f.EnvelopeID != id {
		t.Fatalf("got %+v", f)
	}
	fake.DropConnection()
	if !fake.WaitLiveConnections(0, wait) {
		t.Fatal("connection still live")
	}
	second := dialReady(t, fake)
	if f := second.read(t); f.EnvelopeID != id || f.RetryAttempt != 1 || f.RetryReason != "timeout" {
		t.Fatalf("redelivery after reconnect = %+v", f)
	}
}

func TestAckedEnvelopesAreNotRedelivered(t *testing.T) {
	fake := newFake(t)
	first, second := dialReady(t, fake), dialReady(t, fake)
	acked := fake.SlashCommand(slackfake.SlashCommand{Text: "acked", UserID: "U1", ChannelID: "C1"})
	if f := first.read(t); f.EnvelopeID != acked {
		t.Fatalf("got %+v", f)
	}
	first.ack(t, acked)
	if !fake.WaitAck(acked, wait) {
		t.Fatal("ack not seen")
	}
	_ = first.ws.Close()
	if !fake.WaitLiveConnections(1, wait) {
		t.Fatal("closed connection still live")
	}
	// A redelivery would be queued by now, ahead of anything sent later.
	next := fake.SlashCommand(slackfake.SlashCommand{Text: "next", UserID: "U1", ChannelID: "C1"})
	if f := second.read(t); f.EnvelopeID != next {
		t.Fatalf("second connection got %+v, want only the new envelope %s", f, next)
	}
	if d, a := fake.Deliveries(acked), fake.AckCount(acked); d != 1 || a != 1 {
		t.Fatalf("acked envelope: Deliveries %d, AckCount %d, want 1 and 1", d, a)
	}
	second.quiet(t, 100*time.Millisecond)
}

func TestRedeliveryCanBeSwitchedOff(t *testing.T) {
	fake := newFake(t)
	fake.SetRedeliverUnacked(false)
	first, second := dialReady(t, fake), dialReady(t, fake)
	lost := fake.SlashCommand(slackfake.SlashCommand{Text: "lost", UserID: "U1", ChannelID: "C1"})
	if f := first.read(t); f.EnvelopeID != lost {
		t.Fatalf("got %+v", f)
	}
	_ = first.ws.Close()
	if !fake.WaitLiveConnections(1, wait) {
		t.Fatal("closed connection still live")
	}
	second.quiet(t, 200*time.Millisecond)
	if d, a := fake.Deliveries(lost), fake.AckCount(lost); d != 1 || a != 0 {
		t.Fatalf("Deliveries %d, AckCount %d, want 1 and 0", d, a)
	}
}

// Three replicas running slack-go's real client share the commands, and each command is
// delivered, received and acked exactly once.
func TestReplicasShareTheWork(t *testing.T) {
	fake := newFake(t)
	var bots []*bot
	for range 3 {
		bots = append(bots, startBot(t, fake, appToken))
	}
	if !fake.WaitLiveConnections(3, wait) {
		t.Fatalf("LiveConnections() = %v, want 3", fake.LiveConnections())
	}
	var ids []string
	for i := range 9 {
		ids = append(ids, fake.SlashCommand(slackfake.SlashCommand{Text: fmt.Sprint(i), UserID: "U1", ChannelID: "C1"}))
	}
	used := map[int]int{} // connection number -> envelopes it got
	for _, id := range ids {
		if !fake.WaitAck(id, wait) {
			t.Fatalf("envelope %s not acked", id)
		}
		to := fake.DeliveredTo(id)
		if len(to) != 1 || fake.AckCount(id) != 1 {
			t.Errorf("envelope %s: DeliveredTo %v, AckCount %d, want one of each", id, to, fake.AckCount(id))
		}
		for _, n := range to {
			used[n]++
		}
	}
	if len(used) != 3 {
		t.Errorf("work went to connections %v, want all 3", used)
	}

	received := map[string]int{} // envelope ID -> how many bots handed it to the program
	perBot := make([]int, len(bots))
	deadline := time.After(wait)
	for total := 0; total < len(ids); total++ {
		select {
		case evt := <-bots[0].events:
			received[evt.Request.EnvelopeID]++
			perBot[0]++
		case evt := <-bots[1].events:
			received[evt.Request.EnvelopeID]++
			perBot[1]++
		case evt := <-bots[2].events:
			received[evt.Request.EnvelopeID]++
			perBot[2]++
		case <-deadline:
			t.Fatalf("bots received %v", received)
		}
	}
	for _, id := range ids {
		if received[id] != 1 {
			t.Errorf("envelope %s reached the bots %d times", id, received[id])
		}
	}
	if perBot[0] != 3 || perBot[1] != 3 || perBot[2] != 3 {
		t.Errorf("per bot = %v, want 3 each", perBot)
	}
	for i, b := range bots {
		select {
		case evt := <-b.events:
			t.Errorf("bot %d got an extra %s", i, evt.Type)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
