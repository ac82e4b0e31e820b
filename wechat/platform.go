package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"
)

// A third-party platform can list the accounts that authorized it and read what each
// granted, so the bot knows every authorized Mini Program without configuring it. These
// calls use the platform's component_access_token, never an app's token.

// Authorizer is one Mini Program (or official account) that authorized the platform.
type Authorizer struct {
	AppID string
	// RefreshToken is its current authorizer_refresh_token as the list gives it; WeChat
	// has been seen leaving it out. Whether to keep it is the caller's choice.
	RefreshToken string
	AuthTime     time.Time
}

// maxAuthorizersPage is the most api_get_authorizer_list hands out per call.
const maxAuthorizersPage = 500

// AuthorizersOption configures one Authorizers call.
type AuthorizersOption func(*authorizersOptions)

type authorizersOptions struct{ pageSize int }

// PageSize asks for n authorizers per request (default and most: 500). For tests.
func PageSize(n int) AuthorizersOption {
	return func(o *authorizersOptions) { o.pageSize = n }
}

// Authorizers lists every account that authorized the platform, all pages, in WeChat's
// order; an appid listed twice (the list moved between pages) is kept once. An account
// that leaves or joins while the pages are read may be missed until the next listing.
func (c *ComponentTokens) Authorizers(ctx context.Context, opts ...AuthorizersOption) ([]Authorizer, error) {
	o := authorizersOptions{pageSize: maxAuthorizersPage}
	for _, opt := range opts {
		opt(&o)
	}
	if o.pageSize <= 0 || o.pageSize > maxAuthorizersPage {
		o.pageSize = maxAuthorizersPage
	}
	const path = "/cgi-bin/component/api_get_authorizer_list"
	var all []Authorizer
	seen := map[string]bool{}
	for offset := 0; ; {
		var out struct {
			status
			Total int `json:"total_count"`
			List  []struct {
				AppID    string `json:"authorizer_appid"`
				Refresh  string `json:"refresh_token"`
				AuthTime int64  `json:"auth_time"`
			} `json:"list"`
		}
		body := map[string]any{"component_appid": c.appID, "offset": offset, "count": o.pageSize}
		if err := c.componentCall(ctx, path, body, &out); err != nil {
			return nil, err
		}
		for _, a := range out.List {
			if a.AppID == "" || seen[a.AppID] {
				continue
			}
			seen[a.AppID] = true
			all = append(all, Authorizer{AppID: a.AppID, RefreshToken: a.Refresh, AuthTime: unixTime(a.AuthTime)})
		}
		offset += len(out.List)
		if len(out.List) == 0 || offset >= out.Total {
			return all, nil
		}
	}
}

// AuthorizerInfo is what api_get_authorizer_info says about one authorizer.
type AuthorizerInfo struct {
	AppID, Nickname, PrincipalName string
	// RefreshToken is the authorizer_refresh_token in the answer (may be empty). When it
	// differs from the stored one, the caller decides whether to keep it.
	RefreshToken   string
	PermissionSets []int // funcscope_category ids granted to the platform
	MiniProgram    bool  // false for an official account
}

// devManagement is the permission set of the testers API and getversioninfo
// (开发管理与数据分析权限).
const devManagement = 18

// CanManageTesters reports whether permission set 18 (development management) is granted.
func (i AuthorizerInfo) CanManageTesters() bool {
	return slices.Contains(i.PermissionSets, devManagement)
}

// AuthorizerInfo asks what appid is and which permission sets it granted the platform.
func (c *ComponentTokens) AuthorizerInfo(ctx context.Context, appid string) (AuthorizerInfo, error) {
	var out struct {
		status
		Authorizer struct {
			Nickname  string          `json:"nick_name"`
			Principal string          `json:"principal_name"`
			Mini      json.RawMessage `json:"MiniProgramInfo"` // only Mini Programs have it
		} `json:"authorizer_info"`
		Authorization struct {
			AppID    string `json:"authorizer_appid"`
			OldAppID string `json:"appid"` // older answers' name for it
			Refresh  string `json:"authorizer_refresh_token"`
			Funcs    []struct {
				Scope struct {
					ID int `json:"id"`
				} `json:"funcscope_category"`
			} `json:"func_info"`
		} `json:"authorization_info"`
	}
	const path = "/cgi-bin/component/api_get_authorizer_info"
	body := map[string]string{"component_appid": c.appID, "authorizer_appid": appid}
	if err := c.componentCall(ctx, path, body, &out); err != nil {
		return AuthorizerInfo{}, err
	}
	a := out.Authorization
	info := AuthorizerInfo{AppID: a.AppID, Nickname: out.Authorizer.Nickname, PrincipalName: out.Authorizer.Principal,
		RefreshToken: a.Refresh, MiniProgram: len(out.Authorizer.Mini) > 0 && string(out.Authorizer.Mini) != "null"}
	if info.AppID == "" {
		info.AppID = a.OldAppID
	}
	if info.AppID == "" {
		info.AppID = appid
	}
	for _, f := range a.Funcs {
		if f.Scope.ID != 0 {
			info.PermissionSets = append(info.PermissionSets, f.Scope.ID)
		}
	}
	return info, nil
}

// componentCall makes one platform API call with the component_access_token, with
// retries; a token WeChat rejects is replaced once, as in Fetch.
func (c *ComponentTokens) componentCall(ctx context.Context, path string, body any, out answer) error {
	refreshed := false
	return c.t.withRetry(ctx, path, func(ctx context.Context) error {
		for {
			cat, err := c.component.Token(ctx, c.appID)
			if err != nil {
				return &tokenFetchError{err}
			}
			err = c.t.do(ctx, request{method: http.MethodPost, path: path, out: out,
				query: map[string]string{"component_access_token": cat}, body: body})
			var we *Error
			if errors.As(err, &we) && we.Info().Action == RefreshToken && !refreshed {
				refreshed = true
				c.component.Invalidate(c.appID, cat)
				continue
			}
			return err
		}
	})
}

func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}
