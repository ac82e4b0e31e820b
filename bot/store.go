package bot

import (
	"context"
	"errors"
	"slices"
	"time"
)

// The bot's memory: an audit log of every request and change, the grants it
// made (so it can unbind them when their time is up), pending approvals, and
// the durable jobs through which every WeChat change is made. bot/store
// implements these on SQLite and PostgreSQL.
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
	EventUnknown         EventKind = "unknown"          // WeChat's answer was lost: the job asks again later
	EventUnbound         EventKind = "unbound"          // a person unbound a tester
	EventExpired         EventKind = "expired"          // the worker unbound a tester whose time was up
	EventExtended        EventKind = "extended"         // a grant's end was moved later
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
	UnbindJob    int64  // the job unbinding it now, 0 for none
	Reason       string // why it was asked for (raw: escape before showing)
}

// Extend is g asked for again by n. Asking again never shortens a grant: a
// later end moves the grant to n's request (requester, thread, where later
// news goes, and reason) and starts its life afresh (not warned, no failed unbind
// attempts); an earlier or equal one changes nothing. A userstr n brings is
// kept either way. Both engines apply this one rule.
func (g Grant) Extend(n Grant) Grant {
	if n.UserStr != "" {
		g.UserStr = n.UserStr
	}
	if n.ExpiresAt.After(g.ExpiresAt) {
		g.ExpiresAt, g.Requester, g.Thread, g.Reason = n.ExpiresAt, n.Requester, n.Thread, n.Reason
		g.WarnedAt, g.Attempts, g.NextAttempt, g.LastError = time.Time{}, 0, time.Time{}, ""
	}
	return g
}

// GrantFilter selects active grants.
type GrantFilter struct {
	AppID     string // "" for all
	Requester string // "" for all
}

// ErrNotFound is returned for a grant or approval that does not exist.
var ErrNotFound = errors.New("not found")

// Grants keeps the bot's time-bound grants. They are made and ended only
// through jobs (Jobs.FinishJob), never directly.
type Grants interface {
	// FindGrant finds the active grant for wechatID on appid.
	FindGrant(ctx context.Context, appid, wechatID string) (Grant, error)
	Grant(ctx context.Context, id int64) (Grant, error)
	// GrantWechatID unseals grant id's WeChat ID (to ask WeChat again for it).
	GrantWechatID(ctx context.Context, id int64) (string, error)
	// ActiveGrants lists active grants, soonest to expire first.
	ActiveGrants(ctx context.Context, f GrantFilter) ([]Grant, error)
	// DueGrants lists active grants expired at now, not being unbound, whose next unbind attempt is due.
	DueGrants(ctx context.Context, now time.Time) ([]Grant, error)
	// WarnGrants lists active, not yet warned grants expiring between now and before.
	WarnGrants(ctx context.Context, now, before time.Time) ([]Grant, error)
	// ExtendGrant moves active grant id's end from from to to (not warned
	// again yet), with ev in the audit log, in one transaction. It changes
	// nothing, and says false, if the grant no longer ends at from (extended
	// meanwhile), has ended, or is being unbound.
	ExtendGrant(ctx context.Context, id int64, from, to time.Time, ev Event) (Grant, bool, error)
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
type MessageRef struct {
	Channel, TS string
	To          string // the user a prompt went to by DM; "" for a channel
}

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
	JobID        int64  // the bind job an approval made, 0 for none
	Reason       string // why it is asked for (raw: escape before showing)
	Votes        []Vote // approvals given so far, oldest first (the deciding one included)
}

// Vote is one approver's approval of a request.
type Vote struct {
	By string
	At time.Time
}

// VoteResult is what recording an approval did.
type VoteResult int

const (
	VoteRecorded   VoteResult = iota // counted; more approvals are needed
	VoteDecided                      // the last one needed: approved, its bind job written
	VoteAlready                      // this approver had approved already: nothing changed
	VoteNotPending                   // decided (or expired) before: nothing changed
)

