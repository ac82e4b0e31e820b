package bot

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// GroupCache caches user group members for a while: Slack's usergroups.users.list
// is rate-limited (Tier 2) and membership changes rarely.
type GroupCache struct {
	src    GroupMembers
	ttl    time.Duration
	lookup singleflight.Group // one source call per group at a time

	mu      sync.Mutex
	entries map[string]groupEntry
}

type groupEntry struct {
	members []string
	at      time.Time
}

// NewGroupCache caches src for ttl.
func NewGroupCache(src GroupMembers, ttl time.Duration) *GroupCache {
	return &GroupCache{src: src, ttl: ttl, entries: map[string]groupEntry{}}
}

// groupLookupTimeout bounds one shared source call.
const groupLookupTimeout = 30 * time.Second

// Members returns cached members, refreshing them when older than the TTL. If a
// refresh fails, the last known members are used rather than locking people out.
// Concurrent refreshes of one group share a single source call, which runs
// detached from any one caller, so one caller giving up does not fail the
// others; a caller whose context ends stops waiting.
func (c *GroupCache) Members(ctx context.Context, groupID string) ([]string, error) {
	c.mu.Lock()
	e, ok := c.entries[groupID]
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.members, nil
	}
	ch := c.lookup.DoChan(groupID, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupLookupTimeout)
		defer cancel()
		members, err := c.src.Members(ctx, groupID)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.entries[groupID] = groupEntry{members: members, at: time.Now()}
		c.mu.Unlock()
		return members, nil
	})
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		res.Err = ctx.Err()
	}
	if res.Err != nil {
		if ok {
			return e.members, nil
		}
		return nil, res.Err
	}
	return res.Val.([]string), nil
}
