package bot_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/wechat"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

func TestHandlePermittedBind(t *testing.T) {
	for _, c := range []struct {
		name      string
		text      string
		locale    string
		wantOpen  []string
		wantReply []string
		wantQR    string // in the QR code's comment
		wantTitle string
		wantDone  []string
	}{
		{
			name:      "appid, English",
			text:      appShop + " " + tester,
			wantOpen:  []string{"@UALICE", "*Shop*", "`" + testerMasked + "`", appShop, "working"},
			wantReply: []string{"Done: `" + testerMasked + "` is now an experiencer of *Shop*"},
			wantQR:    "scanning this QR code",
			wantTitle: "Trial version of Shop",
			wantDone:  []string{"@UALICE", "`" + testerMasked + "`", "*Shop*"},
		},
		{
			name:      "alias in any case, English",
			text:      "SHOP " + tester,
			wantOpen:  []string{"@UALICE", "*Shop*", "`" + testerMasked + "`"},
			wantReply: []string{"Done: `" + testerMasked + "`"},
			wantTitle: "Trial version of Shop",
			wantDone:  []string{"@UALICE", "`" + testerMasked + "`"},
		},
		{
			name:      "Chinese",
			text:      "shop " + tester,
			locale:    "zh-CN",
			wantOpen:  []string{"@UALICE", "申请将", "*Shop*", "`" + testerMasked + "`", appShop},
			wantReply: []string{"完成：`" + testerMasked + "` 已成为 *Shop* 的体验者"},
			wantQR:    "二维码",
			wantTitle: "Shop 体验版",
			wantDone:  []string{"@UALICE", "`" + testerMasked + "`", "已是 *Shop* 的体验者"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			conv, err := handle(t, f.bot(), bot.Request{UserID: "UALICE", ChannelID: "CSHOP", Text: c.text, Locale: c.locale})
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(conv.privates) != 0 || len(conv.opens) != 1 || len(conv.replies) != 1 || len(conv.attaches) != 1 || len(conv.updates) != 1 {
				t.Fatalf("want 1 open, 1 reply, 1 attachment, 1 update and nothing private; got %v", conv)
			}
			wantContains(t, "status message", conv.opens[0], c.wantOpen...)
			wantContains(t, "reply", conv.replies[0], c.wantReply...)
			if !strings.HasPrefix(conv.updates[0], "✅") {
				t.Errorf("summary %q does not start with ✅", conv.updates[0])
			}
			wantContains(t, "summary", conv.updates[0], c.wantDone...)

			qr := conv.attaches[0]
			if !bytes.HasPrefix(qr.Data, []byte{0xFF, 0xD8}) || !bytes.Equal(qr.Data, wechattest.QRCodeJPEG()) {
				t.Errorf("attachment is not the trial QR code JPEG: % x", qr.Data[:min(len(qr.Data), 8)])
			}
			wantContains(t, "QR code's comment", qr.Comment, c.wantQR, "`"+testerMasked+"`")
			if qr.Name != appShop+"-trial.jpg" || qr.Title != c.wantTitle {
				t.Errorf("attachment name %q title %q, want %q and %q", qr.Name, qr.Title, appShop+"-trial.jpg", c.wantTitle)
			}
			wantNotContains(t, "everything the bot said", conv.all(), tester, secretShop)

			// WeChat really got the full ID, for the right app and with the configured QR page.
			if f.fake.UserStr(appShop, tester) == "" {
				t.Errorf("fake WeChat has no binding of %s to %s", tester, appShop)
			}
			if n := f.fake.Calls(bindPath); n != 1 {
				t.Errorf("bind_tester called %d times, want 1", n)
			}
			for _, r := range f.fake.Requests() {
				if r.Path == qrPath && r.Query.Get("path") != "pages/index/index" {
					t.Errorf("get_qrcode asked for page %q, want the app's QR path", r.Query.Get("path"))
				}
			}
		})
	}
}

