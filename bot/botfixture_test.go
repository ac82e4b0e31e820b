package bot_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/store"
	"github.com/bindtester/bindtester/wechat"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

// The world the bot tests run in: four Mini Programs on a fake WeChat, one
// admin, and testers with different rights.
//
//	Shop  (alias shop):  binders UALICE and user group SQA (UCAROL), any channel
//	Games (alias games): binder UBOB, channel CGAMES only
//	Vault:               no binders: admins only
//	Lab   (alias lab):   binder UERIN; the bot has no WeChat credentials for it
const (
	appShop  = "wx0123456789abcdef"
	appGames = "wxfedcba9876543210"
	appVault = "wx00112233445566aa"
	appLab   = "wx99999999999999ff"

	secretShop  = "shop-app-secret-0123456789abcdef"
	secretGames = "games-app-secret-fedcba9876543210"
	secretVault = "vault-app-secret-00112233445566aa"

	// tester is a valid WeChat ID; masked it reads te***ne.
	tester       = "testerone"
	testerMasked = "te***ne"

	bindPath = "/wxa/bind_tester"
	qrPath   = "/wxa/get_qrcode"
)

var secrets = map[string]string{appShop: secretShop, appGames: secretGames, appVault: secretVault}

func testPolicy() *bot.Policy {
	return &bot.Policy{
		Admins: []string{"UADMIN"},
		Apps: []bot.App{
			{ID: appShop, Name: "Shop", Aliases: []string{"shop"}, Binders: []string{"UALICE", "SQA"}, Slots: 15, QRPath: "pages/index/index"},
			{ID: appGames, Name: "Games", Aliases: []string{"games"}, Binders: []string{"UBOB"}, Channels: []string{"CGAMES"}, Slots: 15},
			{ID: appVault, Name: "Vault", Slots: 15},
			{ID: appLab, Name: "Lab", Aliases: []string{"lab"}, Binders: []string{"UERIN"}, Slots: 15},
		},
	}
}

// fixture is a fake WeChat, a real SQLite store, a recording Messenger and a
// controllable clock: everything needed to build a Bot on the real client.
type fixture struct {
	t       testing.TB
	fake    *wechattest.Server
	groups  *mapGroups
	policy  *bot.Policy
	baseURL string // where the client sends requests; fake.URL unless a test changes it
	maxTry  int    // wechat.Config.MaxAttempts; 0 for the default
	dbPath  string
	key     []byte
	store   *store.Store
	msgr    *recMessenger
	clock   *clock
}

// testKey is the store key of every fixture: 32 bytes.
var testKey = bytes.Repeat([]byte{0x5a}, store.KeySize)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	fake := wechattest.NewServer()
	t.Cleanup(fake.Close)
	for id, s := range secrets {
		fake.AddApp(id, s)
	}
	f := &fixture{
		t:       t,
		fake:    fake,
		groups:  newMapGroups(map[string][]string{"SQA": {"UCAROL"}}),
		policy:  testPolicy(),
		baseURL: fake.URL,
		dbPath:  filepath.Join(t.TempDir(), "bot.db"),
		key:     testKey,
		msgr:    newRecMessenger(t),
		clock:   newClock(time.Now().UTC().Truncate(time.Second)),
	}
	f.store = openStore(t, f.dbPath, f.key)
	return f
}

// openStore opens the real SQLite store at path and closes it when the test ends.
func openStore(t testing.TB, path string, key []byte) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), path, key)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// restart closes the store and opens the same file again with the same key,
// as a new process would; bots built afterwards use the new store.
func (f *fixture) restart() {
	f.t.Helper()
	if err := f.store.Close(); err != nil {
		f.t.Fatalf("close store: %v", err)
	}
	f.store = openStore(f.t, f.dbPath, f.key)
}

