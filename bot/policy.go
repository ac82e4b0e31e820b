package bot

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// App is one Mini Program the bot serves, with who may do what to it.
type App struct {
	ID      string   // appid, wx + 16 hex digits
	Name    string   // shown to people
	Aliases []string // short names usable instead of the appid
	// Binders may bind testers: Slack user IDs (U…/W…) and user group IDs (S…).
	Binders []string
	// Requesters may ask to bind testers; an approver must approve each request.
	Requesters []string
	// RequireApproval makes binders' requests need approval too (admins never do).
	RequireApproval bool
	// RequireReason makes every request say why ("… because <reason>"); admins too.
	RequireReason bool
	// Approvers decide approval requests; empty means the admins.
	Approvers []string
	// ApprovalsNeeded is how many distinct approvers must approve (default 1);
	// one denial decides.
	ApprovalsNeeded int
	// ApprovalChannel is where approval requests are posted; empty means a DM to each approver.
	ApprovalChannel string
	// ApprovalTTL is how long a request waits for a decision before it expires.
	ApprovalTTL time.Duration
	// Channels limits where commands for this app may be used (channel IDs); empty means anywhere.
	Channels []string
	// Slots is how many experiencers the Mini Program allows (WeChat does not publish it).
	Slots int
	// DefaultDuration and MaxDuration bound how long a tester stays bound.
	DefaultDuration, MaxDuration time.Duration
	// QRPath is the page the trial QR code opens (empty: the home page).
	QRPath string
	// SecretEnv and RefreshTokenEnv name the environment variables holding this
	// app's app secret or authorizer refresh token (multi-app setups).
	SecretEnv, RefreshTokenEnv string
	// Platform is what a third-party platform's discovery knows of the app
	// (its permissions, whether it is still authorized); nil when the bot
	// does not serve it as a platform.
	Platform *PlatformApp
}

// Defaults for the settings an app may leave out.
const (
	DefaultSlots       = 15
	DefaultDuration    = 14 * 24 * time.Hour
	DefaultMaxDuration = 30 * 24 * time.Hour
	DefaultApprovalTTL = 24 * time.Hour
)

// WithDefaults fills in what an app left out.
func (a *App) WithDefaults() {
	if a.Name == "" {
		a.Name = a.ID
	}
	if a.Slots == 0 {
		a.Slots = DefaultSlots
	}
	if a.DefaultDuration == 0 {
		a.DefaultDuration = DefaultDuration
	}
	if a.MaxDuration == 0 {
		a.MaxDuration = max(DefaultMaxDuration, a.DefaultDuration)
	}
	if a.ApprovalTTL == 0 {
		a.ApprovalTTL = DefaultApprovalTTL
	}
}

// Policy says which apps exist and who may do what. Admins may do anything.
type Policy struct {
	Admins []string // Slack user IDs and user group IDs
	Apps   []App
	// AdminChannel is where admins are told of platform changes (an app
	// authorized or revoked); empty: a DM to each admin.
	AdminChannel string

	rules        *policyRules // a policy file's rules, for apps discovery adds
	listed       []App        // the apps configured, before discovery added any
	forDiscovery bool         // the file has rules for apps it does not list
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
		if len(a.Binders) == 0 && len(a.Requesters) == 0 {
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
	Admin     bool // already known to be an admin (the command line's --admin)
}

// Decision is the answer of a permission check.
type Decision struct {
	Allowed       bool // may go ahead now
	NeedsApproval bool // may ask; an approver decides
	Admin         bool
	Reason        reasonKey // why not, when neither
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
	if slices.Contains(list, user) {
		return true, nil
	}
	var firstErr error
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
func (p *Policy) IsAdmin(ctx context.Context, groups GroupMembers, who Who) (bool, error) {
	if who.Admin {
		return true, nil
	}
	return isMember(ctx, groups, p.Admins, who.UserID)
}

// CanBind decides whether who may bind testers to app: admins may, anywhere;
// binders may in the app's channels (through an approval if the app requires
// one); requesters may ask for an approval. Nobody else: default deny.
func (p *Policy) CanBind(ctx context.Context, groups GroupMembers, who Who, app *App) Decision {
	admin, aerr := p.IsAdmin(ctx, groups, who)
	if admin {
		return Decision{Allowed: true, Admin: true}
	}
	binder, berr := isMember(ctx, groups, app.Binders, who.UserID)
	requester := false
	var rerr error
	if !binder {
		requester, rerr = isMember(ctx, groups, app.Requesters, who.UserID)
	}
	switch {
	case !binder && !requester && (aerr != nil || berr != nil || rerr != nil):
		return Decision{Reason: reasonLookupFailed}
	case !binder && !requester && len(app.Binders) == 0 && len(app.Requesters) == 0:
		return Decision{Reason: reasonAdminOnly}
	case !binder && !requester:
		return Decision{Reason: reasonNotBinder}
	case len(app.Channels) > 0 && !slices.Contains(app.Channels, who.ChannelID):
		return Decision{Reason: reasonWrongChannel}
	case requester || app.RequireApproval:
		return Decision{NeedsApproval: true}
	}
	return Decision{Allowed: true}
}

// Approvers are the people whose click decides an approval for app.
func (p *Policy) Approvers(app *App) []string {
	if len(app.Approvers) > 0 {
		return app.Approvers
	}
	return p.Admins
}

// CanApprove reports whether user is one of app's approvers.
func (p *Policy) CanApprove(ctx context.Context, groups GroupMembers, user string, app *App) (bool, error) {
	return isMember(ctx, groups, p.Approvers(app), user)
}

// CanView reports whether who may see app's experiencers: anyone who may bind,
// ask or approve for it. err reports a failed user group lookup when the answer is no.
func (p *Policy) CanView(ctx context.Context, groups GroupMembers, who Who, app *App) (bool, error) {
	admin, aerr := p.IsAdmin(ctx, groups, who)
	if admin {
		return true, nil
	}
	ok, err := isMember(ctx, groups, slices.Concat(app.Binders, app.Requesters, p.Approvers(app)), who.UserID)
	if ok {
		return true, nil
	}
	return false, cmp.Or(aerr, err)
}

// BindableApps lists the apps who may bind to or ask for, for help. err reports
// a failed user group lookup, so the list may be incomplete.
func (p *Policy) BindableApps(ctx context.Context, groups GroupMembers, who Who) (apps []*App, admin bool, err error) {
	admin, err = p.IsAdmin(ctx, groups, who)
	for i := range p.Apps {
		a := &p.Apps[i]
		if admin {
			apps = append(apps, a)
			continue
		}
		ok, merr := isMember(ctx, groups, slices.Concat(a.Binders, a.Requesters), who.UserID)
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