func TestHandleBindOutcomes(t *testing.T) {
	for _, c := range []struct {
		name       string
		setup      func(f *fixture)
		ok         bool // ✅ rather than ❌
		qr         bool // a QR code is attached
		bindCalls  int
		en, zh     []string // in the reply
		enS, zhS   string   // in the summary
		notInReply []string
		mark       string // the summary's mark, when neither ✅ nor ❌
	}{
		{
			name:      "85001 not found or hidden",
			setup:     func(f *fixture) { f.fake.SetOutcome(tester, 85001) },
			bindCalls: 1,
			en:        []string{"WeChat cannot find `" + testerMasked + "`", "WeChat ID", "Privacy → Add Me By", "try again"},
			zh:        []string{"微信找不到 `" + testerMasked + "`", "添加我的方式"},
			enS:       "WeChat ID not found or not searchable",
			zhS:       "微信号不存在或无法被搜索到",
		},
		{
			name: "85002 slots full",
			setup: func(f *fixture) {
				f.fake.SetSlotLimit(appShop, 1)
				f.fake.AddExperiencer(appShop, "someone_else")
			},
			bindCalls: 1,
			en:        []string{"*Shop* has no free experiencer slots", "15", "ask an admin (@UADMIN)"},
			zh:        []string{"*Shop* 的体验者名额已满", "@UADMIN"},
			enS:       "no free experiencer slots",
			zhS:       "体验者名额已满",
		},
		{
			name:      "85003 too many Mini Programs",
			setup:     func(f *fixture) { f.fake.SetOutcome(tester, 85003) },
			bindCalls: 1,
			en:        []string{"`" + testerMasked + "` is already an experiencer of 50 Mini Programs"},
			zh:        []string{"`" + testerMasked + "` 已经是 50 个小程序的体验者"},
			enS:       "too many Mini Programs",
			zhS:       "绑定的小程序过多",
		},
		{
			name:      "85004 already bound is nothing to do, with a QR code",
			setup:     func(f *fixture) { f.fake.AddExperiencer(appShop, tester) },
			ok:        true,
			qr:        true,
			bindCalls: 1,
			en:        []string{"Nothing to do: `" + testerMasked + "` is already an experiencer of *Shop*"},
			zh:        []string{"无需操作"},
			enS:       "is an experiencer of *Shop*",
			zhS:       "已是 *Shop* 的体验者",
		},
		{
			// -1 may have been carried out all the same: the bot asks again later.
			name:       "-1 busy every time",
			setup:      func(f *fixture) { f.fake.SetOutcome(tester, -1) },
			bindCalls:  3,
			en:         []string{"WeChat busy", "ask WeChat again"},
			zh:         []string{"微信繁忙", "再问一次微信"},
			enS:        "checking again",
			zhS:        "重新确认",
			notInReply: []string{"Done"},
			mark:       "⏳",
		},
		{
			name:      "-1 once is retried and binds",
			setup:     func(f *fixture) { f.fake.FailNext(bindPath, 1, -1) },
			ok:        true,
			qr:        true,
			bindCalls: 2,
			en:        []string{"Done: `" + testerMasked + "`"},
			zh:        []string{"完成"},
			enS:       "is an experiencer of *Shop*",
			zhS:       "已是 *Shop* 的体验者",
		},
	} {
		for _, lang := range []string{"en", "zh-CN"} {
			t.Run(c.name+"/"+lang, func(t *testing.T) {
				f := newFixture(t)
				c.setup(f)
				conv, err := handle(t, f.bot(), bot.Request{UserID: "UALICE", ChannelID: "CSHOP", Text: "shop " + tester, Locale: lang})
				if err != nil {
					t.Fatalf("Handle: %v (the WeChat outcome is explained, not returned)", err)
				}
				if len(conv.opens) != 1 || len(conv.replies) != 1 || len(conv.updates) != 1 || len(conv.privates) != 0 {
					t.Fatalf("want 1 open, 1 reply, 1 update; got %v", conv)
				}
				want, wantS := c.en, c.enS
				if lang == "zh-CN" {
					want, wantS = c.zh, c.zhS
					if !hasHan(conv.replies[0]) || !hasHan(conv.updates[0]) {
						t.Errorf("not answered in Chinese: %v", conv)
					}
				}
				wantContains(t, "reply", conv.replies[0], want...)
				wantNotContains(t, "reply", conv.replies[0], c.notInReply...)
				wantContains(t, "summary", conv.updates[0], wantS, "@UALICE", "`"+testerMasked+"`")
				mark := cmp.Or(c.mark, "❌")
				if c.ok {
					mark = "✅"
				}
				if !strings.HasPrefix(conv.updates[0], mark) {
					t.Errorf("summary %q does not start with %s", conv.updates[0], mark)
				}
				if got := len(conv.attaches); (got == 1) != c.qr || got > 1 {
					t.Errorf("%d attachments, want QR code: %v", got, c.qr)
				}
				if c.qr && !bytes.HasPrefix(conv.attaches[0].Data, []byte{0xFF, 0xD8}) {
					t.Errorf("attachment is not a JPEG")
				}
				if c.qr && !strings.Contains(conv.attaches[0].Comment, "`"+testerMasked+"`") {
					t.Errorf("QR code's comment %q does not say whose it is", conv.attaches[0].Comment)
				}
				if n := f.fake.Calls(bindPath); n != c.bindCalls {
					t.Errorf("bind_tester called %d times, want %d", n, c.bindCalls)
				}
				wantNotContains(t, "everything the bot said", conv.all(), append(f.tokensSeen(), tester, secretShop)...)
			})
		}
	}
}

