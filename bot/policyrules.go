package bot

import (
	"cmp"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Policy for many apps: a policy file may give rules once for every app
// (defaults:) and for groups of them (groups:, matched by appid or by a name
// pattern), with per-app entries (apps:) still overriding. The apps a
// third-party platform's discovery finds get the same rules, their names
// (and an alias, where it can be made) from WeChat's nickname.

// appRules are the settings the defaults, a group or an app's entry may give.
// A field left out (nil, "", 0) is taken from the rules before it.
type appRules struct {
	Binders         []string `yaml:"binders"`
	Channels        []string `yaml:"channels"`
	Slots           int      `yaml:"slots"`
	QRPath          string   `yaml:"qr_path"`
	DefaultDuration string   `yaml:"default_duration"`
	MaxDuration     string   `yaml:"max_duration"`
	Requesters      []string `yaml:"requesters"`
	RequireApproval *bool    `yaml:"require_approval"`
	RequireReason   *bool    `yaml:"require_reason"`
	ApprovalsNeeded int      `yaml:"approvals_needed"`
	Approvers       []string `yaml:"approvers"`
	ApprovalChannel string   `yaml:"approval_channel"`
	ApprovalTTL     string   `yaml:"approval_ttl"`
}

// groupFile is a group of apps and the rules they share.
type groupFile struct {
	Match    groupMatch `yaml:"match"`
	appRules `yaml:",inline"`
}

// groupMatch picks a group's apps: listed appids, or names matching a
// pattern (* and ?, case-insensitive), against WeChat's nickname where known.
type groupMatch struct {
	AppIDs []string `yaml:"appids"`
	Names  []string `yaml:"names"`
}

// validPattern reports whether p is a name pattern path.Match can use.
func validPattern(p string) bool {
	_, err := path.Match(p, "")
	return err == nil
}

func (m groupMatch) matches(appid, name string) bool {
	if slices.Contains(m.AppIDs, appid) {
		return true
	}
	for _, p := range m.Names {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(name)); ok {
			return true
		}
	}
	return false
}

// over is r with every field r left out taken from base.
func (r appRules) over(base appRules) appRules {
	pick := func(s, b []string) []string {
		if s != nil {
			return s
		}
		return b
	}
	str := func(s, b string) string {
		if s != "" {
			return s
		}
		return b
	}
	out := appRules{Binders: pick(r.Binders, base.Binders), Channels: pick(r.Channels, base.Channels),
		Requesters: pick(r.Requesters, base.Requesters), Approvers: pick(r.Approvers, base.Approvers),
		QRPath: str(r.QRPath, base.QRPath), DefaultDuration: str(r.DefaultDuration, base.DefaultDuration),
		MaxDuration: str(r.MaxDuration, base.MaxDuration), ApprovalChannel: str(r.ApprovalChannel, base.ApprovalChannel),
		ApprovalTTL: str(r.ApprovalTTL, base.ApprovalTTL), Slots: r.Slots, RequireApproval: r.RequireApproval}
	if out.Slots == 0 {
		out.Slots = base.Slots
	}
	if out.ApprovalsNeeded = r.ApprovalsNeeded; out.ApprovalsNeeded == 0 {
		out.ApprovalsNeeded = base.ApprovalsNeeded
	}
	if out.RequireApproval == nil {
		out.RequireApproval = base.RequireApproval
	}
	if out.RequireReason = r.RequireReason; out.RequireReason == nil {
		out.RequireReason = base.RequireReason
	}
	return out
}

// policyRules are a policy file's rules, kept so the effective policy can be
// rebuilt whenever discovery changes the set of apps.
type policyRules struct {
	defaults appRules
	groups   []groupFile
	entries  []appFile
}

// effective is the rules that apply to appid (named name), its entry's last.
func (r *policyRules) effective(appid, name string, entry *appFile) appRules {
	rules := r.defaults
	for _, g := range r.groups {
		if g.Match.matches(appid, name) {
			rules = g.appRules.over(rules)
		}
	}
	if entry != nil {
		rules = entry.appRules.over(rules)
	}
	return rules
}

// app builds the App those rules make; durations were checked at load.
func (r appRules) app(id, name string) App {
	dur := func(s string) time.Duration { d, _ := ParseDuration(s); return d }
	return App{ID: id, Name: name, Binders: r.Binders, Channels: r.Channels, Slots: r.Slots, QRPath: r.QRPath,
		DefaultDuration: dur(r.DefaultDuration), MaxDuration: dur(r.MaxDuration), Requesters: r.Requesters,
		RequireApproval: r.RequireApproval != nil && *r.RequireApproval, Approvers: r.Approvers,
		RequireReason: r.RequireReason != nil && *r.RequireReason, ApprovalsNeeded: r.ApprovalsNeeded,
		ApprovalChannel: r.ApprovalChannel, ApprovalTTL: dur(r.ApprovalTTL)}
}

