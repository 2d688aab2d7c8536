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
	"sort"
	"strconv"
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
			removeSQLite(dst)
			return res, fmt.Errorf("back up %s: %w", db.Target.Path, err)
		}
		// The copy carries the live database's WAL mode in its header, so
		// whoever opens it next leaves -wal and -shm files beside it. A
		// backup is one self-contained file: switch it to a rollback journal.
		if err := sqliteSelfContained(ctx, dst, nil); err != nil {
			removeSQLite(dst)
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

// RestoreOptions adjust the image before it replaces the database.
type RestoreOptions struct {
	// Settings are platform_settings rows written into the restored image
	// before it goes live (the maintenance switch), so the restored
	// database never shows the values its backup had, not even for a moment.
	Settings map[string]string
	// Now stamps the settings; default time.Now.
	Now func() time.Time
}

// Restore replaces the database's contents with the backup in src, after
// checking that src is a readable backup of the right kind. On SQLite the
// backup is copied to a scratch file beside the database, the settings are
// written into it, and its pages are copied into the live file through the
// backup API, under its write lock, so servers that are still running see
// either the old or the new database, never a mix. On PostgreSQL
// pg_restore's script drops and recreates every object of the dump and the
// settings are written in the same transaction (psql --single-transaction).
func (db *DB) Restore(ctx context.Context, src string, o RestoreOptions) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch db.Dialect {
	case SQLite:
		if err := checkSQLiteFile(ctx, src); err != nil {
			return err
		}
		img, err := db.Stage(ctx, src, o)
		if err != nil {
			return err
		}
		defer removeSQLite(img)
		if err := db.sqliteCopy(ctx, db.w, img, true); err != nil {
			return fmt.Errorf("restore %s from %s: %w", db.Target.Path, src, err)
		}
		return nil
	default:
		if err := runPG(ctx, Target{}, "pg_restore", "--list", src); err != nil {
			return fmt.Errorf("%s is not a pg_dump custom-format backup: %w", src, err)
		}
		return db.pgRestore(ctx, src, o)
	}
}

// Stage copies the SQLite database file src to a scratch file beside this
// database, writes o.Settings into it and makes it self-contained; it
// returns the scratch file's path, which the caller removes (RemoveSQLite).
func (db *DB) Stage(ctx context.Context, src string, o RestoreOptions) (string, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	img := filepath.Join(filepath.Dir(db.Target.Path), "."+filepath.Base(db.Target.Path)+".restore-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := copySQLite(ctx, src, img); err != nil {
		removeSQLite(img)
		return "", fmt.Errorf("stage %s: %w", src, err)
	}
	if err := sqliteSelfContained(ctx, img, func(c *sql.DB) error { return writeSettings(ctx, c, SQLite, o) }); err != nil {
		removeSQLite(img)
		return "", fmt.Errorf("stage %s: %w", src, err)
	}
	return img, nil
}

// writeSettings upserts o.Settings into platform_settings over c.
func writeSettings(ctx context.Context, c *sql.DB, d Dialect, o RestoreOptions) error {
	for k, v := range o.Settings {
		if _, err := c.ExecContext(ctx, Rebind(d, "DELETE FROM platform_settings WHERE key = ?"), k); err != nil {
			return fmt.Errorf("write setting %s: %w", k, err)
		}
		if _, err := c.ExecContext(ctx, Rebind(d, "INSERT INTO platform_settings (key, value, updated_at) VALUES (?, ?, ?)"), k, v, o.Now().UTC()); err != nil {
			return fmt.Errorf("write setting %s: %w", k, err)
		}
	}
	return nil
}

