package wechat

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// The trial version's QR code is the same picture for every tester of a Mini
// Program (it opens whatever trial version is current), so the client can
// keep it for a while instead of asking WeChat once per bind.

// CacheQRCodes keeps each TrialQRCode answer (per appid and path) for ttl,
// and makes concurrent fetches of one code a single call. Failures are not
// kept. ttl <= 0 turns caching off. Set it before the client is used.
func (c *Client) CacheQRCodes(ttl time.Duration) *Client {
	if ttl <= 0 {
		c.qr = nil
		return c
	}
	c.qr = &qrCache{ttl: ttl, codes: map[string]cachedQR{}}
	return c
}

type qrCache struct {
	ttl    time.Duration
	flight singleflight.Group
	mu     sync.Mutex
	codes  map[string]cachedQR
}

type cachedQR struct {
	qr      QRCode
	expires time.Time
}

// get returns the code kept for key, or fetches it (once for all who ask
// meanwhile) and keeps it.
func (q *qrCache) get(ctx context.Context, key string, fetch func(context.Context) (QRCode, error)) (QRCode, error) {
	q.mu.Lock()
	hit, ok := q.codes[key]
	q.mu.Unlock()
	if ok && time.Now().Before(hit.expires) {
		return hit.qr, nil
	}
	ch := q.flight.DoChan(key, func() (any, error) {
		qr, err := fetch(ctx)
		if err == nil {
			q.mu.Lock()
			q.codes[key] = cachedQR{qr: qr, expires: time.Now().Add(q.ttl)}
			q.mu.Unlock()
		}
		return qr, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return QRCode{}, r.Err
		}
		return r.Val.(QRCode), nil
	case <-ctx.Done():
		return QRCode{}, &TransportError{Kind: ErrTimeout, Path: "/wxa/get_qrcode", Detail: ctx.Err().Error()}
	}
}
