package bot_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/wechat"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

// FuzzCore runs the whole core — grammar, policy, durable job, the real
// WeChat client against the fake WeChat, the real SQLite store — on fuzzed
// input, and checks what comes out of it:
//
//	text     what follows /bindtester
//	errcode  what WeChat answers to bind_tester, unbind_tester and memberauth
//	         (0: success); 200–599 answer that HTTP status with errmsg as an
//	         HTML body instead, and 1 answers errmsg as a broken JSON body
//	errmsg   WeChat's errmsg
//	userstr  the userstr of a success (and memberauth's one experiencer)
//	who      the requester (bits 0–1: UALICE, UADMIN, UCAROL by user group,
//	         UBOB in CGAMES), bit 2 asks in Chinese, bit 3 first binds
//	         coreSeedID to Shop, so that unbind, testers, mine and audit have a
//	         grant (#1) to talk about
//
// Whatever the input: no panic; the requester hears something, and a thread
// that was opened is answered in; no message, log line or byte of the store
// shows a full WeChat ID of the session (only masked ones), an app secret or
// an access token; no message holds a mention, channel or date that is not
// the bot's own, a control or invisible character, a live link, or a piece of
// markup from the input as typed; no echo of the text is longer than Echo's
// 40 runes.
//
// Longer runs: go test -run '^$' -fuzz '^FuzzCore$' -fuzztime 10m ./bot/
func FuzzCore(f *testing.F) {
	bg := coreBackground(f)
	f.Fuzz(func(t *testing.T, text string, errcode int, errmsg, userstr string, who uint8) {
		if len(text)+len(errmsg)+len(userstr) > 4096 {
			t.Skip("longer than a slash command or a WeChat answer")
		}
		runCore(t, bg, text, errcode, errmsg, userstr, who)
	})
}

// coreSeedID is the WeChat ID bound before the fuzzed command when who has bit 3.
const coreSeedID = "fuzz_seed_tester"

// coreRequesters are the requesters who picks from, with the channel each asks in.
var coreRequesters = []struct{ user, channel string }{
	{"UALICE", "CTEST"}, {"UADMIN", "CTEST"}, {"UCAROL", "CTEST"}, {"UBOB", "CGAMES"},
}

// background is text the product writes by itself: its sources (templates,
// log messages, audit details, table names) and the fixture's names. A
// WeChat ID or a piece of markup found in it proves nothing.
type background struct {
	text         string
	placeholders []string // "<app>", "<wechat-id>", …: the templates' own angle brackets
}

func coreBackground(tb testing.TB) background {
	tb.Helper()
	var b strings.Builder
	for _, dir := range []string{".", "store", "../wechat"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			tb.Fatalf("no product sources in %s: %v", dir, err)
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			src, err := os.ReadFile(name)
			if err != nil {
				tb.Fatal(err)
			}
			b.Write(src)
			b.WriteByte('\n')
		}
	}
	for _, a := range testPolicy().Apps {
		b.WriteString(a.ID + " " + a.Name + " " + strings.Join(a.Aliases, " ") + "\n")
	}
	bg := background{text: b.String()}
	// The catalogs' own angle brackets, and the claim that they hold no URL.
	for _, name := range []string{"text_en.go", "text_zh.go"} {
		src, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		if m := liveLink.FindString(string(src)); m != "" {
			tb.Fatalf("%s holds a link (%q): the link check below assumes templates hold none", name, m)
		}
		for _, p := range regexp.MustCompile(`<[a-z][a-z-]*>`).FindAllString(string(src), -1) {
			if !slices.Contains(bg.placeholders, p) {
				bg.placeholders = append(bg.placeholders, p)
			}
		}
	}
	return bg
}

// syncBuf collects log output.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// wechatAnswer is the raw HTTP answer the fuzzed errcode, errmsg and userstr make.
func wechatAnswer(path string, errcode int, errmsg, userstr string) (status int, ctype, body string) {
	switch {
	case errcode >= 200 && errcode <= 599:
		return errcode, "text/html; charset=utf-8", errmsg
	case errcode == 1:
		return http.StatusOK, "application/json", errmsg
	}
	m := map[string]any{"errcode": errcode, "errmsg": errmsg}
	switch path {
	case "/wxa/bind_tester":
		m["userstr"] = userstr
	case "/wxa/memberauth":
		m["members"] = []map[string]string{{"userstr": userstr}}
	}
	b, _ := json.Marshal(m) // strings and numbers: cannot fail
	return http.StatusOK, "application/json", string(b)
}

