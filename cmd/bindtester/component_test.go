package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot/slackfake"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

const (
	testComponentAppID  = "wxcomponent0000001"
	testComponentSecret = "component-secret-0123456789"
	testVerifyTicket    = "ticket@@@0123456789"
	testRefreshSeed     = "refreshtoken@@@seed0123456789"
)

// setComponent makes fake a WeChat that knows the platform and hands out a
// new authorizer_refresh_token on every use (the old one then answers 61023).
func setComponent(fake *wechattest.Server) {
	fake.SetComponent(testComponentAppID, testComponentSecret, testVerifyTicket)
	fake.SetAuthorizerRefreshToken(testAppID, testRefreshSeed)
	fake.SetRotateRefreshTokens(true)
}

// componentEnv is a one-app third-party platform setup with its database at
// db; WECHAT_API_BASE is the caller's to add.
func componentEnv(db string) map[string]string {
	return map[string]string{
		"WECHAT_APP_SECRET":               "",
		"WECHAT_COMPONENT_APPID":          testComponentAppID,
		"WECHAT_COMPONENT_SECRET":         testComponentSecret,
		"WECHAT_COMPONENT_VERIFY_TICKET":  testVerifyTicket,
		"WECHAT_AUTHORIZER_REFRESH_TOKEN": testRefreshSeed,
		"BINDTESTER_APPID":                testAppID,
		"BINDTESTER_APP_NAME":             "Shop",
		"BINDTESTER_ADMINS":               "U0ADMIN",
		"BINDTESTER_DB":                   db,
	}
}

// assertNoPlainTokens checks that no database file beside db holds a token.
func assertNoPlainTokens(t *testing.T, db string, tokens []string) {
	t.Helper()
	files, _ := filepath.Glob(db + "*")
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range append(tokens, "refreshtoken@@@") {
			if bytes.Contains(raw, []byte(tok)) {
				t.Errorf("%s holds the authorizer_refresh_token %q in plain text", filepath.Base(f), tok)
			}
		}
	}
}

// TestRotatedRefreshTokenSurvivesRestart: as a third-party platform, each
// command is a new process; the authorizer_refresh_token WeChat rotated in
// one is what the next one uses, not the spent one in the settings, until the
// operator puts a new one in the settings.
func TestRotatedRefreshTokenSurvivesRestart(t *testing.T) {
	fake := wechattest.NewServer()
	t.Cleanup(fake.Close)
	setComponent(fake)
	db := filepath.Join(t.TempDir(), "bindtester.db")
	e := merge(componentEnv(db), map[string]string{"WECHAT_API_BASE": fake.URL})
	tokens := []string{testRefreshSeed}
	rotated := func(t *testing.T) {
		t.Helper()
		now := fake.AuthorizerRefreshToken(testAppID)
		for _, old := range tokens {
			if now == old {
				t.Fatalf("WeChat did not rotate the authorizer_refresh_token")
			}
		}
		tokens = append(tokens, now)
	}
	bind := func(t *testing.T, e map[string]string, wechatID string) {
		t.Helper()
		// The access token is shared in the store; once it expires, the next
		// command must get a new one with the refresh token the last one kept.
		fake.ExpireTokens(testAppID)
		out, errOut, err := cli(t, e, "bind", "--admin", testAppID, wechatID)
		if err != nil || !strings.Contains(out, "Done:") {
			t.Fatalf("bind %s = %v\nstdout:\n%s\nstderr:\n%s", wechatID, err, out, errOut)
		}
		assertNoSecrets(t, append(tokens, testComponentSecret, testVerifyTicket), map[string]string{"stdout": out, "stderr": errOut})
		rotated(t)
	}

	t.Run("the first command uses the token in the settings", func(t *testing.T) {
		bind(t, e, "tester_one")
	})
	t.Run("the next command uses the rotated one", func(t *testing.T) {
		bind(t, e, "tester_two")
	})
	t.Run("and so does the console", func(t *testing.T) {
		fake.ExpireTokens(testAppID)
		out, errOut := consoleRun(t, []string{"--user", "U0ADMIN"}, e, testAppID+" tester_three", "quit")
		if !strings.Contains(out, "Done:") {
			t.Fatalf("console bind:\n%s\nstderr:\n%s", out, errOut)
		}
		rotated(t)
	})
	t.Run("a new token in the settings wins", func(t *testing.T) {
		const reauthorized = "refreshtoken@@@reauthorized0123456789"
		fake.SetAuthorizerRefreshToken(testAppID, reauthorized) // the client authorized the platform again
		tokens = append(tokens, reauthorized)
		e = merge(e, map[string]string{"WECHAT_AUTHORIZER_REFRESH_TOKEN": reauthorized})
		bind(t, e, "tester_four")
		bind(t, e, "tester_five") // and is rotated in its turn
	})
	if got := fake.Experiencers(testAppID); len(got) != 5 {
		t.Errorf("experiencers = %v, want 5", got)
	}
	assertNoPlainTokens(t, db, tokens)
}

// TestRunKeepsRotatedRefreshToken: `run` keeps the token WeChat rotated while
// serving Slack, so an admin command after it (or a restart) can use it.
func TestRunKeepsRotatedRefreshToken(t *testing.T) {
	db := filepath.Join(t.TempDir(), "bindtester.db")
	r := startRun(t, merge(componentEnv(db), map[string]string{"BINDTESTER_BINDERS": e2eBinder})) // with its own fake WeChat
	setComponent(r.wechat)                                                                        // before any command reaches it
	e := merge(componentEnv(db), map[string]string{"WECHAT_API_BASE": r.wechat.URL})
	r.connected(t)

	r.slack.SlashCommand(slackfake.SlashCommand{Text: testAppID + " tester_one", UserID: e2eBinder, ChannelID: e2eChannel})
	msgs, ok := r.slack.WaitMessages(10*time.Second, func(m []slackfake.Message) bool {
		_, replies, _, _ := thread(m, "te***ne")
		return len(replies) > 0
	})
	if !ok {
		t.Fatalf("no answer in the thread; messages: %+v\nlog:\n%s", msgs, r.stderr.String())
	}
	if _, replies, _, _ := thread(msgs, "te***ne"); !strings.Contains(replies[0].Text, "Done:") {
		t.Fatalf("thread reply = %q\nlog:\n%s", replies[0].Text, r.stderr.String())
	}
	r.cancel()
	if err := r.wait(t, 10*time.Second); err != nil {
		t.Fatalf("run = %v", err)
	}
	rotatedByRun := r.wechat.AuthorizerRefreshToken(testAppID)
	if rotatedByRun == testRefreshSeed {
		t.Fatal("WeChat did not rotate the authorizer_refresh_token")
	}

	out, errOut, err := cli(t, e, "bind", "--admin", testAppID, "tester_two")
	if err != nil || !strings.Contains(out, "Done:") {
		t.Fatalf("bind after run = %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	assertNoPlainTokens(t, db, []string{testRefreshSeed, rotatedByRun, r.wechat.AuthorizerRefreshToken(testAppID)})
	assertNoSecrets(t, []string{testRefreshSeed, rotatedByRun, testComponentSecret}, map[string]string{"log": r.stderr.String()})
}
