package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bindtester/bindtester/wechat"
)

// adminNoticeEvery is how often admins are told again of the same problem.
const adminNoticeEvery = time.Hour

// tellAdmins gives admins what only they should read about a failure: the
// bot's outgoing IP address, which WeChat's 40164/61004 errmsg carries, by DM
// to each admin (user groups expanded), at most once an hour per app and
// process once one of them was reached.
func (b *Bot) tellAdmins(ctx context.Context, app *App, err error) {
	var we *wechat.Error
	if !errors.As(err, &we) || we.Info().Kind != wechat.KindIPAllowList {
		return
	}
	key := fmt.Sprintf("ip:%s", app.ID)
	now := b.o.Now()
	b.noticeMu.Lock()
	last, ok := b.notices[key]
	b.noticeMu.Unlock()
	if ok && now.Sub(last) < adminNoticeEvery {
		return
	}
	told := false
	defer func() { // only a notice that reached someone counts; otherwise the next failure tries again
		if told {
			b.noticeMu.Lock()
			b.notices[key] = now
			b.noticeMu.Unlock()
		}
	}()
	ctx, cancel := recording(ctx)
	defer cancel()
	for _, u := range b.adminUsers(ctx) {
		l := b.userLang(ctx, u)
		if derr := b.tell(ctx, u, l.T("admin.ip", Escape(app.Name), we.Code, Escape(we.Msg))); derr != nil {
			b.o.Log.Warn("could not tell an admin about the IP allow-list", "admin", u, "error", derr)
		} else if isSlackID(u) {
			told = true
		}
	}
}

// adminUsers are the admins, their user groups expanded.
func (b *Bot) adminUsers(ctx context.Context) []string {
	return b.expand(ctx, b.policy().Admins, "admins")
}

// expand lists the people ids names, user groups expanded; a group that
// cannot be looked up is left out, and logged (whose: "admins", "approvers").
func (b *Bot) expand(ctx context.Context, ids []string, whose string) []string {
	var users []string
	for _, id := range ids {
		if !isGroupID(id) {
			users = append(users, id)
			continue
		}
		members, err := b.o.Groups.Members(ctx, id)
		if err != nil {
			b.o.Log.Warn("user group lookup failed; its members are left out", "whose", whose, "group", id, "error", err)
			continue
		}
		users = append(users, members...)
	}
	return users
}

// explain turns a failed bind into a reply for the requester and a short reason
// for the summary line. Problems only an admin can fix say so, without blaming
// the tester.
func (b *Bot) explain(l Lang, app *App, masked string, err error) (reply, short string) {
	admins := b.admins(l)
	name := Escape(app.Name)
	var we *wechat.Error
	var te *wechat.TransportError
	var nc wechat.ErrNoCredentials
	var refused *refusedError
	switch {
	case errors.As(err, &refused):
		return refused.reply, l.T("err.refused.short")
	case errors.As(err, &we):
		info := we.Info()
		msg := Escape(we.Msg)
		switch info.Kind {
		case wechat.KindTester:
			if we.Code == 85003 {
				return l.T("err.85003", masked, wechat.MaxAppsPerAccount), l.T("err.85003.short")
			}
			return l.T("err.85001", masked), l.T("err.85001.short")
		case wechat.KindSlotsFull:
			return l.T("err.85002", name, app.Slots, admins), l.T("err.85002.short")
		case wechat.KindTransient:
			return l.T("err.busy", we.Code), l.T("err.busy.short")
		case wechat.KindCredentials:
			if we.Code == 61023 {
				return l.T("err.reauthorize", name, admins, we.Code, msg), l.T("err.credentials.short")
			}
			return l.T("err.credentials", admins, we.Code, msg), l.T("err.credentials.short")
		case wechat.KindPermission:
			return l.T("err.permission", name, admins, we.Code, msg), l.T("err.permission.short")
		case wechat.KindIPAllowList:
			return l.T("err.ip", admins, we.Code), l.T("err.ip.short") // the address goes to admins only: see tellAdmins
		case wechat.KindQuota:
			return l.T("err.quota", we.Code, admins), l.T("err.quota.short")
		case wechat.KindConfig:
			return l.T("err.config", name, we.Code, msg, admins), l.T("err.config.short")
		case wechat.KindRestricted:
			return l.T("err.restricted", name, admins, we.Code, msg), l.T("err.restricted.short")
		}
		return l.T("err.unknown", we.Code, msg, admins), l.T("err.unknown.short", we.Code)
	case errors.As(err, &te):
		switch {
		case errors.Is(te, wechat.ErrTimeout):
			return l.T("err.timeout"), l.T("err.timeout.short")
		case errors.Is(te, wechat.ErrUnreachable):
			return l.T("err.unreachable", admins), l.T("err.unreachable.short")
		}
		what := "HTTP " + fmt.Sprint(te.Status)
		if te.Status == 0 || te.Status == 200 {
			what = l.T("err.http.unreadable")
		}
		return l.T("err.http", what, admins), l.T("err.http.short")
	case errors.As(err, &nc):
		return l.T("err.no_credentials", name, admins), l.T("err.credentials.short")
	case errors.Is(err, wechat.ErrCrowded):
		return l.T("err.crowded", name), l.T("err.crowded.short")
	case errors.Is(err, errGaveUp):
		return l.T("err.gave_up", masked, name, admins), l.T("err.gave_up.short")
	}
	return l.T("err.internal", admins), l.T("err.internal.short")
}
