package store

// Prepared statements on SQLite.
//
// modernc.org/sqlite parses and plans a query (sqlite3_prepare_v2) on every
// ExecContext or QueryContext given its text, and for the store's short
// statements that is most of their CPU; every write of a SQLite store runs
// in the committer's one transaction at a time, so that CPU bounds the
// writes' throughput. So a SQLite store prepares each distinct query once:
// stmtCache keeps a *sql.Stmt per query text, prepared on the *sql.DB the
// first time the query runs. database/sql then keeps it prepared on every
// pool connection it has run on, preparing it again on one that has not seen
// it (and forgetting it on a connection that is closed); the driver resets a
// prepared statement after each use instead of finalizing it.
//
// A transaction takes the pool's statement with Tx.StmtContext, which uses
// the one already prepared on the transaction's connection, or prepares it
// there for the pool's statement. database/sql closes the statements a
// transaction takes when it commits or rolls back, leaving the pool's
// prepared; a tx remembers the ones it took by query (txStmts), so the
// pieces of a batch running the same query take it once.
//
// A query met for the first time inside a transaction (a piece of the
// committer's) is prepared on another of the pool's connections, so the
// piece may wait for a read to end: reads never wait for writes, so that wait
// ends. A query that cannot be prepared runs unprepared, as before, which
// reports why (SQLite's error, unchanged). Migrations, run once, are not
// kept.
//
// PostgreSQL needs none of this: pgx's stdlib driver already keeps a
// statement cache on each connection (QueryExecModeCacheStatement, its
// default), so a query is parsed once per connection there too, and a
// *sql.Stmt would only add database/sql's bookkeeping (and a prepare round
// trip per connection) on top.

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds the statements a store keeps prepared. The store's
// queries are constants or built from a few fixed fragments (Events,
// ActiveGrants), a few dozen in all; a query beyond the bound runs unprepared.
const maxCachedStmts = 128

// stmtCache is a SQLite store's prepared statements, one per query text.
type stmtCache struct {
	db     *sql.DB
	mu     sync.RWMutex
	stmts  map[string]*sql.Stmt
	closed bool
}

func newStmtCache(d *sql.DB) *stmtCache {
	return &stmtCache{db: d, stmts: map[string]*sql.Stmt{}}
}

// get returns the statement for query, preparing it the first time; nil if
// it cannot be prepared, or the cache is closed or full: the query then runs
// unprepared.
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	c.mu.RLock()
	s, closed, full := c.stmts[query], c.closed, len(c.stmts) >= maxCachedStmts
	c.mu.RUnlock()
	if s != nil || closed || full {
		return s
	}
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch old := c.stmts[query]; {
	case old != nil: // prepared meanwhile by another caller: keep one
		s.Close()
		return old
	case c.closed || len(c.stmts) >= maxCachedStmts:
		s.Close()
		return nil
	}
	c.stmts[query] = s
	return s
}

// len is how many statements the cache holds.
func (c *stmtCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.stmts)
}

// close closes every statement and makes queries run unprepared from now on.
// A statement still in use by a query is closed once the query is done.
// (database/sql reports no error closing a pool's statement: it finalizes
// the driver's statements in the background.)
func (c *stmtCache) close() {
	c.mu.Lock()
	stmts := c.stmts
	c.stmts, c.closed = nil, true
	c.mu.Unlock()
	for _, s := range stmts {
		s.Close()
	}
}

// txStmts are the cached statements one SQLite transaction has taken, by
// query (see Tx.StmtContext); they are closed with the transaction.
type txStmts struct {
	cache *stmtCache
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// get returns t's statement for query, nil if the query runs unprepared.
func (ts *txStmts) get(ctx context.Context, t *sql.Tx, query string) *sql.Stmt {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if s := ts.stmts[query]; s != nil {
		return s
	}
	s := ts.cache.get(ctx, query)
	if s == nil {
		return nil
	}
	s = t.StmtContext(ctx, s)
	if ts.stmts == nil {
		ts.stmts = make(map[string]*sql.Stmt, 8)
	}
	ts.stmts[query] = s
	return s
}
