package slackfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Slack's limits on views.
const (
	maxViewBytes       = 250 << 10
	maxViewBlocks      = 100
	maxModalText       = 24 // title, submit and close
	maxPrivateMetadata = 3000
	maxViewIDField     = 255 // callback_id, external_id, block_id
)

// viewRequest is a view object as an app sends it.
type viewRequest struct {
	Type            string          `json:"type"`
	Title           json.RawMessage `json:"title"`
	Close           json.RawMessage `json:"close"`
	Submit          json.RawMessage `json:"submit"`
	Blocks          json.RawMessage `json:"blocks"`
	PrivateMetadata string          `json:"private_metadata"`
	CallbackID      string          `json:"callback_id"`
	ExternalID      string          `json:"external_id"`
	ClearOnClose    bool            `json:"clear_on_close"`
	NotifyOnClose   bool            `json:"notify_on_close"`
}

// parsedView is a view request that passed Slack's checks.
type parsedView struct {
	viewRequest
	title, close, submit string // texts
	blocks               []any
}

// parseView checks a view object the way Slack does before it shows it. wantType is "modal"
// or "home", or "" for either. It returns the Slack error code ("" when the view is fine) and,
// for invalid_arguments, Slack-style messages naming the offending field.
func parseView(raw json.RawMessage, wantType string) (*parsedView, string, []string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' { // a JSON-encoded string, as form posts carry it
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, "invalid_arguments", []string{"[ERROR] invalid view [json-pointer:/view]"}
		}
		raw = json.RawMessage(s)
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "invalid_arguments", []string{"[ERROR] missing required field: view"}
	}
	if len(raw) > maxViewBytes {
		return nil, "view_too_large", nil
	}
	pv := &parsedView{}
	if err := json.Unmarshal(raw, &pv.viewRequest); err != nil {
		return nil, "invalid_arguments", []string{"[ERROR] view must be a JSON object [json-pointer:/view]"}
	}
	var msgs []string
	switch {
	case pv.Type != "modal" && pv.Type != "home":
		msgs = append(msgs, `[ERROR] must be "modal" or "home" [json-pointer:/view/type]`)
	case wantType != "" && pv.Type != wantType:
		msgs = append(msgs, fmt.Sprintf("[ERROR] must be %q [json-pointer:/view/type]", wantType))
	}
	if pv.Type == "home" { // a home tab has no title or buttons
		pv.Title, pv.Close, pv.Submit = nil, nil, nil
	}
	if pv.Type == "modal" {
		var m string
		if pv.title, m = plainText(pv.Title, "title", true); m != "" {
			msgs = append(msgs, m)
		}
		if pv.submit, m = plainText(pv.Submit, "submit", false); m != "" {
			msgs = append(msgs, m)
		}
		if pv.close, m = plainText(pv.Close, "close", false); m != "" {
			msgs = append(msgs, m)
		}
	}
	blocks, inputs, bm := parseBlocks(pv.Blocks)
	pv.blocks = blocks
	msgs = append(msgs, bm...)
	if pv.Type == "modal" && inputs > 0 && rawOrNil(pv.Submit) == nil {
		msgs = append(msgs, "[ERROR] must provide submit when blocks contain an input block [json-pointer:/view/submit]")
	}
	msgs = append(msgs, tooLong(pv.PrivateMetadata, maxPrivateMetadata, "private_metadata")...)
	msgs = append(msgs, tooLong(pv.CallbackID, maxViewIDField, "callback_id")...)
	msgs = append(msgs, tooLong(pv.ExternalID, maxViewIDField, "external_id")...)
	if len(msgs) > 0 {
		return nil, "invalid_arguments", msgs
	}
	return pv, "", nil
}

// plainText checks a modal's title, submit or close text object and returns its text.
func plainText(raw json.RawMessage, field string, required bool) (string, string) {
	if len(raw) == 0 || string(raw) == "null" {
		if required {
			return "", "[ERROR] missing required field: " + field + " [json-pointer:/view]"
		}
		return "", ""
	}
	var t struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if json.Unmarshal(raw, &t) != nil || t.Text == nil {
		return "", "[ERROR] must provide a text object [json-pointer:/view/" + field + "]"
	}
	if t.Type != "plain_text" {
		return "", "[ERROR] must be a plain_text text object [json-pointer:/view/" + field + "/type]"
	}
	if n := utf8.RuneCountInString(*t.Text); n == 0 || n > maxModalText {
		return "", fmt.Sprintf("[ERROR] must be between 1 and %d characters [json-pointer:/view/%s/text]", maxModalText, field)
	}
	return *t.Text, ""
}

func tooLong(v string, max int, field string) []string {
	if utf8.RuneCountInString(v) > max {
		return []string{fmt.Sprintf("[ERROR] must be at most %d characters [json-pointer:/view/%s]", max, field)}
	}
	return nil
}

// parseBlocks decodes a view's blocks (numbers kept as written) and checks what Slack checks
// of them here: an array of at most 100 typed objects with unique block_ids, input blocks with
// a label and an element. It returns the blocks, how many are input blocks, and the problems.
func parseBlocks(raw json.RawMessage) ([]any, int, []string) {
	blocks := []any{}
	if len(raw) == 0 || string(raw) == "null" {
		return blocks, 0, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&blocks) != nil {
		return []any{}, 0, []string{"[ERROR] must be an array of blocks [json-pointer:/view/blocks]"}
	}
	var msgs []string
	if len(blocks) > maxViewBlocks {
		msgs = append(msgs, fmt.Sprintf("[ERROR] no more than %d items allowed [json-pointer:/view/blocks]", maxViewBlocks))
	}
	inputs := 0
	seen := map[string]bool{}
	for i, b := range blocks {
		at := fmt.Sprintf("[json-pointer:/view/blocks/%d", i)
		block, ok := b.(map[string]any)
		if typ, _ := block["type"].(string); !ok || typ == "" {
			msgs = append(msgs, "[ERROR] missing required field: type "+at+"]")
			continue
		}
		if id, ok := block["block_id"].(string); ok {
			switch {
			case id == "" || len(id) > maxViewIDField:
				msgs = append(msgs, fmt.Sprintf("[ERROR] must be between 1 and %d characters %s/block_id]", maxViewIDField, at))
			case seen[id]:
				msgs = append(msgs, "[ERROR] block_id must be unique "+at+"/block_id]")
			}
			seen[id] = true
		}
		if block["type"] != "input" {
			continue
		}
		inputs++
		if _, ok := block["label"].(map[string]any); !ok {
			msgs = append(msgs, "[ERROR] missing required field: label "+at+"]")
		}
		if el, ok := block["element"].(map[string]any); !ok || el["type"] == nil {
			msgs = append(msgs, "[ERROR] missing required field: element "+at+"]")
		}
	}
	return blocks, inputs, msgs
}
