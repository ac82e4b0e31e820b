package bot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

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
	// Names of environment variables holding this app's WeChat credentials, so
	// the file itself holds no secrets.
	SecretEnv       string `yaml:"secret_env"`
	RefreshTokenEnv string `yaml:"refresh_token_env"`
}

// DefaultSlots is the experiencer slot count assumed when none is configured.
const DefaultSlots = 15

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
	for _, a := range f.Apps {
		slots := a.Slots
		if slots == 0 {
			slots = DefaultSlots
		}
		p.Apps = append(p.Apps, App{ID: a.AppID, Name: a.Name, Aliases: a.Aliases, Binders: a.Binders,
			Channels: a.Channels, Slots: slots, QRPath: a.QRPath, SecretEnv: a.SecretEnv, RefreshTokenEnv: a.RefreshTokenEnv})
	}
	if err := p.Validate(); err != nil {
		var pe PolicyError
		if errors.As(err, &pe) {
			for i := range pe {
				pe[i].File = path
			}
		}
		return nil, err
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
		if a.Name == "" {
			a.Name = a.ID
		}
		if a.Slots < 0 {
			bad(entry, "slots", "must be positive, got %d", a.Slots)
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
		for _, id := range a.Binders {
			if !isSlackID(id) {
				bad(entry, "binders", "%q is not a Slack user ID (U…/W…) or user group ID (S…)", id)
			}
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
