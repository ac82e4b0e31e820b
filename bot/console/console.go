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
	"regexp"
	"strings"
	"sync"

	"github.com/bindtester/bindtester/bot"
)

// Handler is the bot core, as the console uses it.
type Handler interface {
	Handle(ctx context.Context, req bot.Request, conv bot.Conversation) error
}

// Console reads commands and prints answers.
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
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()
	for {
		c.prompt()
		var line string
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			return err
		case line = <-lines:
		}
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "/bindtester"))
		if line == "quit" || line == "exit" {
			return nil
		}
		req := bot.Request{UserID: c.UserID, ChannelID: c.ChannelID, Text: line, Locale: c.Locale}
		if err := c.Handler.Handle(ctx, req, c); err != nil {
			c.print("  (could not answer: %v)", err)
		}
	}
}

func (c *Console) prompt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprint(c.Out, "\n/bindtester ")
}

var slackMarkup = regexp.MustCompile(`<([@#])([A-Z0-9]+)(\|[^>]*)?>|<!subteam\^([A-Z0-9]+)>`)

// plain turns Slack markup into terminal text: mentions become @U…/#C…, entities are unescaped.
func plain(s string) string {
	s = slackMarkup.ReplaceAllStringFunc(s, func(m string) string {
		g := slackMarkup.FindStringSubmatch(m)
		if g[4] != "" {
			return "@" + g[4]
		}
		return g[1] + g[2]
	})
	return bot.Unescape(s)
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
	c.print("%s", indent(plain(text), "[only you] "))
	return nil
}

// Open posts the parent message in the channel.
func (c *Console) Open(_ context.Context, text string) (bot.Thread, error) {
	c.mu.Lock()
	c.n++
	id := c.n
	c.mu.Unlock()
	c.print("%s", indent(plain(text), fmt.Sprintf("[#%s, message %d] ", c.ChannelID, id)))
	return &thread{c: c, id: id}, nil
}

type thread struct {
	c  *Console
	id int
}

func (t *thread) Reply(_ context.Context, text string) error {
	t.c.print("%s", indent(plain(text), fmt.Sprintf("  [thread of %d] ", t.id)))
	return nil
}

func (t *thread) Attach(_ context.Context, f bot.File) error {
	t.c.print("  [thread of %d] [file %s, %d bytes: %s]", t.id, f.Name, len(f.Data), plain(f.Title))
	return nil
}

func (t *thread) Update(_ context.Context, text string) error {
	t.c.print("%s", indent(plain(text), fmt.Sprintf("[message %d updated] ", t.id)))
	return nil
}
