package main

import (
	"bytes"
	"encoding/base64"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bindtester/bindtester/bot/slackfake"
	"github.com/bindtester/bindtester/internal/pgtest"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

var testStoreKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))

// A second bot on one SQLite file is refused at startup, pointing to
// PostgreSQL; the admin commands still work beside the running bot.
func TestSecondBotOnOneSQLiteFileIsRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "bindtester.db")
	first := startRun(t, map[string]string{"BINDTESTER_DB": db})
	first.connected(t)
	e := storeFailureEnv(t, db)
	_, err := runFails(t, e, "run")
	for _, want := range []string{"BINDTESTER_DB", "another bindtester is already serving", "PostgreSQL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second run: %v; want it to say %q", err, want)
		}
	}
	out, errOut, err := cli(t, merge(e, map[string]string{}), "audit", "--admin")
	if err != nil {
		t.Errorf("audit beside the running bot: %v\n%s\n%s", err, out, errOut)
	}
}

// PostgreSQL problems stop startup with the reason, naming the variable and
// never the password; check-config reports them without creating anything.
func TestPostgresStartupErrors(t *testing.T) {
	dsn := pgtest.DSN(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "postgres://bindtester:s3cretpw@" + ln.Addr().String() + "/bindtester?sslmode=disable"
	ln.Close()
	for _, c := range []struct {
		name string
		db   string
		key  string
		want []string
	}{
		{"no store key", dsn, "", []string{"BINDTESTER_STORE_KEY", "PostgreSQL", "head -c 32 /dev/urandom"}},
		{"unreachable server", closed, testStoreKey, []string{"BINDTESTER_DB", "cannot reach the PostgreSQL server"}},
		{"missing database", pgtest.WithDatabase(dsn, "no_such_db_here"), testStoreKey, []string{"BINDTESTER_DB", `database "no_such_db_here" does not exist`}},
		{"unknown user", pgtest.WithUser(dsn, "nobody_here"), testStoreKey, []string{"BINDTESTER_DB", "nobody_here"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := merge(storeFailureEnv(t, c.db), map[string]string{"BINDTESTER_STORE_KEY": c.key})
			for _, args := range [][]string{{"run"}, {"audit", "--admin"}, {"check-config"}} {
				out, err := runFails(t, e, args...)
				for _, want := range c.want {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%v: %v; want it to say %q", args, err, want)
					}
				}
				if strings.Contains(err.Error()+out, "s3cretpw") {
					t.Errorf("%v showed the password: %v", args, err)
				}
			}
		})
	}
}

// With a PostgreSQL URL the whole bot works: a bind through the admin
// command is recorded, and check-config names the database without its password.
func TestPostgresStore(t *testing.T) {
	dsn := pgtest.DSN(t)
	e := merge(storeFailureEnv(t, dsn), map[string]string{"BINDTESTER_STORE_KEY": testStoreKey})
	out, errOut, err := cli(t, e, "bind", "--admin", testAppID, "tester_one")
	if err != nil || !strings.Contains(out, "Done:") {
		t.Fatalf("bind on PostgreSQL = %v\n%s\n%s", err, out, errOut)
	}
	out, _, err = cli(t, e, "audit", "--admin", "--format", "csv")
	if err != nil || !strings.Contains(out, "bound") || strings.Contains(out, "tester_one") {
		t.Errorf("audit on PostgreSQL = %v:\n%s", err, out)
	}
	out, _, err = cli(t, merge(e, map[string]string{"BINDTESTER_DB": pgtest.WithPassword(dsn, "s3cretpw")}), "check-config")
	if err != nil || !strings.Contains(out, "Database: postgres://") || strings.Contains(out, "s3cretpw") {
		t.Errorf("check-config = %v:\n%s", err, out)
	}
}

// A database path that is a folder is named as such, by run and check-config alike.
func TestDatabasePathIsADirectory(t *testing.T) {
	dir := t.TempDir()
	e := storeFailureEnv(t, dir)
	for _, args := range [][]string{{"run"}, {"audit", "--admin"}, {"check-config"}} {
		_, err := runFails(t, e, args...)
		if !strings.Contains(err.Error(), "BINDTESTER_DB") || !strings.Contains(err.Error(), "is a directory, not a database file") {
			t.Errorf("%v: %v; want it to say the path is a directory", args, err)
		}
	}
}

// check-config --wechat asks WeChat about each app; a 40164 shows the admin
// running it the bot's outgoing IP address, to add to the allow-list.
func TestCheckConfigAsksWeChat(t *testing.T) {
	sl := slackfake.NewServer(e2eBotToken, e2eAppToken)
	t.Cleanup(sl.Close)
	wx := wechattest.NewServer()
	t.Cleanup(wx.Close)
	wx.AddApp(testAppID, testAppSecret)
	e := withDB(t, map[string]string{"SLACK_APP_TOKEN": e2eAppToken, "SLACK_BOT_TOKEN": e2eBotToken, "SLACK_API_URL": sl.URL,
		"WECHAT_API_BASE": wx.URL, "WECHAT_APP_SECRET": testAppSecret, "BINDTESTER_APPID": testAppID})
	out, _, err := cli(t, e, "check-config", "--wechat")
	if err != nil || !strings.Contains(out, testAppID+": ok, 0 of 15 experiencer slots in use") {
		t.Errorf("check-config --wechat = %v:\n%s", err, out)
	}
	wx.FailNextHTTP("/wxa/memberauth", 1, 200, "application/json", `{"errcode":40164,"errmsg":"invalid ip 203.0.113.7, not in whitelist"}`)
	out, _, err = cli(t, e, "check-config", "--wechat")
	if err == nil || !strings.Contains(out, "invalid ip 203.0.113.7") || !strings.Contains(out, "allow-list") {
		t.Errorf("check-config --wechat with 40164 = %v:\n%s", err, out)
	}
	if strings.Contains(out, testAppSecret) {
		t.Errorf("check-config showed the app secret:\n%s", out)
	}
}

// check-config --wechat works for a third-party platform too (its refresh
// tokens come from the store).
func TestCheckConfigAsksWeChatAsAPlatform(t *testing.T) {
	fake := wechattest.NewServer()
	t.Cleanup(fake.Close)
	setComponent(fake)
	e := merge(componentEnv(filepath.Join(t.TempDir(), "bindtester.db")), map[string]string{"WECHAT_API_BASE": fake.URL,
		"SLACK_APP_TOKEN": e2eAppToken, "SLACK_BOT_TOKEN": e2eBotToken})
	out, errOut, err := cli(t, e, "check-config", "--wechat")
	if err != nil || !strings.Contains(out, testAppID+": ok, 0 of") {
		t.Errorf("check-config --wechat as a platform = %v:\n%s\n%s", err, out, errOut)
	}
}