// failure is one way a bind can fail, set up on a fixture.
type failure struct {
	name    string
	setup   func(f *fixture)
	app     string // text for the app; "shop" when empty
	user    string // requester; UALICE when empty
	unknown bool   // WeChat may have acted: the bot checks again rather than fail
	en      []string
	zh      []string
}

// transportFailures are failures below the WeChat API.
func transportFailures() []failure {
	return []failure{
		{
			name: "HTTP 502 every attempt",
			setup: func(f *fixture) {
				// The error page carries the ID and looks like a token: neither may be echoed.
				f.fake.FailNextHTTP(bindPath, 3, 502, "text/html", "<html>502 Bad Gateway wechatid="+tester+" access_token=tok-secret</html>")
			},
			unknown: true, en: []string{"WeChat error page", "ask WeChat again"}, zh: []string{"微信返回错误页面", "再问一次微信"},
		},
		{
			name: "non-JSON answer",
			setup: func(f *fixture) {
				f.fake.FailNextHTTP(bindPath, 1, 200, "text/html", "<html>login for "+tester+"</html>")
			},
			unknown: true, en: []string{"WeChat error page", "ask WeChat again"}, zh: []string{"再问一次微信"},
		},
		{
			name:    "truncated JSON",
			setup:   func(f *fixture) { f.fake.FailNextHTTP(bindPath, 1, 200, "application/json", `{"errcode":0,"err`) },
			unknown: true, en: []string{"ask WeChat again"}, zh: []string{"再问一次微信"},
		},
		{
			name:  "closed port",
			setup: func(f *fixture) { f.baseURL = closedURL() },
			en:    []string{"could not reach WeChat", "@UADMIN"},
			zh:    []string{"无法连接微信", "@UADMIN"},
		},
		{
			name:    "slower than Options.Timeout",
			setup:   func(f *fixture) { f.fake.SetLatency(bindPath, 10*time.Second) },
			unknown: true, en: []string{"WeChat timed out", "no need to ask again"}, zh: []string{"微信响应超时"},
		},
	}
}

// closedURL is the address of a port nothing listens on.
func closedURL() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err) // the fake WeChat server could not listen either
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestHandleTransportFailures(t *testing.T) {
	for _, c := range transportFailures() {
		for _, lang := range []string{"en", "zh-CN"} {
			t.Run(c.name+"/"+lang, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t)
				c.setup(f)
				b := f.bot(func(o *bot.Options) { o.Timeout = 300 * time.Millisecond })
				conv, err := handle(t, b, bot.Request{UserID: "UALICE", ChannelID: "CSHOP", Text: "shop " + tester, Locale: lang})
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				if len(conv.replies) != 1 || len(conv.updates) != 1 || len(conv.attaches) != 0 {
					t.Fatalf("want 1 reply and 1 update, no QR code; got %v", conv)
				}
				want := c.en
				if lang == "zh-CN" {
					want = c.zh
				}
				wantContains(t, "reply", conv.replies[0], want...)
				wantNotContains(t, "everything the bot said", conv.all(), append(f.tokensSeen(), tester, "tok-secret", secretShop, "<html>")...)
				if !c.unknown {
					if !strings.HasPrefix(conv.updates[0], "❌") {
						t.Errorf("summary %q does not start with ❌", conv.updates[0])
					}
					return
				}
				// The request may have reached WeChat: the outcome is unknown, never a
				// failure. Once WeChat answers again, the next sweep finds out and says so.
				if !strings.HasPrefix(conv.updates[0], "⏳") {
					t.Errorf("summary %q does not start with ⏳", conv.updates[0])
				}
				f.fake.SetLatency(bindPath, 0)
				f.clock.Add(time.Hour)
				if err := b.Sweep(context.Background()); err != nil {
					t.Fatalf("Sweep: %v", err)
				}
				ref := conv.ref(0)
				replies, updates := f.msgr.in(ref, "reply"), f.msgr.in(ref, "update")
				if len(replies) == 0 || len(updates) != 1 || !strings.HasPrefix(updates[0], "✅") {
					t.Fatalf("after the sweep: replies %q, updates %q; want the outcome and ✅", replies, updates)
				}
				wantContains(t, "resumed reply", replies[0], " UTC") // the grant's end, a date
				if g, err := f.store.FindGrant(context.Background(), "wx0123456789abcdef", tester); err != nil || g.ExpiresAt.IsZero() {
					t.Errorf("grant after the resumed bind: %+v, %v", g, err)
				}
			})
		}
	}
}

