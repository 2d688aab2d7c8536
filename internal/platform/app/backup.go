package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relaywork/suite/internal/platform/backup"
	"github.com/relaywork/suite/internal/platform/config"
	"github.com/relaywork/suite/internal/platform/cron"
	"github.com/relaywork/suite/internal/platform/maintenance"
	"github.com/relaywork/suite/internal/platform/store"
)

// restoringMessage is shown while a restore runs, unless the operator had
// already turned maintenance on with a message of their own.
const restoringMessage = "We're restoring from a backup and will be back shortly."

// replicaOptions are the continuous-backup settings in c.
func replicaOptions(c *config.Config) backup.ReplicaOptions {
	return backup.ReplicaOptions{
		URL:             c.BackupReplicaURL,
		AccessKeyID:     c.BackupS3AccessKeyID,
		SecretAccessKey: c.BackupS3SecretAccessKey,
		Retention:       c.BackupRetention,
		SyncInterval:    c.BackupSyncInterval,
	}
}

// backupDir is BACKUP_DIR, or DATA_DIR/backups.
func backupDir(c *config.Config) string {
	if c.BackupDir != "" {
		return c.BackupDir
	}
	d := c.DataDir
	if d == "" {
		d = "data"
	}
	return filepath.Join(d, "backups")
}

func verifyOptions(p Product, c *config.Config) backup.VerifyOptions {
	v := backup.VerifyOptions{Migrations: p.Migrations}
	if strings.HasPrefix(c.DatabaseURL, "postgres") {
		v.PostgresURL = c.DatabaseURL
	}
	return v
}

// registerBackup adds the scheduled backup job and its metric.
func registerBackup(pl *Platform, p Product) error {
	c := pl.Config
	job := backup.Job{DB: pl.DB, Dir: backupDir(c), Keep: c.BackupKeep, Product: string(p.Name), Verify: verifyOptions(p, c), Now: pl.Now}
	if err := pl.Cron.Register(cron.Job{
		Name: backup.JobName, Schedule: c.BackupSchedule,
		Description: fmt.Sprintf("verified copy of the database into %s, keeping %d", job.Dir, job.Keep),
		Run:         job.Run,
	}); err != nil {
		return err
	}
	return pl.Metrics.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "backup_last_success_timestamp_seconds",
		Help: "When the newest successful run of the backup job began (Unix time; 0: never). Shared by every instance on one database.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		runs, err := pl.Cron.Runs(ctx, backup.JobName, 50)
		if err != nil {
			return 0
		}
		for _, r := range runs {
			if r.OK {
				return float64(r.StartedAt.Unix())
			}
		}
		return 0
	}))
}

// startReplication begins continuous replication when BACKUP_REPLICA_URL
// is set and the database is SQLite; the returned stop runs at shutdown.
func startReplication(ctx context.Context, pl *Platform) (stop func(), err error) {
	c := pl.Config
	if c.BackupReplicaURL == "" || pl.DB.Dialect != store.SQLite {
		return func() {}, nil
	}
	o := replicaOptions(c)
	o.Logger, o.Registerer = pl.Logger, pl.Metrics
	r, err := backup.StartReplicator(ctx, pl.DB.Target.Path, o)
	if err != nil {
		return nil, err
	}
	pl.Logger.Info("replicating the database continuously", "replica", backup.Redact(c.BackupReplicaURL), "sync_interval", c.BackupSyncInterval.String(), "retention", c.BackupRetention.String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			pl.Logger.Warn("stop replication", "err", err.Error())
		}
	}, nil
}

