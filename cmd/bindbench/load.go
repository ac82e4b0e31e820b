package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bindtester/bindtester/bot/slackfake"
)

// Every command is sent in a channel of its own, so its answer is the first fitting message
// recorded in that channel.

// answer is the message that answered a command.
type answer struct {
	at      time.Time
	private bool   // through the response_url rather than in a thread
	text    string // of a private answer, to explain it
}

// answerRule says whether a recorded message answers the command of its channel, and whether
// it does so privately.
type answerRule func(m slackfake.Message) (answers, private bool)

// threadReply is the answer of a bind: the first reply in the thread under the command's
// parent message (a file posted there counts too). A post to the response_url also ends the
// wait, marked private: bindtester answers that way when it may not post in the channel.
func threadReply(m slackfake.Message) (bool, bool) {
	switch {
	case (m.Method == "chat.postMessage" || m.Method == "file") && m.ThreadTS != "":
		return true, false
	case m.Method == "response_url" || m.Method == "chat.postEphemeral":
		return true, true
	}
	return false, false
}

// anyMessage is the answer of help: the first message of any kind in the channel (bindtester
// answers help through the response_url).
func anyMessage(slackfake.Message) (bool, bool) { return true, false }

// answers hands each awaited channel its first answering message, from the fake's OnMessage
// hook.
type answers struct {
	rule    answerRule
	mu      sync.Mutex
	waiting map[string]chan answer
}

func watchAnswers(sl *slackfake.Server, rule answerRule) *answers {
	a := &answers{rule: rule, waiting: map[string]chan answer{}}
	sl.OnMessage(a.seen)
	return a
}

// expect returns where the answer in channel will arrive; call it before sending the command.
func (a *answers) expect(channel string) <-chan answer {
	ch := make(chan answer, 1)
	a.mu.Lock()
	a.waiting[channel] = ch
	a.mu.Unlock()
	return ch
}

func (a *answers) forget(channel string) {
	a.mu.Lock()
	delete(a.waiting, channel)
	a.mu.Unlock()
}

func (a *answers) seen(m slackfake.Message) {
	ok, private := a.rule(m)
	if !ok {
		return
	}
	a.mu.Lock()
	ch := a.waiting[m.Channel]
	delete(a.waiting, m.Channel)
	a.mu.Unlock()
	if ch != nil {
		ans := answer{at: m.At, private: private}
		if private {
			ans.text = m.Text
		}
		ch <- ans
	}
}

// command is one slash command to send.
type command struct{ channel, text string }

// slash is c as the user binder types it.
func (c command) slash() slackfake.SlashCommand {
	return slackfake.SlashCommand{UserID: binder, UserName: "bench", ChannelID: c.channel, ChannelName: "bench", Text: c.text}
}

// outcome is what became of one command. Durations count from the moment the fake wrote the
// envelope to the bot's websocket.
type outcome struct {
	acked, answered, private bool
	ack, answer              time.Duration
	text                     string // of a private answer
}

// drive sends n commands from the user binder, inflight at a time in a closed loop (each
// sender sends its next command think after the previous one is answered or timeout passed), and
// returns their outcomes in order and how long it all took. It stops with ctx's cause.
func drive(ctx context.Context, sl *slackfake.Server, a *answers, n, inflight int, cmd func(i int) command, timeout, think time.Duration) ([]outcome, time.Duration, error) {
	out := make([]outcome, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	begin := time.Now()
	for range min(inflight, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				out[i] = send(ctx, sl, a, cmd(i), timeout)
				if think > 0 {
					select {
					case <-time.After(think):
					case <-ctx.Done():
					}
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(begin)
	if ctx.Err() != nil {
		return nil, took, fmt.Errorf("run stopped: %w", context.Cause(ctx))
	}
	return out, took, nil
}

// send sends one command and waits for its answer.
func send(ctx context.Context, sl *slackfake.Server, a *answers, c command, timeout time.Duration) outcome {
	wait := a.expect(c.channel)
	id := sl.SlashCommand(c.slash())
	var o outcome
	t := time.NewTimer(timeout)
	defer t.Stop()
	var ans answer
	select {
	case ans = <-wait:
		o.answered, o.private, o.text = true, ans.private, ans.text
	case <-t.C:
		a.forget(c.channel)
	case <-ctx.Done():
		a.forget(c.channel)
	}
	sent, acked := sl.EnvelopeTimes(id)
	if !acked.IsZero() {
		o.acked, o.ack = true, acked.Sub(sent)
	}
	if o.answered {
		o.answer = ans.at.Sub(sent)
	}
	return o
}

// bindCommand is the i-th bind: /bindtester shop bench_<i> in channel C<i>.
func bindCommand(i int) command {
	return command{channel: fmt.Sprintf("C%06d", i), text: fmt.Sprintf("%s bench_%06d", appAlias, i)}
}

// warmupCommand is the i-th bind of the warm-up: /bindtester shop warm_<i> in channel CW<i>.
func warmupCommand(i int) command {
	return command{channel: fmt.Sprintf("CW%06d", i), text: fmt.Sprintf("%s warm_%06d", appAlias, i)}
}
