package wechat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
)

// Error is an answer from WeChat with a non-zero errcode.
type Error struct {
	Code int
	Msg  string // errmsg as WeChat sent it
	Path string // API path, without query (never the access token)
}

func (e *Error) Error() string {
	return fmt.Sprintf("wechat %s: errcode %d: %s", e.Path, e.Code, e.Msg)
}

// Info is the catalog entry for this errcode.
func (e *Error) Info() CodeInfo { return Lookup(e.Code) }

// Transport failure kinds. A *TransportError matches exactly one of them with errors.Is.
var (
	ErrTimeout     = errors.New("wechat did not answer in time")
	ErrUnreachable = errors.New("wechat could not be reached")
	ErrHTTPStatus  = errors.New("wechat answered with an HTTP error")
	ErrBadResponse = errors.New("wechat answered with something that is not its API's JSON")
)

// TransportError is a failure below the WeChat API: the call did not get a usable answer.
// Its text names the API path and never the URL (which carries the access token).
type TransportError struct {
	Kind   error  // one of ErrTimeout, ErrUnreachable, ErrHTTPStatus, ErrBadResponse
	Path   string // API path without query
	Status int    // HTTP status, when there was one
	Detail string // short, token-free detail
	cause  error  // sanitized underlying error (e.g. context.DeadlineExceeded)
}

func (e *TransportError) Error() string {
	s := fmt.Sprintf("wechat %s: %v", e.Path, e.Kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *TransportError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.Kind, e.cause}
	}
	return []error{e.Kind}
}

// transportError classifies an error from the HTTP layer. The *url.Error wrapper,
// whose text includes the full URL and so the access token, is stripped off.
func transportError(path string, err error) *TransportError {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	te := &TransportError{Path: path, Kind: ErrUnreachable, Detail: err.Error(), cause: err}
	var nerr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		te.Kind, te.Detail, te.cause = ErrTimeout, "", context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		te.Kind, te.Detail, te.cause = ErrTimeout, "request cancelled", context.Canceled
	default:
		te.cause = errors.New(err.Error())
	}
	return te
}

// tokenFetchError is a failed token fetch seen by a call that needed the token.
// The fetch made its own retries, so the call does not retry it again (which
// would multiply requests to rationed token endpoints).
type tokenFetchError struct{ err error }

func (e *tokenFetchError) Error() string { return e.err.Error() }
func (e *tokenFetchError) Unwrap() error { return e.err }

// retryable reports whether another attempt may succeed.
func retryable(err error) bool {
	var tf *tokenFetchError
	if errors.As(err, &tf) {
		return false
	}
	var we *Error
	if errors.As(err, &we) {
		return Lookup(we.Code).Action == Retry
	}
	var te *TransportError
	if errors.As(err, &te) {
		if errors.Is(te.cause, context.Canceled) {
			return false
		}
		switch te.Kind {
		case ErrTimeout, ErrUnreachable:
			return true
		case ErrHTTPStatus:
			return te.Status >= 500
		}
	}
	return false
}
