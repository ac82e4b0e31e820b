// Command bindtester is the bot's one binary: `run` serves Slack over Socket Mode
// (the default), `console` runs the same bot on standard input and output,
// `check-config` reports every settings problem at once, `version` prints the version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/bindtester/bindtester/bot"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/joho/godotenv"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], dotenv(".env", os.LookupEnv), os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bindtester:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// dotenv layers the settings in file under the real environment (which wins).
func dotenv(file string, lookup func(string) (string, bool)) func(string) string {
	fromFile, _ := godotenv.Read(file) // a missing .env is fine
	return func(k string) string {
		if v, ok := lookup(k); ok {
			return v
		}
		return fromFile[k]
	}
}

var errUsage = errors.New("usage")

const usage = `bindtester — bind testers to WeChat Mini Programs from Slack

usage:
  bindtester [run]          serve Slack over Socket Mode (needs SLACK_APP_TOKEN, SLACK_BOT_TOKEN)
  bindtester console [--user U… --channel C… --lang en|zh]
                            the same bot on this terminal; a sandbox WeChat when no credentials are set
  bindtester check-config   report every settings problem at once (--wechat: also ask WeChat about each app)
  bindtester bind <app> <wechat-id> [for 3d]   (--user U… | --admin) [--channel C…]
  bindtester unbind <app> <wechat-id | #grant> (--user U… | --admin)
  bindtester testers <app>                     (--user U… | --admin)
  bindtester apps [--refresh] [page N]         (--user U… | --admin)
                            every Mini Program and who may bind, ask and approve; --refresh asks a platform's WeChat first
  bindtester audit [--app A] [--who U…] [--format table|csv|json] [--limit N] (--user U… | --admin)
                            the admin commands: same permission checks as Slack, skipped only for --admin
  bindtester version

Settings come from the environment and from .env (see .env.example).`

// run is the whole program, with its dependencies passed in so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if bot.CLICommand(cmd) { // bind, and the subcommands the command table gives the command line
		return runAdminCommand(ctx, cmd, args, getenv, stdout, stderr)
	}
	switch cmd {
	case "run":
		return runSlack(ctx, getenv, stderr)
	case "console":
		return runConsole(ctx, args, getenv, stdin, stdout, stderr)
	case "check-config":
		return checkConfig(ctx, args, getenv, stdout)
	case "audit":
		return runAudit(ctx, args, getenv, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "bindtester", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

func newLogger(s settings, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: s.LogLevel}
	if s.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func flagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
