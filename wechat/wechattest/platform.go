package wechattest

import (
	"encoding/json"
	"slices"
	"time"
)

// The platform side: the accounts that authorized the third-party platform
// (api_get_authorizer_list, api_get_authorizer_info) and each Mini Program's trial and
// released versions (wxa/getversioninfo).
//
// An authorizer added with AddAuthorizer is a Mini Program with an
// authorizer_refresh_token that api_authorizer_token accepts (and rotates when
// SetRotateRefreshTokens is on). Without permission set 18 its set-18 APIs (the testers
// API, get_qrcode, getversioninfo) answer 61007; once removed they answer 61003. The fake
// applies this to every access token of the app, however it was obtained.

// DevManagementSet is the permission set (开发管理与数据分析权限) the testers API needs.
const DevManagementSet = 18

// authorizer is one account that authorized the platform.
type authorizer struct {
	nickname string
	sets     []int
	mini     bool // false: an official account
	authTime time.Time
	removed  bool
}

type version struct {
	version, desc string
	at            time.Time
}

// platform is the server's platform state; its zero value is ready (maps made on use).
type platform struct {
	authz    map[string]*authorizer
	order    []string // appids in authorization order: the list's order
	trial    map[string]version
	noTrial  map[string]bool // trial removed (SetTrialVersion with ""): otherwise every app has one
	released map[string]version
}

// AddAuthorizer makes appid a Mini Program that authorized the platform (SetComponent)
// with permissionSets, and returns its new authorizer_refresh_token. Adding it again is
// a re-authorization: new sets and a new refresh token, the old one refused (61023).
func (s *Server) AddAuthorizer(appid, nickname string, permissionSets []int) (refreshToken string) {
	return s.addAuthorizer(appid, nickname, permissionSets, true)
}

// AddOfficialAccount is AddAuthorizer for an official account (no MiniProgramInfo).
func (s *Server) AddOfficialAccount(appid, nickname string, permissionSets []int) (refreshToken string) {
	return s.addAuthorizer(appid, nickname, permissionSets, false)
}

func (s *Server) addAuthorizer(appid, nickname string, sets []int, mini bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &s.plat
	if p.authz == nil {
		p.authz = map[string]*authorizer{}
	}
	if a := p.authz[appid]; a == nil || a.removed {
		p.order = append(slices.DeleteFunc(p.order, func(id string) bool { return id == appid }), appid)
	}
	p.authz[appid] = &authorizer{nickname: nickname, sets: slices.Clone(sets), mini: mini, authTime: time.Now()}
	a := s.app(appid)
	a.refresh = "refreshtoken@@@" + randHex(16)
	return a.refresh
}

// RemoveAuthorizer withdraws appid's authorization: it leaves the list, its refresh token
// is refused (61023) and its set-18 APIs and api_get_authorizer_info answer 61003.
func (s *Server) RemoveAuthorizer(appid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.plat.authz[appid]; a != nil {
		a.removed = true
		s.plat.order = slices.DeleteFunc(s.plat.order, func(id string) bool { return id == appid })
		s.apps[appid].refresh = ""
	}
}