// Approvals keeps approval requests.
type Approvals interface {
	CreateApproval(ctx context.Context, a Approval, wechatID string) (Approval, error)
	Approval(ctx context.Context, id int64) (Approval, error)
	SetPrompts(ctx context.Context, id int64, prompts []MessageRef) error
	// Decide moves a pending approval to state, atomically: decided is false (and
	// a holds the earlier decision) when someone decided it first. Approving
	// also writes, in the same transaction, the bind job (a.JobID) that carries
	// it out, unclaimed: whoever claims it first binds.
	Decide(ctx context.Context, id int64, state ApprovalState, by string, at time.Time) (a Approval, decided bool, err error)
	// StaleApprovals lists pending approvals whose ExpiresAt is before now.
	StaleApprovals(ctx context.Context, now time.Time) ([]Approval, error)
	// PendingApprovals lists those still waiting at now, oldest first.
	PendingApprovals(ctx context.Context, now time.Time) ([]Approval, error)
	// Vote records by's approval of pending approval id at at. The needed-th
	// distinct approver's decides it, as Decide does; earlier ones are only
	// recorded. Of concurrent votes, each is counted once.
	Vote(ctx context.Context, id int64, by string, at time.Time, needed int) (Approval, VoteResult, error)
}

// JobKind is the WeChat change a job makes.
type JobKind string

const (
	JobBind   JobKind = "bind"
	JobUnbind JobKind = "unbind"
)

// JobState is whether a job's outcome is known.
type JobState string

const (
	JobOpen JobState = "open" // WeChat has not answered, or its answer was lost: the job is (re)tried
	JobDone JobState = "done" // the outcome is recorded
)

// JobOutcome is how a job ended.
type JobOutcome string

const (
	OutcomeBound   JobOutcome = "bound"   // bound by this job (or its lost earlier attempt)
	OutcomeAlready JobOutcome = "already" // was an experiencer through an earlier grant of the bot's
	OutcomeOutside JobOutcome = "outside" // was an experiencer added outside the bot
	OutcomeFailed  JobOutcome = "failed"  // WeChat refused, or the job was given up
	OutcomeUnbound JobOutcome = "unbound" // unbound
	// OutcomeSuperseded: an expiry unbind whose grant was extended (asked for
	// again) while it ran: the grant stays, and nothing is announced.
	OutcomeSuperseded JobOutcome = "superseded"
	// OutcomeGaveUp: asked again and again, WeChat never said whether it made
	// the change; the bot stops asking. A bind given up still counts as the
	// bot's intent, so its tester is never called "added outside this bot".
	OutcomeGaveUp JobOutcome = "gave_up"
)

// Job is one WeChat change the bot is making: the intent is written, with
// the sealed WeChat ID, before WeChat is called, and the outcome after. While
// the outcome is unknown (a crash, a timeout, a lost answer) the job stays
// open, and whichever process claims it next asks WeChat again. Until
// Answered, the requester has not been told the outcome.
type Job struct {
	ID           int64
	Kind         JobKind
	State        JobState
	AppID        string
	WechatMasked string
	UserStr      string // unbind: whom WeChat knows the tester as ("" to unbind by WeChat ID)
	Requester    string // whose request, whose grant
	Actor        string // who made it happen (the requester, an approver, "" for the worker)
	Channel      string // where it was asked
	Thread       ThreadRef
	Duration     time.Duration // bind: access asked for
	Reason       string        // bind: why (raw), for the grant
	ApprovalID   int64
	GrantID      int64 // unbind: the grant ended; bind: the grant made
	CreatedAt    time.Time
	LeaseOwner   string
	LeaseUntil   time.Time
	NextAt       time.Time // when an open job may be tried again
	Attempts     int       // WeChat calls started
	Outcome      JobOutcome
	ErrCode      int
	Detail       string
	Answered     bool
	// Intent, given to CreateJob, is the audit record written in the same
	// transaction as the intent (the request allowed); reads leave it empty.
	Intent *Event
}

// Resumed reports whether the job had been tried before this claim: its
// answer then says it was interrupted.
func (j Job) Resumed() bool { return j.Attempts > 1 || j.State == JobDone }

// JobResult is a job's outcome and what it changes, recorded atomically.
type JobResult struct {
	Outcome JobOutcome
	ErrCode int
	Detail  string
	Event   Event  // the audit record (its GrantID is filled in)
	Grant   *Grant // bind: the grant to save (created, or extended per Grant.Extend)
	// Unbind: the job's grant ends (EndGrant), or, when RetryAt is set, its
	// failed unbind is noted and the worker tries again then.
	EndGrant bool
	RetryAt  time.Time
	// LeaseUntil, when set, renews the finisher's lease for answering, in
	// the same transaction.
	LeaseUntil time.Time
}

// ErrLeaseLost says another process has claimed the job: it finishes it.
var ErrLeaseLost = errors.New("job claimed by another process")

// ErrBusy says the grant is already being unbound by another job.
var ErrBusy = errors.New("already being changed")

