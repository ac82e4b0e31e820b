package slackfake

import (
	"encoding/json"
	"fmt"
	"time"
)

// DefaultTriggerLifetime is how long Slack honours a trigger_id: views.open must exchange it
// within 3 seconds of the interaction that produced it.
const DefaultTriggerLifetime = 3 * time.Second

// trigger is a trigger_id the fake put in an envelope (slash command, block action, view
// submission). Guarded by Server.mu.
type trigger struct {
	user   string    // who interacted: a modal opened with the trigger is theirs
	issued time.Time // when the fake made the envelope
	env    *envelope // the envelope that carried it
	used   bool      // exchanged by views.open already
}

// SetTriggerLifetime changes how long a trigger_id stays exchangeable (default
// DefaultTriggerLifetime), e.g. shorter so that a test sees expired_trigger_id without
// waiting 3 seconds. The clock starts when the envelope carrying the trigger is first written
// to a websocket (when the fake made it, if it has not gone out): the bot cannot be blamed for
// the time an envelope waited for a connection.
func (s *Server) SetTriggerLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.triggerLifetime = d
}

// newTriggerID returns a fresh trigger_id shaped like Slack's, "1234567.1234567.0123abcd…".
func (s *Server) newTriggerID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nextLocked()
	return fmt.Sprintf("%d.%d.%016x", 1700000000+n, 7000000+n, uint64(n)*0x9e3779b97f4a7c15)
}

// envelopeFacts is what the fake reads back from an envelope's payload: its interaction type,
// the trigger_id it carries and whose it is, and the view a view_submission submits.
type envelopeFacts struct {
	Type      string          `json:"type"`
	TriggerID string          `json:"trigger_id"`
	UserID    string          `json:"user_id"` // slash commands
	User      json.RawMessage `json:"user"`    // interactions: {"id":…}
	View      struct {
		ID string `json:"id"`
	} `json:"view"`
}

func factsOf(payload json.RawMessage) envelopeFacts {
	var f envelopeFacts
	_ = json.Unmarshal(payload, &f)
	if f.UserID == "" && len(f.User) > 0 && f.User[0] == '{' {
		var u struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(f.User, &u)
		f.UserID = u.ID
	}
	return f
}

// acceptsResponse says whether Slack lets the app answer the envelope in its ack: slash
// commands, and the interactions whose HTTP response Slack reads (view_submission with its
// response_action, block_suggestion with its options).
func acceptsResponse(typ string, f envelopeFacts) bool {
	switch typ {
	case "slash_commands":
		return true
	case "interactive":
		return f.Type == "view_submission" || f.Type == "block_suggestion"
	}
	return false
}

// rememberTriggerLocked records the trigger an envelope carries, the first time it is sent;
// s.mu must be held.
func (s *Server) rememberTriggerLocked(env *envelope, f envelopeFacts) {
	if f.TriggerID == "" || s.triggers[f.TriggerID] != nil {
		return
	}
	s.triggers[f.TriggerID] = &trigger{user: f.UserID, issued: time.Now(), env: env}
}

// exchangeTriggerLocked spends a trigger_id for views.open and returns its user, or the error
// Slack answers: invalid_trigger_id (the fake never issued it), exchanged_trigger_id (used
// already) or expired_trigger_id. s.mu must be held.
func (s *Server) exchangeTriggerLocked(id string, now time.Time) (user, code string) {
	t := s.triggers[id]
	switch {
	case t == nil:
		return "", "invalid_trigger_id"
	case t.used:
		return "", "exchanged_trigger_id"
	}
	start := t.issued
	if t.env != nil && !t.env.sent.IsZero() {
		start = t.env.sent
	}
	if now.Sub(start) > s.triggerLifetime {
		return "", "expired_trigger_id"
	}
	t.used = true
	return t.user, ""
}
