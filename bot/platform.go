package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bindtester/bindtester/wechat"
)

// A third-party platform's apps known without configuring them: discovery
// lists the Mini Programs that authorized the platform and what they
// granted, keeps their authorizer_refresh_tokens, and puts them in the
// policy in force; WeChat's notices (through the ticket endpoint) keep that
// current between discoveries, and admins are told what changed.

// Platform is what a WeChat third-party platform says about its authorizers.
type Platform interface {
	Authorizers(ctx context.Context) ([]wechat.Authorizer, error)
	AuthorizerInfo(ctx context.Context, appid string) (wechat.AuthorizerInfo, error)
}

// PlatformOptions are what the bot needs to serve a third-party platform's apps.
type PlatformOptions struct {
	WeChat        Platform
	RefreshTokens RefreshTokens // where the authorizers' refresh tokens are kept
	Tickets       TicketSaver   // where a pushed component_verify_ticket goes
}

// RefreshTokens keeps the authorizers' refresh tokens. SwapRefreshToken
// replaces appid's only if it is still old, so a token a fetch rotated
// meanwhile is never replaced by an older one.
type RefreshTokens interface {
	RefreshToken(ctx context.Context, appid string) (string, error)
	SwapRefreshToken(ctx context.Context, appid, old, token string) (bool, error)
}

// TicketSaver keeps the component_verify_ticket for every replica.
type TicketSaver interface {
	Save(ctx context.Context, ticket string, at time.Time) error
}

// Discovery is what one discovery found and changed.
type Discovery struct {
	Apps            []PlatformApp // read this time
	Added, Revoked  []PlatformApp // changed by this discovery (not by another replica's)
	Failed          int           // authorizers whose info could not be read: kept as they were
	NoTesterSet     int           // Mini Programs without permission set 18
	RefreshedTokens int           // authorizer_refresh_tokens stored or replaced
}

// discoverConcurrency bounds the api_get_authorizer_info calls in flight.
const discoverConcurrency = 8

// Discover lists every authorizer, reads each one's name and permissions,
// stores what it found and puts the result in force. An app no longer
// listed (or that WeChat says revoked, 61003) is marked revoked; one whose
// info cannot be read stays as it was. Admins are told what changed.
func (b *Bot) Discover(ctx context.Context) (Discovery, error) {
	p := b.o.Platform
	if p == nil || p.WeChat == nil {
		return Discovery{}, errors.New("not a third-party platform: discovery needs WECHAT_COMPONENT_APPID and its secret")
	}
	before, err := b.o.Store.PlatformApps(ctx)
	if err != nil {
		return Discovery{}, err
	}
	listedAt := b.o.Now()
	list, err := p.WeChat.Authorizers(ctx)
	if err != nil {
		return Discovery{}, fmt.Errorf("list the platform's authorizers: %w", err)
	}
	found := make([]PlatformApp, len(list))
	listed := make([]string, len(list))
	errs := make([]error, len(list))
	var refreshed atomic.Int32
	g := new(errgroup.Group)
	g.SetLimit(discoverConcurrency)
	for i, au := range list {
		listed[i] = au.AppID
		g.Go(func() error {
			a, saved, err := b.platformApp(ctx, au.AppID, au.RefreshToken, listedAt)
			var we *wechat.Error
			switch {
			case errors.As(err, &we) && we.Code == 61003:
				listed[i] = "" // revoked since the list was read: not listed, so marked revoked
			case err != nil:
				errs[i] = err // kept as it was; the others go on
			default:
				found[i] = a
				if saved {
					refreshed.Add(1)
				}
			}
			return nil
		})
	}
	g.Wait()
	d := Discovery{RefreshedTokens: int(refreshed.Load())}
	var firstErr error
	for i, err := range errs {
		if err != nil {
			d.Failed++
			b.o.Log.Warn("platform discovery: authorizer not read; kept as it was", "appid", list[i].AppID, "error", err)
			firstErr = cmp.Or(firstErr, err)
		}
	}
	if len(list) > 0 && d.Failed == len(list) {
		return Discovery{}, fmt.Errorf("read the platform's authorizers: every one failed: %w", firstErr)
	}
	d.Apps = slices.DeleteFunc(found, func(a PlatformApp) bool { return a.AppID == "" })
	ch, err := b.o.Store.SavePlatformApps(ctx, d.Apps, &FullList{At: listedAt, AppIDs: slices.DeleteFunc(listed, func(id string) bool { return id == "" })})
	if err != nil {
		return Discovery{}, err
	}
	d.Added, d.Revoked = ch.Added, ch.Revoked
	for _, a := range d.Apps {
		if a.MiniProgram && !a.CanManageTesters() {
			d.NoTesterSet++
		}
	}
	if err := b.ReloadApps(ctx); err != nil {
		return d, err
	}
	b.o.Log.Info("platform discovery", "authorizers", len(list), "added", len(d.Added), "revoked", len(d.Revoked),
		"failed", d.Failed, "without_set_18", d.NoTesterSet, "refresh_tokens_saved", d.RefreshedTokens)
	if len(before) == 0 && len(d.Added) > 0 { // the first discovery: one summary, not 120 "new" apps
		b.tellPlatformAdmins(ctx, func(l Lang) string { return l.T("platform.first", len(miniPrograms(d.Added)), d.NoTesterSet) })
	} else {
		b.announce(ctx, ch)
	}
	return d, nil
}