// pgRestore replays the dump as a script in one transaction, followed by
// the settings, so nothing sees the dump's settings.
func (db *DB) pgRestore(ctx context.Context, src string, o RestoreOptions) error {
	var schema string
	if err := db.w.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fmt.Errorf("current schema: %w", err)
	}
	dir, err := os.MkdirTemp("", "restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "restore.sql")
	if err := runPG(ctx, Target{}, "pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--file="+script, src); err != nil {
		return err
	}
	var b strings.Builder
	// pg_restore's script empties search_path; the settings go in the
	// schema the server uses.
	fmt.Fprintf(&b, "SET search_path TO %s;\n", quoteIdent(schema))
	keys := make([]string, 0, len(o.Settings))
	for k := range o.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	at := o.Now().UTC().Format("2006-01-02 15:04:05.999999-07")
	for _, k := range keys {
		fmt.Fprintf(&b, "DELETE FROM platform_settings WHERE key = %s;\n", quoteLiteral(k))
		fmt.Fprintf(&b, "INSERT INTO platform_settings (key, value, updated_at) VALUES (%s, %s, %s);\n", quoteLiteral(k), quoteLiteral(o.Settings[k]), quoteLiteral(at))
	}
	settings := filepath.Join(dir, "settings.sql")
	if err := os.WriteFile(settings, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return runPG(ctx, db.Target, "psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction", "--file="+script, "--file="+settings)
}

func quoteIdent(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// copySQLite copies the database in src (and its WAL, if one is beside it)
// to dst with the backup API, so dst is consistent even if src is in use.
func copySQLite(ctx context.Context, src, dst string) error {
	c, err := sql.Open("sqlite", "file:"+src+"?mode=ro")
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetMaxOpenConns(1)
	conn, err := c.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		b, ok := dc.(sqliteBackuper)
		if !ok {
			return errors.New("the SQLite driver has no backup API")
		}
		bk, err := b.NewBackup(dst)
		if err != nil {
			return err
		}
		for {
			more, err := bk.Step(4096)
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

// sqliteSelfContained opens the SQLite file at path, runs fn on it (if
// set), and switches it to a rollback journal, so that it is one file with
// no -wal or -shm beside it.
func sqliteSelfContained(ctx context.Context, path string, fn func(*sql.DB) error) error {
	c, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_time_format=sqlite")
	if err != nil {
		return err
	}
	c.SetMaxOpenConns(1)
	if fn != nil {
		if err := fn(c); err != nil {
			c.Close()
			return err
		}
	}
	var mode string
	if err := c.QueryRowContext(ctx, "PRAGMA journal_mode=DELETE").Scan(&mode); err != nil {
		c.Close()
		return fmt.Errorf("journal mode: %w", err)
	}
	if err := c.Close(); err != nil {
		return err
	}
	if mode != "delete" {
		return fmt.Errorf("journal mode stayed %q", mode)
	}
	for _, sfx := range []string{"-wal", "-shm"} {
		_ = os.Remove(path + sfx)
	}
	return nil
}

// RemoveSQLite removes a SQLite file and any -wal, -shm or -journal beside it.
func RemoveSQLite(path string) { removeSQLite(path) }

func removeSQLite(path string) {
	for _, sfx := range []string{"", "-wal", "-shm", "-journal"} {
		_ = os.Remove(path + sfx)
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

// CheckSQLiteFile makes sure path is an intact SQLite database that this
// suite's migrations have run on.
func CheckSQLiteFile(ctx context.Context, path string) error { return checkSQLiteFile(ctx, path) }

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

// InstallSQLite puts the SQLite backup src in place as the database file
// dst, which must not exist yet (a new machine, or a lost disk): src is
// checked, copied beside dst, given o.Settings and renamed into place, so
// dst appears whole or not at all. Faster than Restore, which copies every
// page through the live database's write-ahead log.
func InstallSQLite(ctx context.Context, src, dst string, o RestoreOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("%s already exists", dst)
	}
	if err := checkSQLiteFile(ctx, src); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	img := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".install-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	defer removeSQLite(img)
	if err := copySQLite(ctx, src, img); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := sqliteSelfContained(ctx, img, func(c *sql.DB) error { return writeSettings(ctx, c, SQLite, o) }); err != nil {
		return err
	}
	if err := os.Chmod(img, 0o600); err != nil {
		return err
	}
	for _, sfx := range []string{"-wal", "-shm"} {
		_ = os.Remove(dst + sfx) // a dead server's leftovers belong to the old file
	}
	return os.Rename(img, dst)
}
