package slackbot

import (
	"io"
	"net/http"
)

// drainBodies reads what is left of every answer before closing it, so the
// connection goes back to the pool: Go drops a connection whose answer was
// closed unread, and slack-go closes some unread (the file upload's), which
// would cost a new connection — a TLS handshake — per QR code.
type drainBodies struct{ next http.RoundTripper }

func (d drainBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := d.next.RoundTrip(r)
	if err == nil && resp.Body != nil {
		resp.Body = drainOnClose{resp.Body}
	}
	return resp, err
}

type drainOnClose struct{ io.ReadCloser }

// maxDrain bounds what is read to keep a connection: a larger leftover costs
// more than a new connection.
const maxDrain = 64 << 10

func (b drainOnClose) Close() error {
	_, _ = io.Copy(io.Discard, io.LimitReader(b.ReadCloser, maxDrain))
	return b.ReadCloser.Close()
}
