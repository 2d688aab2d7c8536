package backup_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/relaywork/suite/internal/platform/backup"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

func TestMain(m *testing.M) {
	// This machine sets AWS_CA_BUNDLE, which Litestream's S3 client refuses
	// (see docs/operations.md); the fake S3 server here speaks plain HTTP.
	os.Unsetenv("AWS_CA_BUNDLE")
	os.Exit(m.Run())
}

// countThings counts the rows of the test table in the SQLite file at path.
func countThings(t *testing.T, path string) int {
	t.Helper()
	c, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var n int
	if err := c.QueryRow("SELECT COUNT(*) FROM platform_settings WHERE key LIKE 'thing-%'").Scan(&n); err != nil {
		t.Fatalf("count in %s: %v", path, err)
	}
	return n
}

func insertThings(t *testing.T, db *store.DB, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := db.Exec(context.Background(), "INSERT INTO platform_settings (key, value, updated_at) VALUES (?, ?, ?)", fmt.Sprintf("thing-%04d", i), "v", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// replicateAndRestore runs the continuous replica against url: it
// replicates, restores the newest state and a point in time between two
// batches of writes, and checks a restore before the replica began is
// refused.
func replicateAndRestore(t *testing.T, o backup.ReplicaOptions) {
	ctx := context.Background()
	db := storetest.Open(t, store.SQLite)
	o.SyncInterval = 50 * time.Millisecond
	r, err := backup.StartReplicator(ctx, db.Target.Path, o)
	if err != nil {
		t.Fatal(err)
	}
	insertThings(t, db, 0, 10)
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if lag := r.Lag(); lag != 0 {
		t.Fatalf("lag after a sync: got %s, want 0", lag)
	}
	// Point-in-time restores pick the files written before the time, to
	// the millisecond; step over the boundary.
	time.Sleep(20 * time.Millisecond)
	between := time.Now()
	time.Sleep(20 * time.Millisecond)
	insertThings(t, db, 10, 25)
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}

	oldest, newest, err := backup.Bounds(ctx, o)
	if err != nil || oldest.IsZero() || newest.Before(oldest) {
		t.Fatalf("bounds: %v %v %v", oldest, newest, err)
	}
	dir := t.TempDir()
	latest := filepath.Join(dir, "latest.db")
	if err := backup.RestoreReplica(ctx, o, latest, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n := countThings(t, latest); n != 25 {
		t.Fatalf("latest restore: got %d rows, want 25", n)
	}
	if err := store.CheckSQLiteFile(ctx, latest); err != nil {
		t.Fatalf("latest restore is not a usable database: %v", err)
	}
	pit := filepath.Join(dir, "pit.db")
	if err := backup.RestoreReplica(ctx, o, pit, between); err != nil {
		t.Fatal(err)
	}
	if n := countThings(t, pit); n != 10 {
		t.Fatalf("restore to %s: got %d rows, want 10", between.Format(time.RFC3339Nano), n)
	}
	if err := backup.RestoreReplica(ctx, o, filepath.Join(dir, "early.db"), oldest.Add(-time.Hour)); err == nil {
		t.Fatal("restore to before the replica began: got nil error, want a refusal")
	}
}

func TestFileReplica(t *testing.T) {
	t.Parallel()
	t.Run("folder", func(t *testing.T) {
		t.Parallel()
		replicateAndRestore(t, backup.ReplicaOptions{URL: filepath.Join(t.TempDir(), "replica")})
	})
	t.Run("file URL", func(t *testing.T) {
		t.Parallel()
		replicateAndRestore(t, backup.ReplicaOptions{URL: "file://" + filepath.Join(t.TempDir(), "replica")})
	})
}

// TestS3Replica replicates to an S3-compatible server started in the test:
// gofakes3 (github.com/johannesboyne/gofakes3), in memory, speaking the S3
// wire protocol over HTTP, since no real S3 server installs here.
func TestS3Replica(t *testing.T) {
	t.Parallel()
	mem := s3mem.New()
	if err := mem.CreateBucket("backups"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(mem).Server())
	t.Cleanup(srv.Close)
	replicateAndRestore(t, backup.ReplicaOptions{
		URL:         "s3://backups/coda?endpoint=" + url.QueryEscape(srv.URL) + "&region=us-east-1&force-path-style=true",
		AccessKeyID: "test-key", SecretAccessKey: "test-secret",
	})
	objs, err := mem.ListBucket("backups", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil || len(objs.Contents) == 0 {
		t.Fatalf("the bucket holds no replica files: %v, %v", objs, err)
	}
}
