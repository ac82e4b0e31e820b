package wechat

import (
	"maps"
	"slices"
)

// Action says how a caller should treat an errcode.
type Action int

const (
	Succeeded    Action = iota // the call did what was asked
	GiveUp                     // permanent for this request: explain and stop
	Retry                      // transient: retry with backoff
	RefreshToken               // the access token is bad: fetch a new one once, then retry
	GiveUpToday                // quota reached: no retry until tomorrow
)

func (a Action) String() string {
	switch a {
	case Succeeded:
		return "succeeded"
	case Retry:
		return "retry"
	case RefreshToken:
		return "refresh token"
	case GiveUpToday:
		return "give up today"
	}
	return "give up"
}

// Kind groups errcodes by who has to act, so callers can explain them.
type Kind int

const (
	KindOK           Kind = iota // 0
	KindAlreadyBound             // 85004: nothing to do, a success for the user
	KindTester                   // the tester's own WeChat account is the problem (85001, 85003)
	KindSlotsFull                // the Mini Program has no free experiencer slots (85002)
	KindTransient                // WeChat is busy (-1)
	KindCredentials              // access token / authorization: an admin must act
	KindPermission               // the platform lacks permission for this API on this app
	KindIPAllowList              // the caller's IP is not on the allow-list
	KindQuota                    // daily quota reached
	KindConfig                   // the appid or request is wrong: bot configuration
	KindUnknown                  // not in the catalog: show errmsg verbatim
	// KindRestricted: WeChat has restricted the account, or this API for it (frozen,
	// closed, banned for irregularities: 48004, 50002). Not a credential or a permission
	// an admin can grant: someone with the account must read WeChat's notice in its
	// console. Appended after KindUnknown so the older values keep their numbers.
	KindRestricted
)

// CodeInfo is what the catalog knows about one errcode.
type CodeInfo struct {
	Code    int
	Known   bool
	ErrMsg  string // WeChat's documented errmsg
	Meaning string // what it means, in plain English, for operators and logs
	Action  Action
	Kind    Kind
}

// MaxAppsPerAccount is how many Mini Programs one WeChat account can be an experiencer of (85003).
const MaxAppsPerAccount = 50

