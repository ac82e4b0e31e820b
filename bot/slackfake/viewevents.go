package slackfake

import (
	"encoding/json"
	"fmt"
)

// OpenHome delivers an "events_api" envelope with an app_home_opened event: user opened the
// app's Home tab. Like Slack, the event carries the user's home view when one was published.
func (s *Server) OpenHome(user string) (envelopeID string) {
	event := map[string]any{
		"type": "app_home_opened", "user": user, "channel": dmChannel(user),
		"tab": "home", "event_ts": s.ts(),
	}
	s.mu.Lock()
	if v := s.views[s.homes[user]]; v != nil {
		event["view"] = v.renderLocked(nil)
	}
	s.mu.Unlock()
	return s.sendEvent("", event)
}

// SubmitView delivers an "interactive" envelope with a "view_submission" payload: user (""
// for the modal's owner) pressed the modal's submit button. The payload carries the view (ID,
// hash, callback_id, private_metadata…) with state.values built from values, block_id →
// action_id → the element's state, and a fresh trigger_id.
//
// A state is given either whole, as a map[string]any such as {"type":"static_select",
// "selected_option":{…}}, or as a plain value the fake turns into the element's state: a
// string for a text input (value), a select or radio buttons (the option with that value),
// a date, time, user, conversation or channel picker; a []string for multi-selects and
// checkboxes; an int64 or time.Time for a datetimepicker. Elements not in values get their
// initial value, or null, as Slack sends them.
//
// The ack may carry a response payload (see WaitAckPayload), which the fake obeys as Slack
// does: none or {"response_action":"clear"} closes the modal, "errors" keeps it open, "update"
// replaces it and "push" stacks a new one (recorded as "response_action.update" and
// "response_action.push" in Views).
//
// Slack's client would not let a user submit what SubmitView therefore refuses, by
// panicking (a bug in the test): an unknown or closed view, a home tab, a modal without a
// submit button, someone else's modal, a value for an element the view does not have, an
// option the element does not offer, or a required input left empty.
func (s *Server) SubmitView(viewID, user string, values map[string]map[string]any) (envelopeID string) {
	view, _, owner := s.viewPayload("SubmitView", viewID, user, values, true)
	return s.SendEnvelope("interactive", map[string]any{
		"type":                  "view_submission",
		"token":                 "fake-verification-token",
		"api_app_id":            AppID,
		"trigger_id":            s.newTriggerID(),
		"team":                  map[string]any{"id": TeamID, "domain": "fake"},
		"user":                  map[string]any{"id": owner, "username": owner, "name": owner, "team_id": TeamID},
		"view":                  view,
		"response_urls":         []any{},
		"is_enterprise_install": false,
		"enterprise":            nil,
	})
}

// CloseView closes a modal as if user ("" for its owner) pressed its close button: that view
// goes, or its whole stack when it has clear_on_close. If the view has notify_on_close it
// delivers an "interactive" envelope with a "view_closed" payload and returns its ID; else
// Slack tells the app nothing and CloseView returns "". It panics, like SubmitView, for a view
// the user could not close.
func (s *Server) CloseView(viewID, user string) (envelopeID string) {
	view, _, owner := s.viewPayload("CloseView", viewID, user, nil, false)
	s.mu.Lock()
	v := s.views[viewID]
	if v.cur.Type != "modal" {
		s.mu.Unlock()
		panic(fmt.Sprintf("slackfake: CloseView: %s is a home tab, which cannot be closed", viewID))
	}
	cleared, notify := v.clearOnClose, v.notifyOnClose
	s.closeLocked(v, cleared)
	s.mu.Unlock()
	if !notify {
		return ""
	}
	return s.SendEnvelope("interactive", map[string]any{
		"type":                  "view_closed",
		"token":                 "fake-verification-token",
		"api_app_id":            AppID,
		"team":                  map[string]any{"id": TeamID, "domain": "fake"},
		"user":                  map[string]any{"id": owner, "username": owner, "name": owner, "team_id": TeamID},
		"view":                  view,
		"is_cleared":            cleared,
		"is_enterprise_install": false,
		"enterprise":            nil,
	})
}

// viewPayload renders an open view for an envelope from user, with state.values built from
// values, and returns it, its state object and the view's owner. With submit it also checks
// that the view can be submitted and that its required inputs are filled. Anything a user
// could not do panics, naming caller: the test is wrong.
func (s *Server) viewPayload(caller, viewID, user string, values map[string]map[string]any, submit bool) (view, state map[string]any, owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("slackfake: %s: view %s: %s", caller, viewID, fmt.Sprintf(format, args...)))
	}
	v := s.views[viewID]
	switch {
	case v == nil:
		fail("the fake never showed it")
	case !v.open:
		fail("it is closed")
	case user != "" && user != v.cur.User:
		fail("it is %s's, not %s's", v.cur.User, user)
	case submit && v.cur.Type != "modal":
		fail("a home tab cannot be submitted")
	case submit && v.submit == nil:
		fail("the modal has no submit button")
	}
	vals, err := stateValues(v.blocks, values, submit)
	if err != nil {
		fail("%v", err)
	}
	return v.renderLocked(vals), map[string]any{"values": vals}, v.cur.User
}

// applyResponseActionLocked obeys the payload of the first ack of a view_submission for
// viewID, as Slack does; s.mu must be held. A payload Slack would refuse (an update or push
// whose view is invalid) changes nothing, as the user would see an error in the modal.
func (s *Server) applyResponseActionLocked(viewID string, payload json.RawMessage) {
	v := s.views[viewID]
	if v == nil || !v.open {
		return
	}
	var resp struct {
		ResponseAction string          `json:"response_action"`
		View           json.RawMessage `json:"view"`
	}
	if len(payload) > 0 && json.Unmarshal(payload, &resp) != nil {
		return
	}
	switch resp.ResponseAction {
	case "":
		s.closeLocked(v, false)
	case "clear":
		s.closeLocked(v, true)
	case "update":
		if pv, code, _ := parseView(resp.View, "modal"); code == "" && s.externalIDFreeLocked(pv.ExternalID, v.cur.ID) {
			s.replaceViewLocked(v, pv, "response_action.update")
		}
	case "push":
		if pv, code, _ := parseView(resp.View, "modal"); code == "" && s.externalIDFreeLocked(pv.ExternalID, "") {
			nv := s.newViewLocked(pv, v.cur.User)
			nv.cur.RootViewID, nv.cur.PreviousViewID = v.cur.RootViewID, v.cur.ID
			s.recordViewLocked(nv, "response_action.push")
		}
	}
	// "errors" (and anything else) leaves the modal as it is.
}
