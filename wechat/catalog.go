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