var catalog = map[int]CodeInfo{
	0:     {ErrMsg: "ok", Meaning: "bound: the account can open the trial version", Action: Succeeded, Kind: KindOK},
	85001: {ErrMsg: "user not exist or user cannot be searched", Meaning: "the WeChat ID does not exist, or the account does not allow being found by WeChat ID", Action: GiveUp, Kind: KindTester},
	85002: {ErrMsg: "number of tester reach bind limit", Meaning: "the Mini Program has no free experiencer slots", Action: GiveUp, Kind: KindSlotsFull},
	85003: {ErrMsg: "user already bind too many weapps", Meaning: "the WeChat account is already an experiencer of 50 Mini Programs", Action: GiveUp, Kind: KindTester},
	85004: {ErrMsg: "user already bind", Meaning: "the account is already an experiencer: nothing to do", Action: Succeeded, Kind: KindAlreadyBound},
	-1:    {ErrMsg: "system error", Meaning: "WeChat is busy", Action: Retry, Kind: KindTransient},
	40001: {ErrMsg: "invalid credential", Meaning: "the access token is invalid or not the latest", Action: RefreshToken, Kind: KindCredentials},
	40014: {ErrMsg: "invalid access_token", Meaning: "the access token is malformed or invalid", Action: RefreshToken, Kind: KindCredentials},
	42001: {ErrMsg: "access_token expired", Meaning: "the access token has expired", Action: RefreshToken, Kind: KindCredentials},
	41001: {ErrMsg: "access_token missing", Meaning: "no access token was sent (bot configuration)", Action: GiveUp, Kind: KindCredentials},
	40013: {ErrMsg: "invalid appid", Meaning: "the appid is not a valid Mini Program appid", Action: GiveUp, Kind: KindConfig},
	40125: {ErrMsg: "invalid appsecret", Meaning: "the app secret is wrong", Action: GiveUp, Kind: KindCredentials},
	45009: {ErrMsg: "reach max api daily quota limit", Meaning: "the daily API quota is used up: try again tomorrow", Action: GiveUpToday, Kind: KindQuota},
	48001: {ErrMsg: "api unauthorized", Meaning: "the app or platform is not authorized for this API", Action: GiveUp, Kind: KindPermission},
	61003: {ErrMsg: "component is not authorized by this account", Meaning: "the Mini Program has not authorized this third-party platform", Action: GiveUp, Kind: KindPermission},
	61007: {ErrMsg: "api is unauthorized to component", Meaning: "the Mini Program has not given the platform the permission set for this API (id 18)", Action: GiveUp, Kind: KindPermission},
	61023: {ErrMsg: "refresh_token is invalid", Meaning: "the authorizer refresh token is invalid: the client must re-authorize the platform", Action: GiveUp, Kind: KindCredentials},
	61006: {ErrMsg: "component ticket is invalid", Meaning: "the platform's component_verify_ticket is invalid or stale", Action: GiveUp, Kind: KindCredentials},
	40164: {ErrMsg: "invalid ip, not in whitelist", Meaning: "the bot's IP address is not on the app's API IP allow-list", Action: GiveUp, Kind: KindIPAllowList},
	61004: {ErrMsg: "access clientip is not registered", Meaning: "the bot's IP address is not on the platform's IP allow-list", Action: GiveUp, Kind: KindIPAllowList},
	47001: {ErrMsg: "data format error", Meaning: "WeChat could not read the request", Action: GiveUp, Kind: KindConfig},

	// The tester's own account. 40132 is in WeChat's global code list ("微信号不合法").
	40132: {Meaning: "the WeChat ID is not a valid WeChat ID (mistyped?)", Action: GiveUp, Kind: KindTester},

	// Tester-management codes the documentation searched does not list (bind_tester and
	// unbind_tester document only 85001-85004 and the global codes). 89034 is "userstr
	// invalid" per the issue; the others are unexplained, so an admin reads errmsg
	// (KindConfig: admins are asked, the tester is not blamed).
	89031: {Meaning: "WeChat refused the tester change with an undocumented code (see errmsg)", Action: GiveUp, Kind: KindConfig},
	89032: {Meaning: "WeChat refused the tester change with an undocumented code (see errmsg)", Action: GiveUp, Kind: KindConfig},
	89033: {Meaning: "WeChat refused the tester change with an undocumented code (see errmsg)", Action: GiveUp, Kind: KindConfig},
	89034: {Meaning: "the userstr is not one of this Mini Program's experiencers: the bot's WeChat ID to userstr record may be stale", Action: GiveUp, Kind: KindConfig},
	86004: {Meaning: "undocumented code (not found in the documentation searched): WeChat refused the request, see errmsg", Action: GiveUp, Kind: KindConfig},
	43104: {Meaning: "undocumented code (not found in the documentation searched): WeChat refused the request, see errmsg", Action: GiveUp, Kind: KindConfig},

	// The third-party platform's own set-up (api_component_token and the component APIs).
	61005: {ErrMsg: "component ticket is expired", Meaning: "the platform's component_verify_ticket has expired: check that the ticket receiver is getting WeChat's pushes", Action: GiveUp, Kind: KindCredentials},
	61014: {ErrMsg: "must use component token for component api", Meaning: "a platform API was called without the platform's component_access_token (bot configuration)", Action: GiveUp, Kind: KindConfig},
	40094: {ErrMsg: "invalid component credential", Meaning: "WeChat rejects the platform's credentials: the component appid and the token or secret in use do not belong together", Action: GiveUp, Kind: KindCredentials},
	// 40097, 40091 and 61024: not in the documentation searched. 40097's errmsg is usually
	// given as "invalid args" (unconfirmed here).
	40097: {Meaning: "WeChat says an argument of the request is invalid (bot configuration or a bug)", Action: GiveUp, Kind: KindConfig},
	40091: {Meaning: "undocumented code (not found in the documentation searched): WeChat refused the request, see errmsg", Action: GiveUp, Kind: KindConfig},
	61024: {Meaning: "undocumented code (not found in the documentation searched): WeChat refused the platform's request, see errmsg", Action: GiveUp, Kind: KindConfig},

	// The account or the API is restricted by WeChat (global codes).
	48004: {ErrMsg: "api forbidden for irregularities, view detail on mp.weixin.qq.com", Meaning: "WeChat has banned this API for the account for breaking its rules: an admin must read the notice at mp.weixin.qq.com", Action: GiveUp, Kind: KindRestricted},
	50002: {ErrMsg: "user limited", Meaning: "WeChat has restricted the account (frozen or closed): an admin must check it at mp.weixin.qq.com", Action: GiveUp, Kind: KindRestricted},

	// 45011 is a per-minute frequency limit. Retry means more attempts within this one
	// request after Config.Backoff (200ms, doubled: well under a second for the default
	// three attempts), long before the next minute frees the quota, so they would only
	// add calls counted against the limit. GiveUpToday is for the daily quota. So: give
	// up this request, as busy WeChat (the person is told to try again in a minute).
	45011: {ErrMsg: "api minute-quota reach limit, must slower, retry next minute", Meaning: "too many calls this minute: try again in a minute", Action: GiveUp, Kind: KindTransient},

	// A call from an IP that is not on the allow-list, while the allow-list is off, needs an
	// admin's confirmation in WeChat; a refused IP is blocked for an hour, then longer
	// (WeChat's note on it; 89503 is in stable_token's error table, whose rest was not in the
	// documentation searched: 89501, 89506 and 89507 are placed from that table's wording as
	// remembered, 89502, 89504 and 89505 are unexplained). The fix is the allow-list's.
	89501: {Meaning: "calls from the bot's IP address wait for an admin of the account to confirm them in WeChat, or to put the IP on the allow-list", Action: GiveUp, Kind: KindIPAllowList},
	89502: {Meaning: "undocumented IP-confirmation code: the bot's IP address probably needs an admin's confirmation or the allow-list", Action: GiveUp, Kind: KindIPAllowList},
	89503: {Meaning: "this call from the bot's IP address needs an admin of the account to confirm it in WeChat, or the IP on the allow-list", Action: GiveUp, Kind: KindIPAllowList},
	89504: {Meaning: "undocumented IP-confirmation code: the bot's IP address probably needs an admin's confirmation or the allow-list", Action: GiveUp, Kind: KindIPAllowList},
	89505: {Meaning: "undocumented IP-confirmation code: the bot's IP address probably needs an admin's confirmation or the allow-list", Action: GiveUp, Kind: KindIPAllowList},
	89506: {Meaning: "an admin refused calls from the bot's IP address more than once: it is blocked for a day or longer; put it on the allow-list", Action: GiveUp, Kind: KindIPAllowList},
	89507: {Meaning: "an admin refused calls from the bot's IP address: it is blocked for an hour; put it on the allow-list", Action: GiveUp, Kind: KindIPAllowList},
}

// Lookup returns the catalog entry for code; unknown codes come back with Known false,
// Kind KindUnknown and Action GiveUp (the caller keeps WeChat's errmsg).
func Lookup(code int) CodeInfo {
	info, ok := catalog[code]
	if !ok {
		return CodeInfo{Code: code, Meaning: "an errcode this bot does not know", Action: GiveUp, Kind: KindUnknown}
	}
	info.Code, info.Known = code, true
	return info
}

// Codes lists every errcode in the catalog.
func Codes() []int { return slices.Sorted(maps.Keys(catalog)) }
