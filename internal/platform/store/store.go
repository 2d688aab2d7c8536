// Package store opens the product database, embedded SQLite by default or
// PostgreSQL when DATABASE_URL says so, hides the few dialect differences
// (placeholders, time handling, the writer connection) and runs the
// embedded migrations.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect names a database engine.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// AcceptedForms is told to an operator whose DATABASE_URL cannot be read.
const AcceptedForms = `empty (embedded SQLite under DATA_DIR), postgres://user:pass@host:5432/db?sslmode=require (also postgresql://; optional connection_limit=N&pool_timeout=SECONDS), or sqlite:/path/to/file.db`

// Options says what to open.
type Options struct {
	URL            string        // DATABASE_URL; empty means SQLite under DataDir
	DataDir        string        // where the SQLite file lives
	Name           string        // product name; the SQLite file is Name.db
	ConnectTimeout time.Duration // how long to retry an unreachable database at start
	Logger         *slog.Logger
}

// Target is a parsed DATABASE_URL.
type Target struct {
	Dialect        Dialect
	DSN            string        // what the driver is given
	Path           string        // SQLite file path
	MaxConns       int           // connection_limit (PostgreSQL)
	PoolTimeout    time.Duration // pool_timeout (PostgreSQL)
	Redacted       string        // safe to print
	connectTimeout time.Duration
}

// Parse reads a DATABASE_URL. Errors name the variable and the accepted forms.
func Parse(raw, dataDir, name string) (Target, error) {
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		if dataDir == "" {
			dataDir = "data"
		}
		p := filepath.Join(dataDir, name+".db")
		return Target{Dialect: SQLite, Path: p, Redacted: "sqlite:" + p}, nil
	case strings.HasPrefix(raw, "sqlite:"), strings.HasPrefix(raw, "file:"):
		p := raw[strings.Index(raw, ":")+1:]
		if rest, ok := strings.CutPrefix(p, "//"); ok {
			// sqlite://host/path: a file URL takes no user or password
			// (the error does not repeat the URL, which may hold one).
			if host, _, _ := strings.Cut(rest, "/"); strings.Contains(host, "@") {
				return Target{}, fmt.Errorf("DATABASE_URL: a SQLite URL takes no user or password; accepted forms: %s", AcceptedForms)
			}
			p = rest
		}
		if strings.Contains(p, "://") {
			return Target{}, fmt.Errorf("DATABASE_URL: a SQLite path cannot hold another URL; accepted forms: %s", AcceptedForms)
		}
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		if p == "" {
			return Target{}, fmt.Errorf("DATABASE_URL %q names no SQLite file; accepted forms: %s", raw, AcceptedForms)
		}
		return Target{Dialect: SQLite, Path: p, Redacted: "sqlite:" + p}, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return parsePostgres(raw)
	default:
		return Target{}, fmt.Errorf("DATABASE_URL is not a database URL this server understands; accepted forms: %s", AcceptedForms)
	}
}

func parsePostgres(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Target{}, fmt.Errorf("DATABASE_URL is a malformed PostgreSQL URL (check the host and escape special characters in the password); accepted forms: %s", AcceptedForms)
	}
	t := Target{Dialect: Postgres, MaxConns: 10, PoolTimeout: 10 * time.Second}
	q := u.Query()
	if v := q.Get("connection_limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return Target{}, fmt.Errorf("DATABASE_URL connection_limit=%q must be a whole number of at least 1", v)
		}
		t.MaxConns = n
	}
	if v := q.Get("pool_timeout"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return Target{}, fmt.Errorf("DATABASE_URL pool_timeout=%q must be a whole number of seconds", v)
		}
		t.PoolTimeout = time.Duration(n) * time.Second
	}
	if v := q.Get("connect_timeout"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			t.connectTimeout = time.Duration(n) * time.Second
		}
	}
	// Prisma's schema= becomes PostgreSQL's search_path.
	if v := q.Get("schema"); v != "" {
		q.Set("search_path", v)
	}
	for _, k := range []string{"connection_limit", "pool_timeout", "schema", "pgbouncer", "socket_timeout"} {
		q.Del(k)
	}
	u.RawQuery = q.Encode()
	t.DSN = u.String()
	t.Redacted = u.Redacted()
	if _, err := pgx.ParseConfig(t.DSN); err != nil {
		return Target{}, fmt.Errorf("DATABASE_URL cannot be used: %s; accepted forms: %s", pgErrText(err), AcceptedForms)
	}
	return t, nil
}