// client is the real WeChat client on the fake (stable_token tokens, cached).
func (f *fixture) client() *wechat.Client {
	tr := wechat.NewTransport(wechat.Config{BaseURL: f.baseURL, Backoff: time.Millisecond, MaxAttempts: f.maxTry})
	tokens := wechat.NewTokenCache(wechat.StableTokens{T: tr, Secret: func(appid string) (string, bool) {
		s, ok := secrets[appid]
		return s, ok
	}}, 0)
	return wechat.NewClient(tr, tokens)
}

// bot builds a Bot on the real WeChat client, the fixture's store, Messenger
// and clock; mods adjust its options.
func (f *fixture) bot(mods ...func(*bot.Options)) *bot.Bot {
	o := bot.Options{Policy: f.policy, WeChat: f.client(), Groups: f.groups,
		Store: f.store, Messenger: f.msgr, Now: f.clock.Now}
	for _, m := range mods {
		m(&o)
	}
	return bot.New(o)
}

// clock is a settable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// tokensSeen lists every access token the fake was sent.
func (f *fixture) tokensSeen() []string {
	var toks []string
	for _, r := range f.fake.Requests() {
		if tok := r.Query.Get("access_token"); tok != "" && !slices.Contains(toks, tok) {
			toks = append(toks, tok)
		}
	}
	return toks
}

// handle runs one request through b and returns what the requester saw.
func handle(t testing.TB, b *bot.Bot, req bot.Request) (*recConv, error) {
	t.Helper()
	conv := &recConv{t: t}
	err := b.Handle(context.Background(), req, conv)
	return conv, err
}

// coreText checks one text the core sent an adapter: it carries no Slack
// markup (people, user groups, channels and dates travel as spans, see
// bot.Spans). It returns what the fixtures record: the text as the
// terminal shows it (bot.Plain).
func coreText(t testing.TB, text string) string {
	t.Helper()
	for _, m := range []string{"<@", "<!", "<#"} {
		if strings.Contains(text, m) {
			t.Errorf("the core wrote Slack markup (%s) in %q", m, text)
		}
	}
	return bot.Plain(text)
}

// recConv is a Conversation that records everything the bot says, as
// coreText checks and shows it; raw keeps each text as the core wrote it.
// t must be set.
type recConv struct {
	t         testing.TB
	mu        sync.Mutex
	raw       []string
	privates  []string
	opens     []string
	refs      []bot.ThreadRef // of each thread Open returned
	replies   []string
	attaches  []bot.File
	updates   []string
	openErr   error // returned by Open
	attachErr error // returned by Attach
}

// see checks text (c.mu held), keeps it raw and returns it as recorded.
func (c *recConv) see(text string) string {
	c.t.Helper()
	c.raw = append(c.raw, text)
	return coreText(c.t, text)
}

// raws is every text the bot produced, as it wrote it.
func (c *recConv) raws() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.raw)
}

// threadSeq numbers the threads recConv opens, so every Open has its own ref.
var threadSeq atomic.Int64

func nextRef() bot.ThreadRef {
	ts := fmt.Sprintf("1700000000.%06d", threadSeq.Add(1))
	return bot.ThreadRef{Channel: "CTEST", ParentTS: ts, ThreadTS: ts}
}

func (c *recConv) Private(_ context.Context, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.privates = append(c.privates, c.see(text))
	return nil
}

func (c *recConv) Open(_ context.Context, text string) (bot.Thread, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opens = append(c.opens, c.see(text))
	if c.openErr != nil {
		return nil, c.openErr
	}
	ref := nextRef()
	c.refs = append(c.refs, ref)
	return recThread{c, ref}, nil
}

// ref is the ref of the thread opened n-th (from 0).
func (c *recConv) ref(n int) bot.ThreadRef {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n >= len(c.refs) {
		return bot.ThreadRef{}
	}
	return c.refs[n]
}

type recThread struct {
	c   *recConv
	ref bot.ThreadRef
}

func (th recThread) Ref() bot.ThreadRef { return th.ref }

