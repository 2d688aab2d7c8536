// Package backup keeps the data safe: continuous replication of the
// embedded SQLite database with Litestream (used as a library) to a folder
// or S3-compatible storage with point-in-time restore, the scheduled
// backup job that writes verified, timestamped copies on both back ends,
// and the checks behind `backup verify` and `dr drill`.
package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/benbjohnson/litestream"
	"github.com/benbjohnson/litestream/file"
	"github.com/benbjohnson/litestream/s3"
	"github.com/prometheus/client_golang/prometheus"
)

// ReplicaOptions say where and how to replicate one SQLite database.
type ReplicaOptions struct {
	URL string // BACKUP_REPLICA_URL: a folder, file:///path or s3://bucket/path?endpoint=&region=
	// S3 credentials (BACKUP_S3_ACCESS_KEY_ID / _SECRET_ACCESS_KEY); empty:
	// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the instance's role.
	AccessKeyID, SecretAccessKey string
	Retention                    time.Duration // BACKUP_RETENTION; default 7 days
	SyncInterval                 time.Duration // BACKUP_SYNC_INTERVAL; default 500 ms
	Logger                       *slog.Logger
	Registerer                   prometheus.Registerer // nil: no metrics
	Now                          func() time.Time
}

func (o *ReplicaOptions) defaults() {
	if o.Retention <= 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// NewClient returns the Litestream replica client for a BACKUP_REPLICA_URL.
func NewClient(o ReplicaOptions) (litestream.ReplicaClient, error) {
	raw := strings.TrimSpace(o.URL)
	if raw == "" {
		return nil, errors.New("BACKUP_REPLICA_URL is not set")
	}
	if !strings.Contains(raw, "://") {
		p, err := filepath.Abs(raw)
		if err != nil {
			return nil, err
		}
		return file.NewReplicaClient(p), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("BACKUP_REPLICA_URL: %w", err)
	}
	switch u.Scheme {
	case "file":
		return file.NewReplicaClient(u.Path), nil
	case "s3":
		c, err := litestream.NewReplicaClientFromURL(raw)
		if err != nil {
			return nil, fmt.Errorf("BACKUP_REPLICA_URL: %w", err)
		}
		sc := c.(*s3.ReplicaClient)
		if o.AccessKeyID != "" {
			sc.AccessKeyID, sc.SecretAccessKey = o.AccessKeyID, o.SecretAccessKey
		}
		return sc, nil
	default:
		return nil, fmt.Errorf("BACKUP_REPLICA_URL: scheme %q is not supported (a folder, file:///path or s3://bucket/path)", u.Scheme)
	}
}

// hint adds the fix for a known failure.
func hint(err error) string {
	if strings.Contains(err.Error(), "RootCAs") {
		return " (Litestream's S3 client cannot use AWS_CA_BUNDLE: unset it and add the CA to the system's trust store or SSL_CERT_FILE)"
	}
	return ""
}

// Redact returns a replica URL safe to print.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return raw
	}
	return u.Redacted()
}

// Replicator ships every committed transaction of one SQLite database to
// the replica while the server runs.
type Replicator struct {
	store *litestream.Store
	db    *litestream.DB
	rep   *litestream.Replica
	now   func() time.Time

	mu       sync.Mutex
	caughtUp time.Time // the last time the replica held every local transaction
	lastSync time.Time // the last time the replica's position moved or matched

	stop chan struct{}
	done chan struct{}
}

// StartReplicator begins replicating the SQLite file at dbPath. The
// server's own connections stay open; Close stops replication, after a
// final sync, at shutdown.
func StartReplicator(ctx context.Context, dbPath string, o ReplicaOptions) (*Replicator, error) {
	o.defaults()
	client, err := NewClient(o)
	if err != nil {
		return nil, err
	}
	ldb := litestream.NewDB(dbPath)
	ldb.MonitorInterval = o.SyncInterval
	rep := litestream.NewReplicaWithClient(ldb, client)
	rep.SyncInterval = o.SyncInterval
	ldb.Replica = rep
	if fc, ok := client.(*file.ReplicaClient); ok {
		fc.Replica = rep
	}
	levels := litestream.CompactionLevels{
		{Level: 0},
		{Level: 1, Interval: 30 * time.Second},
		{Level: 2, Interval: 5 * time.Minute},
		{Level: 3, Interval: time.Hour},
	}
	st := litestream.NewStore([]*litestream.DB{ldb}, levels)
	// A snapshot a day, kept for the retention: a restore can go back that
	// far, to 30-second steps (level 1 files are kept as long as the oldest
	// snapshot).
	st.SnapshotInterval = 24 * time.Hour
	st.SnapshotRetention = o.Retention
	st.Logger = newLitestreamLogger(o.Logger)
	ldb.SetLogger(st.Logger.With("db", filepath.Base(dbPath)))
	if err := st.Open(ctx); err != nil {
		return nil, fmt.Errorf("start replication of %s to %s: %w%s", dbPath, Redact(o.URL), err, hint(err))
	}
	r := &Replicator{store: st, db: ldb, rep: rep, now: o.Now, stop: make(chan struct{}), done: make(chan struct{})}
	r.caughtUp, r.lastSync = o.Now(), o.Now()
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "backup_replication_lag_seconds",
				Help: "How long the replica (BACKUP_REPLICA_URL) has been missing committed transactions; 0 when it has them all.",
			}, func() float64 { return r.Lag().Seconds() }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "backup_replica_caught_up_timestamp_seconds",
				Help: "When the replica last held every committed transaction (Unix time).",
			}, func() float64 { r.mu.Lock(); defer r.mu.Unlock(); return float64(r.caughtUp.UnixNano()) / 1e9 }),
		} {
			if err := o.Registerer.Register(c); err != nil {
				_ = st.Close(context.Background())
				return nil, err
			}
		}
	}
	go r.watch(o.SyncInterval)
	return r, nil
}