// announce tells admins of the Mini Programs a save added or revoked.
func (b *Bot) announce(ctx context.Context, ch PlatformChange) {
	added, revoked := miniPrograms(ch.Added), miniPrograms(ch.Revoked)
	if len(added)+len(revoked) > 0 {
		b.tellPlatformAdmins(ctx, func(l Lang) string { return b.platformChanges(l, added, revoked) })
	}
}

// miniPrograms are the apps that have testers: official accounts left out.
func miniPrograms(apps []PlatformApp) []PlatformApp {
	return slices.DeleteFunc(slices.Clone(apps), func(a PlatformApp) bool { return !a.MiniProgram })
}

// platformApp reads one authorizer's info, as seen at seen, and keeps its
// refresh token when WeChat hands out one the store does not hold (listed
// is the token the authorizer list gave, if any). The token is replaced
// only if it is still the one read before asking: one a token fetch
// rotated meanwhile stays.
func (b *Bot) platformApp(ctx context.Context, appid, listed string, seen time.Time) (PlatformApp, bool, error) {
	rt := b.o.Platform.RefreshTokens
	stored, _ := rt.RefreshToken(ctx, appid)
	info, err := b.o.Platform.WeChat.AuthorizerInfo(ctx, appid)
	if err != nil {
		return PlatformApp{}, false, err
	}
	a := PlatformApp{AppID: appid, Nickname: info.Nickname, PermissionSets: info.PermissionSets, MiniProgram: info.MiniProgram, SeenAt: seen}
	token := cmp.Or(info.RefreshToken, listed)
	if token == "" || token == stored {
		return a, false, nil
	}
	swapped, err := rt.SwapRefreshToken(ctx, appid, stored, token)
	if err != nil {
		return PlatformApp{}, false, err
	}
	return a, swapped, nil
}

// ReloadApps puts in force the apps the store knows, as discovery (here or
// on another replica) and notices left them.
func (b *Bot) ReloadApps(ctx context.Context) error {
	apps, err := b.o.Store.PlatformApps(ctx)
	if err != nil {
		return err
	}
	b.SetPolicy(b.o.Policy.WithPlatformApps(apps))
	return nil
}