// SetTrialVersion makes getversioninfo report a trial version for appid, uploaded now;
// an empty version removes it. By default every app has one ("1.0.0"), as the
// QR code the fake hands out supposes.
func (s *Server) SetTrialVersion(appid, v, desc string) {
	s.setVersion(&s.plat.trial, appid, v, desc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.plat.noTrial == nil {
		s.plat.noTrial = map[string]bool{}
	}
	s.plat.noTrial[appid] = v == ""
}

// SetReleaseVersion is SetTrialVersion for the released version.
func (s *Server) SetReleaseVersion(appid, v, desc string) {
	s.setVersion(&s.plat.released, appid, v, desc)
}

func (s *Server) setVersion(m *map[string]version, appid, v, desc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.app(appid)
	if *m == nil {
		*m = map[string]version{}
	}
	if v == "" {
		delete(*m, appid)
		return
	}
	(*m)[appid] = version{v, desc, time.Now()}
}

// permits is the errcode a set-18 API answers for appid because of its authorization
// (0: none). Callers hold s.mu.
func (s *Server) permits(appid string) int {
	a := s.plat.authz[appid]
	switch {
	case a == nil:
		return 0
	case a.removed:
		return 61003
	case !slices.Contains(a.sets, DevManagementSet):
		return 61007
	}
	return 0
}

// componentCall checks a component API call's component_access_token and component_appid,
// decoding the body into in; it returns the errcode to answer (0: go on).
func (s *Server) componentCall(c call, in any) int {
	cid, code := s.checkToken(c.q.Get("component_access_token"), componentToken)
	if code != 0 {
		return code
	}
	var comp struct {
		AppID string `json:"component_appid"`
	}
	if json.Unmarshal(c.body, &comp) != nil || json.Unmarshal(c.body, in) != nil {
		return 47001
	}
	if comp.AppID != cid {
		return 40013
	}
	return 0
}

// POST /cgi-bin/component/api_get_authorizer_list?component_access_token=CAT
// {component_appid, offset, count}: count 1 to 500, else 47001.
func (s *Server) authorizerList(c call) reply {
	var in struct {
		Offset int `json:"offset"`
		Count  int `json:"count"`
	}
	if code := s.componentCall(c, &in); code != 0 {
		return answer(code, nil)
	}
	if in.Offset < 0 || in.Count < 1 || in.Count > 500 {
		return answer(47001, nil)
	}
	order := s.plat.order
	page := []map[string]any{}
	for _, id := range order[min(in.Offset, len(order)):min(in.Offset+in.Count, len(order))] {
		page = append(page, map[string]any{
			"authorizer_appid": id, "refresh_token": s.apps[id].refresh, "auth_time": s.plat.authz[id].authTime.Unix(),
		})
	}
	return answer(0, map[string]any{"total_count": len(order), "list": page})
}

// POST /cgi-bin/component/api_get_authorizer_info?component_access_token=CAT
// {component_appid, authorizer_appid}: 61003 for an account that is not (or no longer)
// an authorizer.
func (s *Server) authorizerInfo(c call) reply {
	var in struct {
		AppID string `json:"authorizer_appid"`
	}
	if code := s.componentCall(c, &in); code != 0 {
		return answer(code, nil)
	}
	a := s.plat.authz[in.AppID]
	if a == nil || a.removed {
		return answer(61003, nil)
	}
	info := map[string]any{
		"nick_name": a.nickname, "head_img": "", "user_name": "gh_" + in.AppID[min(2, len(in.AppID)):],
		"principal_name": "wechattest principal", "service_type_info": map[string]any{"id": 0},
		"verify_type_info": map[string]any{"id": 0}, "signature": "",
	}
	if a.mini {
		info["MiniProgramInfo"] = map[string]any{"network": map[string]any{}, "categories": []any{}, "visit_status": 0}
	}
	funcs := []map[string]any{}
	for _, id := range a.sets {
		funcs = append(funcs, map[string]any{"funcscope_category": map[string]any{"id": id}})
	}
	return answer(0, map[string]any{"authorizer_info": info, "authorization_info": map[string]any{
		"authorizer_appid": in.AppID, "authorizer_refresh_token": s.apps[in.AppID].refresh, "func_info": funcs,
	}})
}

// POST /wxa/getversioninfo?access_token=.. {}: exp_info and release_info only when set.
func (s *Server) versionInfo(c call) reply {
	fields := map[string]any{}
	v, ok := s.plat.trial[c.appid]
	if !ok && !s.plat.noTrial[c.appid] {
		v, ok = version{"1.0.0", "trial", time.Unix(1_700_000_000, 0)}, true
	}
	if ok {
		fields["exp_info"] = map[string]any{"exp_time": v.at.Unix(), "exp_version": v.version, "exp_desc": v.desc}
	}
	if v, ok := s.plat.released[c.appid]; ok {
		fields["release_info"] = map[string]any{"release_time": v.at.Unix(), "release_version": v.version, "release_desc": v.desc}
	}
	return answer(0, fields)
}
