package bot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// policyFile is the YAML shape of a multi-app policy file.
type policyFile struct {
	Admins       []string    `yaml:"admins"`
	AdminChannel string      `yaml:"admin_channel"`
	Defaults     appRules    `yaml:"defaults"`
	Groups       []groupFile `yaml:"groups"`
	Apps         []appFile   `yaml:"apps"`
}

// appFile is one app's entry: who it is, then the rules it overrides.
type appFile struct {
	AppID   string   `yaml:"appid"`
	Name    string   `yaml:"name"`
	Aliases []string `yaml:"aliases"`
	// Names of environment variables holding this app's WeChat credentials, so
	// the file itself holds no secrets.
	SecretEnv       string `yaml:"secret_env"`
	RefreshTokenEnv string `yaml:"refresh_token_env"`
	appRules        `yaml:",inline"`
}

// LoadPolicyFile reads and validates a policy file. Every problem is reported at
// once, each naming the file, the entry and the field.
func LoadPolicyFile(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy file %s: %w", path, err)
	}
	var f policyFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("policy file %s: the file is empty: list the Mini Programs under apps: (see policy.example.yaml)", path)
		}
		return nil, fmt.Errorf("policy file %s: %w", path, err)
	}
	rules := &policyRules{defaults: f.Defaults, groups: f.Groups, entries: f.Apps}
	p := &Policy{Admins: f.Admins, AdminChannel: f.AdminChannel, rules: rules}
	durErrs := PolicyError(f.Defaults.durationProblems("defaults"))
	for i, g := range f.Groups {
		entry := fmt.Sprintf("groups[%d]", i)
		durErrs = append(durErrs, g.durationProblems(entry)...)
		if len(g.Match.AppIDs) == 0 && len(g.Match.Names) == 0 {
			durErrs = append(durErrs, PolicyProblem{Entry: entry, Field: "match", Msg: "matches nothing: give appids: [wx…] or names: [\"Shop*\"]"})
		}
		for _, pat := range g.Match.Names {
			if !validPattern(pat) {
				durErrs = append(durErrs, PolicyProblem{Entry: entry, Field: "match.names", Msg: fmt.Sprintf("%q is not a name pattern (* and ? match any characters)", pat)})
			}
		}
	}
	for i, a := range f.Apps {
		durErrs = append(durErrs, a.durationProblems(fmt.Sprintf("apps[%d]", i))...)
		app := rules.effective(a.AppID, a.Name, &f.Apps[i]).app(a.AppID, a.Name)
		app.Aliases, app.SecretEnv, app.RefreshTokenEnv = a.Aliases, a.SecretEnv, a.RefreshTokenEnv
		p.Apps = append(p.Apps, app)
	}
	p.forDiscovery = len(f.Groups) > 0 || !reflect.ValueOf(f.Defaults).IsZero()
	for i, r := range append([]appRules{f.Defaults}, groupRules(f.Groups)...) {
		entry := "defaults"
		if i > 0 {
			entry = fmt.Sprintf("groups[%d]", i-1)
		}
		a := r.app("", "")
		durErrs = append(durErrs, a.idProblems(entry)...)
	}
	err = p.Validate()
	var pe PolicyError
	errors.As(err, &pe)
	if pe = append(durErrs, pe...); len(pe) > 0 {
		for i := range pe {
			pe[i].File = path
		}
		return nil, pe
	}
	return p, nil
}

// PolicyProblem is one thing wrong with a policy: the entry (e.g. "apps[1] (wx…)"),
// the field, and what is wrong with it.
type PolicyProblem struct{ File, Entry, Field, Msg string }

// PolicyError lists every problem found.
type PolicyError []PolicyProblem

func (e PolicyError) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = fmt.Sprintf("%s: %s: %s", p.Entry, p.Field, p.Msg)
		if p.File != "" {
			lines[i] = "policy file " + p.File + ": " + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}