// TestHandleEveryOutcomeIsExplainedSafely runs every catalogued errcode, an
// unknown one and every transport failure, in both languages: each gets a
// non-empty answer that never shows the full WeChat ID, a token or a secret.
func TestHandleEveryOutcomeIsExplainedSafely(t *testing.T) {
	var cases []failure
	for _, code := range append(wechat.Codes(), 99999) {
		cases = append(cases, failure{
			name:  fmt.Sprintf("errcode %d", code),
			setup: func(f *fixture) { f.fake.SetOutcome(tester, code) },
		})
	}
	cases = append(cases, transportFailures()...)
	cases = append(cases, failure{name: "no credentials", app: "lab", user: "UERIN", setup: func(*fixture) {}})
	for _, c := range cases {
		for _, lang := range []string{"en", "zh-CN"} {
			t.Run(c.name+"/"+lang, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t)
				c.setup(f)
				app, user := cmp.Or(c.app, "shop"), cmp.Or(c.user, "UALICE")
				b := f.bot(func(o *bot.Options) { o.Timeout = 300 * time.Millisecond })
				conv, err := handle(t, b, bot.Request{UserID: user, ChannelID: "CSHOP", Text: app + " " + tester, Locale: lang})
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				if len(conv.opens) != 1 || len(conv.replies) == 0 || len(conv.updates) != 1 {
					t.Fatalf("want a status message, a reply and a summary; got %v", conv)
				}
				for _, r := range conv.replies {
					if strings.TrimSpace(r) == "" {
						t.Errorf("empty reply: %v", conv)
					}
					if lang == "zh-CN" && !hasHan(r) {
						t.Errorf("reply not in Chinese: %q", r)
					}
				}
				if u := conv.updates[0]; !strings.HasPrefix(u, "✅") && !strings.HasPrefix(u, "❌") && !strings.HasPrefix(u, "⏳") {
					t.Errorf("summary %q starts with none of ✅ ❌ ⏳", u)
				}
				if strings.Contains(conv.all(), "%!") {
					t.Errorf("badly formatted text: %v", conv)
				}
				leaks := append(f.tokensSeen(), tester, "tok-secret", secretShop, secretGames, secretVault)
				wantNotContains(t, "everything the bot said", conv.all(), leaks...)
			})
		}
	}
}

