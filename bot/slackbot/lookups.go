package slackbot

import (
	"context"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"golang.org/x/sync/singleflight"
)

// GroupMembers looks up user group members with usergroups.users.list; wrap it
// in bot.GroupCache (the method is rate-limited).
type GroupMembers struct{ API *slack.Client }

func (g GroupMembers) Members(ctx context.Context, groupID string) ([]string, error) {
	return g.API.GetUserGroupMembersContext(ctx, groupID)
}

// Locales finds a user's Slack locale with users.info, cached for a day;
// concurrent lookups of one user are one call.
type Locales struct {
	API *slack.Client

	flight singleflight.Group
	mu     sync.Mutex
	m      map[string]localeEntry
}

type localeEntry struct {
	locale string
	at     time.Time
}

func (l *Locales) Locale(ctx context.Context, userID string) string {
	l.mu.Lock()
	e, ok := l.m[userID]
	l.mu.Unlock()
	if ok && time.Since(e.at) < 24*time.Hour {
		return e.locale
	}
	v, err, _ := l.flight.Do(userID, func() (any, error) {
		u, err := l.API.GetUserInfoContext(ctx, userID, slack.GetUserInfoOptionIncludeLocale(true))
		if err != nil {
			return "", err
		}
		l.mu.Lock()
		if l.m == nil {
			l.m = map[string]localeEntry{}
		}
		l.m[userID] = localeEntry{locale: u.Locale, at: time.Now()}
		l.mu.Unlock()
		return u.Locale, nil
	})
	if err != nil {
		return "" // the configured default language
	}
	return v.(string)
}
