package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

func TestBackupRestoreAndInspect(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, id := range []string{"a", "b", "c"} {
			if _, err := db.Exec(ctx, "INSERT INTO things (id, at) VALUES (?, ?)", id, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		st, err := db.Inspect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Bytes <= 0 || st.Dialect != db.Dialect {
			t.Fatalf("inspect: got %+v", st)
		}
		var things int64 = -1
		for _, tb := range st.Tables {
			if tb.Name == "things" {
				things = tb.Rows
			}
		}
		if things != 3 {
			t.Fatalf("inspect: things has %d rows, want 3 (%+v)", things, st.Tables)
		}

		dst := filepath.Join(t.TempDir(), "backup.bak")
		res, err := db.Backup(ctx, dst)
		if err != nil {
			t.Fatal(err)
		}
		if res.Bytes <= 0 {
			t.Fatalf("backup: got %+v", res)
		}
		if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o600 {
			t.Fatalf("backup file mode: got %v, want 0600", fi.Mode().Perm())
		}
		if _, err := db.Backup(ctx, dst); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("second backup to the same file: got %v, want refusal", err)
		}

		// Change the database after the backup, then restore it.
		if _, err := db.Exec(ctx, "DELETE FROM things WHERE id = ?", "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO things (id, at) VALUES (?, ?)", "z", time.Now()); err != nil {
			t.Fatal(err)
		}
		if db.Dialect == store.SQLite {
			for _, sfx := range []string{"-wal", "-shm", "-journal"} {
				if _, err := os.Stat(dst + sfx); err == nil {
					t.Errorf("the backup left %s beside the copy", dst+sfx)
				}
			}
		}
		restoredAt := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		if err := db.Restore(ctx, dst, store.RestoreOptions{Settings: map[string]string{"restored": "yes"}, Now: func() time.Time { return restoredAt }}); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := db.QueryRow(ctx, "SELECT value FROM platform_settings WHERE key = ?", "restored").Scan(&v); err != nil || v != "yes" {
			t.Fatalf("the setting written with the restore: %q, %v", v, err)
		}
		if db.Dialect == store.SQLite {
			var mode string
			if err := db.Writer().QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Fatalf("journal mode after restoring a self-contained backup: %q, %v; want wal", mode, err)
			}
		}
		rows, err := db.Query(ctx, "SELECT id FROM things ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if strings.Join(ids, ",") != "a,b,c" {
			t.Fatalf("after restore: got %v, want a,b,c", ids)
		}
		// The database still works for writes after a restore.
		if _, err := db.Exec(ctx, "INSERT INTO things (id, at) VALUES (?, ?)", "d", time.Now()); err != nil {
			t.Fatalf("write after restore: %v", err)
		}

		// A file that is not a backup is refused and changes nothing.
		junk := filepath.Join(t.TempDir(), "junk.bak")
		os.WriteFile(junk, []byte("not a database"), 0o600)
		if err := db.Restore(ctx, junk, store.RestoreOptions{}); err == nil {
			t.Fatal("restore from a junk file succeeded")
		}
		var n int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM things").Scan(&n); err != nil || n != 4 {
			t.Fatalf("after a refused restore: %d rows, %v; want 4", n, err)
		}
	}, productMigrations)
}