// backupCmd is `backup FILE` and `backup verify FILE`.
func backupCmd(ctx context.Context, p Product, env Env, args []string) error {
	usage := usagef("usage: %s backup FILE | %s backup verify FILE", p.Name, p.Name)
	if len(args) == 2 && args[0] == "verify" {
		return verifyCmd(ctx, p, env, args[1])
	}
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usage
	}
	return withStore(ctx, p, env, false, func(db *store.DB) error {
		res, err := db.Backup(ctx, args[0])
		if err != nil {
			return usagef("%s: backup failed: %v", p.Name, err)
		}
		opsAudit(ctx, db, "backup", map[string]any{"bytes": res.Bytes, "tool": res.Tool})
		fmt.Fprintf(env.Stdout, "backed up %s to %s (%d bytes, %s, with the %s)\n", db.Target.Redacted, res.Path, res.Bytes, res.Duration.Round(1e6), res.Tool)
		return nil
	})
}

// verifyCmd is `backup verify FILE`.
func verifyCmd(ctx context.Context, p Product, env Env, file string) error {
	c, err := loadConfig(p, env, false)
	if err != nil {
		return err
	}
	v := verifyOptions(p, c)
	v.Logger = newLogger(c, io.Discard)
	res, err := backup.Verify(ctx, file, v)
	if err != nil {
		return usagef("%s: %s is NOT a usable backup: %v", p.Name, file, err)
	}
	fmt.Fprintf(env.Stdout, "%s is a good %s backup: restored into a scratch database in %s, integrity ok, schema version %05d (%d newer migration(s) of this binary applied cleanly), %d tables, %d rows\n",
		file, res.Kind, res.Took.Round(time.Millisecond), res.SchemaVersion, res.Pending, res.Tables, res.Rows)
	return nil
}

// drCmd is `dr drill`.
func drCmd(ctx context.Context, p Product, env Env, args []string) error {
	if len(args) != 1 || args[0] != "drill" {
		return usagef("usage: %s dr drill   (restores the newest replica or backup into a scratch database and prints the time it took)", p.Name)
	}
	c, err := loadConfig(p, env, false)
	if err != nil {
		return err
	}
	t, _ := store.Parse(c.DatabaseURL, c.DataDir, string(p.Name))
	o := backup.DrillOptions{BackupDir: backupDir(c), Product: string(p.Name), Verify: verifyOptions(p, c)}
	if t.Dialect == store.SQLite {
		o.Replica = replicaOptions(c)
	}
	r, err := backup.Drill(ctx, o)
	if err != nil {
		return usagef("%s: disaster-recovery drill FAILED: %v", p.Name, err)
	}
	fmt.Fprintf(env.Stdout, "drill: restored %s (as of %s) into a scratch database and verified it: integrity ok, schema version %05d, %d tables, %d rows, %.1f MB\nRTO %s (restore, check, migrate; start the server on it takes well under a second more)\n",
		r.Source, r.Point.UTC().Format(time.RFC3339), r.Checked.SchemaVersion, r.Checked.Tables, r.Checked.Rows, float64(r.Checked.Bytes)/(1<<20), r.RTO.Round(time.Millisecond))
	return nil
}

