package console

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// scriptHandler answers each request by running the action registered for its text.
type scriptHandler struct {
	mu      sync.Mutex
	reqs    []bot.Request
	actions map[string]func(ctx context.Context, conv bot.Conversation) error
}

func (h *scriptHandler) Click(ctx context.Context, c bot.Click, conv bot.Conversation) error {
	return conv.Private(ctx, "clicked "+c.Action+" "+c.Value+" as "+c.UserID)
}

func (h *scriptHandler) Handle(ctx context.Context, req bot.Request, conv bot.Conversation) error {
	h.mu.Lock()
	h.reqs = append(h.reqs, req)
	h.mu.Unlock()
	if a := h.actions[req.Text]; a != nil {
		return a(ctx, conv)
	}
	return conv.Private(ctx, "echo: "+bot.Escape(req.Text))
}

func (h *scriptHandler) requests() []bot.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bot.Request(nil), h.reqs...)
}

func private(text string) func(context.Context, bot.Conversation) error {
	return func(ctx context.Context, conv bot.Conversation) error { return conv.Private(ctx, text) }
}

// span is a span of kind and payload as the core writes it (see bot.Spans).
func span(kind byte, payload string) string { return "\uE000" + string(kind) + payload + "\uE001" }

func TestPlainThroughConsole(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"user mention", "ask " + span('u', "U1"), "ask @U1"},
		{"channel", "go to " + span('c', "C1"), "go to #C1"},
		{"user group", "ask " + span('g', "S1"), "ask @S1"},
		{"several", span('u', "U1") + ", " + span('u', "W2") + " and " + span('g', "S0ADMINS") + " in " + span('c', "G1"), "@U1, @W2 and @S0ADMINS in #G1"},
		{"date", "ends " + span('d', "1700000000"), "ends 2023-11-14 22:13 UTC"},
		{"unterminated span is text", "ask \uE000uU1", "ask \uE000uU1"},
		{"lt", "&lt;app&gt;", "<app>"},
		{"amp", "a &amp; b", "a & b"},
		{"escaped user input stays literal", "`&lt;!channel&gt;` and `&lt;@U1&gt;`", "`<!channel>` and `<@U1>`"},
		{"escaped entity is unescaped once", "&amp;lt;", "&lt;"},
		{"slack formatting kept", "*bold* `code` _it_", "*bold* `code` _it_"},
		{"unicode", "✅ 微信找不到 `my***id`", "✅ 微信找不到 `my***id`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bot.Plain(tt.text); got != tt.want {
				t.Errorf("Plain(%q) = %q, want %q", tt.text, got, tt.want)
			}
			h := &scriptHandler{actions: map[string]func(context.Context, bot.Conversation) error{
				"go": func(ctx context.Context, conv bot.Conversation) error {
					if err := conv.Private(ctx, tt.text); err != nil {
						return err
					}
					th, err := conv.Open(ctx, tt.text)
					if err != nil {
						return err
					}
					return errors.Join(th.Reply(ctx, tt.text), th.Attach(ctx, bot.File{Name: "qr.jpg", Title: tt.text, Data: []byte("JPEG"), Comment: tt.text}),
						th.Update(ctx, tt.text))
				},
			}}
			var out bytes.Buffer
			c := &Console{Handler: h, UserID: "U0ME", ChannelID: "C0HERE", Out: &out}
			if err := c.Run(t.Context(), strings.NewReader("go\n")); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				"[only you] " + tt.want + "\n",
				"[#C0HERE, message 1] " + tt.want + "\n",
				"  [thread of 1] " + tt.want + "\n",
				"  [thread of 1] [file qr.jpg, 4 bytes: " + tt.want + "]\n  [thread of 1]   " + tt.want + "\n",
				"[message 1 updated] " + tt.want + "\n",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestConsoleRun(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		actions map[string]func(context.Context, bot.Conversation) error
		want    []string // in this order
		notWant []string
		texts   []string // the requests' texts
	}{
		{
			name:  "prefix and spaces are stripped",
			input: "  /bindtester demo my_id  \n/bindtester\nhelp\n",
			want:  []string{"[only you] echo: demo my\u02cdid\n", "[only you] echo: \n", "[only you] echo: help\n"},
			texts: []string{"demo my_id", "", "help"},
		},
		{
			name:    "quit stops",
			input:   "one\nquit\ntwo\n",
			want:    []string{"echo: one"},
			notWant: []string{"echo: two"},
			texts:   []string{"one"},
		},
		{
			name:  "exit and /bindtester quit stop too",
			input: "/bindtester exit\none\n",
			texts: nil,
		},
		{
			name:  "EOF without a newline",
			input: "last",
			want:  []string{"echo: last"},
			texts: []string{"last"},
		},
		{
			name:  "handler errors are shown, and the console goes on",
			input: "fail\nafter\n",
			actions: map[string]func(context.Context, bot.Conversation) error{
				"fail": func(context.Context, bot.Conversation) error { return errors.New("slack is down") },
			},
			want:  []string{"(could not answer: slack is down)", "echo: after"},
			texts: []string{"fail", "after"},
		},
		{
			name:  "multi-line text is indented under its label",
			input: "multi\n",
			actions: map[string]func(context.Context, bot.Conversation) error{
				"multi": private("first\nsecond"),
			},
			want:  []string{"[only you] first\n           second\n"},
			texts: []string{"multi"},
		},
		{
			name:  "threads are numbered per parent",
			input: "bind\nbind\n",
			actions: map[string]func(context.Context, bot.Conversation) error{
				"bind": func(ctx context.Context, conv bot.Conversation) error {
					th, err := conv.Open(ctx, "working")
					if err != nil {
						return err
					}
					return errors.Join(th.Reply(ctx, "done"), th.Update(ctx, "ok"))
				},
			},
			want: []string{"[#C0HERE, message 1] working\n", "  [thread of 1] done\n", "[message 1 updated] ok\n",
				"[#C0HERE, message 2] working\n", "  [thread of 2] done\n", "[message 2 updated] ok\n"},
			texts: []string{"bind", "bind"},
		},
		{
			// A message ending in a space must still end its line.
			name:  "text ending with a space",
			input: "space\n",
			actions: map[string]func(context.Context, bot.Conversation) error{
				"space": func(ctx context.Context, conv bot.Conversation) error {
					th, _ := conv.Open(ctx, "working ")
					return errors.Join(th.Reply(ctx, "done "), th.Update(ctx, "ok"))
				},
			},
			want:  []string{"[#C0HERE, message 1] working \n", "  [thread of 1] done \n", "[message 1 updated] ok\n"},
			texts: []string{"space"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &scriptHandler{actions: tt.actions}
			var out bytes.Buffer
			c := &Console{Handler: h, UserID: "U0ME", ChannelID: "C0HERE", Locale: "zh-CN", Out: &out}
			if err := c.Run(t.Context(), strings.NewReader(tt.input)); err != nil {
				t.Fatalf("Run = %v", err)
			}
			got := out.String()
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("output lacks %q (in order):\n%s", w, got)
					break
				}
				rest = rest[i+len(w):]
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("output has %q:\n%s", w, got)
				}
			}
			reqs := h.requests()
			if len(reqs) != len(tt.texts) {
				t.Fatalf("handled %d requests %+v, want %d", len(reqs), reqs, len(tt.texts))
			}
			for i, r := range reqs {
				if r.Text != tt.texts[i] || r.UserID != "U0ME" || r.ChannelID != "C0HERE" || r.Locale != "zh-CN" {
					t.Errorf("request %d = %+v, want text %q as U0ME in C0HERE, zh-CN", i, r, tt.texts[i])
				}
			}
			if !strings.HasPrefix(got, "\n/bindtester ") {
				t.Errorf("output does not start with the prompt: %q", got)
			}
		})
	}
}

