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
	accepts      bool      // accepts_response_payload: the ack may answer (see acceptsResponse)
	submits      string    // for a view_submission, the ID of the view it submits
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
		"accepts_response_payload": e.accepts,
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
	TriggerID   string // generated when empty; views.open accepts it (see SetTriggerLifetime)
}

// AppMention describes a message that mentions the bot, e.g. Text "<@UBOT> wx… id".
type AppMention struct {
	UserID, ChannelID, Text string
	TS                      string // generated when empty
	ThreadTS                string // set when the mention is inside a thread
	EventID                 string // generated when empty
}

// BlockAction describes a user pressing a button in a message, or, with ViewID set, in a
// view: a modal or a home tab.
type BlockAction struct {
	UserID, ChannelID string
	MessageTS         string // the message holding the element
	ActionID, BlockID string
	Value             string

	// ViewID says the button is in that view (modal or home tab) rather than in a message:
	// the payload's container is {"type":"view","view_id":…} and it carries the view, and no
	// channel, message or response_url. ChannelID and MessageTS are then ignored, and an
	// empty UserID means the view's owner.
	ViewID string
	// Values is what the user has entered in the view's inputs so far, as for SubmitView
	// (without its check of required inputs); only with ViewID.
	Values map[string]map[string]any
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
		c.TriggerID = s.newTriggerID()
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

// BlockAction delivers an "interactive" envelope with a "block_actions" payload. It carries a
// fresh trigger_id that views.open accepts. With a.ViewID it panics if the fake does not know
// that view, or if a.Values does not fit it: a bug in the test.
func (s *Server) BlockAction(a BlockAction) (envelopeID string) {
	payload := map[string]any{
		"type":                  "block_actions",
		"token":                 "fake-verification-token",
		"api_app_id":            AppID,
		"trigger_id":            s.newTriggerID(),
		"team":                  map[string]any{"id": TeamID, "domain": "fake"},
		"user":                  map[string]any{"id": a.UserID, "username": a.UserID, "name": a.UserID, "team_id": TeamID},
		"is_enterprise_install": false,
		"enterprise":            nil,
		"actions": []map[string]any{{
			"type": "button", "action_id": a.ActionID, "block_id": a.BlockID,
			"value": a.Value, "action_ts": s.ts(),
		}},
	}
	if a.ViewID != "" {
		view, state, owner := s.viewPayload("BlockAction", a.ViewID, a.UserID, a.Values, false)
		payload["user"] = map[string]any{"id": owner, "username": owner, "name": owner, "team_id": TeamID}
		payload["container"] = map[string]any{"type": "view", "view_id": a.ViewID}
		payload["view"] = view
		payload["state"] = state
		return s.SendEnvelope("interactive", payload)
	}
	payload["response_url"] = s.newResponseURL(a.ChannelID, a.UserID)
	payload["channel"] = map[string]any{"id": a.ChannelID}
	payload["container"] = map[string]any{
		"type": "message", "message_ts": a.MessageTS, "channel_id": a.ChannelID, "is_ephemeral": false,
	}
	payload["message"] = map[string]any{
		"type": "message", "user": BotUserID, "bot_id": BotID, "ts": a.MessageTS, "text": "",
	}
	payload["state"] = map[string]any{"values": map[string]any{}}
	return s.SendEnvelope("interactive", payload)
}

// SendEnvelope delivers any envelope type with payload marshalled as JSON to one live
// connection, the next in turn. Envelopes sent while no connection takes envelopes wait for the
// next one. A payload that does not marshal is a bug in the test, and panics. A top-level
// "trigger_id" in the payload becomes one views.open accepts, for the payload's user; an
// "interactive" view_submission or block_suggestion payload is marked as accepting a response
// payload in its ack.
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
	facts := factsOf(payload)
	s.mu.Lock()
	n := s.nextLocked()
	env := &envelope{
		id:           fmt.Sprintf("%08x-5afe-4e00-8000-%012d", n, n),
		typ:          typ,
		seq:          n,
		payload:      payload,
		retryAttempt: retryAttempt,
		accepts:      acceptsResponse(typ, facts),
	}
	if typ == "interactive" && facts.Type == "view_submission" {
		env.submits = facts.View.ID
	}
	if retryAttempt > 0 {
		env.retryReason = "timeout"
	}
	env.raw = env.marshal()
	s.rememberTriggerLocked(env, facts)
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

// AckPayload returns the payload of the envelope's last ack that carried one, or nil: for a
// view_submission, e.g. {"response_action":"errors","errors":{"block_id":"message"}}.
func (s *Server) AckPayload(envelopeID string) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ackPayloads[envelopeID]
}

// WaitAckPayload waits until the envelope was acked and returns the ack's payload, nil when
// the ack carried none. ok is false when no ack came within timeout.
func (s *Server) WaitAckPayload(envelopeID string, timeout time.Duration) (payload json.RawMessage, ok bool) {
	ok = s.wait(timeout, func() bool {
		payload = s.ackPayloads[envelopeID]
		return s.acks[envelopeID] > 0
	})
	return payload, ok
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
