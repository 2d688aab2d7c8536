package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/relaywork/suite/internal/platform/store"
)

// The kinds of backup file.
const (
	KindSQLite = "sqlite"  // a SQLite database file (backup FILE, the scheduled job, a replica restore)
	KindPGDump = "pg_dump" // pg_dump's custom format
)

// Checked is what verifying a backup found.
type Checked struct {
	File  string
	Kind  string
	Bytes int64
	// SchemaVersion is the newest migration the backup had; Pending is how
	// many of this binary's migrations it lacked (all applied cleanly to
	// the scratch copy).
	SchemaVersion int64
	Pending       int
	Tables        int
	Rows          int64
	Took          time.Duration
}

// VerifyOptions say where to restore a backup to check it.
type VerifyOptions struct {
	// Migrations are the product's (platform migrations are added).
	Migrations fs.FS
	// PostgresURL is a server on which a scratch database may be created
	// (DATABASE_URL); needed for pg_dump files.
	PostgresURL string
	// ScratchDir holds SQLite scratch copies; default the system's.
	ScratchDir string
	Logger     *slog.Logger
}

// Kind tells a SQLite file from a pg_dump custom-format file.
func Kind(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("backup file: %w", err)
	}
	defer f.Close()
	head := make([]byte, 16)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("SQLite format 3\x00")):
		return KindSQLite, nil
	case bytes.HasPrefix(head, []byte("PGDMP")):
		return KindPGDump, nil
	default:
		return "", fmt.Errorf("%s is neither a SQLite database nor a pg_dump custom-format file", path)
	}
}

// Verify restores the backup in file into a scratch database, checks its
// integrity (SQLite's integrity_check; pg_restore in one transaction that
// stops at the first error), that its schema is one this binary knows,
// that this binary's pending migrations apply to it, and counts its rows.
// The scratch database is removed afterwards.
func Verify(ctx context.Context, file string, o VerifyOptions) (Checked, error) {
	start := time.Now()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	kind, err := Kind(file)
	if err != nil {
		return Checked{}, err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return Checked{}, err
	}
	c := Checked{File: file, Kind: kind, Bytes: fi.Size()}
	var scratchURL string
	switch kind {
	case KindSQLite:
		dir, err := os.MkdirTemp(o.ScratchDir, "verify-")
		if err != nil {
			return c, err
		}
		defer os.RemoveAll(dir)
		scratchURL = "sqlite:" + filepath.Join(dir, "scratch.db")
	default:
		if !strings.HasPrefix(o.PostgresURL, "postgres") {
			return c, fmt.Errorf("%s is a PostgreSQL backup: run the check where DATABASE_URL names a PostgreSQL server (a scratch database is created there)", file)
		}
		u, drop, err := scratchPostgres(ctx, o.PostgresURL)
		if err != nil {
			return c, err
		}
		defer drop()
		scratchURL = u
	}
	db, err := store.Open(ctx, store.Options{URL: scratchURL, Name: "scratch", ConnectTimeout: 5 * time.Second})
	if err != nil {
		return c, fmt.Errorf("open scratch database: %w", err)
	}
	defer db.Close()
	if err := db.Restore(ctx, file, store.RestoreOptions{}); err != nil {
		return c, err
	}
	if kind == KindSQLite {
		var res string
		if err := db.QueryRow(ctx, "PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
			return c, fmt.Errorf("%s failed SQLite's integrity check after the restore: %s %v", file, res, err)
		}
	}
	if err := checkMigrations(ctx, db, o, &c); err != nil {
		return c, fmt.Errorf("%s: %w", file, err)
	}
	st, err := db.Inspect(ctx)
	if err != nil {
		return c, fmt.Errorf("%s: read the restored tables: %w", file, err)
	}
	c.Tables = len(st.Tables)
	for _, t := range st.Tables {
		c.Rows += t.Rows
	}
	c.Took = time.Since(start)
	return c, nil
}

// checkMigrations makes sure every migration the backup has applied is one
// this binary knows, then applies the ones it lacks.
func checkMigrations(ctx context.Context, db *store.DB, o VerifyOptions, c *Checked) error {
	m, err := db.NewMigrator(o.Logger, sources(o.Migrations)...)
	if err != nil {
		return err
	}
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	known := map[int64]bool{}
	for _, s := range st {
		known[s.Version] = true
		if !s.Applied {
			c.Pending++
		}
	}
	rows, err := db.Query(ctx, "SELECT version_id FROM goose_db_version WHERE is_applied AND version_id > 0")
	if err != nil {
		return fmt.Errorf("no migration table: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return err
		}
		if !known[v] {
			return fmt.Errorf("the backup has migration %05d, which this binary does not know: it was made by a newer version; restore it with that version", v)
		}
		c.SchemaVersion = max(c.SchemaVersion, v)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if c.SchemaVersion == 0 {
		return errors.New("the backup has no applied migrations")
	}
	if _, err := m.Up(ctx); err != nil {
		return fmt.Errorf("this binary's migrations do not apply to the backup: %w", err)
	}
	return nil
}

func sources(m fs.FS) []fs.FS {
	if m == nil {
		return nil
	}
	return []fs.FS{m}
}

// scratchPostgres creates an empty database beside the one base names and
// returns its URL and a function that drops it.
func scratchPostgres(ctx context.Context, base string) (string, func(), error) {
	t, err := store.Parse(base, "", "")
	if err != nil {
		return "", nil, err
	}
	admin, err := sql.Open("pgx", t.DSN)
	if err != nil {
		return "", nil, err
	}
	var b [5]byte
	_, _ = rand.Read(b[:])
	name := "verify_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create a scratch database to restore into (the DATABASE_URL role needs CREATEDB): %w", err)
	}
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = admin.ExecContext(dctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	}
	u, err := url.Parse(base)
	if err != nil {
		drop()
		return "", nil, err
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("schema")
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// newestIn is the newest backup file of product in dir.
func newestIn(dir, product string) (File, error) {
	files, err := List(dir, product)
	if err != nil {
		return File{}, err
	}
	if len(files) == 0 {
		return File{}, fmt.Errorf("no backups of %s in %s yet (BACKUP_DIR; run `%s cron run backup`)", product, dir, product)
	}
	return files[0], nil
}

var _ = stdlib.GetDefaultDriver // registers the "pgx" driver
