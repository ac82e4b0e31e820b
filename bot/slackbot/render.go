package slackbot

import (
	"fmt"

	"github.com/bindtester/bindtester/bot"
)

// slackText renders the core's spans (see bot.Spans) as Slack markup:
// mentions of people, user groups and channels, and dates each reader sees
// in their own time zone (UTC where their client cannot). Every text the
// core wrote goes through it on its way to Slack.
func slackText(s string) string {
	return bot.Render(s, func(sp bot.Span) string {
		switch sp.Kind {
		case bot.SpanUser:
			return "<@" + sp.ID + ">"
		case bot.SpanGroup:
			return "<!subteam^" + sp.ID + ">"
		case bot.SpanChannel:
			return "<#" + sp.ID + ">"
		case bot.SpanDate:
			return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", sp.At.Unix(), sp.At.UTC().Format(bot.UTCLayout))
		}
		return ""
	})
}
