package slackfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/bindtester/bindtester/bot/slackfake"
)

func plain(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, text, false, false)
}

// requestModal is a request form: a required WeChat ID, a required Mini Program picked from
// two, an optional end date.
func requestModal(title string) slack.ModalViewRequest {
	app := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, nil, "pick",
		slack.NewOptionBlockObject("shop-1", plain("Shop one"), nil),
		slack.NewOptionBlockObject("shop-2", plain("Shop two"), nil))
	until := slack.NewInputBlock("until", plain("Until"), nil, slack.NewDatePickerBlockElement("date"))
	until.Optional = true
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           plain(title),
		Submit:          plain("Bind"),
		Close:           plain("Cancel"),
		CallbackID:      "request",
		PrivateMetadata: "C1",
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("wechat", plain("WeChat ID"), nil, slack.NewPlainTextInputBlockElement(nil, "id")),
			slack.NewInputBlock("app", plain("Mini Program"), nil, app),
			until,
		}},
	}
}

// homeTab is a home view with one section of text and a "new request" button.
func homeTab(text string) slack.HomeTabViewRequest {
	return slack.HomeTabViewRequest{
		Type:       slack.VTHomeTab,
		CallbackID: "home",
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil),
			slack.NewActionBlock("home_actions", slack.NewButtonBlockElement("new_request", "x", plain("New request"))),
		}},
	}
}

// trigger makes the fake issue a trigger for user, with a slash command nobody needs to read:
// the clock of an envelope that has not gone out starts when the fake made it.
func trigger(fake *slackfake.Server, user, id string) string {
	fake.SlashCommand(slackfake.SlashCommand{UserID: user, ChannelID: "C1", TriggerID: id})
	return id
}

var triggers atomic.Int64

// openModal opens view for user through a fresh trigger. With a bot connected, it reads the
// slash command that carried the trigger off b.
func openModal(t *testing.T, fake *slackfake.Server, b *bot, user string, view slack.ModalViewRequest) *slack.ViewResponse {
	t.Helper()
	id := fmt.Sprintf("%d.%d.test", time.Now().UnixNano(), triggers.Add(1))
	resp, err := newAPI(fake, botToken).OpenView(trigger(fake, user, id), view)
	if err != nil {
		t.Fatalf("views.open: %v", err)
	}
	if b != nil {
		b.next(t, socketmode.EventTypeSlashCommand)
	}
	return resp
}

func slackErr(err error) string {
	var e slack.SlackErrorResponse
	if errors.As(err, &e) {
		return e.Err + " " + strings.Join(e.ResponseMetadata.Messages, " ")
	}
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestViewsOpenWithAFreshTrigger(t *testing.T) {
	fake := newFake(t)
	b := startBot(t, fake, appToken)
	api := newAPI(fake, botToken)

	fake.SlashCommand(slackfake.SlashCommand{Text: "", UserID: "U1", ChannelID: "C1"})
	trig := b.next(t, socketmode.EventTypeSlashCommand).Data.(slack.SlashCommand).TriggerID
	if strings.Count(trig, ".") != 2 {
		t.Errorf("trigger_id %q is not shaped like Slack's", trig)
	}
	resp, err := api.OpenView(trig, requestModal("Bind a tester"))
	if err != nil {
		t.Fatal(slackErr(err))
	}
	v := resp.View
	if !strings.HasPrefix(v.ID, "V") || v.Hash == "" || v.Type != slack.VTModal || v.CallbackID != "request" ||
		v.PrivateMetadata != "C1" || v.Title == nil || v.Title.Text != "Bind a tester" || v.Submit.Text != "Bind" ||
		len(v.Blocks.BlockSet) != 3 || v.RootViewID != v.ID || v.TeamID != slackfake.TeamID ||
		v.AppID != slackfake.AppID || v.BotID != slackfake.BotID {
		t.Fatalf("view = %+v", v)
	}
	if in, ok := v.Blocks.BlockSet[0].(*slack.InputBlock); !ok || in.BlockID != "wechat" {
		t.Fatalf("first block = %#v", v.Blocks.BlockSet[0])
	}

	got := fake.Views()
	if len(got) != 1 {
		t.Fatalf("Views() = %+v", got)
	}
	g := got[0]
	if g.Method != "views.open" || g.ID != v.ID || g.Hash != v.Hash || g.User != "U1" || g.TriggerID != trig ||
		g.Type != "modal" || g.CallbackID != "request" || g.PrivateMetadata != "C1" || g.Title != "Bind a tester" ||
		g.Submit != "Bind" || g.Close != "Cancel" || !strings.Contains(g.Blocks, `"block_id":"wechat"`) || g.At.IsZero() {
		t.Fatalf("recorded %+v", g)
	}
	if open := fake.OpenViews(); len(open) != 1 || open[0].ID != v.ID {
		t.Fatalf("OpenViews() = %+v", open)
	}

	// A trigger is good for one view.
	if _, err := api.OpenView(trig, requestModal("Again")); slackErr(err) != "exchanged_trigger_id " {
		t.Fatalf("second views.open with the trigger: %v", slackErr(err))
	}
}

func TestViewsOpenRefusesBadTriggers(t *testing.T) {
	fake := newFake(t)
	fake.SetTriggerLifetime(50 * time.Millisecond)
	b := startBot(t, fake, appToken)
	api := newAPI(fake, botToken)

	fake.BlockAction(slackfake.BlockAction{UserID: "U1", ChannelID: "C1", MessageTS: "1.2", ActionID: "a", BlockID: "b"})
	late := b.next(t, socketmode.EventTypeInteractive).Data.(slack.InteractionCallback).TriggerID
	time.Sleep(100 * time.Millisecond)

	tests := []struct{ name, trigger, want string }{
		{"never issued", "1234.5678.abcdef", "invalid_trigger_id"},
		{"older than its lifetime", late, "expired_trigger_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := api.OpenView(tt.trigger, requestModal("Bind a tester"))
			var e slack.SlackErrorResponse
			if !errors.As(err, &e) || e.Err != tt.want {
				t.Fatalf("views.open = %v, want %s", err, tt.want)
			}
		})
	}
	if got := fake.Views(); len(got) != 0 {
		t.Fatalf("refused views were recorded: %+v", got)
	}
	if n := fake.Calls("views.open"); n != 2 {
		t.Fatalf("Calls(views.open) = %d", n)
	}
}

