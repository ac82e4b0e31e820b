package slackfake

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// View is one version of a modal or home tab the bot showed a user, in the order the fake
// received them.
type View struct {
	// Method is how this version came: "views.open", "views.update", "views.publish", or
	// "response_action.update" / "response_action.push" for a view_submission's ack payload.
	Method string
	// ID ("V…") stays across updates; a user's home tab keeps one ID across publishes.
	ID string
	// Hash changes with every version; a stale one makes views.update and views.publish fail.
	Hash string
	// User is whose view it is: for views.open, the user behind the trigger.
	User string
	// TriggerID is the trigger views.open exchanged, "" for the other methods.
	TriggerID string
	// Type is "modal" or "home".
	Type                                    string
	CallbackID, PrivateMetadata, ExternalID string
	// Title, Submit and Close are the texts of a modal's title and buttons, "" when absent.
	Title, Submit, Close string
	// Blocks is the raw JSON of the blocks as the bot sent them, "" when there were none.
	// Slack, and the fake in what it sends back, gives blocks and input elements without a
	// block_id or action_id generated ones.
	Blocks string
	// RootViewID is the first view of a modal's stack (the view itself unless it was pushed);
	// PreviousViewID is the view a pushed view went on top of.
	RootViewID, PreviousViewID string
	// At is when the fake recorded this version.
	At time.Time
}

// liveView is the current state of one view. Guarded by Server.mu.
type liveView struct {
	cur                         View
	title, close, submit        json.RawMessage // text objects as sent; nil when absent
	blocks                      []any           // as sent, with the IDs Slack fills in
	clearOnClose, notifyOnClose bool
	open                        bool // a modal on screen; home tabs never close
}

// fillIDsLocked gives blocks without a block_id, and input and actions elements without an
// action_id, generated ones, as Slack does; s.mu must be held.
func (s *Server) fillIDsLocked(blocks []any) {
	gen := func() string { return strconv.FormatInt(int64(46656+s.nextLocked()), 36) }
	setID := func(m map[string]any, key string) {
		if m == nil {
			return
		}
		if id, _ := m[key].(string); id == "" {
			m[key] = gen()
		}
	}
	for _, b := range blocks {
		block, _ := b.(map[string]any)
		setID(block, "block_id")
		switch block["type"] {
		case "input":
			el, _ := block["element"].(map[string]any)
			setID(el, "action_id")
		case "actions":
			els, _ := block["elements"].([]any)
			for _, e := range els {
				el, _ := e.(map[string]any)
				setID(el, "action_id")
			}
		}
	}
}

// viewArgs are the arguments of views.open, views.update and views.publish. slack-go posts
// them as a JSON body; Slack also takes them form-encoded, with the view as a JSON string.
type viewArgs struct {
	TriggerID  string          `json:"trigger_id"`
	Pointer    string          `json:"interactivity_pointer"`
	ViewID     string          `json:"view_id"`
	ExternalID string          `json:"external_id"`
	Hash       string          `json:"hash"`
	UserID     string          `json:"user_id"`
	View       json.RawMessage `json:"view"`
}

func readViewArgs(r *http.Request) (viewArgs, bool) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		var a viewArgs
		err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 2*maxViewBytes)).Decode(&a)
		return a, err == nil
	}
	f := r.Form
	return viewArgs{
		TriggerID: f.Get("trigger_id"), Pointer: f.Get("interactivity_pointer"),
		ViewID: f.Get("view_id"), ExternalID: f.Get("external_id"), Hash: f.Get("hash"),
		UserID: f.Get("user_id"), View: json.RawMessage(f.Get("view")),
	}, true
}

// slackErrorMessages answers {"ok":false,"error":code} with response_metadata.messages.
func slackErrorMessages(w http.ResponseWriter, code string, messages []string) {
	body := map[string]any{"ok": false, "error": code}
	if len(messages) > 0 {
		body["response_metadata"] = map[string]any{"messages": messages}
	}
	writeJSON(w, body)
}

// openView answers views.open: a modal for the user behind a trigger the fake issued.
func (s *Server) openView(w http.ResponseWriter, r *http.Request) {
	a, ok := readViewArgs(r)
	if !ok {
		slackError(w, "invalid_json")
		return
	}
	trig := a.TriggerID
	if trig == "" {
		trig = a.Pointer
	}
	if trig == "" {
		slackErrorMessages(w, "invalid_arguments", []string{"[ERROR] missing required field: trigger_id"})
		return
	}
	pv, code, msgs := parseView(a.View, "modal")
	if code != "" {
		slackErrorMessages(w, code, msgs)
		return
	}
	s.mu.Lock()
	user, code := s.exchangeTriggerLocked(trig, time.Now())
	if code == "" && !s.externalIDFreeLocked(pv.ExternalID, "") {
		code = "duplicate_external_id"
	}
	if code != "" {
		s.mu.Unlock()
		slackError(w, code)
		return
	}
	v := s.newViewLocked(pv, user)
	v.cur.TriggerID = trig
	s.recordViewLocked(v, "views.open")
	body := v.renderLocked(nil)
	s.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true, "view": body})
}