// newCoreFixture is newFixture with its database on a RAM disk where there
// is one: SQLite's syncs on a real disk would take two thirds of each run.
func newCoreFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "bindtester-fuzz-"); err == nil {
			dir = d
			t.Cleanup(func() { os.RemoveAll(d) }) // after the store closes: cleanups run last first
		}
	}
	fake := wechattest.NewServer()
	t.Cleanup(fake.Close)
	for id, s := range secrets {
		fake.AddApp(id, s)
	}
	fx := &fixture{t: t, fake: fake, groups: newMapGroups(map[string][]string{"SQA": {"UCAROL"}}), policy: testPolicy(),
		baseURL: fake.URL, dbPath: filepath.Join(dir, "bot.db"), key: testKey, msgr: newRecMessenger(t),
		clock: newClock(time.Now().UTC().Truncate(time.Second))}
	fx.store = openStore(t, fx.dbPath, fx.key)
	return fx
}

func runCore(t *testing.T, bg background, text string, errcode int, errmsg, userstr string, who uint8) {
	fx := newCoreFixture(t)
	logs := &syncBuf{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr := wechat.NewTransport(wechat.Config{BaseURL: fx.fake.URL, Timeout: 5 * time.Second, Backoff: time.Millisecond, MaxAttempts: 2, Logger: log})
	tokens := wechat.NewTokenCache(wechat.StableTokens{T: tr, Secret: func(appid string) (string, bool) {
		s, ok := secrets[appid]
		return s, ok
	}}, 0)
	b := fx.bot(func(o *bot.Options) {
		o.WeChat = wechat.NewClient(tr, tokens)
		o.Log = log
		o.Timeout = 5 * time.Second
	})
	rq := coreRequesters[who%4]
	req := bot.Request{UserID: rq.user, ChannelID: rq.channel, Text: text}
	if who&4 != 0 {
		req.Locale = "zh-CN"
	}

	var ids []string // every full WeChat ID of the session
	if who&8 != 0 {
		if conv, _ := handle(t, b, bot.Request{UserID: "UADMIN", ChannelID: "CTEST", Text: "shop " + coreSeedID}); len(conv.replies) == 0 {
			t.Fatalf("binding the seed tester went unanswered: %v", conv)
		}
		ids = append(ids, coreSeedID)
	}
	// WeChat answers the fuzzed answer to every attempt (and the token retry).
	for _, p := range []string{"/wxa/bind_tester", "/wxa/unbind_tester", "/wxa/memberauth"} {
		status, ctype, body := wechatAnswer(p, errcode, errmsg, userstr)
		fx.fake.FailNextHTTP(p, 4, status, ctype, body)
	}

	conv, _ := handle(t, b, req) // the error is for logs only

	cmd, perr := bot.Parse(text)
	if perr == nil && cmd.WechatID != "" && !slices.Contains(ids, cmd.WechatID) {
		ids = append(ids, cmd.WechatID)
	}

	// The requester heard something; a thread opened was answered in.
	if len(conv.privates)+len(conv.opens) == 0 {
		t.Fatalf("the requester heard nothing for %q (errcode %d)", text, errcode)
	}
	if len(conv.opens) > 0 && len(conv.replies) == 0 {
		t.Fatalf("a thread was opened for %q (errcode %d) but nothing was said in it: %v", text, errcode, conv)
	}

	// What people saw, as the core wrote it (spans and all): the answers,
	// and anything sent unprompted (DMs, thread posts, prompts, their edits).
	shown := slices.Concat(conv.raws(), fx.msgr.raws())
	for _, a := range conv.attaches {
		shown = append(shown, a.Name)
	}
	answers := strings.Join(shown, "\n")
	logText := logs.String()
	stored := storeBytes(t, fx)
	inputs := text + "\x00" + errmsg + "\x00" + userstr

	// No full WeChat ID anywhere. An ID the product's own text holds anyway,
	// that is part of the app typed, or that WeChat's (opaque) userstr holds,
	// proves nothing and is skipped.
	for _, id := range ids {
		if strings.Contains(bg.text, id) || strings.Contains(cmd.App, id) || strings.Contains(userstr, id) {
			continue
		}
		where := ""
		if strings.Contains(errmsg, id) {
			where = " (the errmsg holds it: issue 9 item 4 says it is masked)"
		}
		for _, form := range []string{id, bot.Escape(id)} {
			if strings.Contains(answers, form) {
				t.Errorf("a message shows the full WeChat ID %q%s:\n%s", id, where, answers)
			}
		}
		if strings.Contains(logText, id) {
			t.Errorf("the log shows the full WeChat ID %q%s:\n%s", id, where, logText)
		}
		if strings.Contains(stored, id) {
			t.Errorf("the store holds the full WeChat ID %q in plain text%s", id, where)
		}
	}

	// No secret or access token anywhere (unless the input itself brought it).
	for _, s := range slices.Concat(slices.Collect(maps.Values(secrets)), fx.tokensSeen()) {
		if strings.Contains(inputs, s) {
			continue
		}
		for name, got := range map[string]string{"a message": answers, "the log": logText, "the store": stored} {
			if strings.Contains(got, s) {
				t.Errorf("%s shows the secret %q", name, s)
			}
		}
	}

	checkAnswersLiteral(t, bg, cmd, req, text, errmsg, userstr, shown)
}

// checkAnswersLiteral: nothing in the answers is markup the input brought.
func checkAnswersLiteral(t *testing.T, bg background, cmd bot.Command, req bot.Request, text, errmsg, userstr string, shown []string) {
	t.Helper()
	mentions := []string{"UALICE", "UBOB", "UCAROL", "UERIN", "UADMIN", req.UserID}
	if cmd.Verb == bot.VerbAudit && cmd.User != "" {
		mentions = append(mentions, cmd.User) // audit's filter, parsed to a bare user ID
	}
	for _, s := range shown {
		rest := bot.Render(s, func(sp bot.Span) string {
			switch {
			case sp.Kind == bot.SpanUser && slices.Contains(mentions, sp.ID),
				sp.Kind == bot.SpanGroup && sp.ID == "SQA",
				sp.Kind == bot.SpanChannel && (sp.ID == "CTEST" || sp.ID == "CGAMES"),
				sp.Kind == bot.SpanDate:
				return ""
			}
			return "<unexpected " + string(rune(sp.Kind)) + " span " + sp.ID + ">"
		})
		for _, p := range bg.placeholders {
			rest = strings.ReplaceAll(rest, p, "")
		}
		if strings.ContainsAny(rest, "<>") {
			t.Errorf("a message holds angle brackets that are not the bot's own mentions, channels or dates (input %q, errmsg %q):\n%s", text, errmsg, s)
		}
		for _, r := range s {
			if r != '\n' && (unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)) {
				t.Errorf("a message holds the control or invisible character %U (input %q, errmsg %q):\n%q", r, text, errmsg, s)
				break
			}
		}
		if m := liveLink.FindString(s); m != "" {
			t.Errorf("a message holds the live link %q (input %q, errmsg %q):\n%s", m, text, errmsg, s)
		}
	}
	answers := strings.Join(shown, "\n")

	// Markup typed or sent by WeChat is never shown as it came: a word of the
	// text, the errmsg or the userstr that holds a mark is in no answer verbatim.
	for _, frag := range append(strings.Fields(text), strings.TrimSpace(errmsg), strings.TrimSpace(userstr)) {
		if len([]rune(frag)) < 3 || !strings.ContainsAny(frag, "*_~`<>&") || strings.Contains(bg.text, frag) {
			continue
		}
		if strings.Contains(answers, frag) {
			t.Errorf("%q is shown as markup, not escaped (input %q, errmsg %q):\n%s", frag, text, errmsg, answers)
		}
	}

	// No echo of the text is longer than Echo's cut: no 41 runes of it in a row.
	r := []rune(text)
	for i := 0; i+41 <= len(r); i++ {
		if w := bot.Escape(string(r[i : i+41])); strings.Contains(answers, w) && !strings.Contains(bg.text, w) {
			t.Errorf("an answer echoes more than 40 runes of the text: %q (input %q):\n%s", w, text, answers)
			break
		}
	}
}

// storeBytes is every byte of the store's files: the database and its WAL
// (committed transactions are there before a checkpoint), freed pages included.
func storeBytes(t *testing.T, fx *fixture) string {
	t.Helper()
	var b strings.Builder
	for _, suffix := range []string{"", "-wal", "-journal"} {
		data, err := os.ReadFile(fx.dbPath + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatalf("read the store: %v", err)
		}
		b.Write(data)
	}
	return b.String()
}
