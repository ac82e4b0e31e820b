package store

// Group commit on SQLite.
//
// A SQLite commit in WAL mode with synchronous=FULL (the default, kept: a
// write has reached the disk when its call returns) ends with an fsync of
// the WAL, so one commit per write caps a store at a few hundred writes a
// second, however many commands are waiting. Instead every write of a SQLite
// store is a piece of work — a function of a transaction — handed to one
// committer, and its caller waits for the outcome. The committer takes the
// oldest piece and every other one already queued (at most maxBatch), opens
// one transaction (immediate: see dsn), runs each piece in it inside its own
// SAVEPOINT, commits once, then tells each caller how its piece went. So the
// writes that arrive while a commit is under way share the next one, and its
// fsync. Nothing waits to collect a batch (no timer): the committer takes
// what is queued the moment it is free.
//
// The committer is a goroutine, and a role: a write that finds nothing
// queued and no commit under way runs itself, in its caller's goroutine, as
// it ran before there was a committer (statements in autocommit, or a
// transaction without savepoints), sparing a lone write the hand-over to
// the goroutine and back. Writes arriving meanwhile queue for the goroutine,
// which commits them as soon as that one is done. A piece alone in its batch
// runs the same way.
//
// A piece that fails — a compare-and-set that matched no row, a constraint
// violation — is rolled back alone (ROLLBACK TO its savepoint) and its error
// goes to its caller only; the rest of the batch still commits. When the
// commit fails, every caller whose piece had succeeded gets the commit's
// error. SQLite's single write transaction serializes the pieces, so one
// that reads and then writes (FinishJob, Decide) sees every earlier piece's
// writes and is seen by every later one, as separate transactions would be.
// A piece that panics is rolled back alone too, and the panic re-raised in
// its caller.
//
// A piece runs with its caller's context values but never its cancellation
// (the batch's transaction, begun with no caller's context, must not be
// interrupted by one: SQLite rolls a whole transaction back when a write in
// it is interrupted). A caller whose context ends while its piece is still
// queued gets the context's error, and its piece never runs; once a piece
// has started it runs to the end, and its caller waits for the outcome.
//
// The batch's transaction holds one of the pool's connections while it
// runs; reads outside the committer use the others meanwhile, seeing the
// last commit (WAL mode), or wait for a connection. A piece must use the
// transaction it is given, never the Store's database handle — a query
// there would miss the batch's writes, or wait for a connection forever if
// all were taken — so db panics when asked from a piece's context; nor may
// a piece write through the Store again (do panics: the committer would
// wait for itself).
//
// Close stops taking pieces, lets the committer run and commit every piece
// already handed in, and waits for it; later writes fail with errStoreClosed.
//
// PostgreSQL needs none of this: its commits already share WAL flushes (a
// backend's flush writes out every commit record queued behind it, see
// commit_delay), so there a write is simply its own transaction.

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// maxBatch bounds the pieces one SQLite transaction commits: enough to
// absorb a burst, few enough that no caller waits long behind others.
const maxBatch = 64

// errStoreClosed is the error of a write handed to a closed store.
var errStoreClosed = errors.New("the store is closed")

// committer runs the writes of a SQLite store, batching them into shared
// commits (see the comment at the top of this file).
type committer struct {
	db    db
	queue chan *piece

	// running is held by whoever is committing: the goroutine, or a lone
	// write committing itself. One commit at a time.
	running sync.Mutex

	mu     sync.RWMutex // read-held while handing in a piece; held by close
	closed bool

	done    chan struct{} // closed when run has returned
	commits atomic.Int64  // commits made (tests count them)
	waiting atomic.Int64  // pieces queued and not yet started or dropped (tests wait for them)
}

// piece is one caller's write: fn, a function of a transaction, or stmt,
// statements that need none (see writeStmt), which fn then wraps.
type piece struct {
	ctx    context.Context // the caller's: its end abandons a queued piece
	what   string          // names the write in errors
	fn     func(context.Context, tx) error
	stmt   func(context.Context, querier) error
	state  atomic.Int32      // pieceQueued, then pieceStarted or pieceAbandoned
	result chan pieceOutcome // buffered: the committer never waits for a caller
	err    error             // set by the committer until the outcome is sent
}

const (
	pieceQueued int32 = iota
	pieceStarted
	pieceAbandoned
)

type pieceOutcome struct {
	err      error
	panicked any // what the piece panicked with, re-raised in its caller
}

// committerCtx marks the context a piece runs with.
type committerCtx struct{}

func newCommitter(d db) *committer {
	c := &committer{db: d, queue: make(chan *piece, maxBatch), done: make(chan struct{})}
	go c.run()
	return c
}