// Validate checks the policy and reports every problem as a PolicyError, naming
// the entry and the field of each.
func (p *Policy) Validate() error {
	var errs PolicyError
	bad := func(entry, field, format string, args ...any) {
		errs = append(errs, PolicyProblem{Entry: entry, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for i, id := range p.Admins {
		if !isSlackID(id) {
			bad(fmt.Sprintf("admins[%d]", i), "admins", "%q is not a Slack user ID (U…/W…) or user group ID (S…); find IDs in a profile's ⋮ menu → Copy member ID", id)
		}
	}
	if len(p.Apps) == 0 && !p.forDiscovery {
		bad("apps", "apps", "no Mini Program is configured (as a third-party platform, give defaults: or groups: for the apps discovery finds instead)")
	}
	keys := map[string]string{}
	for i := range p.Apps {
		a := &p.Apps[i]
		entry := fmt.Sprintf("apps[%d]", i)
		if a.ID != "" {
			entry += " (" + a.ID + ")"
		}
		if !IsAppID(a.ID) {
			bad(entry, "appid", "%q is not an appid: wx followed by 16 hex digits (Mini Program admin console → Development → Development Settings)", a.ID)
		}
		if a.Slots < 0 {
			bad(entry, "slots", "must be positive, got %d", a.Slots)
		}
		a.WithDefaults()
		if a.DefaultDuration > a.MaxDuration {
			bad(entry, "default_duration", "%s is longer than max_duration %s", FormatDuration(a.DefaultDuration), FormatDuration(a.MaxDuration))
		}
		for j, k := range append([]string{a.ID}, a.Aliases...) {
			field := "aliases"
			if j == 0 {
				field = "appid"
			}
			lk := strings.ToLower(k)
			if other, dup := keys[lk]; dup && k != "" {
				bad(entry, field, "%q is already used by %s", k, other)
			}
			keys[lk] = entry
		}
		for _, alias := range a.Aliases {
			reserved := IsCommandWord(alias)
			switch {
			case reserved:
				bad(entry, "aliases", "%q is a command name; pick another", alias)
			case !aliasPattern.MatchString(alias) || strings.HasPrefix(strings.ToLower(alias), "wx"):
				bad(entry, "aliases", "%q must start with a letter (not wx), then letters, digits, _ or -, at most 32", alias)
			}
		}
		errs = append(errs, a.idProblems(entry)...)
		if (len(a.Requesters) > 0 || a.RequireApproval) && len(a.Approvers) == 0 && len(p.Admins) == 0 {
			bad(entry, "approvers", "approvals are on but nobody can approve: list approvers (or admins)")
		}
		approvers := p.Approvers(a)
		switch {
		case a.ApprovalsNeeded < 0 || a.ApprovalsNeeded > 5:
			bad(entry, "approvals_needed", "must be 1 to 5, got %d", a.ApprovalsNeeded)
		case a.ApprovalsNeeded > 1 && a.ApprovalsNeeded > len(approvers) && !slices.ContainsFunc(approvers, isGroupID):
			bad(entry, "approvals_needed", "%d distinct approvers must approve, but only %d are listed (approvers, or the admins)", a.ApprovalsNeeded, len(approvers))
		}
	}
	if p.AdminChannel != "" && !channelPattern.MatchString(p.AdminChannel) {
		bad("admin_channel", "admin_channel", "%q is not a Slack channel ID (C…/G…)", p.AdminChannel)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// idProblems reports a's Slack IDs that are not shaped like one.
func (a *App) idProblems(entry string) []PolicyProblem {
	var out []PolicyProblem
	for _, list := range []struct {
		field string
		ids   []string
	}{{"binders", a.Binders}, {"requesters", a.Requesters}, {"approvers", a.Approvers}} {
		for _, id := range list.ids {
			if !isSlackID(id) {
				out = append(out, PolicyProblem{Entry: entry, Field: list.field, Msg: fmt.Sprintf("%q is not a Slack user ID (U…/W…) or user group ID (S…)", id)})
			}
		}
	}
	if a.ApprovalChannel != "" && !channelPattern.MatchString(a.ApprovalChannel) {
		out = append(out, PolicyProblem{Entry: entry, Field: "approval_channel", Msg: fmt.Sprintf("%q is not a Slack channel ID (C…/G…)", a.ApprovalChannel)})
	}
	for _, id := range a.Channels {
		if !channelPattern.MatchString(id) {
			out = append(out, PolicyProblem{Entry: entry, Field: "channels", Msg: fmt.Sprintf("%q is not a Slack channel ID (C…/G…; channel details → About, at the bottom)", id)})
		}
	}
	return out
}

func groupRules(gs []groupFile) []appRules {
	out := make([]appRules, len(gs))
	for i, g := range gs {
		out[i] = g.appRules
	}
	return out
}
