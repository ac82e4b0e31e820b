package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bindtester/bindtester/bot/slackfake"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

// The two bots measured.
const (
	bare       = "bare"
	bindtester = "bindtester"
)

// The fake workspace and Mini Program every run uses.
const (
	botToken  = "xoxb-bindbench"
	appToken  = "xapp-bindbench"
	appID     = "wx0123456789abcdef"
	appSecret = "bindbench-app-secret"
	appAlias  = "shop"
	binder    = "UBENCH01"
)

// fakes are a fresh fake Slack and fake WeChat for one run.
type fakes struct {
	slack  *slackfake.Server
	wechat *wechattest.Server
}

// newFakes starts the fakes, slackRTT and wechatRTT away (see their SetRoundTrip), with the
// Mini Program known and its experiencer slots unlimited.
func newFakes(slackTLS bool, slackRTT, wechatRTT time.Duration) *fakes {
	// Slack over TLS with HTTP/2, as the real one: a bot whose client
	// offers HTTP/2 shares connections among its concurrent calls.
	sl := slackfake.NewServer
	if slackTLS {
		sl = slackfake.NewServerTLS
	}
	f := &fakes{slack: sl(botToken, appToken), wechat: wechattest.NewServer()}
	f.slack.SetRoundTrip(slackRTT)
	f.slack.SetUser(binder, "bench", "en-US")
	f.wechat.SetRoundTrip(wechatRTT)
	f.wechat.AddApp(appID, appSecret)
	f.wechat.SetSlotLimit(appID, 1<<30)
	return f
}

func (f *fakes) close() {
	f.slack.Close()
	f.wechat.Close()
}

// launcher starts the bots, each in a temporary directory of its own under dir.
type launcher struct {
	self string // this executable, which is the bare bot when bareEnv is set
	bin  string // the bindtester binary
	dir  string
}

// start runs bot against f and waits until it holds a Socket Mode connection.
func (l *launcher) start(ctx context.Context, bot string, f *fakes) (*process, error) {
	dir, err := os.MkdirTemp(l.dir, bot+"-")
	if err != nil {
		return nil, err
	}
	// HOME and TMPDIR point into dir, and dir is the working directory: no .env is read.
	env := []string{"HOME=" + dir, "TMPDIR=" + dir,
		"SLACK_BOT_TOKEN=" + botToken, "SLACK_APP_TOKEN=" + appToken, "SLACK_API_URL=" + f.slack.URL}
	if pem := f.slack.CertPEM(); pem != nil { // the fake Slack's certificate is the only root either bot trusts
		certFile := filepath.Join(dir, "slack-ca.pem")
		if err := os.WriteFile(certFile, pem, 0o600); err != nil {
			return nil, err
		}
		env = append(env, "SSL_CERT_FILE="+certFile)
	}
	var path string
	switch bot {
	case bare:
		path, env = l.self, append(env, bareEnv+"=1")
	case bindtester:
		path = l.bin
		env = append(env,
			"WECHAT_API_BASE="+f.wechat.URL,
			"WECHAT_APP_SECRET="+appSecret,
			"BINDTESTER_APPID="+appID,
			"BINDTESTER_APP_NAME=Bench Shop",
			"BINDTESTER_APP_ALIASES="+appAlias,
			"BINDTESTER_BINDERS="+binder,
			"BINDTESTER_DB="+filepath.Join(dir, "bindtester.db"),
			"LOG_LEVEL=warn",
		)
		if err := checkConfig(ctx, path, env, dir); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown bot %q", bot)
	}
	p, err := startProcess(bot, path, nil, env, dir)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for !f.slack.WaitConnections(1, 100*time.Millisecond) {
		if err := p.exited(); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.kill()
			return nil, fmt.Errorf("%s did not open a Socket Mode connection within 30s; its log:\n%s", bot, p.log)
		}
	}
	return p, nil
}

// checkConfig runs `bindtester check-config`, to fail fast with its own words.
func checkConfig(ctx context.Context, bin string, env []string, dir string) error {
	cmd := exec.CommandContext(ctx, bin, "check-config")
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s check-config: %w\n%s", bin, err, strings.TrimSpace(string(out)))
	}
	return nil
}