// updateView answers views.update: a new version of an open modal (or a home tab), found by
// view_id or external_id, refused with hash_conflict when the hash given is not the current.
func (s *Server) updateView(w http.ResponseWriter, r *http.Request) {
	a, ok := readViewArgs(r)
	if !ok {
		slackError(w, "invalid_json")
		return
	}
	if a.ViewID == "" && a.ExternalID == "" {
		slackErrorMessages(w, "invalid_arguments", []string{"[ERROR] missing required field: view_id or external_id"})
		return
	}
	pv, code, msgs := parseView(a.View, "")
	if code != "" {
		slackErrorMessages(w, code, msgs)
		return
	}
	s.mu.Lock()
	id := a.ViewID
	if id == "" {
		id = s.externalIDs[a.ExternalID]
	}
	v := s.views[id]
	switch {
	case v == nil || !v.open || (a.ExternalID != "" && s.externalIDs[a.ExternalID] != id):
		code = "not_found"
	case a.Hash != "" && a.Hash != v.cur.Hash:
		code = "hash_conflict"
	case pv.Type != v.cur.Type:
		s.mu.Unlock()
		slackErrorMessages(w, "invalid_arguments", []string{fmt.Sprintf("[ERROR] must be %q [json-pointer:/view/type]", v.cur.Type)})
		return
	case !s.externalIDFreeLocked(pv.ExternalID, id):
		code = "duplicate_external_id"
	}
	if code != "" {
		s.mu.Unlock()
		slackError(w, code)
		return
	}
	s.replaceViewLocked(v, pv, "views.update")
	body := v.renderLocked(nil)
	s.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true, "view": body})
}

// publishView answers views.publish: the user's home tab, created or replaced.
func (s *Server) publishView(w http.ResponseWriter, r *http.Request) {
	a, ok := readViewArgs(r)
	if !ok {
		slackError(w, "invalid_json")
		return
	}
	if a.UserID == "" {
		slackErrorMessages(w, "invalid_arguments", []string{"[ERROR] missing required field: user_id"})
		return
	}
	pv, code, msgs := parseView(a.View, "home")
	if code != "" {
		slackErrorMessages(w, code, msgs)
		return
	}
	s.mu.Lock()
	id := s.homes[a.UserID]
	v := s.views[id]
	switch {
	case s.homeTabOff:
		code = "not_enabled"
	case a.Hash != "" && (v == nil || a.Hash != v.cur.Hash):
		code = "hash_conflict"
	case !s.externalIDFreeLocked(pv.ExternalID, id):
		code = "duplicate_external_id"
	}
	if code != "" {
		s.mu.Unlock()
		slackError(w, code)
		return
	}
	if v == nil {
		v = s.newViewLocked(pv, a.UserID)
		s.homes[a.UserID] = v.cur.ID
		s.recordViewLocked(v, "views.publish")
	} else {
		s.replaceViewLocked(v, pv, "views.publish")
	}
	body := v.renderLocked(nil)
	s.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true, "view": body})
}

// externalIDFreeLocked says whether external_id ext may be given to view self ("" for a new
// view): external IDs are unique in a workspace. s.mu must be held.
func (s *Server) externalIDFreeLocked(ext, self string) bool {
	owner := s.externalIDs[ext]
	return ext == "" || owner == "" || owner == self
}

// newViewLocked makes a view from pv for user, open, the root of its own stack, not yet
// recorded; s.mu must be held.
func (s *Server) newViewLocked(pv *parsedView, user string) *liveView {
	id := fmt.Sprintf("V%08d", s.nextLocked())
	v := &liveView{open: true}
	v.cur = View{ID: id, User: user, Type: pv.Type, RootViewID: id}
	s.setContentLocked(v, pv)
	s.views[id] = v
	s.viewOrder = append(s.viewOrder, id)
	return v
}

// replaceViewLocked puts pv's content in v as a new version and records it; s.mu must be held.
func (s *Server) replaceViewLocked(v *liveView, pv *parsedView, method string) {
	v.cur.TriggerID = ""
	s.setContentLocked(v, pv)
	s.recordViewLocked(v, method)
}