func TestConsoleContext(t *testing.T) {
	t.Run("cancelled before a line arrives: nothing is handled", func(t *testing.T) {
		h := &scriptHandler{}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		c := &Console{Handler: h, UserID: "U0ME", ChannelID: "C0HERE", Out: io.Discard}
		if err := c.Run(ctx, strings.NewReader("one\ntwo\n")); err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if n := len(h.requests()); n != 0 {
			t.Errorf("handled %d requests after cancel", n)
		}
	})
	t.Run("cancelled while waiting for input: Run returns", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		ctx, cancel := context.WithCancel(t.Context())
		c := &Console{Handler: &scriptHandler{}, UserID: "U0ME", ChannelID: "C0HERE", Out: io.Discard}
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx, pr) }()
		time.Sleep(50 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(2 * time.Second):
			pw.Close()
			<-done
			t.Error("Run still blocked reading input 2s after ctx was cancelled (Ctrl-C waits for Enter)")
		}
	})
	t.Run("a read error is returned", func(t *testing.T) {
		boom := errors.New("tty gone")
		c := &Console{Handler: &scriptHandler{}, UserID: "U0ME", ChannelID: "C0HERE", Out: io.Discard}
		if err := c.Run(t.Context(), io.MultiReader(strings.NewReader("one\n"), errReader{boom})); !errors.Is(err, boom) {
			t.Errorf("Run = %v, want %v", err, boom)
		}
	})
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