func (th recThread) Reply(_ context.Context, text string) error {
	th.c.mu.Lock()
	defer th.c.mu.Unlock()
	th.c.replies = append(th.c.replies, th.c.see(text))
	return nil
}

func (th recThread) Attach(_ context.Context, f bot.File) error {
	th.c.mu.Lock()
	defer th.c.mu.Unlock()
	if th.c.attachErr != nil {
		return th.c.attachErr
	}
	th.c.raw = append(th.c.raw, f.Title) // plain text, not mrkdwn: it may hold a name as typed
	f.Title, f.Comment = bot.Plain(f.Title), th.c.see(f.Comment)
	th.c.attaches = append(th.c.attaches, f)
	return nil
}

func (th recThread) Update(_ context.Context, text string) error {
	th.c.mu.Lock()
	defer th.c.mu.Unlock()
	th.c.updates = append(th.c.updates, th.c.see(text))
	return nil
}

// all is every text the bot produced, file titles and names included.
func (c *recConv) all() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	parts := slices.Concat(c.privates, c.opens, c.replies, c.updates)
	for _, f := range c.attaches {
		parts = append(parts, f.Name, f.Title, f.Comment)
	}
	return strings.Join(parts, "\n")
}

// rawAll is every text the bot produced as it wrote it (escapes and spans
// and all), for checks of what reaches Slack.
func (c *recConv) rawAll() string { return strings.Join(c.raws(), "\n") }

func (c *recConv) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("privates=%q opens=%q replies=%q updates=%q attaches=%d", c.privates, c.opens, c.replies, c.updates, len(c.attaches))
}

// mapGroups is a map-backed GroupMembers that counts lookups and can fail.
type mapGroups struct {
	mu    sync.Mutex
	m     map[string][]string
	fail  error
	calls map[string]int
}

func newMapGroups(m map[string][]string) *mapGroups {
	return &mapGroups{m: m, calls: map[string]int{}}
}

func (g *mapGroups) Members(_ context.Context, id string) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls[id]++
	if g.fail != nil {
		return nil, g.fail
	}
	ms, ok := g.m[id]
	if !ok {
		return nil, fmt.Errorf("no user group %s", id)
	}
	return slices.Clone(ms), nil
}

func (g *mapGroups) setFail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail = err
}

func (g *mapGroups) callCount(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[id]
}

var errSlackDown = errors.New("slack: usergroups.users.list: ratelimited")

func hasHan(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) })
}

// wantContains reports every fragment missing from got.
func wantContains(t testing.TB, what, got string, frags ...string) {
	t.Helper()
	for _, f := range frags {
		if !strings.Contains(got, f) {
			t.Errorf("%s does not contain %q:\n%s", what, f, got)
		}
	}
}

func wantNotContains(t testing.TB, what, got string, frags ...string) {
	t.Helper()
	for _, f := range frags {
		if f != "" && strings.Contains(got, f) {
			t.Errorf("%s contains %q but must not:\n%s", what, f, got)
		}
	}
}

// recMessenger is a Messenger that records DMs, what is said in reopened
// threads, approval prompts (with their Value) and prompt edits, as
// coreText checks and shows them; raw keeps each text as the core wrote it.
type recMessenger struct {
	t         testing.TB
	mu        sync.Mutex
	raw       []string
	dms       []sentDM
	thread    []threadPost
	prompts   []sentPrompt
	edits     []promptEdit
	reprompts []sentPrompt
	seq       int
}

type sentDM struct{ User, Text string }

// threadPost is one thing said in a reopened thread: a reply, an update of
// its status message, or an attachment (Text is then the file name).
type threadPost struct {
	Ref  bot.ThreadRef
	Kind string // "reply", "update" or "attach"
	Text string
}

type sentPrompt struct {
	To     string
	Prompt bot.Prompt
	Ref    bot.MessageRef
}

type promptEdit struct {
	Ref  bot.MessageRef
	Text string
}