// watch notes when the replica last caught up with the database.
func (r *Replicator) watch(every time.Duration) {
	defer close(r.done)
	t := time.NewTicker(max(every/2, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.check()
		}
	}
}

func (r *Replicator) check() {
	dpos, err := r.db.Pos()
	if err != nil {
		return
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rep.Pos().TXID >= dpos.TXID {
		r.caughtUp = now
	}
}

// Lag is how long the replica has been behind the database (0 if it is not).
func (r *Replicator) Lag() time.Duration {
	dpos, err := r.db.Pos()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && r.rep.Pos().TXID >= dpos.TXID {
		return 0
	}
	return max(0, r.now().Sub(r.caughtUp))
}

// Sync ships everything committed so far to the replica now.
func (r *Replicator) Sync(ctx context.Context) error {
	if err := r.db.Sync(ctx); err != nil {
		return err
	}
	if err := r.rep.Sync(ctx); err != nil {
		return err
	}
	r.check()
	return nil
}

// Close syncs once more and stops replicating.
func (r *Replicator) Close(ctx context.Context) error {
	close(r.stop)
	<-r.done
	return r.store.Close(ctx)
}

// ErrNoReplica means the replica holds nothing to restore.
var ErrNoReplica = errors.New("the replica holds no backup of this database yet")

// Bounds returns the oldest and newest points in time the replica can
// restore to.
func Bounds(ctx context.Context, o ReplicaOptions) (oldest, newest time.Time, err error) {
	o.defaults()
	client, err := NewClient(o)
	if err != nil {
		return oldest, newest, err
	}
	if err := client.Init(ctx); err != nil {
		return oldest, newest, err
	}
	rep := litestream.NewReplicaWithClient(nil, client)
	oldest, newest, err = rep.TimeBounds(ctx)
	if err == nil && newest.IsZero() {
		err = ErrNoReplica
	}
	return oldest, newest, err
}

// RestoreReplica writes the database as it was at `at` (zero: the newest
// state) from the replica to out, which must not exist.
func RestoreReplica(ctx context.Context, o ReplicaOptions, out string, at time.Time) error {
	o.defaults()
	client, err := NewClient(o)
	if err != nil {
		return err
	}
	if err := client.Init(ctx); err != nil {
		return fmt.Errorf("replica %s: %w%s", Redact(o.URL), err, hint(err))
	}
	rep := litestream.NewReplicaWithClient(nil, client)
	opt := litestream.NewRestoreOptions()
	opt.OutputPath = out
	opt.Timestamp = at
	opt.IntegrityCheck = litestream.IntegrityCheckQuick
	if !at.IsZero() {
		oldest, newest, err := rep.TimeBounds(ctx)
		if err == nil && !oldest.IsZero() && at.Before(oldest) {
			return fmt.Errorf("the replica can restore from %s (BACKUP_RETENTION) to %s; %s is before that", oldest.UTC().Format(time.RFC3339), newest.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
		}
	}
	if err := rep.Restore(ctx, opt); err != nil {
		os.Remove(out)
		os.Remove(litestream.TXIDPath(out))
		if errors.Is(err, litestream.ErrTxNotAvailable) || errors.Is(err, litestream.ErrNoSnapshots) {
			return ErrNoReplica
		}
		return fmt.Errorf("restore from %s: %w", Redact(o.URL), err)
	}
	os.Remove(litestream.TXIDPath(out))
	return nil
}

// ForgetLocalState removes Litestream's bookkeeping beside dbPath (which
// transactions it has shipped), for a database file that was replaced
// whole: the next replication starts from the file as it now is.
func ForgetLocalState(dbPath string) error {
	dir, base := filepath.Split(dbPath)
	return os.RemoveAll(filepath.Join(dir, "."+base+litestream.MetaDirSuffix))
}
