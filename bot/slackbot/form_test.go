package slackbot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot/slackfake"
)

// `/bindtester` alone opens the request form with the apps the person may
// pick; a bad WeChat ID is shown beside its field and nothing is done; a
// good submission binds and is answered in the channel it came from.
func TestRequestForm(t *testing.T) {
	e := start(t)
	e.slash(binder, channel, "")
	views, ok := e.slack.WaitViews(5*time.Second, func(vs []slackfake.View) bool { return len(vs) > 0 })
	if !ok {
		t.Fatal("no form was opened")
	}
	v := views[0]
	if v.Method != "views.open" || v.CallbackID != "bindtester_request" || v.PrivateMetadata != channel || !strings.Contains(v.Blocks, appID) {
		t.Fatalf("opened view %+v; want the request form with the app to pick", v)
	}

	id := e.slack.SubmitView(v.ID, binder, map[string]map[string]any{
		"app": {"app": appID}, "wechat_id": {"wechat_id": "13800138000"}})
	payload, ok := e.slack.WaitAckPayload(id, 5*time.Second)
	if !ok || !strings.Contains(string(payload), `"response_action":"errors"`) || !strings.Contains(string(payload), `"wechat_id"`) ||
		!strings.Contains(string(payload), "not a valid WeChat ID") {
		t.Fatalf("ack of a bad WeChat ID: %s; want an inline error on wechat_id", payload)
	}
	if n := e.wechat.Calls("/wxa/bind_tester"); n != 0 {
		t.Fatalf("bind_tester called %d times for a refused form", n)
	}
	if open := e.slack.OpenViews(); len(open) != 1 {
		t.Fatalf("the form closed on an error: %+v", open)
	}

	id = e.slack.SubmitView(v.ID, binder, map[string]map[string]any{
		"app": {"app": appID}, "wechat_id": {"wechat_id": "tester_form"}, "duration": {"duration": "3d"}})
	if payload, _ := e.slack.WaitAckPayload(id, 5*time.Second); strings.Contains(string(payload), "errors") {
		t.Fatalf("ack of a good form: %s", payload)
	}
	e.waitFor(t, "the outcome in the channel", func(m slackfake.Message) bool {
		return m.Channel == channel && strings.Contains(m.Text, "Done: `te***rm`")
	})
	if e.wechat.UserStr(appID, "tester_form") == "" {
		t.Error("WeChat did not bind the form's tester")
	}
}
