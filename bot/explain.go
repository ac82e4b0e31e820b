package bot

import (
	"errors"
	"fmt"

	"github.com/bindtester/bindtester/wechat"
)

// explain turns a failed bind into a reply for the requester and a short reason
// for the summary line. Problems only an admin can fix say so, without blaming
// the tester.
func (b *Bot) explain(l Lang, app *App, masked string, err error) (reply, short string) {
	admins := b.admins(l)
	name := Escape(app.Name)
	var we *wechat.Error
	var te *wechat.TransportError
	var nc wechat.ErrNoCredentials
	switch {
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
			return l.T("err.ip", admins, we.Code, msg), l.T("err.ip.short")
		case wechat.KindQuota:
			return l.T("err.quota", we.Code, admins), l.T("err.quota.short")
		case wechat.KindConfig:
			return l.T("err.config", name, we.Code, msg, admins), l.T("err.config.short")
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
	case errors.Is(err, errGaveUp):
		return l.T("err.gave_up", masked, name, admins), l.T("err.gave_up.short")
	}
	return l.T("err.internal", admins), l.T("err.internal.short")
}
