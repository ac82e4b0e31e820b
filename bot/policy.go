package bot

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// App is one Mini Program the bot serves, with who may do what to it.
type App struct {
	ID      string   // appid, wx + 16 hex digits
	Name    string   // shown to people
	Aliases []string // short names usable instead of the appid
	// Binders may bind testers: Slack user IDs (U…/W…) and user group IDs (S…).
	Binders []string
	// Channels limits where commands for this app may be used (channel IDs); empty means anywhere.
	Channels []string
	// Slots is how many experiencers the Mini Program allows (WeChat does not publish it).
	Slots int
	// QRPath is the page the trial QR code opens (empty: the home page).
	QRPath string
	// SecretEnv and RefreshTokenEnv name the environment variables holding this
	// app's app secret or authorizer refresh token (multi-app setups).
	SecretEnv, RefreshTokenEnv string
}

// Policy says which apps exist and who may do what. Admins may do anything.
type Policy struct {
	Admins []string // Slack user IDs and user group IDs
	Apps   []App
}

// App finds an app by appid or alias (case-insensitive for aliases).
func (p *Policy) App(key string) (*App, bool) {
	for i := range p.Apps {
		a := &p.Apps[i]
		if a.ID == key || slices.ContainsFunc(a.Aliases, func(s string) bool { return strings.EqualFold(s, key) }) {
			return a, true
		}
	}
	return nil, false
}

// AdminOnlyApps reports the apps nobody but admins can use, so startup can say so.
func (p *Policy) AdminOnlyApps() []string {
	var ids []string
	for _, a := range p.Apps {
		if len(a.Binders) == 0 {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

// GroupMembers looks up the members of a Slack user group.
type GroupMembers interface {
	Members(ctx context.Context, groupID string) ([]string, error)
}

// Who is the person asking and where they asked.
type Who struct {
	UserID    string
	ChannelID string
}

// Decision is the answer of a permission check.
type Decision struct {
	Allowed bool
	Admin   bool
	Reason  reasonKey // why not, when not allowed
}

type reasonKey int

const (
	reasonNone reasonKey = iota
	reasonNotBinder
	reasonWrongChannel
	reasonAdminOnly
	reasonLookupFailed
)

// isMember reports whether user is listed directly or through a user group.
func isMember(ctx context.Context, groups GroupMembers, list []string, user string) (bool, error) {
	var firstErr error
	for _, id := range list {
		if id == user {
			return true, nil
		}
	}
	for _, id := range list {
		if !isGroupID(id) || groups == nil {
			continue
		}
		members, err := groups.Members(ctx, id)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("user group %s: %w", id, err)
			}
			continue
		}
		if slices.Contains(members, user) {
			return true, nil
		}
	}
	return false, firstErr
}

func isGroupID(id string) bool { return strings.HasPrefix(id, "S") }

var (
	slackIDPattern = regexp.MustCompile(`^[UWS][A-Z0-9]{2,}$`)
	channelPattern = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)
)

// isSlackID reports whether id is a Slack user or user group ID.
func isSlackID(id string) bool { return slackIDPattern.MatchString(id) }

// IsAdmin reports whether the user is a bot admin.
func (p *Policy) IsAdmin(ctx context.Context, groups GroupMembers, user string) (bool, error) {
	return isMember(ctx, groups, p.Admins, user)
}

// CanBind decides whether who may bind testers to app. Admins may, anywhere;
// others must be binders of the app and, if the app names channels, be in one.
// An app with no binders is open to admins only (default deny).
func (p *Policy) CanBind(ctx context.Context, groups GroupMembers, who Who, app *App) Decision {
	admin, aerr := p.IsAdmin(ctx, groups, who.UserID)
	if admin {
		return Decision{Allowed: true, Admin: true}
	}
	if len(app.Binders) == 0 {
		if aerr != nil {
			return Decision{Reason: reasonLookupFailed}
		}
		return Decision{Reason: reasonAdminOnly}
	}
	ok, err := isMember(ctx, groups, app.Binders, who.UserID)
	switch {
	case !ok && (err != nil || aerr != nil):
		return Decision{Reason: reasonLookupFailed}
	case !ok:
		return Decision{Reason: reasonNotBinder}
	case len(app.Channels) > 0 && !slices.Contains(app.Channels, who.ChannelID):
		return Decision{Reason: reasonWrongChannel}
	}
	return Decision{Allowed: true}
}

// BindableApps lists the apps who may bind to, for help. err reports a failed
// user group lookup, so the list may be incomplete.
func (p *Policy) BindableApps(ctx context.Context, groups GroupMembers, who Who) (apps []*App, admin bool, err error) {
	admin, err = p.IsAdmin(ctx, groups, who.UserID)
	for i := range p.Apps {
		a := &p.Apps[i]
		if admin {
			apps = append(apps, a)
			continue
		}
		ok, merr := isMember(ctx, groups, a.Binders, who.UserID)
		if ok {
			apps = append(apps, a)
		} else if merr != nil && err == nil {
			err = merr
		}
	}
	if admin {
		err = nil
	}
	return apps, admin, err
}
