package slackbot

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/bindtester/bindtester/bot"
)

// App Home: the Home tab shows the core's Home for whoever opens it
// (app_home_opened → views.publish). While someone has looked at it in the
// last day (Config.HomeViewers keeps who did, for every replica), every
// change the core reports as theirs publishes it again,
// coalesced: a burst of changes is one look-up of who looks and one
// publish per person.

// Homes is what App Home needs of the core (the bot implements it).
type Homes interface {
	Home(ctx context.Context, userID string) []bot.Block
}

// HomeViewers keeps who opened their App Home and when (the store), so that
// a change made on any replica republishes the homes of those who look.
type HomeViewers interface {
	HomeOpened(ctx context.Context, user string, at time.Time) error
	HomeViewers(ctx context.Context, users []string, since time.Time) ([]string, error)
}

// Home tab timing.
const (
	homeViewersFor = 24 * time.Hour         // how long an opening keeps a home current
	homeCoalesce   = 300 * time.Millisecond // changes within this are one round of publishes
)

// homeTab gathers whose home changed until the next round of publishes
// (one round at a time, so an older view never overwrites a newer one).
type homeTab struct {
	mu        sync.Mutex
	ctx       context.Context // the adapter's work context, set by Run
	changed   map[string]bool // users whose home changed since the last round began
	scheduled bool            // a round is due or running
}

// homeOpened publishes user's home, and, with Config.HomeViewers, keeps
// it current from now on.
func (a *Adapter) homeOpened(ctx context.Context, user string) {
	if a.cfg.HomeViewers != nil {
		if err := a.cfg.HomeViewers.HomeOpened(ctx, user, time.Now()); err != nil {
			a.log.Warn("slack: could not record an App Home opening; changes will not refresh it", "user", user, "error", err)
		}
	}
	a.publishHome(ctx, user)
}

// HomesChanged publishes again, after a short pause that gathers a burst
// of changes, the homes of those of users who look at theirs (bot.HomeViews).
func (a *Adapter) HomesChanged(users []string) {
	a.home.mu.Lock()
	defer a.home.mu.Unlock()
	if a.home.ctx == nil || a.cfg.HomeViewers == nil || len(users) == 0 {
		return // not running, or nobody is known to look
	}
	if a.home.changed == nil {
		a.home.changed = map[string]bool{}
	}
	for _, u := range users {
		a.home.changed[u] = true
	}
	if !a.home.scheduled {
		a.home.scheduled = true
		time.AfterFunc(homeCoalesce, a.publishChanged)
	}
}

// publishChanged is one round: the changed homes of those who look at
// them. Changes made during it wait for the next round, started at its end.
func (a *Adapter) publishChanged() {
	a.home.mu.Lock()
	ctx, users := a.home.ctx, slices.Sorted(maps.Keys(a.home.changed))
	a.home.changed = nil
	a.home.mu.Unlock()
	defer func() {
		a.home.mu.Lock()
		defer a.home.mu.Unlock()
		if a.home.scheduled = len(a.home.changed) > 0 && ctx.Err() == nil; a.home.scheduled {
			time.AfterFunc(homeCoalesce, a.publishChanged)
		}
	}()
	if ctx.Err() != nil || len(users) == 0 {
		return
	}
	users, err := a.cfg.HomeViewers.HomeViewers(ctx, users, time.Now().Add(-homeViewersFor))
	if err != nil {
		a.log.Warn("slack: could not tell who looks at their App Home; not refreshed", "error", err)
		return
	}
	for _, u := range users {
		a.publishHome(ctx, u)
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
	view := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: capBlocks(slackBlocks(homes.Home(ctx, user)), maxViewBlocks)}}
	if _, err := a.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: view}); err != nil {
		a.log.Warn("slack: could not publish the App Home", "user", user, "error", err)
	}
}
