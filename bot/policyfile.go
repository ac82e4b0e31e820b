package bot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// policyFile is the YAML shape of a multi-app policy file.
type policyFile struct {
	Admins []string  `yaml:"admins"`
	Apps   []appFile `yaml:"apps"`
}

type appFile struct {
	AppID    string   `yaml:"appid"`
	Name     string   `yaml:"name"`
	Aliases  []string `yaml:"aliases"`
	Binders  []string `yaml:"binders"`
	Channels []string `yaml:"channels"`
	Slots    int      `yaml:"slots"`
	QRPath   string   `yaml:"qr_path"`
	// Time-bound access and approvals.
	DefaultDuration string   `yaml:"default_duration"`
	MaxDuration     string   `yaml:"max_duration"`
	Requesters      []string `yaml:"requesters"`
	RequireApproval bool     `yaml:"require_approval"`
	Approvers       []string `yaml:"approvers"`
	ApprovalChannel string   `yaml:"approval_channel"`
	ApprovalTTL     string   `yaml:"approval_ttl"`
	// Names of environment variables holding this app's WeChat credentials, so
	// the file itself holds no secrets.
	SecretEnv       string `yaml:"secret_env"`
	RefreshTokenEnv string `yaml:"refresh_token_env"`
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
	p := &Policy{Admins: f.Admins}
	var durErrs PolicyError
	dur := func(i int, field, v string) time.Duration {
		if v == "" {
			return 0
		}
		d, ok := ParseDuration(v)
		if !ok {
			durErrs = append(durErrs, PolicyProblem{Entry: fmt.Sprintf("apps[%d]", i), Field: field, Msg: fmt.Sprintf("%q is not a duration like 12h, 14d or 2w", v)})
		}
		return d
	}
	for i, a := range f.Apps {
		p.Apps = append(p.Apps, App{ID: a.AppID, Name: a.Name, Aliases: a.Aliases, Binders: a.Binders,
			Channels: a.Channels, Slots: a.Slots, QRPath: a.QRPath, SecretEnv: a.SecretEnv, RefreshTokenEnv: a.RefreshTokenEnv,
			DefaultDuration: dur(i, "default_duration", a.DefaultDuration), MaxDuration: dur(i, "max_duration", a.MaxDuration),
			Requesters: a.Requesters, RequireApproval: a.RequireApproval, Approvers: a.Approvers,
			ApprovalChannel: a.ApprovalChannel, ApprovalTTL: dur(i, "approval_ttl", a.ApprovalTTL)})
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
	if len(p.Apps) == 0 {
		bad("apps", "apps", "no Mini Program is configured")
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
			_, reserved := subcommands[strings.ToLower(alias)]
			switch {
			case reserved:
				bad(entry, "aliases", "%q is a command name; pick another", alias)
			case !aliasPattern.MatchString(alias) || strings.HasPrefix(strings.ToLower(alias), "wx"):
				bad(entry, "aliases", "%q must start with a letter (not wx), then letters, digits, _ or -, at most 32", alias)
			}
		}
		for _, list := range []struct {
			field string
			ids   []string
		}{{"binders", a.Binders}, {"requesters", a.Requesters}, {"approvers", a.Approvers}} {
			for _, id := range list.ids {
				if !isSlackID(id) {
					bad(entry, list.field, "%q is not a Slack user ID (U…/W…) or user group ID (S…)", id)
				}
			}
		}
		if a.ApprovalChannel != "" && !channelPattern.MatchString(a.ApprovalChannel) {
			bad(entry, "approval_channel", "%q is not a Slack channel ID (C…/G…)", a.ApprovalChannel)
		}
		if (len(a.Requesters) > 0 || a.RequireApproval) && len(a.Approvers) == 0 && len(p.Admins) == 0 {
			bad(entry, "approvers", "approvals are on but nobody can approve: list approvers (or admins)")
		}
		for _, id := range a.Channels {
			if !channelPattern.MatchString(id) {
				bad(entry, "channels", "%q is not a Slack channel ID (C…/G…; channel details → About, at the bottom)", id)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}
