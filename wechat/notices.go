package wechat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Notice is one decrypted push to the third-party platform's authorization event URL.
type Notice struct {
	AppID             string // the platform's appid, checked
	InfoType          string // component_verify_ticket, authorized, updateauthorized, unauthorized
	CreateTime        time.Time
	Ticket            string // ComponentVerifyTicket
	AuthorizerAppID   string
	AuthorizationCode string
	PreAuthCode       string
}

// Results passed to NoticeHandler.Observe.
const (
	NoticeOK           = "ok"
	NoticeBadSignature = "bad_signature"
	NoticeBadPayload   = "bad_payload"
	NoticeWrongAppID   = "wrong_appid"
	NoticeStale        = "stale"
	NoticeReplay       = "replay"
	NoticeError        = "error"
)

// noticeBodyLimit bounds a push body; real ones are well under 2 KiB.
const noticeBodyLimit = 64 << 10

// NoticeHandler serves the platform's 授权事件接收URL, where WeChat pushes component_verify_ticket
// every 10 minutes and authorized / updateauthorized / unauthorized notices. It checks the
// msg_signature, the timestamp's age, replays, the encryption and both appids, then calls Handle
// and answers "success". It never logs the body, the signature or the ticket.
type NoticeHandler struct {
	Crypt  *MsgCrypt
	MaxAge time.Duration    // timestamps older or further in the future are stale (default 5 min if zero)
	Now    func() time.Time // nil: time.Now
	// FirstSeen records key and reports whether it is new; bot replicas share it (the caller backs
	// it with the database). Keys are fixed-length hex, derived from msg_signature, timestamp and
	// nonce; they need be kept only 2×MaxAge. nil: an in-process record, for a single replica.
	FirstSeen func(ctx context.Context, key string) (bool, error)
	// Handle stores the ticket or reacts to the notice; an error answers 500 so WeChat pushes again.
	// Handle logs its own failures: the handler logs only the result and the InfoType.
	Handle func(ctx context.Context, n Notice) error
	// Forget undoes FirstSeen's record of a push Handle failed on, so WeChat's
	// retry of it (same signature, timestamp and nonce) is handled, not refused
	// as a replay. nil: a failed push's retry is refused (the in-process
	// record forgets by itself).
	Forget  func(ctx context.Context, key string) error
	Observe func(result string) // metrics: one of the Notice* results; nil ok
	Log     *slog.Logger        // nil: discard

	memOnce sync.Once
	mem     *seenMemory
}

type pushEnvelope struct {
	AppID      string `xml:"AppId"`
	ToUserName string `xml:"ToUserName"`
	Encrypt    string `xml:"Encrypt"`
}

type pushInner struct {
	AppID             string `xml:"AppId"`
	CreateTime        int64  `xml:"CreateTime"`
	InfoType          string `xml:"InfoType"`
	Ticket            string `xml:"ComponentVerifyTicket"`
	AuthorizerAppID   string `xml:"AuthorizerAppid"`
	AuthorizationCode string `xml:"AuthorizationCode"`
	PreAuthCode       string `xml:"PreAuthCode"`
}

// ServeHTTP answers "success" to a valid push once Handle has taken it; 405 to anything but POST
// (not observed); 401 to a bad signature; 400 (413 for an oversized body) to other refusals; and
// 500 when FirstSeen or Handle fails. A push whose Handle fails is forgotten again (Forget, or
// the in-process record), so WeChat's identical retry is handled; only a process that dies
// between recording a push and handling it leaves the retry refused as a replay (the next
// ticket comes within 10 minutes; an authorization notice waits for the next discovery).
func (h *NoticeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	n, result, status := h.receive(r, w)
	if result == NoticeOK {
		if h.Handle == nil {
			result, status = NoticeError, http.StatusInternalServerError
		} else if err := h.Handle(r.Context(), n); err != nil {
			result, status = NoticeError, http.StatusInternalServerError
			q := r.URL.Query()
			key := pushKey(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"))
			if h.Forget != nil {
				_ = h.Forget(r.Context(), key) // if this fails too, WeChat's retry is refused: the next push comes
			} else if h.FirstSeen == nil {
				h.seen().forget(key)
			}
		}
	}
	if h.Observe != nil {
		h.Observe(result)
	}
	log := h.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch result {
	case NoticeOK:
		log.LogAttrs(r.Context(), slog.LevelInfo, "wechat notice received", slog.String("info_type", n.InfoType))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "success")
		return
	case NoticeError:
		log.LogAttrs(r.Context(), slog.LevelError, "wechat notice not handled",
			slog.String("result", result), slog.String("info_type", n.InfoType), slog.String("remote", r.RemoteAddr))
	default:
		log.LogAttrs(r.Context(), slog.LevelWarn, "wechat notice refused",
			slog.String("result", result), slog.String("remote", r.RemoteAddr))
	}
	http.Error(w, http.StatusText(status), status)
}

