package slackfake

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// envelope is one Socket Mode request as sent on the websocket. Fields other than id, typ,
// payload and seq are guarded by Server.mu.
type envelope struct {
	id, typ      string
	seq          int // queue order
	payload      json.RawMessage
	retryAttempt int
	retryReason  string
	raw          []byte    // what is written: marshal() of the fields above
	on           *wsConn   // the connection it was last written to, while not acked
	deliveries   []int     // numbers of the connections it was written to, in order
	sent, acked  time.Time // first written to a connection; first acked
}

func (e *envelope) marshal() []byte {
	raw, _ := json.Marshal(map[string]any{
		"envelope_id":              e.id,
		"type":                     e.typ,
		"payload":                  e.payload,
		"accepts_response_payload": e.typ == "slash_commands",
		"retry_attempt":            e.retryAttempt,
		"retry_reason":             e.retryReason,
	})
	return raw
}

// SlashCommand describes a slash command a user typed.
type SlashCommand struct {
	Command     string // default "/bindtester"
	Text        string
	UserID      string
	UserName    string
	ChannelID   string
	ChannelName string
	TeamID      string // default TeamID
	TriggerID   string // generated when empty
}

// AppMention describes a message that mentions the bot, e.g. Text "<@UBOT> wx… id".
type AppMention struct {
	UserID, ChannelID, Text string
	TS                      string // generated when empty
	ThreadTS                string // set when the mention is inside a thread
	EventID                 string // generated when empty
}

// BlockAction describes a user pressing a button (or other element) in a message.
type BlockAction struct {
	UserID, ChannelID string
	MessageTS         string // the message holding the element
	ActionID, BlockID string
	Value             string
}

// SlashCommand delivers a "slash_commands" envelope. Its response_url points at the fake,
// which records posts to it as Messages with Method "response_url".
func (s *Server) SlashCommand(c SlashCommand) (envelopeID string) {
	if c.Command == "" {
		c.Command = "/bindtester"
	}
	if c.TeamID == "" {
		c.TeamID = TeamID
	}
	if c.TriggerID == "" {
		c.TriggerID = s.id("trigger-")
	}
	return s.SendEnvelope("slash_commands", map[string]any{
		"token":                 "fake-verification-token",
		"team_id":               c.TeamID,
		"team_domain":           "fake",
		"channel_id":            c.ChannelID,
		"channel_name":          c.ChannelName,
		"user_id":               c.UserID,
		"user_name":             c.UserName,
		"command":               c.Command,
		"text":                  c.Text,
		"api_app_id":            AppID,
		"is_enterprise_install": "false", // Slack sends a string here
		"response_url":          s.newResponseURL(c.ChannelID, c.UserID),
		"trigger_id":            c.TriggerID,
	})
}

// AppMention delivers an "events_api" envelope whose event_callback holds an app_mention.
func (s *Server) AppMention(m AppMention) (envelopeID string) {
	if m.TS == "" {
		m.TS = s.ts()
	}
	event := map[string]any{
		"type": "app_mention", "user": m.UserID, "text": m.Text,
		"ts": m.TS, "channel": m.ChannelID, "event_ts": m.TS,
	}
	if m.ThreadTS != "" {
		event["thread_ts"] = m.ThreadTS
	}
	return s.sendEvent(m.EventID, event)
}

// Event delivers an "events_api" envelope wrapping any inner event (a map or struct with a
// "type"), e.g. {"type":"message","subtype":"bot_message",...} that the bot should ignore.
func (s *Server) Event(event any) (envelopeID string) {
	return s.sendEvent("", event)
}

func (s *Server) sendEvent(eventID string, event any) string {
	if eventID == "" {
		eventID = s.id("Ev")
	}
	return s.SendEnvelope("events_api", map[string]any{
		"token":      "fake-verification-token",
		"team_id":    TeamID,
		"api_app_id": AppID,
		"event":      event,
		"type":       "event_callback",
		"event_id":   eventID,
		"event_time": time.Now().Unix(),
		"authorizations": []map[string]any{{
			"team_id": TeamID, "user_id": BotUserID, "is_bot": true, "is_enterprise_install": false,
		}},
		"is_ext_shared_channel": false,
	})
}