func newRecMessenger(t testing.TB) *recMessenger { return &recMessenger{t: t} }

// see checks text (m.mu held), keeps it raw and returns it as recorded.
func (m *recMessenger) see(text string) string {
	m.t.Helper()
	m.raw = append(m.raw, text)
	return coreText(m.t, text)
}

// seePrompt is see for a prompt's text and button labels.
func (m *recMessenger) seePrompt(p bot.Prompt) bot.Prompt {
	m.t.Helper()
	p.Text = m.see(p.Text)
	p.Buttons = slices.Clone(p.Buttons)
	for i := range p.Buttons {
		p.Buttons[i].Label = m.see(p.Buttons[i].Label)
	}
	return p
}

// raws is every text sent through m, as the core wrote it.
func (m *recMessenger) raws() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.raw)
}

func (m *recMessenger) DM(_ context.Context, userID, text string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dms = append(m.dms, sentDM{userID, m.see(text)})
	return nil
}

func (m *recMessenger) Reopen(ref bot.ThreadRef) bot.Thread { return msgThread{m, ref} }

func (m *recMessenger) Prompt(_ context.Context, to string, p bot.Prompt) (bot.MessageRef, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	ch, user := to, ""
	if strings.HasPrefix(to, "U") || strings.HasPrefix(to, "W") {
		ch, user = "D"+to[1:], to // a DM lands in the user's direct message channel (and the core notes whose)
	}
	ref := bot.MessageRef{Channel: ch, TS: fmt.Sprintf("1800000000.%06d", m.seq), To: user}
	m.prompts = append(m.prompts, sentPrompt{to, m.seePrompt(p), ref})
	return ref, nil
}

func (m *recMessenger) Reprompt(_ context.Context, ref bot.MessageRef, p bot.Prompt) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reprompts = append(m.reprompts, sentPrompt{To: ref.Channel, Prompt: m.seePrompt(p), Ref: ref})
	return nil
}

func (m *recMessenger) Edit(_ context.Context, ref bot.MessageRef, text string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.edits = append(m.edits, promptEdit{ref, m.see(text)})
	return nil
}

func (m *recMessenger) post(p threadPost) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p.Text = m.see(p.Text)
	m.thread = append(m.thread, p)
}

// dmsTo lists the DMs sent to user.
func (m *recMessenger) dmsTo(user string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, d := range m.dms {
		if d.User == user {
			out = append(out, d.Text)
		}
	}
	return out
}

func (m *recMessenger) allDMs() []sentDM {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.dms)
}

// in lists what of kind was said in the reopened thread at ref.
func (m *recMessenger) in(ref bot.ThreadRef, kind string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, p := range m.thread {
		if p.Ref == ref && p.Kind == kind {
			out = append(out, p.Text)
		}
	}
	return out
}

func (m *recMessenger) threadPosts() []threadPost {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.thread)
}

func (m *recMessenger) sentPrompts() []sentPrompt {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.prompts)
}

func (m *recMessenger) promptEdits() []promptEdit {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.edits)
}

// msgThread is a thread reopened through the recMessenger.
type msgThread struct {
	m   *recMessenger
	ref bot.ThreadRef
}

func (th msgThread) Reply(_ context.Context, text string) error {
	th.m.post(threadPost{th.ref, "reply", text})
	return nil
}

func (th msgThread) Attach(_ context.Context, f bot.File) error {
	th.m.mu.Lock()
	th.m.raw = append(th.m.raw, f.Title) // plain text, not mrkdwn: it may hold a name as typed
	th.m.see(f.Comment)
	th.m.mu.Unlock()
	th.m.post(threadPost{th.ref, "attach", f.Name})
	return nil
}

func (th msgThread) Update(_ context.Context, text string) error {
	th.m.post(threadPost{th.ref, "update", text})
	return nil
}

func (th msgThread) Ref() bot.ThreadRef { return th.ref }