// PlatformNotice acts on a notice WeChat pushed to the ticket endpoint: a new
// component_verify_ticket is kept; an app authorized (or changing what it
// granted) is read and added; a revoked one stops accepting binds. Admins are
// told of the last two. An error makes the endpoint answer so WeChat pushes again.
func (b *Bot) PlatformNotice(ctx context.Context, n wechat.Notice) error {
	p := b.o.Platform
	now := b.o.Now()
	switch n.InfoType {
	case "component_verify_ticket":
		if p == nil || p.Tickets == nil {
			return errors.New("no ticket store")
		}
		at := n.CreateTime
		if at.IsZero() || at.After(now) {
			at = now
		}
		return p.Tickets.Save(ctx, n.Ticket, at)
	case "authorized", "updateauthorized":
		if p == nil {
			return errors.New("not a third-party platform")
		}
		a, _, err := b.platformApp(ctx, n.AuthorizerAppID, "", now)
		if err != nil {
			return err
		}
		ch, err := b.o.Store.SavePlatformApps(ctx, []PlatformApp{a}, nil)
		if err != nil {
			return err
		}
		if err := b.ReloadApps(ctx); err != nil {
			return err
		}
		if len(ch.Added) > 0 {
			b.announce(ctx, ch)
		} else if n.InfoType == "updateauthorized" && a.MiniProgram {
			b.tellPlatformAdmins(ctx, func(l Lang) string { return b.platformUpdated(l, a) })
		}
		return nil
	case "unauthorized":
		apps, err := b.o.Store.PlatformApps(ctx)
		if err != nil {
			return err
		}
		a := PlatformApp{AppID: n.AuthorizerAppID, MiniProgram: true}
		if i := slices.IndexFunc(apps, func(x PlatformApp) bool { return x.AppID == n.AuthorizerAppID }); i >= 0 {
			a = apps[i]
		}
		a.Revoked, a.SeenAt = true, now
		ch, err := b.o.Store.SavePlatformApps(ctx, []PlatformApp{a}, nil)
		if err != nil {
			return err
		}
		if err := b.ReloadApps(ctx); err != nil {
			return err
		}
		b.announce(ctx, ch)
		return nil
	}
	b.o.Log.Info("platform notice ignored", "info_type", n.InfoType)
	return nil
}

// maxNamed is how many apps a change notice names before "and N more".
const maxNamed = 10

func (b *Bot) platformChanges(l Lang, added, revoked []PlatformApp) string {
	var lines []string
	if len(added) > 0 {
		lines = append(lines, l.T("platform.added", len(added), b.platformNames(l, added)))
		missing := 0
		for _, a := range added {
			if !a.CanManageTesters() {
				missing++
			}
		}
		if missing > 0 {
			lines = append(lines, l.T("platform.added_no_set", missing))
		}
	}
	if len(revoked) > 0 {
		lines = append(lines, l.T("platform.revoked", len(revoked), b.platformNames(l, revoked)))
	}
	return strings.Join(lines, "\n")
}

func (b *Bot) platformUpdated(l Lang, a PlatformApp) string {
	if a.CanManageTesters() {
		return l.T("platform.updated_ok", b.platformNames(l, []PlatformApp{a}))
	}
	return l.T("platform.updated_no_set", b.platformNames(l, []PlatformApp{a}))
}

func (b *Bot) platformNames(l Lang, apps []PlatformApp) string {
	var names []string
	for i, a := range apps {
		if i == maxNamed {
			names = append(names, l.T("platform.more", len(apps)-maxNamed))
			break
		}
		names = append(names, "*"+Escape(cmp.Or(a.Nickname, a.AppID))+"* ("+Code(a.AppID)+")")
	}
	return strings.Join(names, ", ")
}

// tellPlatformAdmins posts to the policy's admin channel, or DMs each admin.
func (b *Bot) tellPlatformAdmins(ctx context.Context, text func(Lang) string) {
	ctx, cancel := recording(ctx)
	defer cancel()
	pol := b.policy()
	if pol.AdminChannel != "" {
		if err := b.o.Messenger.Reopen(ThreadRef{Channel: pol.AdminChannel}).Reply(ctx, text(b.o.Lang)); err != nil {
			b.o.Log.Warn("could not tell the admin channel of a platform change", "channel", pol.AdminChannel, "error", err)
		}
		return
	}
	for _, id := range b.adminUsers(ctx) {
		if err := b.tell(ctx, id, text(b.userLang(ctx, id))); err != nil {
			b.o.Log.Warn("could not tell an admin of a platform change", "user", id, "error", err)
		}
	}
}
