package bot

import (
	"context"
	"strconv"
	"strings"
)

// The command table: every /bindtester subcommand with how it is read, who
// may run it, its line in help, whether the command line has it, and its
// handler. Parse, help, Handle's dispatch and admin check, policy
// validation (aliases may not be command words) and the command line all
// read it: a new command is one entry here plus its handler.

// audience is who a command is for.
type audience int

const (
	forEveryone audience = iota
	forViewers           // people who may bind or ask for at least one app
	forAdmins
)

// commandSpec is one subcommand.
type commandSpec struct {
	verb  Verb
	word  string                               // what is typed after /bindtester
	parse func(args []string) (Command, error) // the words after it
	who   audience                             // checked before the handler (admins), and whom help shows it
	deny  string                               // text key for someone the audience excludes (with the admins' names)
	help  string                               // help line's text key ("" for none)
	admin string                               // help line's text key for admins, when it does more for them
	cli   bool                                 // also `bindtester <word>` on the command line
	run   func(b *Bot, ctx context.Context, l Lang, req Request, cmd Command, conv Conversation) error
}

// commands are the subcommands, in the order help lists them. The bind
// itself (<app> <wechat-id>) has no word and is read by Parse. (Filled in
// init: handlers reach back to the table through alias checks.)
var commands []commandSpec

func init() { commands = commandTable() }

func commandTable() []commandSpec {
	return []commandSpec{
		{verb: VerbHelp, word: "help", parse: noArgs,
			run: func(b *Bot, ctx context.Context, l Lang, req Request, _ Command, conv Conversation) error {
				return b.helpAnswer(ctx, l, req, conv)
			}},
		{verb: VerbHome, word: "home", parse: noArgs, help: "help.home",
			run: func(b *Bot, ctx context.Context, _ Lang, req Request, _ Command, conv Conversation) error {
				return privateBlocks(ctx, conv, b.Home(ctx, req.UserID))
			}},
		{verb: VerbMine, word: "mine", parse: noArgs, help: "help.mine",
			run: func(b *Bot, ctx context.Context, l Lang, req Request, _ Command, conv Conversation) error {
				return b.mine(ctx, l, req, conv)
			}},
		{verb: VerbUnbind, word: "unbind", parse: parseUnbind, admin: "help.unbind_admin", cli: true, run: (*Bot).unbind},
		{verb: VerbExtend, word: "extend", parse: parseExtend, help: "help.extend", cli: true, run: (*Bot).extendCommand},
		{verb: VerbTesters, word: "testers", parse: parseTesters, who: forViewers, help: "help.testers", cli: true, run: (*Bot).testers},
		{verb: VerbAudit, word: "audit", parse: parseAudit, who: forAdmins, deny: "deny.audit", admin: "help.audit", run: (*Bot).auditCommand},
		{verb: VerbApps, word: "apps", parse: parseApps, who: forAdmins, deny: "deny.apps", admin: "help.apps", cli: true, run: (*Bot).appsCommand},
	}
}

// lookupCommand is the subcommand typed as word, or nil.
func lookupCommand(word string) *commandSpec {
	for i := range commands {
		if strings.EqualFold(commands[i].word, word) {
			return &commands[i]
		}
	}
	return nil
}

// specOf is verb's entry; nil for the bind.
func specOf(v Verb) *commandSpec {
	for i := range commands {
		if commands[i].verb == v {
			return &commands[i]
		}
	}
	return nil
}

// IsCommandWord reports whether word is a subcommand (so no alias may be it).
func IsCommandWord(word string) bool { return lookupCommand(word) != nil }

// CLICommand reports whether `bindtester <word>` runs the subcommand word
// (bind too) as one /bindtester line.
func CLICommand(word string) bool {
	if word == "bind" {
		return true
	}
	spec := lookupCommand(word)
	return spec != nil && spec.cli
}

// extraWords is the usage error for words after what a command reads.
func extraWords(args []string, from int) error {
	if len(args) > from {
		return &UsageError{Key: "usage.extra", Arg: strings.Join(args[from:], " ")}
	}
	return nil
}

func noArgs(args []string) (Command, error) { return Command{}, extraWords(args, 0) }

// parseTesters reads "testers <app>".
func parseTesters(args []string) (Command, error) {
	if len(args) == 0 {
		return Command{}, &UsageError{Key: "usage.testers", Arg: ""}
	}
	if err := checkApp(args[0]); err != nil {
		return Command{}, err
	}
	return Command{App: args[0]}, extraWords(args, 1)
}

// parseUnbind reads "unbind <app> <wechat-id | #grant>".
func parseUnbind(args []string) (Command, error) {
	if len(args) < 2 {
		return Command{}, &UsageError{Key: "usage.unbind"}
	}
	if err := checkApp(args[0]); err != nil {
		return Command{}, err
	}
	cmd := Command{App: args[0]}
	if m := grantPattern.FindStringSubmatch(args[1]); m != nil {
		cmd.GrantID, _ = strconv.ParseInt(m[1], 10, 64)
	} else if strings.HasPrefix(args[1], "#") { // #0, #-1, #01, #abc: no grant is numbered so
		return Command{}, &UsageError{Key: "usage.grant", Arg: args[1]}
	} else if IsWechatID(args[1]) {
		cmd.WechatID = args[1]
	} else {
		return Command{}, &UsageError{Key: "usage.wechatid", Arg: args[1]}
	}
	return cmd, extraWords(args, 2)
}

// parsePage reads the N of "page N" at args[i+1].
func parsePage(args []string, i int) (int, error) {
	n, err := strconv.Atoi(args[i+1])
	if err != nil || n < 1 || n > maxAuditPage {
		return 0, &UsageError{Key: "usage.page", Arg: args[i+1]}
	}
	return n, nil
}

// parseAudit reads "audit [app] [<@user>|U…] [page N]", in any order.
func parseAudit(args []string) (Command, error) {
	cmd := Command{Page: 1}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch m := userRefPattern.FindStringSubmatch(a); {
		case strings.EqualFold(a, "page") && i+1 < len(args):
			n, err := parsePage(args, i)
			if err != nil {
				return Command{}, err
			}
			cmd.Page, i = n, i+1
		case m != nil && cmd.User == "":
			cmd.User = m[1] + m[2]
		case cmd.App == "" && checkApp(a) == nil:
			cmd.App = a
		default:
			return Command{}, &UsageError{Key: "usage.audit", Arg: a}
		}
	}
	return cmd, nil
}

// parseApps reads "apps [refresh] [page N]".
func parseApps(args []string) (Command, error) {
	cmd := Command{Page: 1}
	for i := 0; i < len(args); i++ {
		switch {
		case strings.EqualFold(args[i], "refresh") && !cmd.Refresh:
			cmd.Refresh = true
		case strings.EqualFold(args[i], "page") && i+1 < len(args):
			n, err := parsePage(args, i)
			if err != nil {
				return Command{}, err
			}
			cmd.Page, i = n, i+1
		default:
			return Command{}, extraWords(args, i)
		}
	}
	return cmd, nil
}