// pgErrText keeps the reason from a pgx parse error without echoing the password.
func pgErrText(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return "invalid connection string"
}

// DB is an open database. Writes go through the writer (on SQLite a single
// connection, so writers queue instead of failing busy); reads use a pool.
type DB struct {
	Dialect Dialect
	Target  Target
	w       *sql.DB
	r       *sql.DB
	ins     *instruments  // nil until Instrument
	ckpt    *checkpointer // SQLite: checkpoints the WAL off the write path
	rstmts  stmtCache     // statements prepared on the reader (stmtcache.go)
	wstmts  stmtCache     // and on the writer
}

// Open opens and pings the database, retrying an unreachable PostgreSQL with
// backoff for ConnectTimeout.
func Open(ctx context.Context, o Options) (*DB, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	t, err := Parse(o.URL, o.DataDir, o.Name)
	if err != nil {
		return nil, err
	}
	switch t.Dialect {
	case SQLite:
		return openSQLite(ctx, t)
	default:
		return openPostgres(ctx, t, o)
	}
}

func openSQLite(ctx context.Context, t Target) (*DB, error) {
	if dir := filepath.Dir(t.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory %s: %w", dir, err)
		}
	}
	// secure_delete: deleted rows are overwritten with zeros in the file
	// (an erased account must not stay readable in free pages).
	base := "file:" + t.Path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=secure_delete(1)&_time_format=sqlite"
	// The writer checkpoints the WAL itself only as a backstop
	// (walBackstopPages); the checkpointer does it in the background.
	w, err := sql.Open("sqlite", base+"&_txlock=immediate&_pragma=wal_autocheckpoint("+strconv.Itoa(walBackstopPages)+")&_pragma=journal_size_limit("+strconv.Itoa(walSizeLimit)+")")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", t.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", t.Path, err)
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", t.Path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	t.DSN = base
	ckpt, err := startCheckpointer(base, walCheckpointEvery)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", t.Path, err)
	}
	return &DB{Dialect: SQLite, Target: t, w: w, r: r, ckpt: ckpt}, nil
}

