package bot_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/wechat"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

// BenchmarkHandleBind measures one permitted bind through Handle: parse, policy,
// status message, bind_tester and get_qrcode over HTTP to the fake WeChat,
// reply, QR attachment and summary. Each iteration binds a new WeChat ID.
func BenchmarkHandleBind(b *testing.B) {
	fake := wechattest.NewServer()
	defer fake.Close()
	fake.SetSlotLimit(appShop, 1<<30)
	tr := wechat.NewTransport(wechat.Config{BaseURL: fake.URL, Backoff: time.Millisecond})
	client := wechat.NewClient(tr, wechat.StaticTokens(fake.IssueToken(appShop)))
	st := openStore(b, filepath.Join(b.TempDir(), "bot.db"), testKey)
	bt := bot.New(bot.Options{Policy: testPolicy(), WeChat: client, Groups: newMapGroups(nil), Store: st, Messenger: newRecMessenger(b)})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		conv := &recConv{t: b}
		req := bot.Request{UserID: "UALICE", ChannelID: "CSHOP", Text: fmt.Sprintf("shop tester%08d", i)}
		i++
		if err := bt.Handle(ctx, req, conv); err != nil {
			b.Fatal(err)
		}
		if len(conv.updates) != 1 || !strings.HasPrefix(conv.updates[0], "✅") || len(conv.attaches) != 1 {
			b.Fatalf("bind %d did not succeed: %v", i, conv)
		}
	}
}
