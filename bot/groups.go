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
	stale  time.Duration
	lookup singleflight.Group // one source call per group at a time

	// OnFailure, if set, is told of every failed lookup: stale says the last
	// known members were used instead, else the check failed (and denies).
	// For logs and metrics.
	OnFailure func(groupID string, stale bool, err error)
	// Now is the clock (tests set it); default time.Now.
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]groupEntry
}

type groupEntry struct {
	members []string
	at      time.Time
}

// NewGroupCache caches src for ttl. While lookups fail, the last known
// members are used for stale more, then no longer: permissions fail closed,
// so someone removed from a group during a Slack outage stops binding.
func NewGroupCache(src GroupMembers, ttl, stale time.Duration) *GroupCache {
	return &GroupCache{src: src, ttl: ttl, stale: stale, entries: map[string]groupEntry{}, Now: time.Now}
}

// groupLookupTimeout bounds one shared source call.
const groupLookupTimeout = 30 * time.Second

// Members returns cached members, refreshing them when older than the TTL. If a
// refresh fails, the last known members are used for a bounded time (the stale
// allowance) rather than locking people out; after it, the lookup fails.
// Concurrent refreshes of one group share a single source call, which runs
// detached from any one caller, so one caller giving up does not fail the
// others; a caller whose context ends stops waiting.
func (c *GroupCache) Members(ctx context.Context, groupID string) ([]string, error) {
	c.mu.Lock()
	e, ok := c.entries[groupID]
	c.mu.Unlock()
	if ok && c.Now().Sub(e.at) < c.ttl {
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
		c.entries[groupID] = groupEntry{members: members, at: c.Now()}
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
		stale := ok && c.Now().Sub(e.at) < c.ttl+c.stale
		if c.OnFailure != nil {
			c.OnFailure(groupID, stale, res.Err)
		}
		if stale {
			return e.members, nil
		}
		return nil, res.Err
	}
	return res.Val.([]string), nil
}
