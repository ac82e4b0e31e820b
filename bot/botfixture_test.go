package bot_test

import (
	"context"
	"errors"
	"fmt"
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

// fixture is a fake WeChat plus everything needed to build a Bot on the real client.
type fixture struct {
	fake    *wechattest.Server
	groups  *mapGroups
	policy  *bot.Policy
	baseURL string // where the client sends requests; fake.URL unless a test changes it
	maxTry  int    // wechat.Config.MaxAttempts; 0 for the default
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	fake := wechattest.NewServer()
	t.Cleanup(fake.Close)
	for id, s := range secrets {
		fake.AddApp(id, s)
	}
	return &fixture{
		fake:    fake,
		groups:  newMapGroups(map[string][]string{"SQA": {"UCAROL"}}),
		policy:  testPolicy(),
		baseURL: fake.URL,
	}
}

// bot builds a Bot on the real WeChat client (stable_token tokens, cached);
// mods adjust its options.
func (f *fixture) bot(mods ...func(*bot.Options)) *bot.Bot {
	tr := wechat.NewTransport(wechat.Config{BaseURL: f.baseURL, Backoff: time.Millisecond, MaxAttempts: f.maxTry})
	tokens := wechat.NewTokenCache(wechat.StableTokens{T: tr, Secret: func(appid string) (string, bool) {
		s, ok := secrets[appid]
		return s, ok
	}}, 0)
	o := bot.Options{Policy: f.policy, WeChat: wechat.NewClient(tr, tokens), Groups: f.groups}
	for _, m := range mods {
		m(&o)
	}
	return bot.New(o)
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
	conv := &recConv{}
	err := b.Handle(context.Background(), req, conv)
	return conv, err
}

// recConv is a Conversation that records everything the bot says.
type recConv struct {
	mu        sync.Mutex
	privates  []string
	opens     []string
	replies   []string
	attaches  []bot.File
	updates   []string
	openErr   error // returned by Open
	attachErr error // returned by Attach
}

func (c *recConv) Private(_ context.Context, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.privates = append(c.privates, text)
	return nil
}

func (c *recConv) Open(_ context.Context, text string) (bot.Thread, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opens = append(c.opens, text)
	if c.openErr != nil {
		return nil, c.openErr
	}
	return recThread{c}, nil
}

type recThread struct{ c *recConv }

func (th recThread) Reply(_ context.Context, text string) error {
	th.c.mu.Lock()
	defer th.c.mu.Unlock()
	th.c.replies = append(th.c.replies, text)
	return nil
}

func (th recThread) Attach(_ context.Context, f bot.File) error {
	th.c.mu.Lock()
	defer th.c.mu.Unlock()
	if th.c.attachErr != nil {
		return th.c.attachErr
	}
	th.c.attaches = append(th.c.attaches, f)
	return nil
}

func (th recThread) Update(_ context.Context, text string) error {
	th.c.mu.Lock()
	defer th.c.mu.Unlock()
	th.c.updates = append(th.c.updates, text)
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
