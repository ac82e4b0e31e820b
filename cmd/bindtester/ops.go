package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/wechat"
)

// metrics are what the ops endpoint exports to Prometheus.
type metrics struct {
	reg           *prometheus.Registry
	events        *prometheus.CounterVec   // audit events by kind: binds, denials, expiries…
	envelopes     *prometheus.CounterVec   // Socket Mode envelopes acked, by type
	wechat        *prometheus.HistogramVec // WeChat HTTP attempts by path and result
	groupFailures *prometheus.CounterVec   // failed user group lookups: stale (last members used) or denied
	busy          prometheus.Counter       // requests answered busy (BINDTESTER_MAX_IN_FLIGHT reached)
	notices       *prometheus.CounterVec   // WeChat pushes to the platform endpoint, by result
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bindtester_audit_events_total",
			Help: "Audit events recorded, by kind (allowed, denied, bound, failed, expired, …)."}, []string{"kind"}),
		envelopes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bindtester_slack_envelopes_total",
			Help: "Socket Mode envelopes acknowledged, by type."}, []string{"type"}),
		wechat: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bindtester_wechat_request_duration_seconds",
			Help: "WeChat HTTP attempts, by API path and result (ok, errcode, timeout, unreachable, http_status, bad_response).", Buckets: prometheus.DefBuckets},
			[]string{"path", "result"}),
		groupFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bindtester_group_lookup_failures_total",
			Help: "Failed Slack user group lookups, by outcome: stale (the last known members were used) or denied (too old: the check failed)."}, []string{"outcome"}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{Name: "bindtester_busy_total",
			Help: "Requests not taken because BINDTESTER_MAX_IN_FLIGHT commands were in flight; the requester was told to try again."}),
	}
	m.notices = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bindtester_platform_notices_total",
		Help: "WeChat pushes to BINDTESTER_PLATFORM_LISTEN, by result (ok, bad_signature, bad_payload, wrong_appid, stale, replay, error)."}, []string{"result"})
	m.reg.MustRegister(m.events, m.envelopes, m.wechat, m.groupFailures, m.busy, m.notices, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observeWeChat is wechat.Config.Observe.
func (m *metrics) observeWeChat(path string, took time.Duration, err error) {
	m.wechat.WithLabelValues(path, wechatResult(err)).Observe(took.Seconds())
}

func wechatResult(err error) string {
	var we *wechat.Error
	var te *wechat.TransportError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &we):
		return "errcode"
	case errors.As(err, &te) && errors.Is(te, wechat.ErrTimeout):
		return "timeout"
	case errors.As(err, &te) && errors.Is(te, wechat.ErrUnreachable):
		return "unreachable"
	case errors.As(err, &te) && errors.Is(te, wechat.ErrHTTPStatus):
		return "http_status"
	}
	return "bad_response"
}

// meteredStore counts audit events as they are recorded.
type meteredStore struct {
	bot.Store
	events *prometheus.CounterVec
}

func (s meteredStore) Record(ctx context.Context, e bot.Event) error {
	err := s.Store.Record(ctx, e)
	if err == nil {
		s.events.WithLabelValues(string(e.Kind)).Inc()
	}
	return err
}

// CreateJob records the request's audit event with the intent: it counts too.
func (s meteredStore) CreateJob(ctx context.Context, j bot.Job, wechatID string) (bot.Job, error) {
	done, err := s.Store.CreateJob(ctx, j, wechatID)
	if err == nil && j.Intent != nil {
		s.events.WithLabelValues(string(j.Intent.Kind)).Inc()
	}
	return done, err
}

// FinishJob records a job's audit event with its outcome: it counts too.
func (s meteredStore) FinishJob(ctx context.Context, id int64, owner string, r bot.JobResult, at time.Time) (bot.Job, bot.Grant, error) {
	j, g, err := s.Store.FinishJob(ctx, id, owner, r, at)
	if err == nil && r.Event.Kind != "" {
		s.events.WithLabelValues(string(r.Event.Kind)).Inc()
	}
	return j, g, err
}

// serveOps serves /healthz (200 when healthy, else 503 with the reason) and
// /metrics until ctx ends. The listener is opened at once, so a busy port stops startup.
func serveOps(ctx context.Context, addr string, healthy func(context.Context) error, m *metrics, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("BINDTESTER_OPS_ADDR: cannot listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := healthy(ctx); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	serve(ctx, ln, mux, "ops endpoint", log)
	return nil
}

// serve runs h on ln until ctx ends; what stops it otherwise is logged.
func serve(ctx context.Context, ln net.Listener, h http.Handler, name string, log *slog.Logger) {
	// Bounded reads and writes: the platform endpoint faces the internet, and
	// a client trickling its body must not hold a connection for ever.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(name+" stopped", "error", err)
		}
	}()
	log.Info(name+" listening", "addr", ln.Addr().String())
}