// Problems only an admin can fix say it is not the tester's fault and name the admins.
func TestHandleAdminSideProblems(t *testing.T) {
	for _, c := range []failure{
		{
			name:  "40001 twice: token refreshed once, still refused",
			setup: func(f *fixture) { f.fake.FailNext(bindPath, 2, 40001) },
			en:    []string{"credentials need attention", "not something you did", "@UADMIN", "errcode 40001"},
			zh:    []string{"凭据", "这不是你的问题", "@UADMIN", "40001"},
		},
		{
			name:  "48001 api unauthorized",
			setup: func(f *fixture) { f.fake.SetOutcome(tester, 48001) },
			en:    []string{"not allowed to manage experiencers of *Shop*", "not something you did", "@UADMIN", "errcode 48001"},
			zh:    []string{"无权管理 *Shop* 的体验者", "这不是你的问题", "@UADMIN", "48001"},
		},
		{
			name:  "61023 re-authorize",
			setup: func(f *fixture) { f.fake.SetOutcome(tester, 61023) },
			en:    []string{"*Shop* must authorize the bot's WeChat platform again", "not something you did", "@UADMIN", "errcode 61023"},
			zh:    []string{"*Shop* 需要重新授权", "这不是你的问题", "@UADMIN", "61023"},
		},
		{
			name:  "40164 IP allow-list",
			setup: func(f *fixture) { f.fake.SetOutcome(tester, 40164) },
			en:    []string{"IP allow-list", "not something you did", "@UADMIN", "errcode 40164"},
			zh:    []string{"IP 白名单", "这不是你的问题", "@UADMIN", "40164"},
		},
		{
			// The quota text names the admins but does not (yet) say "not
			// something you did": see the report.
			name:  "45009 daily quota",
			setup: func(f *fixture) { f.fake.SetOutcome(tester, 45009) },
			en:    []string{"today's WeChat quota", "try again tomorrow", "@UADMIN"},
			zh:    []string{"已达上限", "明天再试", "@UADMIN"},
		},
		{
			name: "no credentials configured",
			app:  "lab", user: "UERIN",
			setup: func(*fixture) {},
			en:    []string{"no WeChat credentials for *Lab*", "not something you did", "@UADMIN"},
			zh:    []string{"*Lab* 的微信凭据", "这不是你的问题", "@UADMIN"},
		},
	} {
		for _, lang := range []string{"en", "zh-CN"} {
			t.Run(c.name+"/"+lang, func(t *testing.T) {
				f := newFixture(t)
				c.setup(f)
				conv, err := handle(t, f.bot(), bot.Request{UserID: cmp.Or(c.user, "UALICE"), ChannelID: "CSHOP", Text: cmp.Or(c.app, "shop") + " " + tester, Locale: lang})
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				if len(conv.replies) != 1 || len(conv.updates) != 1 {
					t.Fatalf("want 1 reply and 1 update; got %v", conv)
				}
				want := c.en
				if lang == "zh-CN" {
					want = c.zh
				}
				wantContains(t, "reply", conv.replies[0], want...)
				if !strings.HasPrefix(conv.updates[0], "❌") {
					t.Errorf("summary %q does not start with ❌", conv.updates[0])
				}
				wantNotContains(t, "everything the bot said", conv.all(), append(f.tokensSeen(), tester, secretShop)...)
			})
		}
	}

	t.Run("40001 refreshes the token exactly once", func(t *testing.T) {
		f := newFixture(t)
		f.fake.FailNext(bindPath, 2, 40001)
		if _, err := handle(t, f.bot(), bot.Request{UserID: "UALICE", Text: "shop " + tester}); err != nil {
			t.Fatal(err)
		}
		if n := f.fake.Calls(bindPath); n != 2 {
			t.Errorf("bind_tester called %d times, want 2 (one retry with a fresh token)", n)
		}
		if toks := f.tokensSeen(); len(toks) != 2 {
			t.Errorf("bind_tester used tokens %d, want 2 different ones", len(toks))
		}
	})
}

// An errcode the bot does not know is shown verbatim, escaped.
func TestHandleUnknownErrcodeShownEscaped(t *testing.T) {
	f := newFixture(t)
	f.fake.FailNextHTTP(bindPath, 1, 200, "application/json", `{"errcode":99999,"errmsg":"<!channel> weird & new"}`)
	conv, err := handle(t, f.bot(), bot.Request{UserID: "UALICE", Text: "shop " + tester})
	if err != nil {
		t.Fatal(err)
	}
	if len(conv.replies) != 1 || len(conv.updates) != 1 {
		t.Fatalf("got %v", conv)
	}
	wantContains(t, "reply", conv.replies[0], "errcode 99999", "@UADMIN")
	wantContains(t, "summary", conv.updates[0], "WeChat errcode 99999")
	raw := conv.rawAll() // what reaches Slack, escapes and all
	wantContains(t, "what the bot wrote", raw, "`&lt;!channel&gt; weird &amp; new`")
	wantNotContains(t, "what the bot wrote", raw, "<!channel>")
}

