package slackfake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/bindtester/bindtester/bot/slackfake"
)

// startResponder is startBot whose acks carry answer(evt) as their payload (none for nil),
// as a bot answers a view_submission.
func startResponder(t *testing.T, fake *slackfake.Server, answer func(socketmode.Event) any) *bot {
	t.Helper()
	client := socketmode.New(slack.New(botToken, slack.OptionAppLevelToken(appToken), slack.OptionAPIURL(fake.URL)))
	ctx, cancel := context.WithCancel(context.Background())
	b := &bot{events: make(chan socketmode.Event, 100), done: make(chan error, 1)}
	go func() { b.done <- client.RunContext(ctx) }()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-client.Events:
				switch evt.Type {
				case socketmode.EventTypeSlashCommand, socketmode.EventTypeEventsAPI, socketmode.EventTypeInteractive:
					if p := answer(evt); p != nil {
						_ = client.Ack(*evt.Request, p)
					} else {
						_ = client.Ack(*evt.Request)
					}
					b.events <- evt
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-b.done:
		case <-time.After(wait):
			t.Error("RunContext did not return after cancel")
		}
	})
	return b
}

// submission is what a bot answers a view_submission of requestModal with: errors for the
// WeChat ID "bad", an update for "check", a pushed confirmation for "confirm", nothing else.
func submission(evt socketmode.Event) any {
	cb, ok := evt.Data.(slack.InteractionCallback)
	if !ok || cb.Type != slack.InteractionTypeViewSubmission {
		return nil
	}
	switch cb.View.State.Values["wechat"]["id"].Value {
	case "bad":
		return slack.NewErrorsViewSubmissionResponse(map[string]string{"wechat": "No such WeChat ID"})
	case "check":
		view := requestModal("Check and bind")
		return slack.NewUpdateViewSubmissionResponse(&view)
	case "confirm":
		return slack.NewPushViewSubmissionResponse(&slack.ModalViewRequest{
			Type: slack.VTModal, Title: plain("Sure?"), Submit: plain("Yes"), CallbackID: "confirm",
			Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewSectionBlock(plain("Bind alice?"), nil, nil)}},
		})
	case "all":
		return slack.NewClearViewSubmissionResponse()
	}
	return nil
}

func TestSubmitViewDeliversViewSubmissionAndReadsTheAnswer(t *testing.T) {
	fake := newFake(t)
	b := startResponder(t, fake, submission)
	opened := openModal(t, fake, b, "U1", requestModal("Bind a tester"))

	// An answer with errors keeps the modal open.
	id := fake.SubmitView(opened.ID, "U1", map[string]map[string]any{
		"wechat": {"id": "bad"},
		"app":    {"pick": "shop-2"},
	})
	evt := b.next(t, socketmode.EventTypeInteractive)
	cb := evt.Data.(slack.InteractionCallback)
	values := cb.View.State.Values
	if cb.Type != slack.InteractionTypeViewSubmission || cb.View.ID != opened.ID || cb.View.Hash != opened.Hash ||
		cb.View.CallbackID != "request" || cb.View.PrivateMetadata != "C1" || cb.User.ID != "U1" ||
		cb.Team.ID != slackfake.TeamID || cb.TriggerID == "" || !evt.Request.AcceptsResponsePayload {
		t.Fatalf("view_submission = %+v (accepts response payload: %v)", cb, evt.Request.AcceptsResponsePayload)
	}
	if values["wechat"]["id"].Type != "plain_text_input" || values["app"]["pick"].SelectedOption.Value != "shop-2" ||
		values["app"]["pick"].SelectedOption.Text.Text != "Shop two" || values["until"]["date"].Type != "datepicker" ||
		values["until"]["date"].SelectedDate != "" {
		t.Fatalf("state.values = %+v", values)
	}
	raw, ok := fake.WaitAckPayload(id, wait)
	var answer slack.ViewSubmissionResponse
	if !ok || json.Unmarshal(raw, &answer) != nil || answer.ResponseAction != slack.RAErrors ||
		answer.Errors["wechat"] != "No such WeChat ID" {
		t.Fatalf("ack payload = %s, %v", raw, ok)
	}
	if open := fake.OpenViews(); len(open) != 1 || open[0].ID != opened.ID {
		t.Fatalf("after errors, OpenViews() = %+v", open)
	}

	// An update replaces it; an empty ack closes it.
	id = fake.SubmitView(opened.ID, "", map[string]map[string]any{"wechat": {"id": "check"}, "app": {"pick": "shop-1"}})
	b.next(t, socketmode.EventTypeInteractive)
	if _, ok := fake.WaitAckPayload(id, wait); !ok {
		t.Fatal("no ack")
	}
	open := fake.OpenViews()
	if len(open) != 1 || open[0].ID != opened.ID || open[0].Method != "response_action.update" ||
		open[0].Title != "Check and bind" || open[0].Hash == opened.Hash {
		t.Fatalf("after update, OpenViews() = %+v", open)
	}
	id = fake.SubmitView(opened.ID, "U1", map[string]map[string]any{"wechat": {"id": "alice"}, "app": {"pick": "shop-1"}})
	if cb := b.next(t, socketmode.EventTypeInteractive).Data.(slack.InteractionCallback); cb.View.Hash != open[0].Hash {
		t.Fatalf("submitted hash %q, want the updated %q", cb.View.Hash, open[0].Hash)
	}
	if raw, ok := fake.WaitAckPayload(id, wait); !ok || raw != nil {
		t.Fatalf("ack payload = %s, %v; want none", raw, ok)
	}
	if open := fake.OpenViews(); len(open) != 0 {
		t.Fatalf("after an empty ack, OpenViews() = %+v", open)
	}
}