// receive checks and opens one push; result is NoticeOK or why it was refused.
func (h *NoticeHandler) receive(r *http.Request, w http.ResponseWriter) (Notice, string, int) {
	q := r.URL.Query()
	if h.Crypt == nil {
		return Notice{}, NoticeError, http.StatusInternalServerError
	}
	if q.Get("encrypt_type") != "aes" {
		return Notice{}, NoticeBadPayload, http.StatusBadRequest
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, noticeBodyLimit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return Notice{}, NoticeBadPayload, http.StatusRequestEntityTooLarge
		}
		return Notice{}, NoticeBadPayload, http.StatusBadRequest
	}
	var env pushEnvelope
	if xml.Unmarshal(body, &env) != nil || env.Encrypt == "" {
		return Notice{}, NoticeBadPayload, http.StatusBadRequest
	}
	ts, nonce, sig := q.Get("timestamp"), q.Get("nonce"), q.Get("msg_signature")
	if h.Crypt.Verify(sig, ts, nonce, env.Encrypt) != nil {
		return Notice{}, NoticeBadSignature, http.StatusUnauthorized
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Notice{}, NoticeBadPayload, http.StatusBadRequest
	}
	if !h.fresh(time.Unix(sec, 0)) {
		return Notice{}, NoticeStale, http.StatusBadRequest
	}
	first, err := h.firstSeen(r.Context(), pushKey(sig, ts, nonce))
	if err != nil {
		return Notice{}, NoticeError, http.StatusInternalServerError
	}
	if !first {
		return Notice{}, NoticeReplay, http.StatusBadRequest
	}
	msg, _, err := h.Crypt.Decrypt(env.Encrypt)
	switch {
	case errors.Is(err, ErrWrongAppID):
		return Notice{}, NoticeWrongAppID, http.StatusBadRequest
	case err != nil:
		return Notice{}, NoticeBadPayload, http.StatusBadRequest
	}
	var in pushInner
	if xml.Unmarshal(msg, &in) != nil || in.InfoType == "" {
		return Notice{}, NoticeBadPayload, http.StatusBadRequest
	}
	// The envelope's AppId is not signed, but one naming another platform is misrouted.
	if in.AppID != h.Crypt.appID || (env.AppID != "" && env.AppID != h.Crypt.appID) {
		return Notice{}, NoticeWrongAppID, http.StatusBadRequest
	}
	if in.InfoType == "component_verify_ticket" && in.Ticket == "" {
		return Notice{}, NoticeBadPayload, http.StatusBadRequest
	}
	n := Notice{
		AppID:             in.AppID,
		InfoType:          in.InfoType,
		Ticket:            in.Ticket,
		AuthorizerAppID:   in.AuthorizerAppID,
		AuthorizationCode: in.AuthorizationCode,
		PreAuthCode:       in.PreAuthCode,
	}
	if in.CreateTime != 0 {
		n.CreateTime = time.Unix(in.CreateTime, 0)
	}
	return n, NoticeOK, http.StatusOK
}

func (h *NoticeHandler) maxAge() time.Duration {
	if h.MaxAge > 0 {
		return h.MaxAge
	}
	return 5 * time.Minute
}

func (h *NoticeHandler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *NoticeHandler) fresh(sent time.Time) bool {
	d := h.now().Sub(sent)
	return d <= h.maxAge() && d >= -h.maxAge()
}

func (h *NoticeHandler) firstSeen(ctx context.Context, key string) (bool, error) {
	if h.FirstSeen != nil {
		return h.FirstSeen(ctx, key)
	}
	return h.seen().first(key, h.now(), 2*h.maxAge()), nil
}

// seen is the in-process replay guard, made on first use.
func (h *NoticeHandler) seen() *seenMemory {
	h.memOnce.Do(func() { h.mem = &seenMemory{at: map[string]time.Time{}} })
	return h.mem
}

// pushKey names one push for the replay guard without carrying its parts verbatim.
func pushKey(signature, timestamp, nonce string) string {
	sum := sha256.Sum256([]byte(signature + "\x00" + timestamp + "\x00" + nonce))
	return hex.EncodeToString(sum[:])
}

func (s *seenMemory) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.at, key)
}

// seenMemory is the in-process replay guard: keys are forgotten after keep.
type seenMemory struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (s *seenMemory) first(key string, now time.Time, keep time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.at {
		if now.Sub(t) > keep {
			delete(s.at, k)
		}
	}
	if _, ok := s.at[key]; ok {
		return false
	}
	s.at[key] = now
	return true
}
