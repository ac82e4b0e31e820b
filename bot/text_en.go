package bot

// textEN holds every English text. Arguments are already escaped for Slack.
var textEN = map[string]string{
	// usage
	"usage": "*Bind your WeChat account as an experiencer of a Mini Program*, so you can open its trial version:\n" +
		"`/bindtester <app> <wechat-id>`, where `<app>` is an appid (`wx` + 16 hex digits) or an app's short name.\n" +
		"Example: `/bindtester %s my_wechat_id`",
	"usage.apps":               "Mini Programs you may bind to: %s",
	"usage.no_apps":            "You may not bind testers to any Mini Program yet. Ask an admin: %s",
	"usage.lookup_failed":      "I could not check your Slack user groups just now, so this list may be incomplete. Please try again in a minute.",
	"usage.admin":              "You are an admin: you may bind to every Mini Program, anywhere.",
	"usage.appid":              "`%s` is not a valid appid: an appid is `wx` followed by 16 hexadecimal digits (0-9, a-f), like `wx1234567890abcdef`.",
	"usage.app":                "`%s` is not an appid or an app name: an appid is `wx` followed by 16 hexadecimal digits; app names start with a letter.",
	"usage.wechatid":           "`%s` is not a valid WeChat ID: a WeChat ID has 6–20 characters, starts with a letter, and uses only letters, digits, `_` and `-` (IDs like `wxid_…` are fine). Use your WeChat ID (WeChat → Me), not your nickname or phone number.",
	"usage.missing_wechatid":   "Which WeChat account? Add your WeChat ID: `/bindtester %s <wechat-id>`.",
	"usage.unknown_subcommand": "I don't know the command `%s`. Commands: `help`, or `<app> <wechat-id>` to bind.",
	"usage.extra":              "Too many words: I did not expect `%s`. The command is `/bindtester <app> <wechat-id>`.",
	"usage.see_help":           "Type `/bindtester help` for usage.",
	"app.unknown":              "I don't know a Mini Program called `%s`. %s",
	"app.unknown_appid":        "`%s` is not a Mini Program this bot manages. %s",

	// permissions
	"deny.not_binder":    "You may not bind testers to *%s*. Ask an admin to add you: %s",
	"deny.admin_only":    "*%s* is open to admins only. Ask an admin: %s",
	"deny.channel":       "Testers for *%s* are bound in %s only: please ask there.",
	"deny.lookup_failed": "I could not check your Slack user groups just now, so I cannot tell whether you may bind to *%s*. Please try again in a minute.",
	"admins.none":        "the people who run this bot",

	// the request in the channel
	"parent.working": "<@%s> asked to bind `%s` as an experiencer of *%s* (`%s`) — working…",
	"summary.ok":     "✅ <@%s>: `%s` is an experiencer of *%s*.",
	"summary.failed": "❌ <@%s>: could not bind `%s` to *%s*: %s",

	// outcomes
	"bind.ok":               "Done: `%s` is now an experiencer of *%s*.",
	"bind.already":          "Nothing to do: `%s` is already an experiencer of *%s*.",
	"bind.open_qr":          "Open the trial version by scanning this QR code with WeChat (it works for `%s` only).",
	"bind.open_no_qr":       "Open the trial version from the trial QR code (the developer or the Mini Program admin console, Version Management → Trial version, has it); scan it with the WeChat account `%s`.",
	"bind.qr_elsewhere":     "_I cannot show the QR code here: invite me to this channel (`/invite @bindtester`) or ask in a channel I am in, and it will appear in the thread._",
	"bind.qr_title":         "Trial version of %s",
	"err.85001":             "WeChat cannot find `%s`. Check that it is your *WeChat ID* (WeChat → Me, under your name), not your nickname or phone number, and that people may find you by it: WeChat → Me → Settings → Privacy → Add Me By → turn on *WeChat ID*. Then try again.",
	"err.85001.short":       "WeChat ID not found or not searchable",
	"err.85002":             "*%s* has no free experiencer slots (WeChat allows %d). Someone must be removed first: ask an admin (%s).",
	"err.85002.short":       "no free experiencer slots",
	"err.85003":             "`%s` is already an experiencer of %d Mini Programs, the most WeChat allows. Ask the owners of Mini Programs you no longer test to remove you, or use another WeChat account.",
	"err.85003.short":       "WeChat account is in too many Mini Programs",
	"err.busy":              "WeChat is busy right now (errcode %d) and was still busy when I retried. Please try again in a minute.",
	"err.busy.short":        "WeChat busy",
	"err.credentials":       "I could not bind because the bot's WeChat credentials need attention — not something you did. %s, please check them (errcode %d: %s).",
	"err.reauthorize":       "I could not bind because *%s* must authorize the bot's WeChat platform again — not something you did. %s, please ask the Mini Program's owner to re-authorize the platform (errcode %d: %s).",
	"err.credentials.short": "bot credentials need an admin",
	"err.permission":        "The bot's WeChat platform is not allowed to manage experiencers of *%s* — not something you did. %s, please have the Mini Program grant the platform the *development management* permission set (errcode %d: %s).",
	"err.permission.short":  "bot lacks WeChat permission",
	"err.ip":                "WeChat refused the bot's server address: it is not on the IP allow-list — not something you did. %s, please add the bot's outgoing IP address to the allow-list (errcode %d: %s).",
	"err.ip.short":          "bot IP not allow-listed",
	"err.quota":             "The bot has used up today's WeChat quota for this (errcode %d) — not something you did. Please try again tomorrow, or ask an admin (%s) to reset the quota in the WeChat console.",
	"err.quota.short":       "daily quota used up",
	"err.config":            "WeChat rejected the request for *%s* (errcode %d: %s): the bot's configuration for this Mini Program looks wrong. %s, please check it.",
	"err.config.short":      "bot configuration problem",
	"err.unknown":           "WeChat answered errcode %d: `%s`. I don't know this one; an admin (%s) can look it up in WeChat's documentation.",
	"err.unknown.short":     "WeChat errcode %d",
	"err.timeout":           "WeChat did not answer in time. It may still have bound you: try again in a minute (if you are already bound, I will say so).",
	"err.timeout.short":     "WeChat timed out",
	"err.unreachable":       "I could not reach WeChat (network problem). Please try again in a few minutes; if it keeps failing, tell an admin (%s).",
	"err.unreachable.short": "WeChat unreachable",
	"err.http":              "WeChat answered with an error instead of a result (%s). Please try again in a few minutes; if it keeps failing, tell an admin (%s).",
	"err.http.unreadable":   "an answer I could not read",
	"err.http.short":        "WeChat error page",
	"err.no_credentials":    "The bot has no WeChat credentials for *%s* yet — not something you did. %s, please configure them.",
	"err.internal":          "Something went wrong on my side. An admin (%s) can find the details in the bot's log.",
	"err.internal.short":    "internal error",
}