func TestResponseActionPushAndClear(t *testing.T) {
	fake := newFake(t)
	b := startResponder(t, fake, func(evt socketmode.Event) any {
		if cb, ok := evt.Data.(slack.InteractionCallback); ok && cb.View.CallbackID == "confirm" {
			return slack.NewClearViewSubmissionResponse()
		}
		return submission(evt)
	})
	opened := openModal(t, fake, b, "U1", requestModal("Bind a tester"))

	id := fake.SubmitView(opened.ID, "U1", map[string]map[string]any{"wechat": {"id": "confirm"}, "app": {"pick": "shop-1"}})
	b.next(t, socketmode.EventTypeInteractive)
	fake.WaitAck(id, wait)
	open := fake.OpenViews()
	if len(open) != 2 || open[1].Method != "response_action.push" || open[1].RootViewID != opened.ID ||
		open[1].PreviousViewID != opened.ID || open[1].CallbackID != "confirm" || open[1].User != "U1" {
		t.Fatalf("after push, OpenViews() = %+v", open)
	}
	id = fake.SubmitView(open[1].ID, "U1", nil)
	b.next(t, socketmode.EventTypeInteractive)
	fake.WaitAck(id, wait)
	if open := fake.OpenViews(); len(open) != 0 {
		t.Fatalf("after clear, OpenViews() = %+v", open)
	}
}