func openPostgres(ctx context.Context, t Target, o Options) (*DB, error) {
	cfg, err := pgx.ParseConfig(t.DSN)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %s", pgErrText(err))
	}
	if t.connectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(t.MaxConns)
	db.SetMaxIdleConns(t.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)

	deadline := time.Now().Add(o.ConnectTimeout)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = db.PingContext(pctx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil || time.Now().Add(backoff).After(deadline) {
			db.Close()
			return nil, fmt.Errorf("database %s unreachable after %d attempts over %s (DB_CONNECT_TIMEOUT): %w", t.Redacted, attempt, o.ConnectTimeout, err)
		}
		o.Logger.Warn("database not reachable yet, retrying", "attempt", attempt, "in", backoff.String(), "err", err.Error())
		select {
		case <-ctx.Done():
			db.Close()
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	return &DB{Dialect: Postgres, Target: t, w: db, r: db}, nil
}

// Close stops the checkpointer and closes both pools.
func (db *DB) Close() error {
	var err error
	if db.ckpt != nil {
		err = db.ckpt.close()
	}
	err = errors.Join(err, db.w.Close())
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

// Scrub is called after personal data was deleted (an account erasure)
// so its bytes do not linger where the database keeps old versions.
//
// SQLite (opened with secure_delete, so deleted cells and freed pages are
// already zeroed in the pages): a TRUNCATE checkpoint copies the zeroed
// pages into the database file and empties the write-ahead log, which
// still held the rows as they were written.
//
// PostgreSQL has no secure delete: a deleted row stays in its table file
// as a dead tuple until VACUUM prunes it. Scrub runs a plain VACUUM of the
// given tables (no exclusive lock; it skips all-visible pages, so it is
// cheap), which removes the dead tuples and their index entries. See
// docs/operations.md for what remains (WAL, backups) and what an operator
// can run.
func (db *DB) Scrub(ctx context.Context, tables ...string) error {
	switch db.Dialect {
	case SQLite:
		return db.truncateWAL(ctx, scrubPatience)
	default:
		if len(tables) == 0 {
			return nil
		}
		quoted := make([]string, len(tables))
		for i, t := range tables {
			quoted[i] = pgx.Identifier{t}.Sanitize()
		}
		if _, err := db.w.ExecContext(ctx, "VACUUM "+strings.Join(quoted, ", ")); err != nil {
			return fmt.Errorf("vacuum: %w", err)
		}
		return nil
	}
}

// scrubPatience bounds how long Scrub retries a checkpoint that another
// checkpoint or a long reader kept from emptying the write-ahead log.
const scrubPatience = 10 * time.Second

// truncateWAL runs a TRUNCATE checkpoint until it empties the log. The
// background checkpointer is held off meanwhile; a checkpoint from
// another connection or process (a backup, the sqlite3 shell) makes
// SQLite answer busy at once rather than wait, so that is retried, with
// a short backoff, for up to patience.
func (db *DB) truncateWAL(ctx context.Context, patience time.Duration) error {
	if db.ckpt != nil {
		db.ckpt.mu.Lock()
		defer db.ckpt.mu.Unlock()
	}
	deadline := time.Now().Add(patience)
	wait := 5 * time.Millisecond
	for {
		var busy, logFrames, done int
		if err := db.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if busy == 0 {
			return nil
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("checkpoint: another checkpoint or a reader kept the write-ahead log from being emptied for %s; it is emptied at the next checkpoint", patience)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("checkpoint: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// Writer returns the pool that writes (on SQLite, one connection).
func (db *DB) Writer() *sql.DB { return db.w }

// Reader returns the pool for queries.
func (db *DB) Reader() *sql.DB { return db.r }

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.w.PingContext(ctx) }

// Stats returns the writer pool's statistics (the PostgreSQL pool).
func (db *DB) Stats() sql.DBStats { return db.w.Stats() }

// Rebind turns ? placeholders into the dialect's ($1, $2… on PostgreSQL),
// leaving question marks inside quoted strings alone.
func (db *DB) Rebind(q string) string { return Rebind(db.Dialect, q) }

// Rebind is DB.Rebind for a dialect.
func Rebind(d Dialect, q string) string {
	if d != Postgres || strings.IndexByte(q, '?') < 0 {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// args normalises arguments: times go in as UTC without a monotonic reading.
func args(in []any) []any {
	for i, a := range in {
		switch v := a.(type) {
		case time.Time:
			in[i] = v.UTC()
		case *time.Time:
			if v != nil {
				in[i] = v.UTC()
			}
		}
	}
	return in
}

// stmtCtx is the context a single statement runs with. On SQLite a
// statement whose context can be cancelled costs two goroutines (the
// driver's, to interrupt it, and database/sql's, to close its rows),
// started and ended around every query: on a two-core machine that churn
// showed on the chat's way to the provider. A SQLite statement takes
// milliseconds, so it is not interrupted when the request goes away: it
// runs to its end (unless the context is already done, or has a deadline,
// which is kept). PostgreSQL statements keep the caller's context (a
// query there can wait on a lock or the network).
func (db *DB) stmtCtx(ctx context.Context) (context.Context, error) {
	if db.Dialect != SQLite || ctx.Done() == nil {
		return ctx, nil
	}
	if err := ctx.Err(); err != nil {
		return ctx, err
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, nil
	}
	return context.WithoutCancel(ctx), nil
}

// rowCtx is stmtCtx for QueryRow, whose error surfaces at Scan: a done
// context is passed on as it is, so database/sql reports it there.
func (db *DB) rowCtx(ctx context.Context) context.Context {
	c, err := db.stmtCtx(ctx)
	if err != nil {
		return ctx
	}
	return c
}

// Exec runs a statement on the writer.
func (db *DB) Exec(ctx context.Context, q string, a ...any) (sql.Result, error) {
	ctx, err := db.stmtCtx(ctx)
	if err != nil {
		return nil, err
	}
	run := func() (sql.Result, error) {
		if st := db.writeStmt(ctx, q); st != nil {
			return st.ExecContext(ctx, args(a)...)
		}
		return db.w.ExecContext(ctx, db.Rebind(q), args(a)...)
	}
	if db.ins == nil {
		return run()
	}
	return timed(ctx, db.ins, operation(), run)
}

// Query runs a query on the reader pool.
func (db *DB) Query(ctx context.Context, q string, a ...any) (*sql.Rows, error) {
	ctx, err := db.stmtCtx(ctx)
	if err != nil {
		return nil, err
	}
	run := func() (*sql.Rows, error) {
		if st := db.readStmt(ctx, q); st != nil {
			return st.QueryContext(ctx, args(a)...)
		}
		return db.r.QueryContext(ctx, db.Rebind(q), args(a)...)
	}
	if db.ins == nil {
		return run()
	}
	return timed(ctx, db.ins, operation(), run)
}

// QueryRow runs a query expected to return at most one row, on the reader.
func (db *DB) QueryRow(ctx context.Context, q string, a ...any) *sql.Row {
	ctx = db.rowCtx(ctx)
	run := func() (*sql.Row, error) {
		var r *sql.Row
		if st := db.readStmt(ctx, q); st != nil {
			r = st.QueryRowContext(ctx, args(a)...)
		} else {
			r = db.r.QueryRowContext(ctx, db.Rebind(q), args(a)...)
		}
		return r, r.Err()
	}
	if db.ins == nil {
		r, _ := run()
		return r
	}
	r, _ := timed(ctx, db.ins, operation(), run)
	return r
}

// Tx is a transaction on the writer, with the same rebinding as DB.
type Tx struct {
	*sql.Tx
	Dialect Dialect
	ins     *instruments
	op      string // the operation that opened the transaction
	db      *DB
	missed  []string // texts not yet prepared on the writer, prepared after
}

// stmt returns q's statement prepared on the writer, bound to the
// transaction (database/sql reuses the one already prepared on the
// writer's connection), or nil (PostgreSQL, or not prepared yet: the
// transaction holds the writer's one connection, so the text is prepared
// once the transaction ends).
func (tx *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if tx.db == nil || tx.db.Dialect != SQLite {
		return nil
	}
	st, ok := tx.db.wstmts.m.Load(q)
	if !ok {
		tx.missed = append(tx.missed, q)
		return nil
	}
	return tx.Tx.StmtContext(ctx, st.(*sql.Stmt))
}

// Exec runs a statement in the transaction.
func (tx *Tx) Exec(ctx context.Context, q string, a ...any) (sql.Result, error) {
	return timed(ctx, tx.ins, tx.op, func() (sql.Result, error) {
		if st := tx.stmt(ctx, q); st != nil {
			return st.ExecContext(ctx, args(a)...)
		}
		return tx.Tx.ExecContext(ctx, Rebind(tx.Dialect, q), args(a)...)
	})
}

// Query runs a query in the transaction.
func (tx *Tx) Query(ctx context.Context, q string, a ...any) (*sql.Rows, error) {
	return timed(ctx, tx.ins, tx.op, func() (*sql.Rows, error) {
		if st := tx.stmt(ctx, q); st != nil {
			return st.QueryContext(ctx, args(a)...)
		}
		return tx.Tx.QueryContext(ctx, Rebind(tx.Dialect, q), args(a)...)
	})
}

// QueryRow runs a single-row query in the transaction.
func (tx *Tx) QueryRow(ctx context.Context, q string, a ...any) *sql.Row {
	r, _ := timed(ctx, tx.ins, tx.op, func() (*sql.Row, error) {
		var r *sql.Row
		if st := tx.stmt(ctx, q); st != nil {
			r = st.QueryRowContext(ctx, args(a)...)
		} else {
			r = tx.Tx.QueryRowContext(ctx, Rebind(tx.Dialect, q), args(a)...)
		}
		return r, r.Err()
	})
	return r
}

// InTx runs fn in a transaction on the writer, committing if it returns nil.
// On an instrumented DB, beginning and committing are observed under the
// caller's operation, as are the transaction's statements.
func (db *DB) InTx(ctx context.Context, fn func(*Tx) error) (err error) {
	op := ""
	if db.ins != nil {
		op = operation()
	}
	stx, err := timed(ctx, db.ins, op, func() (*sql.Tx, error) { return db.w.BeginTx(ctx, nil) })
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{Tx: stx, Dialect: db.Dialect, ins: db.ins, op: op, db: db}
	// After the commit or rollback below (defers run last first): the
	// writer's connection is free again to prepare what the transaction
	// ran as text.
	defer func() {
		for _, q := range tx.missed {
			db.writeStmt(ctx, q)
		}
	}()
	defer func() {
		if p := recover(); p != nil {
			_ = stx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = stx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if _, err = timed(ctx, db.ins, op, func() (struct{}, error) { return struct{}{}, stx.Commit() }); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// IsUniqueViolation reports whether err is a unique-constraint failure.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505")
}
