package bot

import (
	"errors"
	"testing"
)

// Every entry of the command table is reachable by its word, has a handler,
// says whom to tell no (if it is for admins), and its help keys exist in
// every language: adding a command is adding an entry.
func TestCommandTableIsComplete(t *testing.T) {
	seen := map[Verb]bool{}
	for _, c := range commands {
		if seen[c.verb] {
			t.Errorf("%s: verb listed twice", c.word)
		}
		seen[c.verb] = true
		if c.run == nil || c.parse == nil {
			t.Errorf("%s: no handler or parser", c.word)
		}
		cmd, err := Parse(c.word)
		var ue *UsageError
		if err == nil && cmd.Verb != c.verb || err != nil && !errors.As(err, &ue) {
			t.Errorf("Parse(%q) = %+v, %v; want verb %d or a usage error", c.word, cmd, err, c.verb)
		}
		if !IsCommandWord(c.word) {
			t.Errorf("%s is not reserved", c.word)
		}
		if c.who == forAdmins && c.deny == "" {
			t.Errorf("%s: for admins, but no text for the others", c.word)
		}
		for _, key := range []string{c.help, c.admin, c.deny} {
			if key == "" {
				continue
			}
			for _, l := range []Lang{English, Chinese} {
				if _, ok := texts[l][key]; !ok {
					t.Errorf("%s: text %q missing in %s", c.word, key, l)
				}
			}
		}
	}
	if CLICommand("help") || !CLICommand("bind") || !CLICommand("apps") {
		t.Error("the command line's commands are not the table's")
	}
	p := &Policy{Admins: []string{"UADMIN"}, Apps: []App{{ID: "wx0123456789abcdef", Aliases: []string{"Apps"}}}}
	if err := p.Validate(); err == nil {
		t.Error("an alias that is a command word was accepted")
	}
}
