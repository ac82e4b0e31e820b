package bot

import (
	"context"
	"errors"
	"time"
)

// The bot's memory: an audit log of every request and change, the grants it
// made (so it can unbind them when their time is up) and pending approvals.
// bot/store implements these on SQLite; another engine can follow.
//
// WeChat IDs cross these interfaces in plain text only where the store must be
// able to act on them later (bind after an approval, unbind a grant WeChat gave
// no userstr for); the store keeps them sealed, never in plain text, and finds
// them by a keyed hash.

// EventKind is what happened.
type EventKind string

const (
	EventAllowed         EventKind = "allowed"          // permitted; WeChat is about to be called
	EventDenied          EventKind = "denied"           // refused by the policy
	EventRequested       EventKind = "requested"        // an approval was asked for
	EventApproved        EventKind = "approved"         // an approver approved
	EventRejected        EventKind = "rejected"         // an approver denied
	EventApprovalExpired EventKind = "approval_expired" // nobody decided in time
	EventBound           EventKind = "bound"            // WeChat bound the tester (or it already was)
	EventFailed          EventKind = "failed"           // a WeChat call failed (bind or unbind)
	EventUnbound         EventKind = "unbound"          // a person unbound a tester
	EventExpired         EventKind = "expired"          // the worker unbound a tester whose time was up
)

// Event is one audit record.
type Event struct {
	ID           int64
	At           time.Time
	Kind         EventKind
	Actor        string // Slack user who acted; "" for the bot itself (the expiry worker)
	Requester    string // whose request it is
	Channel      string
	ThreadTS     string
	AppID        string
	WechatMasked string // ab***yz; never the full ID
	UserStr      string // what WeChat returned for the experiencer
	ErrCode      int    // WeChat errcode, when there was one
	Detail       string // short, secret-free
	GrantID      int64
	ApprovalID   int64
}

// AuditFilter selects events, newest first.
type AuditFilter struct {
	AppID  string // "" for all
	User   string // actor or requester; "" for all
	Limit  int    // 0 for no limit
	Offset int
}

// AuditLog is where every request is written before its requester is answered.
type AuditLog interface {
	Record(ctx context.Context, e Event) error
	Events(ctx context.Context, f AuditFilter) ([]Event, error)
}

// ThreadRef is where a request was answered, so later news can go there:
// the channel, the parent (status) message and the thread under it. An empty
// Channel means "no thread": such news goes to the requester by DM.
type ThreadRef struct {
	Channel, ParentTS, ThreadTS string
}

// GrantState is where a grant is in its life.
type GrantState string

const (
	GrantActive GrantState = "active" // bound, until ExpiresAt
	GrantEnded  GrantState = "ended"  // unbound (by a person or the worker)
)

// Grant is time-bound access the bot gave: one WeChat account on one app.
type Grant struct {
	ID           int64
	AppID        string
	WechatMasked string
	UserStr      string // "" when WeChat gave none (it was already bound)
	Requester    string
	Thread       ThreadRef
	CreatedAt    time.Time
	ExpiresAt    time.Time
	State        GrantState
	EndedAt      time.Time
	EndedBy      string // Slack user, or "" for the worker
	WarnedAt     time.Time
	Attempts     int       // failed unbind attempts
	NextAttempt  time.Time // when the worker may try to unbind again
	LastError    string
}

// GrantFilter selects active grants.
type GrantFilter struct {
	AppID     string // "" for all
	Requester string // "" for all
}

// ErrNotFound is returned for a grant or approval that does not exist.
var ErrNotFound = errors.New("not found")

// Grants keeps the bot's time-bound grants.
type Grants interface {
	// SaveGrant records a bind: it creates the active grant for (g.AppID,
	// wechatID), or, when one exists, extends it to g.ExpiresAt (never shortens
	// it) and keeps its userstr unless g.UserStr is set. It returns the stored grant.
	SaveGrant(ctx context.Context, g Grant, wechatID string) (Grant, error)
	// FindGrant finds the active grant for wechatID on appid.
	FindGrant(ctx context.Context, appid, wechatID string) (Grant, error)
	Grant(ctx context.Context, id int64) (Grant, error)
	// GrantWechatID unseals the WeChat ID of a grant, to unbind it when it has no userstr.
	GrantWechatID(ctx context.Context, id int64) (string, error)
	// ActiveGrants lists active grants, soonest to expire first.
	ActiveGrants(ctx context.Context, f GrantFilter) ([]Grant, error)
	// DueGrants lists active grants expired at now whose next unbind attempt is due.
	DueGrants(ctx context.Context, now time.Time) ([]Grant, error)
	// WarnGrants lists active, not yet warned grants expiring between now and before.
	WarnGrants(ctx context.Context, now, before time.Time) ([]Grant, error)
	MarkWarned(ctx context.Context, id int64, at time.Time) error
	// EndGrant marks a grant unbound; it reports false if it had already ended.
	EndGrant(ctx context.Context, id int64, by string, at time.Time) (bool, error)
	// UnbindFailed records a failed unbind attempt and when to try again.
	UnbindFailed(ctx context.Context, id int64, errText string, next time.Time) error
}

// ApprovalState is where an approval request is.
type ApprovalState string

const (
	ApprovalPending  ApprovalState = "pending"
	ApprovalApproved ApprovalState = "approved"
	ApprovalDenied   ApprovalState = "denied"
	ApprovalExpired  ApprovalState = "expired"
)

// MessageRef is one posted message (an approval prompt, to update once decided).
type MessageRef struct{ Channel, TS string }

// Approval is a bind waiting for an approver.
type Approval struct {
	ID           int64
	AppID        string
	WechatMasked string
	Requester    string
	Thread       ThreadRef     // the requester's thread, where the outcome goes
	Duration     time.Duration // asked-for access duration
	State        ApprovalState
	DecidedBy    string
	DecidedAt    time.Time
	CreatedAt    time.Time
	ExpiresAt    time.Time // pending requests expire
	Prompts      []MessageRef
}

// Approvals keeps approval requests.
type Approvals interface {
	CreateApproval(ctx context.Context, a Approval, wechatID string) (Approval, error)
	Approval(ctx context.Context, id int64) (Approval, error)
	// ApprovalWechatID unseals the WeChat ID to bind once approved.
	ApprovalWechatID(ctx context.Context, id int64) (string, error)
	SetPrompts(ctx context.Context, id int64, prompts []MessageRef) error
	// Decide moves a pending approval to state, atomically: decided is false (and
	// a holds the earlier decision) when someone decided it first.
	Decide(ctx context.Context, id int64, state ApprovalState, by string, at time.Time) (a Approval, decided bool, err error)
	// StaleApprovals lists pending approvals whose ExpiresAt is before now.
	StaleApprovals(ctx context.Context, now time.Time) ([]Approval, error)
}

// Store is everything the bot remembers.
type Store interface {
	AuditLog
	Grants
	Approvals
}
