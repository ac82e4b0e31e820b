package slackfake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// serveAPI answers https://slack.com/api/{method}. slack-go sends most methods form-encoded
// with a "token" field, some as GET with a Bearer header, and apps.connections.open as JSON
// with the app token as Bearer; r.Form covers the first two.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	_ = r.ParseForm()

	s.mu.Lock()
	s.calls[method]++
	delay := s.latency[method]
	limit, limited := s.rateLimits[method]
	if limited {
		limit.left--
		s.rateLimits[method] = limit
		if limit.left <= 0 {
			delete(s.rateLimits, method)
		}
		limited = limit.left >= 0
	}
	s.mu.Unlock()

	s.sleep(r, delay)
	if limited {
		w.Header().Set("Retry-After", strconv.Itoa(limit.retryAfter))
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"ok":false,"error":"ratelimited"}` + "\n"))
		return
	}
	if code := s.checkAuth(method, r); code != "" {
		slackError(w, code)
		return
	}

	switch method {
	case "apps.connections.open":
		s.openConnection(w)
	case "auth.test":
		writeJSON(w, map[string]any{
			"ok": true, "url": "https://fake.slack.com/", "team": "Fake", "user": "bindtester",
			"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID, "is_enterprise_install": false,
		})
	case "chat.postMessage", "chat.postEphemeral":
		s.postMessage(w, r, method)
	case "chat.update":
		s.updateMessage(w, r)
	case "conversations.open":
		s.openConversation(w, r)
	case "users.info":
		s.userInfo(w, r)
	case "usergroups.users.list":
		s.userGroupMembers(w, r)
	case "files.getUploadURLExternal":
		s.getUploadURL(w, r)
	case "files.completeUploadExternal":
		s.completeUpload(w, r)
	case "views.open":
		s.openView(w, r)
	case "views.update":
		s.updateView(w, r)
	case "views.publish":
		s.publishView(w, r)
	default:
		slackError(w, "unknown_method")
	}
}

// checkAuth returns the Slack error for a request without the right token, or "".
func (s *Server) checkAuth(method string, r *http.Request) string {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		token = r.Form.Get("token")
	}
	if token == "" {
		return "not_authed"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if method == "apps.connections.open" {
		if token != s.appToken || s.appRevoked {
			return "invalid_auth"
		}
		return ""
	}
	if token != s.botToken {
		return "invalid_auth"
	}
	return ""
}

// dmChannel resolves a user ID used as a channel to that user's DM channel.
func dmChannel(channel string) string {
	if strings.HasPrefix(channel, "U") || strings.HasPrefix(channel, "W") {
		return "D" + channel
	}
	return channel
}

// blocksOf normalises a blocks field: absent, null and [] all mean none.
func blocksOf(raw string) string {
	switch strings.TrimSpace(raw) {
	case "", "null", "[]":
		return ""
	}
	return raw
}

// channelErrorLocked returns the error set for channel (or its DM form); s.mu must be held.
func (s *Server) channelErrorLocked(requested, resolved string) string {
	if e := s.channelErrors[requested]; e != "" {
		return e
	}
	return s.channelErrors[resolved]
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request, method string) {
	requested := r.Form.Get("channel")
	m := Message{
		Method:   method,
		Channel:  dmChannel(requested),
		Text:     r.Form.Get("text"),
		ThreadTS: r.Form.Get("thread_ts"),
		Blocks:   blocksOf(r.Form.Get("blocks")),
	}
	if method == "chat.postEphemeral" {
		m.Channel, m.User = requested, r.Form.Get("user")
	}
	switch {
	case requested == "":
		slackError(w, "channel_not_found")
		return
	case m.Text == "" && m.Blocks == "" && blocksOf(r.Form.Get("attachments")) == "":
		slackError(w, "no_text")
		return
	case method == "chat.postEphemeral" && m.User == "":
		slackError(w, "user_not_found")
		return
	case m.Blocks != "" && !json.Valid([]byte(m.Blocks)):
		slackError(w, "invalid_blocks")
		return
	}
	s.mu.Lock()
	if code := s.channelErrorLocked(requested, m.Channel); code != "" {
		s.mu.Unlock()
		slackError(w, code)
		return
	}
	m.TS = s.tsLocked()
	m, hooks := s.recordLocked(m)
	s.mu.Unlock()
	fire(m, hooks)

	if method == "chat.postEphemeral" {
		writeJSON(w, map[string]any{"ok": true, "message_ts": m.TS})
		return
	}
	writeJSON(w, map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS, "message": messageJSON(m)})
}

// messageJSON is the "message" object Slack echoes back for a posted or updated message.
func messageJSON(m Message) map[string]any {
	msg := map[string]any{
		"type": "message", "user": BotUserID, "bot_id": BotID, "app_id": AppID,
		"team": TeamID, "text": m.Text, "ts": m.TS,
	}
	if m.ThreadTS != "" {
		msg["thread_ts"] = m.ThreadTS
	}
	if m.Blocks != "" {
		msg["blocks"] = json.RawMessage(m.Blocks)
	}
	return msg
}

func (s *Server) updateMessage(w http.ResponseWriter, r *http.Request) {
	m := Message{
		Method:  "chat.update",
		Channel: r.Form.Get("channel"),
		TS:      r.Form.Get("ts"),
		Text:    r.Form.Get("text"),
		Blocks:  blocksOf(r.Form.Get("blocks")),
	}
	switch {
	case m.Channel == "":
		slackError(w, "channel_not_found")
		return
	case m.TS == "":
		slackError(w, "message_not_found")
		return
	case m.Blocks != "" && !json.Valid([]byte(m.Blocks)):
		slackError(w, "invalid_blocks")
		return
	}
	s.record(m)
	writeJSON(w, map[string]any{
		"ok": true, "channel": m.Channel, "ts": m.TS, "text": m.Text, "message": messageJSON(m),
	})
}

func (s *Server) openConversation(w http.ResponseWriter, r *http.Request) {
	users := r.Form.Get("users")
	if users == "" {
		if ch := r.Form.Get("channel"); ch != "" {
			writeJSON(w, map[string]any{"ok": true, "channel": map[string]any{"id": ch}})
			return
		}
		slackError(w, "users_list_not_supplied")
		return
	}
	first, _, _ := strings.Cut(users, ",")
	writeJSON(w, map[string]any{
		"ok": true, "no_op": true, "already_open": true,
		"channel": map[string]any{"id": dmChannel(first), "is_im": true, "user": first},
	})
}

func (s *Server) userInfo(w http.ResponseWriter, r *http.Request) {
	id := r.Form.Get("user")
	s.mu.Lock()
	u, ok := s.users[id]
	s.mu.Unlock()
	if !ok {
		slackError(w, "user_not_found")
		return
	}
	info := map[string]any{
		"id": id, "team_id": TeamID, "name": u.name, "real_name": u.name,
		"profile": map[string]any{"real_name": u.name, "display_name": u.name},
	}
	if r.Form.Get("include_locale") == "true" {
		info["locale"] = u.locale
	}
	writeJSON(w, map[string]any{"ok": true, "user": info})
}

func (s *Server) userGroupMembers(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	members, ok := s.groups[r.Form.Get("usergroup")]
	s.mu.Unlock()
	if !ok {
		slackError(w, "no_such_subteam")
		return
	}
	if members == nil {
		members = []string{}
	}
	writeJSON(w, map[string]any{"ok": true, "users": members})
}
