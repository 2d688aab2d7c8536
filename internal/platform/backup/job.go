package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/platform/store"
)

// JobName is the scheduled backup job's name (`cron run backup`,
// /api/cron/backup).
const JobName = "backup"

// stampLayout names each scheduled backup by the time it began, in UTC.
const stampLayout = "20060102T150405.000Z"

// File is one scheduled backup in BACKUP_DIR.
type File struct {
	Path  string
	At    time.Time
	Bytes int64
}

// List returns product's scheduled backups in dir, newest first. Files
// that are not named like the job's (product-YYYYMMDDTHHMMSS.mmmZ.db or
// .pgdump) are left alone.
func List(dir, product string) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(product) + `-(\d{8}T\d{6}\.\d{3}Z)\.(db|pgdump)$`)
	var out []File
	for _, e := range entries {
		m := re.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		at, err := time.Parse(stampLayout, m[1])
		if err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, File{Path: filepath.Join(dir, e.Name()), At: at, Bytes: fi.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return out, nil
}

// Job is the scheduled backup: a consistent copy of the database (SQLite's
// backup API, or pg_dump -Fc), verified by restoring it into a scratch
// database, under a timestamped name in Dir; then all but the newest Keep
// are deleted.
type Job struct {
	DB      *store.DB
	Dir     string // BACKUP_DIR
	Keep    int    // BACKUP_KEEP
	Product string
	Verify  VerifyOptions
	Now     func() time.Time
}

// Run takes one backup. Its result names the file, its size, what the
// verification found and how many old backups were deleted.
func (j Job) Run(ctx context.Context) (map[string]any, error) {
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	if j.Keep < 1 {
		j.Keep = 7
	}
	ext := ".db"
	if j.DB.Dialect == store.Postgres {
		ext = ".pgdump"
	}
	at := now().UTC()
	final := filepath.Join(j.Dir, j.Product+"-"+at.Format(stampLayout)+ext)
	partial := filepath.Join(j.Dir, "."+filepath.Base(final)+".partial")
	store.RemoveSQLite(partial)
	res, err := j.DB.Backup(ctx, partial)
	if err != nil {
		store.RemoveSQLite(partial)
		return nil, err
	}
	v := j.Verify
	if v.ScratchDir == "" {
		v.ScratchDir = j.Dir
	}
	checked, err := Verify(ctx, partial, v)
	if err != nil {
		store.RemoveSQLite(partial)
		return nil, fmt.Errorf("the new backup failed verification and was deleted: %w", err)
	}
	if err := os.Rename(partial, final); err != nil {
		store.RemoveSQLite(partial)
		return nil, err
	}
	files, err := List(j.Dir, j.Product)
	if err != nil {
		return nil, err
	}
	deleted := 0
	for i, f := range files {
		if i < j.Keep {
			continue
		}
		if err := os.Remove(f.Path); err == nil {
			deleted++
		}
	}
	return map[string]any{
		"file": final, "bytes": res.Bytes, "tool": res.Tool, "verified": true,
		"schema_version": checked.SchemaVersion, "tables": checked.Tables, "rows": checked.Rows,
		"kept": min(len(files), j.Keep), "deleted": deleted,
	}, nil
}

// DrillResult is what `dr drill` measured.
type DrillResult struct {
	Source  string    // the replica URL (redacted) or the backup file
	Point   time.Time // the point in time restored (the newest the source had)
	Checked Checked
	RTO     time.Duration // from start to a verified, migrated scratch database
}

// DrillOptions say what `dr drill` restores.
type DrillOptions struct {
	// Replica, when its URL is set, is restored (newest state); otherwise
	// the newest scheduled backup in BackupDir.
	Replica   ReplicaOptions
	BackupDir string
	Product   string
	Verify    VerifyOptions
}

// Drill restores the newest backup or replica into a scratch database,
// verifies it as Verify does, and reports how long that took.
func Drill(ctx context.Context, o DrillOptions) (DrillResult, error) {
	start := time.Now()
	var r DrillResult
	if strings.TrimSpace(o.Replica.URL) != "" {
		_, newest, err := Bounds(ctx, o.Replica)
		if err != nil {
			return r, err
		}
		dir, err := os.MkdirTemp(o.Verify.ScratchDir, "drill-")
		if err != nil {
			return r, err
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "replica.db")
		if err := RestoreReplica(ctx, o.Replica, out, time.Time{}); err != nil {
			return r, err
		}
		r.Source, r.Point = Redact(o.Replica.URL), newest
		if r.Checked, err = Verify(ctx, out, o.Verify); err != nil {
			return r, err
		}
	} else {
		f, err := newestIn(o.BackupDir, o.Product)
		if err != nil {
			return r, err
		}
		r.Source, r.Point = f.Path, f.At
		if r.Checked, err = Verify(ctx, f.Path, o.Verify); err != nil {
			return r, err
		}
	}
	r.RTO = time.Since(start)
	return r, nil
}
