package store

import (
	"context"
	"database/sql"
	"strconv"
	"sync"
	"sync/atomic"
)

// SQLite (modernc) parses and plans every statement it is handed as text:
// on Voyager's send path that was the largest single cost, more than the
// statements' own work (a profile showed the parser at 16% of the CPU).
// So on SQLite every statement goes through a *sql.Stmt prepared once per
// text, which database/sql prepares once on each connection of the pool
// and reuses. PostgreSQL needs none of it: pgx keeps its own statement
// cache on each connection.
//
// The cache keeps at most maxCachedStmts texts per pool; past that, new
// texts run unprepared as before (a query built with a variable number of
// placeholders makes one text per count, which stays small; a bug that
// made unbounded texts must not grow memory without end).
const maxCachedStmts = 512

type stmtCache struct {
	m sync.Map // SQL text (before rebinding) → *sql.Stmt
	n atomic.Int32
}

// get returns q prepared on pool p (q is rebound first), or nil when the
// cache is full or preparing failed (the caller then runs the text, which
// reports the error as it always did).
func (c *stmtCache) get(ctx context.Context, p *sql.DB, d Dialect, q string) *sql.Stmt {
	if st, ok := c.m.Load(q); ok {
		return st.(*sql.Stmt)
	}
	if c.n.Load() >= maxCachedStmts {
		return nil
	}
	// Prepared without the caller's deadline: the statement outlives it.
	st, err := p.PrepareContext(context.WithoutCancel(ctx), Rebind(d, q))
	if err != nil {
		return nil
	}
	if prev, loaded := c.m.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	c.n.Add(1)
	return st
}

// readStmt and writeStmt return q prepared on the reader or the writer
// when the dialect wants it (SQLite), else nil.
func (db *DB) readStmt(ctx context.Context, q string) *sql.Stmt {
	if db.Dialect != SQLite {
		return nil
	}
	return db.rstmts.get(ctx, db.r, db.Dialect, q)
}

func (db *DB) writeStmt(ctx context.Context, q string) *sql.Stmt {
	if db.Dialect != SQLite {
		return nil
	}
	return db.wstmts.get(ctx, db.w, db.Dialect, q)
}

// Limit returns "LIMIT n" with n written into the text, for a query whose
// limit is one of a few fixed values (a setting, not a caller's choice).
// SQLite (as modernc.org/sqlite bundles it) marks a statement whose LIMIT
// is a bound parameter to be prepared again whenever that parameter is
// bound, which is every run: a cached statement then pays the parser each
// time (BenchmarkLimit: 16.6 µs a run instead of 11.5 µs; in a send-path
// profile the parser showed under the chat's history read). Each distinct
// n is one more text in the statement cache, so a limit a request chooses
// stays a parameter.
func Limit(n int) string {
	return "LIMIT " + strconv.Itoa(max(n, 0))
}
