package bot

// textZH holds every Simplified Chinese text, key for key with textEN.
//
// Slack only renders *bold* and `code` when the markers do not touch a letter,
// so a space separates them from Chinese characters (punctuation may touch).
var textZH = map[string]string{
	// usage
	"usage": "*把微信号绑定为小程序的体验者* 后，就能打开它的体验版：\n" +
		"`/bindtester <app> <wechat-id>`，其中 `<app>` 是 appid（`wx` 加 16 位十六进制数字）或小程序的简称。\n" +
		"示例：`/bindtester %s my_wechat_id`",
	"usage.apps":               "你可以绑定的小程序：%s",
	"usage.no_apps":            "你暂时还不能为任何小程序绑定体验者。请联系管理员：%s",
	"usage.lookup_failed":      "刚才无法查询你所在的 Slack 用户组，下面的列表可能不完整。请过一分钟再试。",
	"usage.admin":              "你是管理员：可以在任何地方为所有小程序绑定体验者。",
	"usage.appid":              "`%s` 不是有效的 appid：appid 由 `wx` 加 16 位十六进制数字（0-9、a-f）组成，例如 `wx1234567890abcdef`。",
	"usage.app":                "`%s` 既不是 appid 也不是小程序名称：appid 由 `wx` 加 16 位十六进制数字组成；小程序名称以字母开头。",
	"usage.wechatid":           "`%s` 不是有效的微信号：微信号长 6–20 个字符，以字母开头，只能包含字母、数字、`_` 和 `-`（`wxid_…` 这类也可以）。请填写你的微信号（微信 → 我），不要填昵称或手机号。",
	"usage.missing_wechatid":   "要绑定哪个微信号？请加上你的微信号：`/bindtester %s <wechat-id>`。",
	"usage.unknown_subcommand": "我不认识命令 `%s`。可用命令：`help`，或用 `<app> <wechat-id>` 进行绑定。",
	"usage.extra":              "参数太多了：`%s` 是多余的。命令格式为 `/bindtester <app> <wechat-id>`。",
	"usage.see_help":           "输入 `/bindtester help` 查看用法。",
	"app.unknown":              "找不到名为 `%s` 的小程序。%s",
	"app.unknown_appid":        "`%s` 不是本机器人管理的小程序。%s",

	// permissions
	"deny.not_binder":    "你无权为 *%s* 绑定体验者。请联系管理员把你加进来：%s",
	"deny.admin_only":    "*%s* 仅限管理员绑定。请联系管理员：%s",
	"deny.channel":       "*%s* 的体验者只能在 %s 中绑定，请到那里申请。",
	"deny.lookup_failed": "暂时查不到你所在的 Slack 用户组，无法确认你能否为 *%s* 绑定体验者。请过一分钟再试。",
	"admins.none":        "机器人的维护人员",

	// the request in the channel
	"parent.working": "<@%s> 申请将 `%s` 绑定为 *%s*（`%s`）的体验者——处理中…",
	"summary.ok":     "✅ <@%s>：`%s` 已是 *%s* 的体验者。",
	"summary.failed": "❌ <@%s>：无法将 `%s` 绑定到 *%s*：%s",

	// outcomes
	"bind.ok":               "完成：`%s` 已成为 *%s* 的体验者。",
	"bind.already":          "无需操作：`%s` 已经是 *%s* 的体验者。",
	"bind.open_qr":          "用微信扫描这个二维码即可打开体验版（仅对 `%s` 有效）。",
	"bind.open_no_qr":       "请扫描体验版二维码打开体验版（可向开发者索取，或在小程序管理后台 → 管理 → 版本管理 → 体验版 中获取），扫码时请使用微信号 `%s`。",
	"bind.qr_elsewhere":     "_这里无法显示二维码：请把我邀请到这个频道（`/invite @bindtester`），或到我所在的频道申请，二维码就会出现在消息列中。_",
	"bind.qr_title":         "%s 体验版",
	"err.85001":             "微信找不到 `%s`。请确认填写的是你的 *微信号*（微信 → 我，名字下方），而不是昵称或手机号；并确认别人可以通过微信号找到你：微信 → 我 → 设置 → 朋友权限（旧版为“隐私”）→ 添加我的方式 → 打开 *微信号*。然后再试一次。",
	"err.85001.short":       "微信号不存在或无法被搜索到",
	"err.85002":             "*%s* 的体验者名额已满（微信最多允许 %d 个）。需要先移除一位体验者：请联系管理员（%s）。",
	"err.85002.short":       "体验者名额已满",
	"err.85003":             "`%s` 已经是 %d 个小程序的体验者，达到了微信的上限。请让你不再测试的小程序的负责人把你移除，或换用其他微信号。",
	"err.85003.short":       "该微信号绑定的小程序过多",
	"err.busy":              "微信当前繁忙（错误码 %d），重试后仍然繁忙。请过一分钟再试。",
	"err.busy.short":        "微信繁忙",
	"err.credentials":       "机器人的微信凭据需要处理，暂时无法绑定——这不是你的问题。%s，请检查一下（错误码 %d：%s）。",
	"err.reauthorize":       "*%s* 需要重新授权机器人所用的微信第三方平台，暂时无法绑定——这不是你的问题。%s，请联系该小程序的管理员重新授权第三方平台（错误码 %d：%s）。",
	"err.credentials.short": "机器人凭据需管理员处理",
	"err.permission":        "机器人所用的微信第三方平台无权管理 *%s* 的体验者——这不是你的问题。%s，请让该小程序向第三方平台授权 *开发管理权限集*（错误码 %d：%s）。",
	"err.permission.short":  "机器人缺少微信权限",
	"err.ip":                "微信拒绝了机器人服务器的地址：它不在 IP 白名单中——这不是你的问题。%s，请把机器人的出口 IP 地址加入 IP 白名单（错误码 %d：%s）。",
	"err.ip.short":          "机器人 IP 不在白名单中",
	"err.quota":             "机器人今天调用该微信接口的次数已达上限（错误码 %d），这不是你的问题。请明天再试，或请管理员（%s）在微信后台将接口调用次数清零。",
	"err.quota.short":       "今日调用次数已用完",
	"err.config":            "微信拒绝了 *%s* 的请求（错误码 %d：%s）：机器人对这个小程序的配置似乎有误。%s，请检查一下。",
	"err.config.short":      "机器人配置有误",
	"err.unknown":           "微信返回了错误码 %d：`%s`。我不认识这个错误；管理员（%s）可以在微信官方文档中查询。",
	"err.unknown.short":     "微信错误码 %d",
	"err.timeout":           "微信没有及时响应，但可能已经绑定成功了：请过一分钟再试（如果已经绑定，我会告诉你）。",
	"err.timeout.short":     "微信响应超时",
	"err.unreachable":       "无法连接微信（网络问题）。请过几分钟再试；如果一直失败，请告诉管理员（%s）。",
	"err.unreachable.short": "无法连接微信",
	"err.http":              "微信返回了错误，而不是结果（%s）。请过几分钟再试；如果一直失败，请告诉管理员（%s）。",
	"err.http.unreadable":   "无法解析的响应",
	"err.http.short":        "微信返回错误页面",
	"err.no_credentials":    "机器人还没有 *%s* 的微信凭据——这不是你的问题。%s，请配置一下。",
	"err.internal":          "我这边出了点问题。管理员（%s）可以在机器人日志里查看详情。",
	"err.internal.short":    "内部错误",
}