// do runs p in one of the committer's next commits and returns its error,
// or its context's if that ends before p starts (then p never runs).
func (c *committer) do(p *piece) error {
	ctx, what := p.ctx, p.what
	if ctx.Value(committerCtx{}) != nil {
		// The committer would wait for itself.
		panic("store: " + what + ": a write from inside another write's transaction")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	p.result = make(chan pieceOutcome, 1)
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return fmt.Errorf("%s: %w", what, errStoreClosed)
	}
	if len(c.queue) == 0 && c.running.TryLock() {
		// Nothing queued, nothing being committed: commit p here. (close
		// waits for running after refusing new pieces.)
		c.mu.RUnlock()
		p.state.Store(pieceStarted)
		c.commitAlone(p)
		c.running.Unlock()
		return reraise(<-p.result)
	}
	select {
	case c.queue <- p:
		c.waiting.Add(1)
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	select {
	case out := <-p.result:
		return reraise(out)
	case <-ctx.Done():
		if p.state.CompareAndSwap(pieceQueued, pieceAbandoned) {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		return reraise(<-p.result) // started: it runs to the end
	}
}

// reraise returns out's error, or raises its piece's panic again.
func reraise(out pieceOutcome) error {
	if out.panicked != nil {
		panic(out.panicked)
	}
	return out.err
}

// close refuses new pieces, and returns once every one handed in has been
// run or refused and the committer has stopped.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.queue) // no sender is left: they hand in pieces holding mu
	}
	c.mu.Unlock()
	<-c.done
	c.running.Lock() // a lone write committing itself, let in before closed was set
	c.running.Unlock()
}