// BlockAction delivers an "interactive" envelope with a "block_actions" payload.
func (s *Server) BlockAction(a BlockAction) (envelopeID string) {
	return s.SendEnvelope("interactive", map[string]any{
		"type":         "block_actions",
		"token":        "fake-verification-token",
		"api_app_id":   AppID,
		"trigger_id":   s.id("trigger-"),
		"response_url": s.newResponseURL(a.ChannelID, a.UserID),
		"team":         map[string]any{"id": TeamID, "domain": "fake"},
		"user":         map[string]any{"id": a.UserID, "team_id": TeamID},
		"channel":      map[string]any{"id": a.ChannelID},
		"container": map[string]any{
			"type": "message", "message_ts": a.MessageTS, "channel_id": a.ChannelID, "is_ephemeral": false,
		},
		"message": map[string]any{
			"type": "message", "user": BotUserID, "bot_id": BotID, "ts": a.MessageTS, "text": "",
		},
		"actions": []map[string]any{{
			"type": "button", "action_id": a.ActionID, "block_id": a.BlockID,
			"value": a.Value, "action_ts": s.ts(),
		}},
		"state": map[string]any{"values": map[string]any{}},
	})
}

// SendEnvelope delivers any envelope type with payload marshalled as JSON to one live
// connection, the next in turn. Envelopes sent while no connection takes envelopes wait for the
// next one. A payload that does not marshal is a bug in the test, and panics.
func (s *Server) SendEnvelope(typ string, payload any) (envelopeID string) {
	raw, err := json.Marshal(payload)
	if err != nil {
		panic(fmt.Sprintf("slackfake: payload for %q does not marshal: %v", typ, err)) // test bug
	}
	return s.enqueue(typ, raw, 0)
}

// Redeliver sends the envelope's payload again under a new envelope ID, as Slack does when an
// ack is late: for events the event_id stays, retry_attempt counts up, retry_reason is "timeout".
// It returns "" for an unknown envelope ID.
func (s *Server) Redeliver(envelopeID string) (newEnvelopeID string) {
	s.mu.Lock()
	old := s.envelopes[envelopeID]
	s.mu.Unlock()
	if old == nil {
		return ""
	}
	return s.enqueue(old.typ, old.payload, old.retryAttempt+1)
}

func (s *Server) enqueue(typ string, payload json.RawMessage, retryAttempt int) string {
	s.mu.Lock()
	n := s.nextLocked()
	env := &envelope{
		id:           fmt.Sprintf("%08x-5afe-4e00-8000-%012d", n, n),
		typ:          typ,
		seq:          n,
		payload:      payload,
		retryAttempt: retryAttempt,
	}
	if retryAttempt > 0 {
		env.retryReason = "timeout"
	}
	env.raw = env.marshal()
	s.envelopes[env.id] = env
	s.queue = append(s.queue, env)
	s.mu.Unlock()
	s.kickPump()
	return env.id
}

// AckCount says how many times the client acked the envelope.
func (s *Server) AckCount(envelopeID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acks[envelopeID]
}

// AckPayload returns the payload of the envelope's last ack that carried one, or nil.
func (s *Server) AckPayload(envelopeID string) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ackPayloads[envelopeID]
}

// EnvelopeTimes returns when the envelope was first written to a websocket and when its first
// ack arrived; either is zero when it has not happened (or the envelope ID is unknown). A
// redelivery keeps the first times. acked − sent is how long Slack waited for the ack.
func (s *Server) EnvelopeTimes(envelopeID string) (sent, acked time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if env := s.envelopes[envelopeID]; env != nil {
		return env.sent, env.acked
	}
	return time.Time{}, time.Time{}
}

// WaitAck waits until the client acked the envelope.
func (s *Server) WaitAck(envelopeID string, timeout time.Duration) bool {
	return s.wait(timeout, func() bool { return s.acks[envelopeID] > 0 })
}

// Deliveries says how many times the envelope was written to a connection: 1 once it went
// out, more when a connection closed before acking it and it was redelivered under the same
// envelope ID. Redeliver's new envelope IDs are counted on their own.
func (s *Server) Deliveries(envelopeID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if env := s.envelopes[envelopeID]; env != nil {
		return len(env.deliveries)
	}
	return 0
}

// DeliveredTo returns the numbers of the connections the envelope was written to, in order
// (see LiveConnections for the numbering), or nil if it has not gone out.
func (s *Server) DeliveredTo(envelopeID string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if env := s.envelopes[envelopeID]; env != nil {
		return slices.Clone(env.deliveries)
	}
	return nil
}

// WaitDeliveries waits until the envelope was written to connections at least n times.
func (s *Server) WaitDeliveries(envelopeID string, n int, timeout time.Duration) bool {
	return s.wait(timeout, func() bool {
		env := s.envelopes[envelopeID]
		return env != nil && len(env.deliveries) >= n
	})
}
