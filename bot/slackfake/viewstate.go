package slackfake

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// stateSlot is one stateful element of a view.
type stateSlot struct {
	elem            map[string]any
	input, optional bool // in an input block; that block has "optional": true
}

// stateKind is how a plain value given by a test becomes an element's state.
type stateKind int

const (
	kindText   stateKind = iota // any value, as its string
	kindString                  // a string (or []string for multi)
	kindOption                  // option value(s), looked up in the element's options
	kindUnix                    // int64 seconds or time.Time
)

// stateField says where an element type keeps its state in state.values, and where its
// initial value is in the element.
type stateField struct {
	field, initial string
	multi          bool
	kind           stateKind
	anyOption      bool // options come from the app (external_select): any value goes
}

var stateFields = map[string]stateField{
	"plain_text_input":           {"value", "initial_value", false, kindText, false},
	"email_text_input":           {"value", "initial_value", false, kindText, false},
	"url_text_input":             {"value", "initial_value", false, kindText, false},
	"number_input":               {"value", "initial_value", false, kindText, false},
	"static_select":              {"selected_option", "initial_option", false, kindOption, false},
	"radio_buttons":              {"selected_option", "initial_option", false, kindOption, false},
	"external_select":            {"selected_option", "initial_option", false, kindOption, true},
	"multi_static_select":        {"selected_options", "initial_options", true, kindOption, false},
	"checkboxes":                 {"selected_options", "initial_options", true, kindOption, false},
	"multi_external_select":      {"selected_options", "initial_options", true, kindOption, true},
	"users_select":               {"selected_user", "initial_user", false, kindString, false},
	"multi_users_select":         {"selected_users", "initial_users", true, kindString, false},
	"conversations_select":       {"selected_conversation", "initial_conversation", false, kindString, false},
	"multi_conversations_select": {"selected_conversations", "initial_conversations", true, kindString, false},
	"channels_select":            {"selected_channel", "initial_channel", false, kindString, false},
	"multi_channels_select":      {"selected_channels", "initial_channels", true, kindString, false},
	"datepicker":                 {"selected_date", "initial_date", false, kindString, false},
	"timepicker":                 {"selected_time", "initial_time", false, kindString, false},
	"datetimepicker":             {"selected_date_time", "initial_date_time", false, kindUnix, false},
}

// stateSlots finds a view's stateful elements: every input block's element, and the
// elements of actions blocks and section accessories that hold state.
func stateSlots(blocks []any) map[string]map[string]stateSlot {
	slots := map[string]map[string]stateSlot{}
	add := func(blockID string, el map[string]any, input, optional bool) {
		typ, _ := el["type"].(string)
		actionID, _ := el["action_id"].(string)
		if _, stateful := stateFields[typ]; actionID == "" || (!input && !stateful) {
			return
		}
		if slots[blockID] == nil {
			slots[blockID] = map[string]stateSlot{}
		}
		slots[blockID][actionID] = stateSlot{elem: el, input: input, optional: optional}
	}
	for _, b := range blocks {
		block, _ := b.(map[string]any)
		blockID, _ := block["block_id"].(string)
		switch block["type"] {
		case "input":
			if el, ok := block["element"].(map[string]any); ok {
				add(blockID, el, true, block["optional"] == true)
			}
		case "actions":
			els, _ := block["elements"].([]any)
			for _, e := range els {
				if el, ok := e.(map[string]any); ok {
					add(blockID, el, false, true)
				}
			}
		case "section":
			if el, ok := block["accessory"].(map[string]any); ok {
				add(blockID, el, false, true)
			}
		}
	}
	return slots
}

// stateValues builds a view's state.values from a test's values: every stateful element,
// with the test's value or its initial one. With requireInputs a required input left empty
// is an error.
func stateValues(blocks []any, values map[string]map[string]any, requireInputs bool) (map[string]map[string]any, error) {
	slots := stateSlots(blocks)
	out := map[string]map[string]any{}
	for blockID, acts := range values {
		for actionID, given := range acts {
			slot, ok := slots[blockID][actionID]
			if !ok {
				return nil, fmt.Errorf("no stateful element %s/%s (block_id/action_id) in the view; it has %s",
					blockID, actionID, viewKeys(slots))
			}
			entry, err := stateEntry(slot.elem, given)
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", blockID, actionID, err)
			}
			if out[blockID] == nil {
				out[blockID] = map[string]any{}
			}
			out[blockID][actionID] = entry
		}
	}
	for _, blockID := range slices.Sorted(maps.Keys(slots)) {
		for actionID, slot := range slots[blockID] {
			entry, given := out[blockID][actionID]
			if !given {
				entry = initialEntry(slot.elem)
				if out[blockID] == nil {
					out[blockID] = map[string]any{}
				}
				out[blockID][actionID] = entry
			}
			if requireInputs && slot.input && !slot.optional && isEmpty(slot.elem, entry) {
				return nil, fmt.Errorf("required input %s/%s is empty: Slack would not let the user submit", blockID, actionID)
			}
		}
	}
	return out, nil
}