// durationProblems reports r's durations that do not parse.
func (r appRules) durationProblems(entry string) []PolicyProblem {
	var out []PolicyProblem
	for _, f := range []struct{ field, v string }{{"default_duration", r.DefaultDuration}, {"max_duration", r.MaxDuration}, {"approval_ttl", r.ApprovalTTL}} {
		if _, ok := ParseDuration(f.v); f.v != "" && !ok {
			out = append(out, PolicyProblem{Entry: entry, Field: f.field, Msg: fmt.Sprintf("%q is not a duration like 12h, 14d or 2w", f.v)})
		}
	}
	return out
}

// PolicyForDiscovery is a policy without a file: every app as a third-party
// platform's discovery finds it, open to admins only.
func PolicyForDiscovery(admins []string) *Policy {
	return &Policy{Admins: admins, forDiscovery: true}
}

// WithPlatformApps is the policy with what a third-party platform says about
// its apps: a listed app learns its permissions (and its name, if it has
// none), and every other authorized Mini Program is added under the
// policy's rules. An app whose authorization was revoked stays, marked so,
// so a bind for it is refused with the reason.
func (p *Policy) WithPlatformApps(list []PlatformApp) *Policy {
	np := &Policy{Admins: p.Admins, AdminChannel: p.AdminChannel, rules: p.rules, listed: p.listed}
	if np.listed == nil {
		np.listed = p.Apps
	}
	known := map[string]*PlatformApp{}
	for i := range list {
		known[list[i].AppID] = &list[i]
	}
	taken := map[string]bool{}
	for i, a := range np.listed {
		if pa := known[a.ID]; pa != nil {
			if np.rules != nil { // rules by name now see WeChat's nickname
				entry := &np.rules.entries[i]
				a2 := np.rules.effective(a.ID, cmp.Or(entry.Name, pa.Nickname), entry).app(a.ID, a.Name)
				a2.Aliases, a2.SecretEnv, a2.RefreshTokenEnv = a.Aliases, a.SecretEnv, a.RefreshTokenEnv
				a = a2
			}
			if a.Name == "" || a.Name == a.ID {
				a.Name = cmp.Or(pa.Nickname, a.ID)
			}
			a.Platform = pa
		}
		a.WithDefaults()
		np.Apps = append(np.Apps, a)
		taken[strings.ToLower(a.ID)] = true
		for _, k := range a.Aliases {
			taken[strings.ToLower(k)] = true
		}
	}
	// An alias from a nickname goes to a live app, and only where no other
	// live app's nickname makes the same one: never to the wrong Mini Program.
	// A revoked app keeps its alias (its binds are refused with the reason)
	// only while no live app makes the same one.
	live, gone := map[string]int{}, map[string]int{}
	for i := range list {
		if pa := &list[i]; pa.MiniProgram && !taken[strings.ToLower(pa.AppID)] {
			if pa.Revoked {
				gone[aliasFor(pa.Nickname)]++
			} else {
				live[aliasFor(pa.Nickname)]++
			}
		}
	}
	var found []App
	for i := range list {
		pa := &list[i]
		if !pa.MiniProgram || taken[strings.ToLower(pa.AppID)] {
			continue // official accounts have no testers; listed apps are above
		}
		name := cmp.Or(pa.Nickname, pa.AppID)
		var a App
		if np.rules != nil {
			a = np.rules.effective(pa.AppID, name, nil).app(pa.AppID, name)
		} else {
			a = App{ID: pa.AppID, Name: name}
		}
		if alias := aliasFor(pa.Nickname); alias != "" && !taken[alias] && ((!pa.Revoked && live[alias] == 1) || (pa.Revoked && live[alias] == 0 && gone[alias] == 1)) {
			a.Aliases, taken[alias] = []string{alias}, true
		}
		a.Platform = pa
		a.WithDefaults()
		found = append(found, a)
	}
	slices.SortFunc(found, func(x, y App) int { return strings.Compare(strings.ToLower(x.Name), strings.ToLower(y.Name)) })
	np.Apps = append(np.Apps, found...)
	return np
}

var notAliasChars = regexp.MustCompile(`[^a-z0-9_-]+`)

// aliasFor makes an alias from a nickname ("Shop Mini" → "shop-mini"), or ""
// when it has no letters to make one from (a Chinese name, say).
func aliasFor(nickname string) string {
	a := strings.Trim(notAliasChars.ReplaceAllString(strings.ToLower(nickname), "-"), "-_")
	if len(a) > 32 {
		a = strings.TrimRight(a[:32], "-_")
	}
	reserved := IsCommandWord(a)
	if reserved || !aliasPattern.MatchString(a) || strings.HasPrefix(a, "wx") {
		return ""
	}
	return a
}
