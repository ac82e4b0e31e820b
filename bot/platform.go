package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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
	RefreshTokens wechat.RefreshTokens // where the authorizers' refresh tokens are kept
	Tickets       TicketSaver          // where a pushed component_verify_ticket goes
}

// TicketSaver keeps the component_verify_ticket for every replica.
type TicketSaver interface {
	Save(ctx context.Context, ticket string, at time.Time) error
}

// Discovery is what one discovery found and changed.
type Discovery struct {
	Apps            []PlatformApp
	Added, Revoked  []PlatformApp // since the last discovery
	NoTesterSet     int           // Mini Programs without permission set 18
	RefreshedTokens int           // authorizer_refresh_tokens stored or replaced
}

// discoverConcurrency bounds the api_get_authorizer_info calls in flight.
const discoverConcurrency = 8

// Discover lists every authorizer, reads each one's name and permissions,
// stores what it found (an app no longer listed is marked revoked), and puts
// the result in force. Admins are told what changed.
func (b *Bot) Discover(ctx context.Context) (Discovery, error) {
	p := b.o.Platform
	if p == nil || p.WeChat == nil {
		return Discovery{}, errors.New("not a third-party platform: discovery needs WECHAT_COMPONENT_APPID and its secret")
	}
	before, err := b.o.Store.PlatformApps(ctx)
	if err != nil {
		return Discovery{}, err
	}
	list, err := p.WeChat.Authorizers(ctx)
	if err != nil {
		return Discovery{}, fmt.Errorf("list the platform's authorizers: %w", err)
	}
	found := make([]PlatformApp, len(list))
	var refreshed sync.Mutex
	d := Discovery{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(discoverConcurrency)
	for i, au := range list {
		g.Go(func() error {
			a, saved, err := b.platformApp(gctx, au.AppID, au.RefreshToken)
			var we *wechat.Error
			if errors.As(err, &we) && we.Code == 61003 {
				return nil // revoked since the list was read: left out, so marked revoked below
			}
			if err != nil { // anything else: the whole run fails, so no app is taken for revoked by mistake
				return fmt.Errorf("read authorizer %s: %w", au.AppID, err)
			}
			found[i] = a
			if saved {
				refreshed.Lock()
				d.RefreshedTokens++
				refreshed.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Discovery{}, err
	}
	apps := slices.DeleteFunc(found, func(a PlatformApp) bool { return a.AppID == "" })
	if err := b.o.Store.SavePlatformApps(ctx, apps, true); err != nil {
		return Discovery{}, err
	}
	d.Apps = apps
	for _, a := range apps {
		if a.MiniProgram && !a.CanManageTesters() {
			d.NoTesterSet++
		}
		if i := slices.IndexFunc(before, func(x PlatformApp) bool { return x.AppID == a.AppID }); a.MiniProgram && (i < 0 || before[i].Revoked) {
			d.Added = append(d.Added, a)
		}
	}
	for _, x := range before {
		if !x.Revoked && !slices.ContainsFunc(apps, func(a PlatformApp) bool { return a.AppID == x.AppID }) {
			x.Revoked = true
			d.Revoked = append(d.Revoked, x)
		}
	}
	if err := b.ReloadApps(ctx); err != nil {
		return d, err
	}
	b.o.Log.Info("platform discovery", "authorizers", len(apps), "added", len(d.Added), "revoked", len(d.Revoked),
		"without_set_18", d.NoTesterSet, "refresh_tokens_saved", d.RefreshedTokens)
	if len(d.Added)+len(d.Revoked) > 0 {
		b.tellPlatformAdmins(ctx, func(l Lang) string { return b.platformChanges(l, d.Added, d.Revoked) })
	}
	return d, nil
}

// platformApp reads one authorizer's info and keeps its refresh token when
// WeChat hands out one the store does not hold. listed is the token the
// authorizer list gave, if any. A token rotated by a token fetch between the
// read and the save is not overwritten: the save happens only if the stored
// token is still the one read before asking.
func (b *Bot) platformApp(ctx context.Context, appid, listed string) (PlatformApp, bool, error) {
	rt := b.o.Platform.RefreshTokens
	stored, _ := rt.RefreshToken(ctx, appid)
	info, err := b.o.Platform.WeChat.AuthorizerInfo(ctx, appid)
	if err != nil {
		return PlatformApp{}, false, err
	}
	a := PlatformApp{AppID: appid, Nickname: info.Nickname, PermissionSets: info.PermissionSets, MiniProgram: info.MiniProgram, SeenAt: b.o.Now()}
	token := cmp.Or(info.RefreshToken, listed)
	if token == "" || token == stored {
		return a, false, nil
	}
	if now, _ := rt.RefreshToken(ctx, appid); now != stored {
		return a, false, nil // rotated meanwhile: the newer one stays
	}
	if err := rt.SaveRefreshToken(ctx, appid, token); err != nil {
		return PlatformApp{}, false, err
	}
	return a, true, nil
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
	switch n.InfoType {
	case "component_verify_ticket":
		if p == nil || p.Tickets == nil {
			return errors.New("no ticket store")
		}
		return p.Tickets.Save(ctx, n.Ticket, n.CreateTime)
	case "authorized", "updateauthorized":
		a, _, err := b.platformApp(ctx, n.AuthorizerAppID, "")
		if err != nil {
			return err
		}
		if err := b.o.Store.SavePlatformApps(ctx, []PlatformApp{a}, false); err != nil {
			return err
		}
		if err := b.ReloadApps(ctx); err != nil {
			return err
		}
		if n.InfoType == "authorized" && a.MiniProgram {
			b.tellPlatformAdmins(ctx, func(l Lang) string { return b.platformChanges(l, []PlatformApp{a}, nil) })
		} else if a.MiniProgram {
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
		a.Revoked, a.SeenAt = true, b.o.Now()
		if err := b.o.Store.SavePlatformApps(ctx, []PlatformApp{a}, false); err != nil {
			return err
		}
		if err := b.ReloadApps(ctx); err != nil {
			return err
		}
		b.tellPlatformAdmins(ctx, func(l Lang) string { return b.platformChanges(l, nil, []PlatformApp{a}) })
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