// setContentLocked copies pv's fields into v; s.mu must be held. An update without an
// external_id keeps the view's.
func (s *Server) setContentLocked(v *liveView, pv *parsedView) {
	s.fillIDsLocked(pv.blocks)
	v.blocks = pv.blocks
	v.title, v.close, v.submit = rawOrNil(pv.Title), rawOrNil(pv.Close), rawOrNil(pv.Submit)
	v.clearOnClose, v.notifyOnClose = pv.ClearOnClose, pv.NotifyOnClose
	v.cur.Title, v.cur.Submit, v.cur.Close = pv.title, pv.submit, pv.close
	v.cur.CallbackID, v.cur.PrivateMetadata = pv.CallbackID, pv.PrivateMetadata
	v.cur.Blocks = blocksOf(string(pv.Blocks))
	if pv.ExternalID != "" && pv.ExternalID != v.cur.ExternalID {
		delete(s.externalIDs, v.cur.ExternalID)
		v.cur.ExternalID = pv.ExternalID
		s.externalIDs[pv.ExternalID] = v.cur.ID
	}
}

func rawOrNil(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

// recordViewLocked gives v a new hash and logs its current version; s.mu must be held.
func (s *Server) recordViewLocked(v *liveView, method string) {
	n := s.nextLocked()
	v.cur.Method = method
	v.cur.Hash = fmt.Sprintf("%d.%07d", 1700000000+n, n)
	v.cur.At = time.Now()
	s.viewLog = append(s.viewLog, v.cur)
	s.notifyLocked()
}

// closeLocked takes a modal off the screen, and with all every view of its stack; s.mu must
// be held.
func (s *Server) closeLocked(v *liveView, all bool) {
	v.open = false
	if all {
		for _, o := range s.views {
			if o.cur.Type == "modal" && o.cur.RootViewID == v.cur.RootViewID {
				o.open = false
			}
		}
	}
	s.notifyLocked()
}

// renderLocked is the view object Slack returns and puts in payloads, with the given
// state.values (none when nil); s.mu must be held.
func (v *liveView) renderLocked(values map[string]map[string]any) map[string]any {
	if values == nil {
		values = map[string]map[string]any{}
	}
	var previous any
	if v.cur.PreviousViewID != "" {
		previous = v.cur.PreviousViewID
	}
	textOrNull := func(raw json.RawMessage) any {
		if raw == nil {
			return nil
		}
		return raw
	}
	return map[string]any{
		"id": v.cur.ID, "team_id": TeamID, "type": v.cur.Type,
		"title": textOrNull(v.title), "close": textOrNull(v.close), "submit": textOrNull(v.submit),
		"blocks": v.blocks, "private_metadata": v.cur.PrivateMetadata, "callback_id": v.cur.CallbackID,
		"state": map[string]any{"values": values}, "hash": v.cur.Hash,
		"clear_on_close": v.clearOnClose, "notify_on_close": v.notifyOnClose,
		"root_view_id": v.cur.RootViewID, "previous_view_id": previous,
		"app_id": AppID, "external_id": v.cur.ExternalID, "app_installed_team_id": TeamID, "bot_id": BotID,
	}
}

// SetHomeTabEnabled says whether the app has a Home tab (the default, as the manifest asks);
// without one views.publish answers not_enabled.
func (s *Server) SetHomeTabEnabled(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.homeTabOff = !on
}

// Views returns a copy of every version of every view, in the order the fake recorded them.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.viewLog)
}

// WaitViews waits until done accepts the recorded views (as Views returns them), or timeout
// passes. It returns the views it last saw and whether done accepted them. done is called
// outside the fake's lock, after every change.
func (s *Server) WaitViews(timeout time.Duration, done func([]View) bool) ([]View, bool) {
	var seen []View
	ok := s.waitUnlocked(timeout, func() bool {
		seen = s.Views()
		return done(seen)
	})
	return seen, ok
}

// HomeOf returns the user's home tab as last published, and whether there is one.
func (s *Server) HomeOf(user string) (View, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.views[s.homes[user]]; v != nil {
		return v.cur, true
	}
	return View{}, false
}

// OpenViews returns the current version of every modal still on a user's screen, in the order
// they were opened (a pushed view after the one below it). A modal closes when the user
// submits it and the ack carries no response_action or "clear" (which closes its whole stack),
// or when CloseView closes it; "errors" and "update" keep it open.
func (s *Server) OpenViews() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []View
	for _, id := range s.viewOrder {
		if v := s.views[id]; v.open && v.cur.Type == "modal" {
			out = append(out, v.cur)
		}
	}
	return out
}

// CurrentView returns the current version of the view, open or closed, and whether the fake
// knows it.
func (s *Server) CurrentView(viewID string) (View, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.views[viewID]; v != nil {
		return v.cur, true
	}
	return View{}, false
}

// waitUnlocked runs cond without s.mu after every change until it holds or timeout passes.
func (s *Server) waitUnlocked(timeout time.Duration, cond func() bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-changed:
		case <-timer.C:
			return false
		case <-s.done:
			return false
		}
	}
}