// Jobs keeps the durable WeChat jobs. A lease (owner, until) says who works
// on a job; a process that dies holding one loses it when it runs out.
type Jobs interface {
	// CreateJob writes j's intent, claimed by j.LeaseOwner until j.LeaseUntil,
	// with one attempt counted. An unbind of a grant fails with ErrBusy while
	// another job unbinds it, and with ErrNotFound when it is no longer active.
	CreateJob(ctx context.Context, j Job, wechatID string) (Job, error)
	Job(ctx context.Context, id int64) (Job, error)
	JobWechatID(ctx context.Context, id int64) (string, error)
	SetJobThread(ctx context.Context, id int64, ref ThreadRef) error
	// ClaimJob leases one unanswered job whose lease has run out to owner
	// until until, counting an attempt if it is open; false if another holds it.
	ClaimJob(ctx context.Context, id int64, owner string, now, until time.Time) (Job, bool, error)
	// DueJobs lists unanswered jobs whose lease has run out and whose next attempt is due.
	DueJobs(ctx context.Context, now time.Time, limit int) ([]Job, error)
	// FinishJob records the outcome of owner's open job with its effects, atomically.
	// It fails with ErrLeaseLost if owner no longer holds the job. The worker's
	// unbind (no actor) of a grant extended since the job began ends nothing:
	// its outcome becomes OutcomeSuperseded, and no event is recorded.
	FinishJob(ctx context.Context, id int64, owner string, r JobResult, at time.Time) (Job, Grant, error)
	// RenewJob extends owner's lease on job id to until, before each phase of
	// work; ErrLeaseLost if another process has claimed it meanwhile.
	RenewJob(ctx context.Context, id int64, owner string, until time.Time) error
	// RetryJob leaves owner's job open, its outcome unknown, to be tried again at next.
	RetryJob(ctx context.Context, id int64, owner, detail string, next time.Time) error
	// JobAnswered records that the requester has been told; the job is over.
	JobAnswered(ctx context.Context, id int64, owner string) error
	// OpenBindJob reports whether a bind job other than except is open (or was
	// given up, its outcome never known) for wechatID on appid.
	OpenBindJob(ctx context.Context, appid, wechatID string, except int64) (bool, error)
}

// Claims make one-time work happen once across replicas.
type Claims interface {
	// ClaimWarning gives the caller the right to send grant id's end-of-access
	// warning until until, unless it was sent or another holds a live claim:
	// false then. A claim whose holder died runs out, and the warning is sent
	// by whoever sweeps next.
	ClaimWarning(ctx context.Context, id int64, now, until time.Time) (bool, error)
	// WarningSent records that the warning was sent at at: never again.
	WarningSent(ctx context.Context, id int64, at time.Time) error
	// UnclaimWarning gives the claim up when the warning could not be sent.
	UnclaimWarning(ctx context.Context, id int64) error
}

// Store is everything the bot remembers.
type Store interface {
	AuditLog
	Grants
	Approvals
	Jobs
	Claims
	PlatformApps
}

// PlatformApp is a Mini Program a WeChat third-party platform serves, as the
// platform's discovery (or its authorization notices) last saw it.
type PlatformApp struct {
	AppID          string
	Nickname       string // its name in WeChat
	PermissionSets []int  // granted to the platform; 18 is development management (testers)
	MiniProgram    bool   // false: an official account, which has no testers
	Revoked        bool   // the client revoked the platform's authorization
	SeenAt         time.Time
}

// CanManageTesters reports whether the platform may bind testers to the app.
func (a PlatformApp) CanManageTesters() bool { return slices.Contains(a.PermissionSets, 18) }

// PlatformApps keeps what discovery found, for every replica.
type PlatformApps interface {
	// SavePlatformApps records apps (by appid) and says what changed: apps
	// new or authorized again, apps revoked. A row written after an app's
	// SeenAt is left alone. With full (a discovery's authorizer list, read
	// at full.At), every app it does not hold, unchanged since, is revoked.
	SavePlatformApps(ctx context.Context, apps []PlatformApp, full *FullList) (PlatformChange, error)
	PlatformApps(ctx context.Context) ([]PlatformApp, error)
}

// FullList is a discovery's whole authorizer list, as read at At.
type FullList struct {
	At     time.Time
	AppIDs []string
}

// PlatformChange is what saving platform apps changed.
type PlatformChange struct{ Added, Revoked []PlatformApp }
