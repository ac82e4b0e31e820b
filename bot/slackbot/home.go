package slackbot

import (
	"context"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/bindtester/bindtester/bot"
)

// App Home: the Home tab shows the core's Home for whoever opens it
// (app_home_opened → views.publish). While someone has looked at it in the
// last day, every change the core reports as theirs publishes it again,
// coalesced: a burst of changes is one publish per person.

// Homes is what App Home needs of the core (the bot implements it).
type Homes interface {
	Home(ctx context.Context, userID string) []bot.Block
}

// Home tab timing.
const (
	homeViewersFor = 24 * time.Hour         // how long an opening keeps a home current
	homeCoalesce   = 300 * time.Millisecond // changes within this are one publish
)

// homeTab remembers who looked at their home, and whose publish is due.
type homeTab struct {
	mu      sync.Mutex
	ctx     context.Context      // the adapter's work context, once it runs
	viewers map[string]time.Time // user → last opened
	due     map[string]bool      // a publish is scheduled
}

// homeOpened publishes user's home, and keeps it current from now on.
func (a *Adapter) homeOpened(ctx context.Context, user string) {
	a.home.mu.Lock()
	a.home.ctx = ctx
	if a.home.viewers == nil {
		a.home.viewers, a.home.due = map[string]time.Time{}, map[string]bool{}
	}
	now := time.Now()
	for u, at := range a.home.viewers { // few entries: who opened it in the last day
		if now.Sub(at) > homeViewersFor {
			delete(a.home.viewers, u)
		}
	}
	a.home.viewers[user] = now
	a.home.mu.Unlock()
	a.publishHome(ctx, user)
}

// HomesChanged publishes again the homes of those who look at theirs
// (bot.HomeViews), after a short pause that gathers a burst of changes.
func (a *Adapter) HomesChanged(users []string) {
	a.home.mu.Lock()
	defer a.home.mu.Unlock()
	for _, u := range users {
		if _, looks := a.home.viewers[u]; !looks || a.home.due[u] {
			continue
		}
		a.home.due[u] = true
		ctx := a.home.ctx
		time.AfterFunc(homeCoalesce, func() {
			a.home.mu.Lock()
			delete(a.home.due, u)
			a.home.mu.Unlock()
			a.publishHome(ctx, u)
		})
	}
}

// publishHome shows user their home as the core has it now.
func (a *Adapter) publishHome(ctx context.Context, user string) {
	homes, ok := a.handler.(Homes)
	if !ok || ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	view := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: slackBlocks(homes.Home(ctx, user))}}
	if _, err := a.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: view}); err != nil {
		a.log.Warn("slack: could not publish the App Home", "user", user, "error", err)
	}
}