func TestHandleQRCodeFallbacks(t *testing.T) {
	t.Run("QR code unavailable", func(t *testing.T) {
		f := newFixture(t)
		f.fake.FailNext(qrPath, 1, 48001)
		conv, err := handle(t, f.bot(), bot.Request{UserID: "UALICE", Text: "shop " + tester})
		if err != nil {
			t.Fatal(err)
		}
		if len(conv.replies) != 2 || len(conv.attaches) != 0 || len(conv.updates) != 1 {
			t.Fatalf("want the outcome and how to open it, no attachment, 1 update; got %v", conv)
		}
		wantContains(t, "outcome", conv.replies[0], "Done: `"+testerMasked+"`")
		wantContains(t, "second reply", conv.replies[1], "Version Management → Trial version", "`"+testerMasked+"`")
		if !strings.HasPrefix(conv.updates[0], "✅") {
			t.Errorf("bound but summary is %q", conv.updates[0])
		}
	})
	t.Run("files cannot be shown here", func(t *testing.T) {
		f := newFixture(t)
		conv := &recConv{t: t, attachErr: fmt.Errorf("response_url: %w", bot.ErrCannotAttach)}
		if err := f.bot().Handle(context.Background(), bot.Request{UserID: "UALICE", Text: "shop " + tester}, conv); err != nil {
			t.Fatalf("Handle: %v (cannot-attach is explained, not an error)", err)
		}
		if len(conv.replies) != 2 || len(conv.updates) != 1 {
			t.Fatalf("want the result and a note about the QR code; got %v", conv)
		}
		wantContains(t, "second reply", conv.replies[1], "cannot show the QR code here", "/invite @bindtester")
		if !strings.HasPrefix(conv.updates[0], "✅") {
			t.Errorf("summary %q", conv.updates[0])
		}
	})
	t.Run("other attach failures are returned", func(t *testing.T) {
		f := newFixture(t)
		boom := errors.New("files.upload: not_in_channel")
		conv := &recConv{t: t, attachErr: boom}
		err := f.bot().Handle(context.Background(), bot.Request{UserID: "UALICE", Text: "shop " + tester}, conv)
		if !errors.Is(err, boom) {
			t.Fatalf("Handle = %v, want the attach error for the log", err)
		}
		if len(conv.updates) != 1 || !strings.HasPrefix(conv.updates[0], "✅") {
			t.Errorf("the summary must still be updated: %v", conv)
		}
	})
}

// The status message and the WeChat call go out together, so a status
// message that cannot be posted does not stop the bind: the outcome reaches
// the requester privately.
func TestHandleOpenFailsAnswersPrivately(t *testing.T) {
	f := newFixture(t)
	boom := errors.New("chat.postMessage: channel_not_found")
	conv := &recConv{t: t, openErr: boom}
	err := f.bot().Handle(context.Background(), bot.Request{UserID: "UALICE", Text: "shop " + tester}, conv)
	if !errors.Is(err, boom) {
		t.Fatalf("Handle = %v, want %v for the log", err, boom)
	}
	if n := f.fake.Calls(bindPath); n != 1 {
		t.Errorf("bind_tester called %d times, want 1", n)
	}
	if len(conv.privates) != 2 || len(conv.replies) != 0 {
		t.Fatalf("want the outcome and a note about the QR code, privately; got %v", conv)
	}
	wantContains(t, "private answer", conv.privates[0], "Done: `"+testerMasked+"`")
	wantContains(t, "private note", conv.privates[1], "cannot show the QR code here")
	evs := f.events(t, bot.AuditFilter{})
	if !slices.Equal(kinds(evs), []bot.EventKind{bot.EventAllowed, bot.EventBound}) {
		t.Errorf("audit %+v, want allowed then bound", evs)
	}
}