func TestViewsOpenChecksTheView(t *testing.T) {
	fake := newFake(t)
	api := newAPI(fake, botToken)
	noTitle := requestModal("x")
	noTitle.Title = nil
	noSubmit := requestModal("x")
	noSubmit.Submit = nil
	home := requestModal("x")
	home.Type = slack.VTHomeTab
	tests := []struct {
		name string
		view slack.ModalViewRequest
		want string // in the error and its messages
	}{
		{"home tab", home, "/view/type"},
		{"no title", noTitle, "missing required field: title"},
		{"title over 24 characters", requestModal(strings.Repeat("x", 25)), "/view/title/text"},
		{"input without submit", noSubmit, "/view/submit"},
	}
	trig := trigger(fake, "U1", "1.1.checks")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := api.OpenView(trig, tt.view)
			if got := slackErr(err); !strings.HasPrefix(got, "invalid_arguments ") || !strings.Contains(got, tt.want) {
				t.Fatalf("views.open = %q, want invalid_arguments about %s", got, tt.want)
			}
		})
	}
	// A refused view does not spend the trigger.
	if _, err := api.OpenView(trig, requestModal("Fine")); err != nil {
		t.Fatal(slackErr(err))
	}
}

func TestViewsUpdateHash(t *testing.T) {
	fake := newFake(t)
	api := newAPI(fake, botToken)
	first := requestModal("Bind a tester")
	first.ExternalID = "request-U1"
	opened := openModal(t, fake, nil, "U1", first)

	updated, err := api.UpdateView(requestModal("Checking…"), "", opened.Hash, opened.ID)
	if err != nil {
		t.Fatal(slackErr(err))
	}
	if updated.ID != opened.ID || updated.Hash == opened.Hash || updated.Title.Text != "Checking…" || updated.ExternalID != "request-U1" {
		t.Fatalf("updated view = %+v (was %s %s)", updated.View, opened.ID, opened.Hash)
	}
	if _, err := api.UpdateView(requestModal("Stale"), "", opened.Hash, opened.ID); slackErr(err) != "hash_conflict " {
		t.Fatalf("update with a stale hash: %v", slackErr(err))
	}
	byExternal, err := api.UpdateView(requestModal("Done"), "request-U1", "", "")
	if err != nil || byExternal.ID != opened.ID {
		t.Fatalf("update by external_id = %+v, %v", byExternal, slackErr(err))
	}
	if _, err := api.UpdateView(requestModal("x"), "", "", "V404"); slackErr(err) != "not_found " {
		t.Fatalf("update of an unknown view: %v", slackErr(err))
	}

	var methods, titles []string
	for _, v := range fake.Views() {
		methods, titles = append(methods, v.Method), append(titles, v.Title)
	}
	if strings.Join(methods, ",") != "views.open,views.update,views.update" ||
		strings.Join(titles, ",") != "Bind a tester,Checking…,Done" {
		t.Fatalf("Views() = %v %v", methods, titles)
	}
	if cur, ok := fake.CurrentView(opened.ID); !ok || cur.Title != "Done" || cur.Hash != byExternal.Hash || cur.User != "U1" {
		t.Fatalf("CurrentView = %+v, %v", cur, ok)
	}
}