func TestSubmitViewRefusesWhatSlackWould(t *testing.T) {
	fake := newFake(t)
	opened := openModal(t, fake, nil, "U1", requestModal("Bind a tester"))
	home, err := newAPI(fake, botToken).PublishView("U1", homeTab("hi"), "")
	if err != nil {
		t.Fatal(slackErr(err))
	}
	good := map[string]any{"pick": "shop-1"}
	tests := []struct {
		name, view, user string
		values           map[string]map[string]any
		want             string
	}{
		{"unknown view", "V404", "U1", nil, "never showed it"},
		{"home tab", home.ID, "U1", nil, "home tab"},
		{"someone else's modal", opened.ID, "U2", nil, "U1's, not U2's"},
		{"required input left empty", opened.ID, "U1", map[string]map[string]any{"app": good}, "wechat/id is empty"},
		{"blank text", opened.ID, "U1", map[string]map[string]any{"wechat": {"id": ""}, "app": good}, "wechat/id is empty"},
		{"no such element", opened.ID, "U1", map[string]map[string]any{"wechat": {"name": "x"}}, "no stateful element wechat/name"},
		{"no such option", opened.ID, "U1", map[string]map[string]any{"wechat": {"id": "x"}, "app": {"pick": "shop-9"}}, `no option with value "shop-9"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if msg := fmt.Sprint(recover()); !strings.Contains(msg, tt.want) {
					t.Fatalf("panic %q, want it to say %q", msg, tt.want)
				}
			}()
			fake.SubmitView(tt.view, tt.user, tt.values)
		})
	}
}

func TestOpenHomeDeliversAppHomeOpened(t *testing.T) {
	fake := newFake(t)
	b := startBot(t, fake, appToken)
	home, err := newAPI(fake, botToken).PublishView("U1", homeTab("hi"), "")
	if err != nil {
		t.Fatal(slackErr(err))
	}
	tests := []struct {
		user, wantView string
	}{
		{"U1", home.ID},
		{"U2", ""}, // no home tab published for U2 yet
	}
	for _, tt := range tests {
		id := fake.OpenHome(tt.user)
		evt := b.next(t, socketmode.EventTypeEventsAPI)
		outer := evt.Data.(slackevents.EventsAPIEvent)
		opened, ok := outer.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent)
		if !ok || outer.Type != slackevents.CallbackEvent {
			t.Fatalf("event = %+v", outer)
		}
		if opened.User != tt.user || opened.Tab != "home" || opened.Channel != "D"+tt.user || opened.EventTimeStamp == "" {
			t.Fatalf("app_home_opened = %+v", opened)
		}
		switch {
		case tt.wantView == "" && opened.View != nil:
			t.Fatalf("view %+v for a user without a home tab", opened.View)
		case tt.wantView != "" && (opened.View == nil || opened.View.ID != tt.wantView || opened.View.Hash != home.Hash ||
			opened.View.Type != slack.VTHomeTab || len(opened.View.Blocks.BlockSet) != 2):
			t.Fatalf("view = %+v, want %s", opened.View, tt.wantView)
		}
		if !fake.WaitAck(id, wait) {
			t.Fatal("ack not seen")
		}
	}
}

func TestBlockActionFromAView(t *testing.T) {
	fake := newFake(t)
	b := startBot(t, fake, appToken)
	api := newAPI(fake, botToken)
	home, err := api.PublishView("U1", homeTab("hi"), "")
	if err != nil {
		t.Fatal(slackErr(err))
	}

	// The home tab's button: its trigger opens the request form.
	fake.BlockAction(slackfake.BlockAction{UserID: "U1", ViewID: home.ID, BlockID: "home_actions", ActionID: "new_request", Value: "x"})
	evt := b.next(t, socketmode.EventTypeInteractive)
	cb := evt.Data.(slack.InteractionCallback)
	if cb.Type != slack.InteractionTypeBlockActions || cb.Container.Type != "view" || cb.Container.ViewID != home.ID ||
		cb.View.ID != home.ID || cb.View.Type != slack.VTHomeTab || cb.User.ID != "U1" || cb.Channel.ID != "" ||
		cb.ResponseURL != "" || cb.TriggerID == "" || evt.Request.AcceptsResponsePayload ||
		len(cb.ActionCallback.BlockActions) != 1 || cb.ActionCallback.BlockActions[0].ActionID != "new_request" {
		t.Fatalf("block_actions from the home tab = %+v", cb)
	}
	modal, err := api.OpenView(cb.TriggerID, requestModal("Bind a tester"))
	if err != nil {
		t.Fatal(slackErr(err))
	}
	if v, _ := fake.CurrentView(modal.ID); v.User != "U1" || v.TriggerID != cb.TriggerID {
		t.Fatalf("modal opened from the home tab = %+v", v)
	}

	// A button in the modal: the payload carries what the user typed so far.
	fake.BlockAction(slackfake.BlockAction{ViewID: modal.ID, BlockID: "wechat", ActionID: "lookup",
		Values: map[string]map[string]any{"wechat": {"id": "ali"}}})
	cb = b.next(t, socketmode.EventTypeInteractive).Data.(slack.InteractionCallback)
	if cb.View.ID != modal.ID || cb.User.ID != "U1" || cb.View.State.Values["wechat"]["id"].Value != "ali" ||
		cb.BlockActionState == nil || cb.BlockActionState.Values["wechat"]["id"].Value != "ali" {
		t.Fatalf("block_actions from the modal = %+v", cb)
	}
}

func TestCloseView(t *testing.T) {
	fake := newFake(t)
	b := startBot(t, fake, appToken)
	notifying := requestModal("Bind a tester")
	notifying.NotifyOnClose = true
	quiet := openModal(t, fake, b, "U1", requestModal("Bind a tester"))
	loud := openModal(t, fake, b, "U1", notifying)

	if id := fake.CloseView(quiet.ID, ""); id != "" {
		t.Fatalf("closing a view without notify_on_close sent %s", id)
	}
	id := fake.CloseView(loud.ID, "U1")
	cb := b.next(t, socketmode.EventTypeInteractive).Data.(slack.InteractionCallback)
	if id == "" || cb.Type != slack.InteractionTypeViewClosed || cb.View.ID != loud.ID || cb.User.ID != "U1" || cb.IsCleared {
		t.Fatalf("view_closed = %+v", cb)
	}
	if open := fake.OpenViews(); len(open) != 0 {
		t.Fatalf("OpenViews() = %+v", open)
	}
	if _, err := newAPI(fake, botToken).UpdateView(requestModal("x"), "", "", loud.ID); slackErr(err) != "not_found " {
		t.Fatalf("update of a closed modal: %v", slackErr(err))
	}
}
