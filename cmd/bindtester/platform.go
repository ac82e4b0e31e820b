package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/bot/store"
	"github.com/bindtester/bindtester/wechat"
)

// startPlatform keeps a third-party platform's apps current on this
// replica: it puts the apps the store knows in force now and at every
// sweep, and runs the scheduled discovery when this replica claims it (one
// of many does). It returns once the first load is done.
func startPlatform(ctx context.Context, b *bot.Bot, st *store.Store, s settings, log *slog.Logger) (stop func()) {
	if err := b.ReloadApps(ctx); err != nil {
		log.Warn("platform apps not loaded from the store", "error", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(s.Sweep)
		defer tick.Stop()
		for {
			if s.Discovery > 0 {
				discover(ctx, b, st, s, log)
			} else if err := b.ReloadApps(ctx); err != nil && ctx.Err() == nil {
				log.Warn("platform apps not reloaded", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// discover runs the scheduled discovery if this replica claims it, and
// otherwise puts in force what the store knows. The claim lasts retry: a
// replica that dies holding it leaves it to run out, and another runs the
// discovery. One that ran makes the next due an interval later; one that
// failed, after retry.
func discover(ctx context.Context, b *bot.Bot, st *store.Store, s settings, log *slog.Logger) {
	retry := min(5*time.Minute, 10*s.Sweep)
	now := time.Now()
	ok, err := st.ClaimDiscovery(ctx, now, now.Add(retry))
	switch {
	case err != nil:
		log.Warn("discovery not claimed", "error", err)
		return
	case !ok:
		if err := b.ReloadApps(ctx); err != nil && ctx.Err() == nil {
			log.Warn("platform apps not reloaded", "error", err)
		}
		return
	}
	next := now.Add(s.Discovery)
	if _, err := b.Discover(ctx); err != nil {
		if ctx.Err() != nil {
			return // shutting down: the claim runs out, and another replica (or the next start) runs it
		}
		log.Warn("platform discovery failed; the apps known before stay", "error", err, "retry_in", retry)
		next = now.Add(retry)
	}
	if err := st.ScheduleDiscovery(ctx, next); err != nil {
		log.Warn("next discovery not scheduled; it runs when the claim runs out", "error", err)
	}
}

// serveNotices opens the platform's endpoint for WeChat's pushes
// (BINDTESTER_PLATFORM_LISTEN): component_verify_ticket every 10 minutes
// and authorization notices, verified, decrypted and handed to the bot.
// Replays are recognized across replicas through the store. The listener is
// opened at once, so a busy port stops startup.
func serveNotices(ctx context.Context, s settings, b *bot.Bot, st *store.Store, m *metrics, log *slog.Logger) error {
	crypt, err := wechat.NewMsgCrypt(s.Notices.Token, s.Notices.AESKey, s.Component.AppID)
	if err != nil {
		return fmt.Errorf("WECHAT_COMPONENT_AES_KEY: %w", err)
	}
	ln, err := net.Listen("tcp", s.Notices.Listen)
	if err != nil {
		return fmt.Errorf("BINDTESTER_PLATFORM_LISTEN: cannot listen on %s: %w", s.Notices.Listen, err)
	}
	const keyPrefix = "wechat-push:" // beside Slack's envelope ids in the seen table
	h := &wechat.NoticeHandler{Crypt: crypt, Log: log,
		Handle: func(ctx context.Context, n wechat.Notice) error {
			err := b.PlatformNotice(ctx, n)
			if err != nil { // the error names the step, never the ticket
				log.Warn("WeChat's push not handled; it will push again", "info_type", n.InfoType, "error", err)
			}
			return err
		},
		FirstSeen: func(ctx context.Context, key string) (bool, error) {
			return st.FirstSeen(ctx, keyPrefix+key, time.Now())
		},
		Forget:  func(ctx context.Context, key string) error { return st.ForgetKey(ctx, keyPrefix+key) },
		Observe: func(result string) { m.notices.WithLabelValues(result).Inc() }}
	serve(ctx, ln, h, "platform endpoint for WeChat's pushes", log)
	return nil
}
