package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/store"
)

// TestBackgroundCheckpoint: commits reach the database file itself (not
// only the WAL) without the writer checkpointing, which it does only
// after thousands of pages. The main file is read with immutable=1, which
// ignores the WAL, so a row shows there only once a checkpoint copied it.
func TestBackgroundCheckpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{DataDir: dir, Name: "ckpt"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, `CREATE TABLE t (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO t (v) VALUES ('kept')`); err != nil {
		t.Fatal(err)
	}
	var autockpt int
	if err := db.Writer().QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&autockpt); err != nil {
		t.Fatal(err)
	}
	if autockpt < 5000 {
		t.Fatalf("writer wal_autocheckpoint = %d, want the backstop (thousands of pages)", autockpt)
	}
	main, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "ckpt.db")+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	defer main.Close()
	main.SetMaxOpenConns(1)
	for deadline := time.Now().Add(10 * time.Second); ; {
		// immutable=1 caches nothing across connections: reopen each try.
		main.SetMaxIdleConns(0)
		var n int
		err := main.QueryRowContext(ctx, `SELECT count(*) FROM t WHERE v = 'kept'`).Scan(&n)
		if err == nil && n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("row not in the database file after 10s (count %d, err %v): no background checkpoint", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
