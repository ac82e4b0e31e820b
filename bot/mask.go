package bot

import "strings"

// MaskWechatID hides all but the first and last two characters: "ab***yz".
func MaskWechatID(id string) string {
	r := []rune(id)
	if len(r) <= 4 {
		return "***"
	}
	return string(r[:2]) + "***" + string(r[len(r)-2:])
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Escape makes text safe to put in a Slack message: no <!channel>, <@U…> or links
// can be smuggled in through user input.
func Escape(s string) string { return slackEscaper.Replace(s) }

var slackUnescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

// Unescape undoes Escape, for adapters that show plain text (the console).
func Unescape(s string) string { return slackUnescaper.Replace(s) }
