package bot

import (
	"context"
	"slices"
	"sync"
	"time"
)

// What a command did: every audited change it made, as the store recorded
// it, so a caller (the command line, a script) learns whether anything
// changed without reading the audit log back, and App Homes learn whose
// page changed.

// Outcome is what one command did.
type Outcome struct {
	Events []Event // the audit records it wrote, in order
}

// Changed reports whether it bound, unbound or extended anyone.
func (o Outcome) Changed() bool {
	return slices.ContainsFunc(o.Events, func(e Event) bool {
		return e.Kind == EventBound || e.Kind == EventUnbound || e.Kind == EventExtended
	})
}

// Do runs one command as Handle does and returns what it did. A bind that
// waits for an approval returns with EventRequested; what the approvers
// decide later belongs to their clicks.
func (b *Bot) Do(ctx context.Context, req Request, conv Conversation) (Outcome, error) {
	rec := &outcomeRecorder{}
	err := b.Handle(context.WithValue(ctx, outcomeKey{}, rec), req, conv)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return Outcome{Events: slices.Clone(rec.events)}, err
}

type outcomeKey struct{}

// outcomeRecorder gathers the audit records one Do writes (the WeChat call
// and the answer may run in goroutines of their own).
type outcomeRecorder struct {
	mu     sync.Mutex
	events []Event
}

// changed is told of every audit record written: the Do whose context it
// was written in keeps it, and the App Homes it touches are refreshed.
func (b *Bot) changed(ctx context.Context, e Event) {
	if rec, ok := ctx.Value(outcomeKey{}).(*outcomeRecorder); ok {
		rec.mu.Lock()
		rec.events = append(rec.events, e)
		rec.mu.Unlock()
	}
	b.homesChanged(ctx, e)
}

// watchChanges is the store as the core uses it: every audit record it
// writes (alone, with a job's outcome, with an extension) is reported to
// changed once it is committed.
type watchChanges struct {
	Store
	b *Bot
}

func (w watchChanges) Record(ctx context.Context, e Event) error {
	err := w.Store.Record(ctx, e)
	if err == nil {
		w.b.changed(ctx, e)
	}
	return err
}

func (w watchChanges) FinishJob(ctx context.Context, id int64, owner string, r JobResult, at time.Time) (Job, Grant, error) {
	j, g, err := w.Store.FinishJob(ctx, id, owner, r, at)
	if err == nil {
		w.b.changed(ctx, r.Event)
	}
	return j, g, err
}

func (w watchChanges) ExtendGrant(ctx context.Context, id int64, from, to time.Time, ev Event) (Grant, bool, error) {
	g, changed, err := w.Store.ExtendGrant(ctx, id, from, to, ev)
	if err == nil && changed {
		w.b.changed(ctx, ev)
	}
	return g, changed, err
}