// 85004 for someone the bot never bound (added by hand in the WeChat console)
// is nothing to do, and not the bot's to end: no grant, so no unbind later.
func TestHandleAlreadyBoundOutsideTheBot(t *testing.T) {
	for _, c := range []struct {
		locale string
		want   []string
	}{
		{"en", []string{"Nothing to do: `" + testerMasked + "` is already an experiencer of *Shop*", "added outside this bot", "will not end their access"}},
		{"zh", []string{"无需操作", "本机器人之外"}},
	} {
		t.Run(c.locale, func(t *testing.T) {
			f := newFixture(t)
			f.fake.AddExperiencer(appShop, tester)
			b := f.bot()
			conv, err := handle(t, b, bot.Request{UserID: "UALICE", ChannelID: "CSHOP", Text: "shop " + tester, Locale: c.locale})
			if err != nil || len(conv.replies) != 1 || len(conv.attaches) != 1 || len(conv.updates) != 1 || !strings.HasPrefix(conv.updates[0], "✅") {
				t.Fatalf("Handle: %v; want a reply, a QR code and ✅: %v", err, conv)
			}
			wantContains(t, "reply", conv.replies[0], c.want...)
			wantNotContains(t, "reply", conv.replies[0], "Access ends", "unbind", tester)
			if g, err := f.store.FindGrant(context.Background(), appShop, tester); !errors.Is(err, bot.ErrNotFound) {
				t.Errorf("FindGrant = %+v, %v; want no grant", g, err)
			}
			evs := f.events(t, bot.AuditFilter{})
			last := evs[len(evs)-1]
			if last.Kind != bot.EventBound || last.GrantID != 0 || last.Detail != "already an experiencer, added outside this bot: not time-limited" {
				t.Errorf("last audit row %+v", last)
			}
			f.clock.Add(bot.DefaultMaxDuration + time.Hour)
			sweep(t, b)
			if n := f.fake.Calls(unbindPath); n != 0 || f.fake.UserStr(appShop, tester) == "" {
				t.Errorf("unbind_tester called %d times for an experiencer the bot did not add", n)
			}
		})
	}
	t.Run("85004 on a retry is the bot's own bind, time-limited", func(t *testing.T) {
		// The first attempt reached WeChat but its answer was lost (502): the
		// retry meets the bind it made. That grant is the bot's, and must end.
		f := newFixture(t)
		f.fake.AddExperiencer(appShop, tester)
		f.fake.FailNextHTTP(bindPath, 1, 502, "text/html", "<html>bad gateway</html>")
		b := f.bot()
		conv := run(t, b, "UALICE", "shop "+tester+" for 1d")
		wantContains(t, "reply", conv.replies[0], "Access ends")
		wantNotContains(t, "reply", conv.replies[0], "outside this bot")
		g, err := f.store.FindGrant(context.Background(), appShop, tester)
		if err != nil {
			t.Fatalf("no grant for the retried bind: %v", err)
		}
		f.clock.Add(25 * time.Hour)
		sweep(t, b)
		if got := f.grant(t, g.ID); got.State != bot.GrantEnded || f.fake.UserStr(appShop, tester) != "" {
			t.Errorf("the retried bind was not unbound when its time was up: %+v", got)
		}
	})
	t.Run("a grant of the bot's is extended as before", func(t *testing.T) {
		f := newFixture(t)
		b := f.bot()
		g := mustBind(t, f, b, "UALICE", "shop "+tester+" for 1d", tester)
		conv := run(t, b, "UALICE", "shop "+tester+" for 3d")
		wantContains(t, "reply", conv.replies[0], "Nothing to do", "Access ends")
		wantNotContains(t, "reply", conv.replies[0], "outside this bot")
		if got := f.grant(t, g.ID); !got.ExpiresAt.Equal(g.CreatedAt.Add(72*time.Hour)) || got.State != bot.GrantActive {
			t.Errorf("grant after the second bind: %+v, want extended to 3d", got)
		}
	})
}

type fixedLocale string

func (l fixedLocale) Locale(context.Context, string) string { return string(l) }

func TestHandleLanguageChoice(t *testing.T) {
	for _, c := range []struct {
		name    string
		reqLoc  string
		locales bot.Locales
		def     bot.Lang
		chinese bool
	}{
		{name: "default English", chinese: false},
		{name: "default Chinese setting", def: bot.Chinese, chinese: true},
		{name: "user locale from Slack", locales: fixedLocale("zh-CN"), chinese: true},
		{name: "request locale wins over Slack", reqLoc: "en-US", locales: fixedLocale("zh-CN"), chinese: false},
		{name: "unknown locale falls back", reqLoc: "fr-FR", def: bot.Chinese, chinese: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			b := f.bot(func(o *bot.Options) { o.Locales, o.Lang = c.locales, c.def })
			conv, err := handle(t, b, bot.Request{UserID: "UALICE", Text: "help", Locale: c.reqLoc})
			if err != nil || len(conv.privates) != 1 {
				t.Fatalf("Handle: %v, %v", err, conv)
			}
			if got := hasHan(conv.privates[0]); got != c.chinese {
				t.Errorf("help in Chinese: %v, want %v:\n%s", got, c.chinese, conv.privates[0])
			}
		})
	}
}