func (c *committer) run() {
	defer close(c.done)
	var next []*piece // pieces not yet run when their batch's transaction broke
	for {
		batch := next
		if len(batch) == 0 {
			p, ok := <-c.queue
			if !ok {
				return
			}
			batch = []*piece{p}
		}
		c.running.Lock()
	fill:
		for len(batch) < maxBatch {
			select {
			case p, ok := <-c.queue:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		next = c.commit(batch)
		c.running.Unlock()
	}
}

// start claims a queued piece for running: false if its caller abandoned it.
func (c *committer) start(p *piece) bool {
	c.waiting.Add(-1)
	return p.state.CompareAndSwap(pieceQueued, pieceStarted)
}

// commit runs batch, in one transaction if it holds several pieces, and
// tells each caller its outcome. It returns the pieces it did not start
// because the transaction broke under an earlier one, to be run next.
func (c *committer) commit(batch []*piece) (notRun []*piece) {
	if len(batch) == 1 {
		if c.start(batch[0]) {
			c.commitAlone(batch[0])
		}
		return nil
	}
	sqlTx, err := c.db.DB.BeginTx(context.Background(), nil)
	if err != nil {
		c.refuse(batch, err)
		return nil
	}
	t := c.db.tx(sqlTx)
	var ran []*piece
	for i, p := range batch {
		if !c.start(p) {
			continue // abandoned: its caller has its context's error
		}
		out, broken := runPiece(t, p)
		if broken {
			// A savepoint statement failed: the transaction may be gone
			// (SQLite rolls all of it back on some errors, such as a full
			// disk). Roll it back, fail the pieces it held, and run the
			// ones not started in the next transaction.
			t.Rollback()
			for _, q := range ran {
				if q.err == nil {
					q.err = fmt.Errorf("%s: rolled back with the transaction it shared: %w", q.what, out.err)
				}
				q.result <- pieceOutcome{err: q.err}
				q.err = nil
			}
			p.result <- out
			return append([]*piece(nil), batch[i+1:]...)
		}
		if out.panicked != nil { // rolled back to its savepoint: only its caller hears of it
			p.result <- out
			continue
		}
		p.err = out.err
		ran = append(ran, p)
	}
	if len(ran) == 0 {
		t.Rollback()
		return nil
	}
	if err := t.Commit(); err != nil {
		for _, p := range ran {
			if p.err == nil {
				p.err = fmt.Errorf("%s: commit: %w", p.what, err)
			}
		}
	} else {
		c.commits.Add(1)
	}
	for _, p := range ran {
		p.result <- pieceOutcome{err: p.err}
		p.err = nil
	}
	return nil
}

// commitAlone runs p, started and alone, as writes ran before there was a
// committer: statements in autocommit on the pool, a transaction without
// savepoints.
func (c *committer) commitAlone(p *piece) {
	ctx := pieceContext(p)
	if p.stmt != nil {
		out := callPiece(p, func() error { return p.stmt(ctx, autocommit{c.db}) })
		if out.err == nil && out.panicked == nil {
			c.commits.Add(1)
		}
		p.result <- out
		return
	}
	sqlTx, err := c.db.DB.BeginTx(context.Background(), nil)
	if err != nil {
		p.result <- pieceOutcome{err: fmt.Errorf("%s: %w", p.what, err)}
		return
	}
	t := c.db.tx(sqlTx)
	out := callPiece(p, func() error { return p.fn(ctx, t) })
	if out.err != nil || out.panicked != nil {
		t.Rollback()
		p.result <- out
		return
	}
	if err := t.Commit(); err != nil {
		out.err = fmt.Errorf("%s: commit: %w", p.what, err)
	} else {
		c.commits.Add(1)
	}
	p.result <- out
}

// refuse tells the callers of the pieces in batch not yet abandoned that err
// kept them from running.
func (c *committer) refuse(batch []*piece, err error) {
	for _, p := range batch {
		if c.start(p) {
			p.result <- pieceOutcome{err: fmt.Errorf("%s: %w", p.what, err)}
		}
	}
}

// pieceContext is the context p runs with: its caller's values, but not its
// cancellation, marked as a piece's.
func pieceContext(p *piece) context.Context {
	return context.WithValue(context.WithoutCancel(p.ctx), committerCtx{}, true)
}

// runPiece runs p inside a savepoint of t, rolling its writes back if it
// fails. broken says t itself failed (a savepoint statement did), so the
// batch cannot commit.
func runPiece(t tx, p *piece) (out pieceOutcome, broken bool) {
	ctx := pieceContext(p)
	if _, err := t.ExecContext(ctx, `SAVEPOINT piece`); err != nil {
		return pieceOutcome{err: fmt.Errorf("%s: savepoint: %w", p.what, err)}, true
	}
	out = callPiece(p, func() error { return p.fn(ctx, t) })
	if out.err == nil && out.panicked == nil {
		if _, err := t.ExecContext(ctx, `RELEASE piece`); err != nil {
			return pieceOutcome{err: fmt.Errorf("%s: release savepoint: %w", p.what, err)}, true
		}
		return out, false
	}
	if _, err := t.ExecContext(ctx, `ROLLBACK TO piece`); err != nil {
		out.err = errors.Join(out.err, fmt.Errorf("%s: roll back to savepoint: %w", p.what, err))
		return out, true
	}
	if _, err := t.ExecContext(ctx, `RELEASE piece`); err != nil {
		out.err = errors.Join(out.err, fmt.Errorf("%s: release savepoint: %w", p.what, err))
		return out, true
	}
	return out, false
}

// callPiece runs f, p's work, turning a panic into an outcome p's caller re-raises.
func callPiece(p *piece, f func() error) (out pieceOutcome) {
	defer func() {
		if v := recover(); v != nil {
			out = pieceOutcome{
				err:      fmt.Errorf("%s: panicked: %v", p.what, v),
				panicked: fmt.Sprintf("%v\n\n[recovered in the store's SQLite committer, where it was raised:]\n%s", v, debug.Stack()),
			}
		}
	}()
	return pieceOutcome{err: f()}
}

// write runs fn, a write needing a transaction, and returns its error. On
// SQLite it goes through the committer, sharing a commit with the writes
// queued with it; fn must then use only the transaction it is given and the
// context it is passed. On PostgreSQL it is its own transaction (inTx), since
// PostgreSQL already makes concurrent commits share their WAL flushes.
func (s *Store) write(ctx context.Context, what string, fn func(context.Context, tx) error) error {
	if s.gc == nil {
		return s.inTx(ctx, what, func(t tx) error { return fn(ctx, t) })
	}
	return s.gc.do(&piece{ctx: ctx, what: what, fn: fn})
}

// writeStmt runs fn, a write that needs no transaction of its own (one
// statement, or statements each right on their own), and returns its error.
// On SQLite it goes through the committer like write; on PostgreSQL fn runs
// on the pool in autocommit, one round trip per statement.
func (s *Store) writeStmt(ctx context.Context, what string, fn func(context.Context, querier) error) error {
	if s.gc == nil {
		return fn(ctx, s.db)
	}
	return s.gc.do(&piece{ctx: ctx, what: what, stmt: fn, fn: func(ctx context.Context, t tx) error { return fn(ctx, t) }})
}

// writeCount runs one statement with writeStmt and says how many rows it changed.
func (s *Store) writeCount(ctx context.Context, what, query string, args ...any) (int64, error) {
	var n int64
	err := s.writeStmt(ctx, what, func(ctx context.Context, q querier) error {
		var err error
		n, err = execCount(ctx, q, what, query, args...)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// writeOne runs with writeStmt an UPDATE or DELETE that must change exactly one row: none is bot.ErrNotFound.
func (s *Store) writeOne(ctx context.Context, what, query string, args ...any) error {
	return s.writeStmt(ctx, what, func(ctx context.Context, q querier) error {
		return execOne(ctx, q, what, query, args...)
	})
}
