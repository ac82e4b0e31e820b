package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// bareEnv, set to "1", makes bindbench run the bare bot instead of the benchmark: the
// benchmark re-executes itself with it, so the baseline is a process of its own like
// bindtester.
const bareEnv = "BINDBENCH_BARE"

// runBare is the baseline: the least a slack-go v0.35 Socket Mode bot can do to answer a slash
// command in a thread. It acks each command at once, then posts a parent message in the
// command's channel and one reply under it (chat.postMessage with thread_ts), with nothing in
// between: no storage, no WeChat, no worker pool. Its HTTP client is tuned the way one would
// tune any bot's (a timeout, keep-alive with 16 idle connections per host, HTTP/2 where the
// server offers it, as bindtester's adapter has); slack-go's default keeps only 2. It reads SLACK_BOT_TOKEN, SLACK_APP_TOKEN and
// SLACK_API_URL, and serves until ctx ends or Slack refuses the tokens.
func runBare(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second,
		ForceAttemptHTTP2: true, // what Go's default transport does; a custom one must ask
	}}
	api := slack.New(getenv("SLACK_BOT_TOKEN"),
		slack.OptionAppLevelToken(getenv("SLACK_APP_TOKEN")),
		slack.OptionAPIURL(getenv("SLACK_API_URL")),
		slack.OptionHTTPClient(hc),
		slack.OptionLog(log.New(stderr, "bare: ", log.LstdFlags)),
	)
	sm := socketmode.New(api, socketmode.OptionLog(log.New(stderr, "bare socketmode: ", log.LstdFlags)))
	done := make(chan error, 1)
	go func() { done <- sm.RunContext(ctx) }()
	for {
		select {
		case err := <-done:
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		case evt := <-sm.Events:
			switch evt.Type {
			case socketmode.EventTypeSlashCommand:
				cmd, ok := evt.Data.(slack.SlashCommand)
				_ = sm.Ack(*evt.Request)
				if ok {
					go answerBare(ctx, api, cmd, stderr)
				}
			case socketmode.EventTypeEventsAPI, socketmode.EventTypeInteractive:
				_ = sm.Ack(*evt.Request)
			}
		}
	}
}

// answerBare posts the parent message and its thread reply.
func answerBare(ctx context.Context, api *slack.Client, cmd slack.SlashCommand, stderr io.Writer) {
	_, ts, err := api.PostMessageContext(ctx, cmd.ChannelID, slack.MsgOptionText("Working on "+cmd.Text, false))
	if err == nil {
		_, _, err = api.PostMessageContext(ctx, cmd.ChannelID, slack.MsgOptionText("Done.", false), slack.MsgOptionTS(ts))
	}
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "bare: answering %q in %s: %v\n", cmd.Text, cmd.ChannelID, err)
	}
}