// stateEntry turns a test's value for element el into its state.values entry.
func stateEntry(el map[string]any, given any) (any, error) {
	typ, _ := el["type"].(string)
	if m, ok := given.(map[string]any); ok {
		entry := maps.Clone(m)
		if entry["type"] == nil {
			entry["type"] = typ
		}
		return entry, nil
	}
	f, ok := stateFields[typ]
	if !ok {
		return nil, fmt.Errorf("the fake cannot build the state of a %q element: give it as a map[string]any", typ)
	}
	entry := map[string]any{"type": typ}
	switch f.kind {
	case kindText:
		entry[f.field] = fmt.Sprint(given)
	case kindString:
		v, err := stringsOf(given, f.multi)
		if err != nil {
			return nil, err
		}
		entry[f.field] = v
	case kindOption:
		picked, err := stringsOf(given, true)
		if err != nil {
			return nil, err
		}
		var opts []any
		for _, value := range picked.([]string) {
			opt, ok := findOption(el, value)
			if !ok && !f.anyOption {
				return nil, fmt.Errorf("the %s offers no option with value %q", typ, value)
			}
			opts = append(opts, opt)
		}
		switch {
		case f.multi:
			entry[f.field] = append([]any{}, opts...)
		case len(opts) != 1:
			return nil, fmt.Errorf("a %s takes one option, not %d", typ, len(opts))
		default:
			entry[f.field] = opts[0]
		}
	case kindUnix:
		switch v := given.(type) {
		case time.Time:
			entry[f.field] = v.Unix()
		case int, int64:
			entry[f.field] = v
		default:
			return nil, fmt.Errorf("a %s takes an int64 or a time.Time, not %T", typ, given)
		}
	}
	return entry, nil
}

// stringsOf accepts a string, or with multi a []string (a lone string is one item).
func stringsOf(given any, multi bool) (any, error) {
	switch v := given.(type) {
	case string:
		if multi {
			return []string{v}, nil
		}
		return v, nil
	case []string:
		if multi {
			return slices.Clone(v), nil
		}
	}
	if multi {
		return nil, fmt.Errorf("want a string or []string, not %T", given)
	}
	return nil, fmt.Errorf("want a string, not %T", given)
}

// findOption looks up the option with value in the element's options or option groups. An
// option the element does not list (external_select) gets its value as its text.
func findOption(el map[string]any, value string) (any, bool) {
	lists := []any{el["options"]}
	groups, _ := el["option_groups"].([]any)
	for _, g := range groups {
		if group, ok := g.(map[string]any); ok {
			lists = append(lists, group["options"])
		}
	}
	for _, l := range lists {
		opts, _ := l.([]any)
		for _, o := range opts {
			if opt, ok := o.(map[string]any); ok && opt["value"] == value {
				return opt, true
			}
		}
	}
	return map[string]any{"text": map[string]any{"type": "plain_text", "text": value, "emoji": true}, "value": value}, false
}

// initialEntry is the state of an element the user left alone: its initial value, else null
// (an empty list for multi-selects).
func initialEntry(el map[string]any) any {
	typ, _ := el["type"].(string)
	entry := map[string]any{"type": typ}
	f, ok := stateFields[typ]
	if !ok {
		return entry
	}
	switch initial, set := el[f.initial]; {
	case set:
		entry[f.field] = initial
	case f.multi:
		entry[f.field] = []any{}
	default:
		entry[f.field] = nil
	}
	return entry
}

// isEmpty says whether an input's state holds nothing, as a required input may not.
func isEmpty(el map[string]any, entry any) bool {
	typ, _ := el["type"].(string)
	f, ok := stateFields[typ]
	m, isMap := entry.(map[string]any)
	if !ok || !isMap {
		return false
	}
	switch v := m[f.field].(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case []string:
		return len(v) == 0
	}
	return false
}

// viewKeys lists a view's block_id/action_id pairs, for messages about a test's mistakes.
func viewKeys(slots map[string]map[string]stateSlot) string {
	var keys []string
	for b, acts := range slots {
		for a := range acts {
			keys = append(keys, b+"/"+a)
		}
	}
	slices.Sort(keys)
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}