// restoreCmd is `restore FILE --yes`, `restore --latest --yes` and
// `restore --to TIME --yes`. Maintenance mode is on before the restore
// begins and is written into the restored database before it goes live,
// so the site stays closed until the operator says `maintenance off`.
func restoreCmd(ctx context.Context, p Product, env Env, args []string) error {
	usage := usagef("usage: %[1]s restore FILE --yes | %[1]s restore --latest --yes | %[1]s restore --to 2026-12-01T10:00:00Z --yes\n(replaces every row of the database; the site stays in maintenance until `%[1]s maintenance off`)", p.Name)
	var file, to string
	latest, yes := false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--yes" || a == "-yes":
			yes = true
		case a == "--latest" || a == "-latest":
			latest = true
		case a == "--to" || a == "-to":
			if i+1 >= len(args) {
				return usage
			}
			i++
			to = args[i]
		case strings.HasPrefix(a, "--to="):
			to = strings.TrimPrefix(a, "--to=")
		case strings.HasPrefix(a, "-") || file != "":
			return usage
		default:
			file = a
		}
	}
	n := 0
	for _, set := range []bool{file != "", latest, to != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return usage
	}
	var at time.Time
	if to != "" {
		var err error
		if at, err = time.Parse(time.RFC3339, to); err != nil {
			return usagef("%s: --to %q: give the time in RFC 3339 with a zone, such as 2026-12-01T10:00:00Z", p.Name, to)
		}
	}
	what := file
	if file == "" {
		what = "the replica (BACKUP_REPLICA_URL)"
	}
	if !yes {
		return usagef("%s: restore replaces the whole database with %s; run it again with --yes to go ahead (the site goes into maintenance mode and stays there until `%s maintenance off`)", p.Name, what, p.Name)
	}
	c, err := loadConfig(p, env, false)
	if err != nil {
		return err
	}
	t, err := store.Parse(c.DatabaseURL, c.DataDir, string(p.Name))
	if err != nil {
		return usagef("%s: %v", p.Name, err)
	}
	fromReplica := file == ""
	if fromReplica && (t.Dialect != store.SQLite || c.BackupReplicaURL == "") {
		return usagef("%s: --latest and --to restore from the continuous replica, which needs the embedded SQLite database and BACKUP_REPLICA_URL; restore a file instead (`%s restore FILE --yes`, files are in %s)", p.Name, p.Name, backupDir(c))
	}
	start := time.Now()
	ro := replicaOptions(c)
	point := at
	if fromReplica && at.IsZero() {
		if _, newest, err := backup.Bounds(ctx, ro); err == nil {
			point = newest
		}
	}
	// fetch gets the replica's copy beside the database file.
	fetch := func() (string, func(), error) {
		out := filepath.Join(filepath.Dir(t.Path), "."+filepath.Base(t.Path)+".replica-"+fmt.Sprint(time.Now().UnixNano()))
		if err := backup.RestoreReplica(ctx, ro, out, at); err != nil {
			return "", nil, err
		}
		return out, func() { store.RemoveSQLite(out) }, nil
	}

	// A new machine or a lost disk: no database file yet. Put the backup
	// in place whole, closed for maintenance.
	if t.Dialect == store.SQLite {
		if _, err := os.Stat(t.Path); errors.Is(err, os.ErrNotExist) {
			src := file
			if fromReplica {
				out, cleanup, err := fetch()
				if err != nil {
					return usagef("%s: restore failed, nothing was changed: %v", p.Name, err)
				}
				defer cleanup()
				src = out
			}
			if err := store.InstallSQLite(ctx, src, t.Path, store.RestoreOptions{Settings: map[string]string{maintenance.SettingKey: maintenance.Closed(restoringMessage, time.Now())}}); err != nil {
				return usagef("%s: restore failed, nothing was changed: %v", p.Name, err)
			}
			_ = backup.ForgetLocalState(t.Path)
			return restored(ctx, p, env, c, what, point, start, restoringMessage)
		}
	}

	return withStore(ctx, p, env, false, func(db *store.DB) error {
		// Close the site first, keeping an operator's own message, so no
		// request writes while the restore runs.
		m := maintenance.New(db, nil, 0)
		msg := restoringMessage
		if st, err := m.Status(ctx); err == nil && st.On {
			msg = st.Message
		}
		if _, err := m.Set(ctx, true, msg); err != nil {
			return usagef("%s: could not turn maintenance mode on before the restore, nothing was changed: %v", p.Name, err)
		}
		src := file
		if fromReplica {
			out, cleanup, err := fetch()
			if err != nil {
				return usagef("%s: restore failed, the database is unchanged (and in maintenance mode: `%s maintenance off` reopens it): %v", p.Name, p.Name, err)
			}
			defer cleanup()
			src = out
		}
		if err := db.Restore(ctx, src, store.RestoreOptions{Settings: map[string]string{maintenance.SettingKey: maintenance.Closed(msg, time.Now())}}); err != nil {
			return usagef("%s: restore failed, the database is unchanged (and in maintenance mode: `%s maintenance off` reopens it): %v", p.Name, p.Name, err)
		}
		return restoredWith(ctx, p, env, db, what, point, start, msg)
	})
}

