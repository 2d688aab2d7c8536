package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
)

// BackupResult describes a finished backup.
type BackupResult struct {
	Path     string
	Bytes    int64
	Duration time.Duration
	Tool     string // "sqlite backup API" or "pg_dump"
}

// sqliteBackuper is the modernc driver connection's online backup API.
type sqliteBackuper interface {
	NewBackup(dstURI string) (*sqlite.Backup, error)
	NewRestore(srcURI string) (*sqlite.Backup, error)
}

// Backup writes a consistent copy of the database to dst, which must not
// exist, while the servers keep running. SQLite uses its online backup API
// (one read transaction, so the copy is a single point in time);
// PostgreSQL uses pg_dump's custom format, which pg_restore reads.
func (db *DB) Backup(ctx context.Context, dst string) (BackupResult, error) {
	start := time.Now()
	if _, err := os.Stat(dst); err == nil {
		return BackupResult{}, fmt.Errorf("%s already exists; choose a new file name", dst)
	}
	if dir := filepath.Dir(dst); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return BackupResult{}, err
		}
	}
	res := BackupResult{Path: dst}
	switch db.Dialect {
	case SQLite:
		res.Tool = "sqlite backup API"
		if err := db.sqliteCopy(ctx, db.r, dst, false); err != nil {
			os.Remove(dst)
			return res, fmt.Errorf("back up %s: %w", db.Target.Path, err)
		}
		if err := checkSQLiteFile(ctx, dst); err != nil {
			return res, err
		}
	default:
		res.Tool = "pg_dump"
		if err := runPG(ctx, db.Target, "pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file="+dst); err != nil {
			os.Remove(dst)
			return res, err
		}
	}
	if err := os.Chmod(dst, 0o600); err != nil {
		return res, err
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return res, err
	}
	res.Bytes, res.Duration = fi.Size(), time.Since(start)
	return res, nil
}

// Restore replaces the database's contents with the backup in src, after
// checking that src is a readable backup of the right kind. On SQLite the
// pages are copied into the live file through the backup API, under its
// write lock, so servers that are still running see either the old or the
// new database, never a mix; still, turn maintenance mode on first so no
// request writes in between. On PostgreSQL pg_restore drops and recreates
// every object of the dump in one transaction.
func (db *DB) Restore(ctx context.Context, src string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	switch db.Dialect {
	case SQLite:
		if err := checkSQLiteFile(ctx, src); err != nil {
			return err
		}
		if err := db.sqliteCopy(ctx, db.w, src, true); err != nil {
			return fmt.Errorf("restore %s from %s: %w", db.Target.Path, src, err)
		}
		return nil
	default:
		if err := runPG(ctx, Target{}, "pg_restore", "--list", src); err != nil {
			return fmt.Errorf("%s is not a pg_dump custom-format backup: %w", src, err)
		}
		return runPG(ctx, db.Target, "pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", src)
	}
}

// sqliteCopy runs the online backup API on one connection of pool: from
// the database to file, or (restore) from file into the database.
func (db *DB) sqliteCopy(ctx context.Context, pool *sql.DB, file string, restore bool) error {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		b, ok := dc.(sqliteBackuper)
		if !ok {
			return errors.New("the SQLite driver has no backup API")
		}
		var bk *sqlite.Backup
		if restore {
			bk, err = b.NewRestore(file)
		} else {
			bk, err = b.NewBackup(file)
		}
		if err != nil {
			return err
		}
		for {
			more, err := bk.Step(1024)
			if err != nil {
				bk.Finish()
				return err
			}
			if !more {
				return bk.Finish()
			}
			if ctx.Err() != nil {
				bk.Finish()
				return ctx.Err()
			}
		}
	})
}

// checkSQLiteFile makes sure path is an intact SQLite database that this
// suite's migrations have run on.
func checkSQLiteFile(ctx context.Context, path string) error {
	c, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return err
	}
	defer c.Close()
	var res string
	if err := c.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return fmt.Errorf("%s is not a SQLite database: %w", path, err)
	}
	if res != "ok" {
		return fmt.Errorf("%s failed SQLite's integrity check: %s", path, res)
	}
	var n int
	if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'goose_db_version'").Scan(&n); err != nil || n != 1 {
		return fmt.Errorf("%s is a SQLite database but not one of this server's (no migration table)", path)
	}
	return nil
}

// runPG runs a PostgreSQL client tool against t (none when t is zero). The
// password travels in PGPASSWORD, never on the command line where other
// users' ps could read it.
func runPG(ctx context.Context, t Target, tool string, args ...string) error {
	bin, err := exec.LookPath(tool)
	if err != nil {
		return fmt.Errorf("%s is needed for PostgreSQL backups and is not installed (Debian: apt-get install postgresql-client)", tool)
	}
	env := os.Environ()
	if t.DSN != "" {
		u, err := url.Parse(t.DSN)
		if err != nil {
			return err
		}
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
			u.User = url.User(u.User.Username())
		}
		q := u.Query()
		// search_path is our driver's parameter, not libpq's.
		if sp := q.Get("search_path"); sp != "" {
			q.Del("search_path")
			if tool == "pg_dump" {
				args = append(args, "--schema="+sp)
			}
		}
		u.RawQuery = q.Encode()
		if tool == "pg_restore" {
			args = append(args, "--dbname="+u.String())
		} else {
			args = append(args, u.String())
		}
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		return fmt.Errorf("%s failed: %v: %s", tool, err, msg)
	}
	return nil
}
