package slackfake

import (
	"encoding/json"
	"net/http"
)

// responseURL is a slash command's or block action's response_url. Slack accepts a few posts
// to one within 30 minutes; the fake allows maxResponseURLUses and ignores the clock.
type responseURL struct {
	channel, user string
	uses          int
}

const maxResponseURLUses = 5

func (s *Server) newResponseURL(channel, user string) string {
	id := s.id("R")
	s.mu.Lock()
	s.responseURLs[id] = &responseURL{channel: channel, user: user}
	s.mu.Unlock()
	return s.http.URL + "/response/" + id
}

// serveResponseURL records a JSON post to a response_url (slack-go's PostWebhook, or
// PostMessage with MsgOptionResponseURL / MsgOptionReplaceOriginal).
func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var body struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal bool            `json:"replace_original"`
		DeleteOriginal  bool            `json:"delete_original"`
		ThreadTS        string          `json:"thread_ts"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	ru := s.responseURLs[r.PathValue("id")]
	switch {
	case ru == nil:
		s.mu.Unlock()
		http.Error(w, "no_service", http.StatusNotFound)
		return
	case ru.uses >= maxResponseURLUses:
		s.mu.Unlock()
		http.Error(w, "used_url", http.StatusNotFound)
		return
	}
	ru.uses++
	m, hooks := s.recordLocked(Message{
		Method: "response_url", Channel: ru.channel, User: ru.user,
		Text: body.Text, ThreadTS: body.ThreadTS, Blocks: blocksOf(string(body.Blocks)),
		ResponseType: body.ResponseType, ReplaceOriginal: body.ReplaceOriginal,
		DeleteOriginal: body.DeleteOriginal,
	})
	s.mu.Unlock()
	fire(m, hooks)
	writeJSON(w, map[string]any{"ok": true})
}
