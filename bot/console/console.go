// Package console runs the bot core on standard input and output, as one chosen
// Slack user in one channel: each line is what would follow /bindtester, and the
// answers are printed the way Slack would show them (private, parent message,
// thread replies, updates). For trying the bot locally without Slack.
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/bindtester/bindtester/bot"
)

// Handler is the bot core, as the console uses it.
type Handler interface {
	Handle(ctx context.Context, req bot.Request, conv bot.Conversation) error
	Click(ctx context.Context, c bot.Click, conv bot.Conversation) error
}

// Console reads commands and prints answers. Besides /bindtester commands it
// takes a few of its own, for what Slack does with clicks and identities:
//
//	:user U…        act as another Slack user from now on
//	:approve N      click Approve on approval request N (:deny N for Deny)
//	:extend N:3d    click any button shown, as "(type …)" says
//
// An empty line is the request form, asked field by field; `home` is App Home.
//
// It is also the bot's Messenger: DMs and approval prompts are printed.
type Console struct {
	Handler   Handler
	UserID    string
	ChannelID string
	Locale    string
	Out       io.Writer

	mu sync.Mutex // one writer at a time
	n  int        // messages posted, for thread labels
}

// Run handles each input line until EOF, "quit", or ctx ends (also while waiting
// for input). A leading "/bindtester" is optional.
func (c *Console) Run(ctx context.Context, in io.Reader) error {
	lines := make(chan string)
	var readErr error // set before lines is closed
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr = sc.Err()
	}()
	// next is the next input line; false at the end of input or of ctx.
	next := func() (string, bool) {
		select {
		case <-ctx.Done():
			return "", false
		case l, ok := <-lines:
			return l, ok
		}
	}
	for {
		c.prompt()
		line, ok := next()
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return readErr
		}
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "/bindtester"))
		if line == "quit" || line == "exit" {
			return nil
		}
		var err error
		if line == "" || line == ":request" {
			err = c.form(ctx, next)
		} else if strings.HasPrefix(line, ":") {
			err = c.meta(ctx, strings.Fields(line))
		} else {
			req := bot.Request{UserID: c.UserID, ChannelID: c.ChannelID, Text: line, Locale: c.Locale}
			err = c.Handler.Handle(ctx, req, c)
		}
		if err != nil {
			c.print("  (could not answer: %v)", err)
		}
	}
}

// meta runs a console command (":user", ":approve", ":deny").
func (c *Console) meta(ctx context.Context, words []string) error {
	switch {
	case len(words) == 2 && words[0] == ":user":
		c.UserID = words[1]
		c.print("(now acting as %s)", c.UserID)
		return nil
	case len(words) == 2 && strings.HasPrefix(words[0], ":") && words[0] != ":user": // a button: :approve N, :extend N:3d
		return c.Handler.Click(ctx, bot.Click{UserID: c.UserID, Action: words[0][1:], Value: words[1]}, c)
	}
	c.print("console commands: :user U…, :approve N, :deny N, quit")
	return nil
}

func (c *Console) prompt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprint(c.Out, "\n/bindtester ")
}

func (c *Console) print(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.Out, format+"\n", args...)
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", len([]rune(prefix))))
}

// Private is a message only the requester sees.
func (c *Console) Private(_ context.Context, text string) error {
	c.print("%s", indent(bot.Plain(text), "[only you] "))
	return nil
}

// Open posts the parent message in the channel.
func (c *Console) Open(_ context.Context, text string) (bot.Thread, error) {
	id := c.post(c.ChannelID, text)
	return &thread{c: c, id: id, channel: c.ChannelID}, nil
}

// post prints a new message in channel and returns its number.
func (c *Console) post(channel, text string) int {
	c.mu.Lock()
	c.n++
	id := c.n
	c.mu.Unlock()
	c.print("%s", indent(bot.Plain(text), fmt.Sprintf("[#%s, message %d] ", channel, id)))
	return id
}

// DM prints a direct message.
func (c *Console) DM(_ context.Context, userID, text string) error {
	c.print("%s", indent(bot.Plain(text), "[DM to @"+userID+"] "))
	return nil
}

// Reopen returns the thread of an earlier message.
func (c *Console) Reopen(ref bot.ThreadRef) bot.Thread {
	id, _ := strconv.Atoi(ref.ParentTS)
	return &thread{c: c, id: id, channel: ref.Channel}
}

// Prompt prints an approval request and how to click its buttons.
func (c *Console) Prompt(_ context.Context, to string, p bot.Prompt) (bot.MessageRef, error) {
	where := "#" + to
	if !strings.HasPrefix(to, "C") && !strings.HasPrefix(to, "G") {
		where = "DM to @" + to
	}
	c.mu.Lock()
	c.n++
	id := c.n
	c.mu.Unlock()
	c.print("%s", indent(bot.Plain(p.Text)+buttons(p), fmt.Sprintf("[%s, message %d] ", where, id)))
	return bot.MessageRef{Channel: to, TS: strconv.Itoa(id)}, nil
}

// buttons shows a prompt's buttons and what to type to click each.
func buttons(p bot.Prompt) string {
	var out []string
	for _, b := range p.Buttons {
		out = append(out, strings.TrimSuffix(fmt.Sprintf("[%s] (type :%s %s", bot.Plain(b.Label), b.Action, b.Value), " ")+")")
	}
	if len(out) == 0 {
		return ""
	}
	return "\n" + strings.Join(out, "  ")
}

// Reprompt prints a prompt's new text, its buttons still there.
func (c *Console) Reprompt(_ context.Context, ref bot.MessageRef, p bot.Prompt) error {
	c.print("%s", indent(bot.Plain(p.Text)+buttons(p), fmt.Sprintf("[message %s updated] ", ref.TS)))
	return nil
}

// Edit prints a prompt's replacement.
func (c *Console) Edit(_ context.Context, ref bot.MessageRef, text string) error {
	c.print("%s", indent(bot.Plain(text), fmt.Sprintf("[message %s updated] ", ref.TS)))
	return nil
}

type thread struct {
	c       *Console
	id      int
	channel string
}

func (t *thread) Ref() bot.ThreadRef {
	n := strconv.Itoa(t.id)
	return bot.ThreadRef{Channel: t.channel, ParentTS: n, ThreadTS: n}
}

func (t *thread) Reply(_ context.Context, text string) error {
	t.c.print("%s", indent(bot.Plain(text), fmt.Sprintf("  [thread of %d] ", t.id)))
	return nil
}

func (t *thread) Attach(_ context.Context, f bot.File) error {
	t.c.print("  [thread of %d] [file %s, %d bytes: %s]", t.id, f.Name, len(f.Data), bot.Plain(f.Title))
	if f.Comment != "" { // what Slack shows with the file
		t.c.print("%s", indent(bot.Plain(f.Comment), fmt.Sprintf("  [thread of %d]   ", t.id)))
	}
	return nil
}

func (t *thread) Update(_ context.Context, text string) error {
	t.c.print("%s", indent(bot.Plain(text), fmt.Sprintf("[message %d updated] ", t.id)))
	return nil
}