func TestViewsPublishHomePerUser(t *testing.T) {
	fake := newFake(t)
	api := newAPI(fake, botToken)
	ctx := context.Background()

	first, err := api.PublishView("U1", homeTab("*one*"), "")
	if err != nil {
		t.Fatal(slackErr(err))
	}
	if _, err := api.PublishView("U2", homeTab("*two*"), ""); err != nil {
		t.Fatal(slackErr(err))
	}
	again, err := api.PublishView("U1", homeTab("*one again*"), first.Hash)
	if err != nil || again.ID != first.ID || again.Hash == first.Hash || again.Type != slack.VTHomeTab {
		t.Fatalf("republish = %+v, %v (first %s %s)", again, slackErr(err), first.ID, first.Hash)
	}
	stale := first.Hash
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: homeTab("x"), Hash: &stale}); slackErr(err) != "hash_conflict " {
		t.Fatalf("publish with a stale hash: %v", slackErr(err))
	}

	home, ok := fake.HomeOf("U1")
	if !ok || home.Method != "views.publish" || home.ID != first.ID || home.Hash != again.Hash || home.User != "U1" ||
		home.Type != "home" || home.CallbackID != "home" || !strings.Contains(home.Blocks, "*one again*") {
		t.Fatalf("HomeOf(U1) = %+v, %v", home, ok)
	}
	if h, ok := fake.HomeOf("U2"); !ok || !strings.Contains(h.Blocks, "*two*") || h.ID == first.ID {
		t.Fatalf("HomeOf(U2) = %+v, %v", h, ok)
	}
	if _, ok := fake.HomeOf("U3"); ok {
		t.Fatal("HomeOf(U3) found a home tab nobody published")
	}
	if n := len(fake.Views()); n != 3 {
		t.Fatalf("%d versions recorded, want 3", n)
	}
	if open := fake.OpenViews(); len(open) != 0 {
		t.Fatalf("OpenViews() lists home tabs: %+v", open)
	}

	modal := homeTab("x")
	modal.Type = slack.VTModal
	if _, err := api.PublishView("U1", modal, ""); !strings.HasPrefix(slackErr(err), "invalid_arguments ") {
		t.Fatalf("publish of a modal: %v", slackErr(err))
	}
	fake.SetHomeTabEnabled(false)
	if _, err := api.PublishView("U1", homeTab("x"), ""); slackErr(err) != "not_enabled " {
		t.Fatalf("publish without a Home tab: %v", slackErr(err))
	}
}

// Slack also takes the views methods form-encoded, with the view as a JSON string.
func TestViewsTakeFormArguments(t *testing.T) {
	fake := newFake(t)
	resp, err := http.PostForm(fake.URL+"views.publish", url.Values{
		"token": {botToken}, "user_id": {"U1"},
		"view": {`{"type":"home","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"hi"}}]}`},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		OK   bool `json:"ok"`
		View struct {
			ID     string            `json:"id"`
			Blocks []json.RawMessage `json:"blocks"`
		} `json:"view"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || !body.OK || body.View.ID == "" || len(body.View.Blocks) != 1 {
		t.Fatalf("views.publish = %+v, %v", body, err)
	}
	// Slack gives a block without a block_id one of its own.
	if !strings.Contains(string(body.View.Blocks[0]), `"block_id":"`) {
		t.Fatalf("block = %s", body.View.Blocks[0])
	}
	if _, err := http.PostForm(fake.URL+"views.publish", url.Values{"user_id": {"U1"}, "view": {`{"type":"home","blocks":[]}`}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.HomeOf("U1"); !ok || len(fake.Views()) != 1 {
		t.Fatalf("the call without a token was recorded: %+v", fake.Views())
	}
}