// restored audits and reports a restore that installed a new file.
func restored(ctx context.Context, p Product, env Env, c *config.Config, what string, point time.Time, start time.Time, msg string) error {
	db, err := openStore(ctx, p, c, newLogger(c, io.Discard))
	if err != nil {
		return err
	}
	defer db.Close()
	return restoredWith(ctx, p, env, db, what, point, start, msg)
}

func restoredWith(ctx context.Context, p Product, env Env, db *store.DB, what string, point time.Time, start time.Time, msg string) error {
	meta := map[string]any{"source": what}
	asOf := ""
	if !point.IsZero() {
		meta["to"] = point.UTC().Format(time.RFC3339)
		asOf = " as of " + point.UTC().Format(time.RFC3339)
	}
	opsAudit(ctx, db, "restore", meta)
	fmt.Fprintf(env.Stdout, "restored %s from %s%s in %s\nmaintenance mode is ON (visitors see %q): check the site signed in as an admin, then run `%s maintenance off`\nrun `%s migrate status` to see the schema version (servers apply newer migrations when they start)\n",
		db.Target.Redacted, what, asOf, time.Since(start).Round(time.Millisecond), msg, p.Name, p.Name)
	return nil
}

// dbCmd is `db stats`.
func dbCmd(ctx context.Context, p Product, env Env, args []string) error {
	if len(args) != 1 || args[0] != "stats" {
		return usagef("usage: %s db stats", p.Name)
	}
	return withStore(ctx, p, env, false, func(db *store.DB) error {
		st, err := db.Inspect(ctx)
		if err != nil {
			return err
		}
		return PrintStats(env.Stdout, st)
	})
}

// PrintStats writes Stats as `db stats` shows them.
func PrintStats(w io.Writer, st store.Stats) error {
	mb := func(b int64) string { return fmt.Sprintf("%.2f MB", float64(b)/(1<<20)) }
	fmt.Fprintf(w, "%s database at %s, %s\n\n", st.Dialect, st.Where, mb(st.Bytes))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TABLE\tROWS\tSIZE\tINDEXES SIZE\tINDEXES\n")
	for _, t := range st.Tables {
		idx := strings.Join(t.Indexes, ", ")
		if idx == "" {
			idx = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", t.Name, t.Rows, mb(t.TableBytes), mb(t.IndexBytes), idx)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if st.IndexUsage {
		fmt.Fprintf(tw, "INDEX (least used first)\tTABLE\tSCANS\tTUPLES READ\tSIZE\n")
		for _, x := range st.Indexes {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", x.Name, x.Table, x.Scans, x.TuplesRead, mb(x.Bytes))
		}
	} else {
		fmt.Fprintf(tw, "INDEX\tTABLE\tSIZE\n")
		for _, x := range st.Indexes {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", x.Name, x.Table, mb(x.Bytes))
		}
	}
	tw.Flush()
	if !st.IndexUsage {
		fmt.Fprintf(w, "(SQLite does not count index use; db_query_duration_seconds on /metrics shows each operation's time)\n")
	}
	fmt.Fprintln(w)
	if !st.LongTracked {
		fmt.Fprintf(w, "Long-running queries: not listed on SQLite (it runs inside the server); see the \"slow query\" log lines (SLOW_QUERY_MS)\n")
		return nil
	}
	if len(st.Long) == 0 {
		fmt.Fprintf(w, "Long-running queries (over %s): none\n", store.LongQueryAfter)
		return nil
	}
	fmt.Fprintf(w, "Long-running queries (over %s):\n", store.LongQueryAfter)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PID\tRUNNING\tSTATE\tWAIT\tQUERY\n")
	for _, q := range st.Long {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", q.PID, q.Duration.Round(time.Millisecond), q.State, q.Wait, strings.Join(strings.Fields(q.Query), " "))
	}
	return tw.Flush()
}
