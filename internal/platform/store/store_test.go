package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     store.Dialect
		wantErr  string
		maxConns int
		timeout  time.Duration
	}{
		{name: "empty is sqlite", in: "", want: store.SQLite},
		{name: "sqlite path", in: "sqlite:/tmp/x.db", want: store.SQLite},
		{name: "postgres", in: "postgres://u:p@localhost:5432/db", want: store.Postgres, maxConns: 10, timeout: 10 * time.Second},
		{name: "postgresql with prisma params", in: "postgresql://u:p@host/db?sslmode=require&connection_limit=3&pool_timeout=20", want: store.Postgres, maxConns: 3, timeout: 20 * time.Second},
		{name: "mysql", in: "mysql://u@h/db", wantErr: "DATABASE_URL"},
		{name: "garbage", in: "not a url", wantErr: "accepted forms"},
		{name: "no host", in: "postgres://", wantErr: "DATABASE_URL"},
		{name: "bad limit", in: "postgres://h/db?connection_limit=x", wantErr: "connection_limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := store.Parse(tt.in, "data", "coda")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), ":p@") {
					t.Fatalf("error leaks password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Dialect != tt.want {
				t.Fatalf("got %s, want %s", got.Dialect, tt.want)
			}
			if tt.want == store.Postgres {
				if got.MaxConns != tt.maxConns || got.PoolTimeout != tt.timeout {
					t.Errorf("got limits %d/%s, want %d/%s", got.MaxConns, got.PoolTimeout, tt.maxConns, tt.timeout)
				}
				if strings.Contains(got.DSN, "connection_limit") || strings.Contains(got.DSN, "pool_timeout") {
					t.Errorf("prisma params left in DSN: %s", got.DSN)
				}
				if strings.Contains(got.Redacted, ":p@") {
					t.Errorf("redacted form leaks password: %s", got.Redacted)
				}
			}
		})
	}
}

func TestRebind(t *testing.T) {
	t.Parallel()
	got := store.Rebind(store.Postgres, "SELECT '?', x FROM t WHERE a = ? AND b = ?")
	want := "SELECT '?', x FROM t WHERE a = $1 AND b = $2"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := store.Rebind(store.SQLite, "a = ?"); got != "a = ?" {
		t.Fatalf("got %q, want unchanged", got)
	}
}

var productMigrations = fstest.MapFS{
	"sqlite/00100_things.sql":   {Data: []byte("-- +goose Up\nCREATE TABLE things (id TEXT PRIMARY KEY, at TIMESTAMP NOT NULL);\n-- +goose Down\nDROP TABLE things;\n")},
	"postgres/00100_things.sql": {Data: []byte("-- +goose Up\nCREATE TABLE things (id TEXT PRIMARY KEY, at TIMESTAMPTZ NOT NULL);\n-- +goose Down\nDROP TABLE things;\n")},
}

func TestMigrateUpDownRedoStatus(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, err := store.Open(ctx, store.Options{URL: storetest.URL(t, d), Name: "m", ConnectTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			m, err := db.NewMigrator(nil, productMigrations)
			if err != nil {
				t.Fatal(err)
			}
			if pending, _ := m.Pending(ctx); !pending {
				t.Fatal("got no pending migrations on a fresh database, want some")
			}
			all, err := m.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			last := len(all) - 1 // the product's migration sorts after every platform one
			if last < 1 || all[last].Version != 100 {
				t.Fatalf("status before up: got %+v, want platform migrations then 100", all)
			}
			n, err := m.Up(ctx)
			if err != nil || n != len(all) {
				t.Fatalf("up: got %d, %v; want %d applied", n, err, len(all))
			}
			if n, err := m.Up(ctx); err != nil || n != 0 {
				t.Fatalf("second up: got %d, %v; want 0 (idempotent)", n, err)
			}
			if _, err := db.Exec(ctx, "INSERT INTO things (id, at) VALUES (?, ?)", "a", time.Now()); err != nil {
				t.Fatalf("insert after up: %v", err)
			}
			st, err := m.Status(ctx)
			if err != nil || len(st) != len(all) || !st[last].Applied || st[last].Version != 100 {
				t.Fatalf("status: got %+v, %v", st, err)
			}
			v, err := m.Down(ctx)
			if err != nil || v != 100 {
				t.Fatalf("down: got %d, %v; want 100", v, err)
			}
			if _, err := db.Exec(ctx, "INSERT INTO things (id, at) VALUES (?, ?)", "b", time.Now()); err == nil {
				t.Fatal("insert after down succeeded, want missing table")
			}
			v, err = m.Redo(ctx)
			if err != nil || v != all[last-1].Version {
				t.Fatalf("redo: got %d, %v; want the latest applied, %d", v, err, all[last-1].Version)
			}
			st, _ = m.Status(ctx)
			for i, mg := range st {
				if want := i != last; mg.Applied != want {
					t.Fatalf("after redo: %s applied = %v, want %v (%+v)", mg.Name, mg.Applied, want, st)
				}
			}
		})
	}
}

func TestTimesRoundTripInUTC(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		loc := time.FixedZone("X", 5*3600)
		at := time.Date(2026, 3, 1, 12, 30, 15, 123456000, loc)
		if _, err := db.Exec(ctx, "INSERT INTO things (id, at) VALUES (?, ?)", "a", at); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO things (id, at) VALUES (?, ?)", "b", at.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		var got time.Time
		if err := db.QueryRow(ctx, "SELECT at FROM things WHERE id = ?", "a").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(at) {
			t.Fatalf("got %v, want %v", got, at)
		}
		var n int
		if err := db.QueryRow(ctx, "SELECT count(*) FROM things WHERE at < ?", at.Add(500*time.Millisecond)).Scan(&n); err != nil || n != 1 {
			t.Fatalf("time comparison: got %d, %v; want 1", n, err)
		}
	}, productMigrations)
}

func TestInTxRollsBack(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO things (id, at) VALUES (?, ?)", "a", time.Now()); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO things (id, at) VALUES (?, ?)", "a", time.Now())
			return err
		})
		if !store.IsUniqueViolation(err) {
			t.Fatalf("got %v, want unique violation", err)
		}
		var n int
		_ = db.QueryRow(ctx, "SELECT count(*) FROM things").Scan(&n)
		if n != 0 {
			t.Fatalf("got %d rows, want 0 after rollback", n)
		}
	}, productMigrations)
}

func TestOpenUnreachablePostgresGivesUp(t *testing.T) {
	t.Parallel()
	start := time.Now()
	_, err := store.Open(context.Background(), store.Options{URL: "postgres://u:secretpw@127.0.0.1:1/db", ConnectTimeout: 600 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "DB_CONNECT_TIMEOUT") {
		t.Fatalf("got %v, want unreachable error naming DB_CONNECT_TIMEOUT", err)
	}
	if strings.Contains(err.Error(), "secretpw") {
		t.Fatalf("error leaks password: %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("gave up after %s, want about the connect timeout", el)
	}
}

// TestScrubLeavesNoDeletedBytes: after rows are deleted and the store
// scrubbed, their text is in none of SQLite's files (database, -wal,
// -shm); on PostgreSQL the tables were vacuumed.
func TestScrubLeavesNoDeletedBytes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var secure int
		if db.Dialect == store.SQLite {
			if err := db.Writer().QueryRowContext(ctx, "PRAGMA secure_delete").Scan(&secure); err != nil || secure != 1 {
				t.Fatalf("secure_delete = %d (%v), want 1", secure, err)
			}
		}
		const marker = "zebra-quartz-erasure-marker"
		for i := range 200 {
			if _, err := db.Exec(ctx, "INSERT INTO things (id, at) VALUES (?, ?)", fmt.Sprintf("%s-%03d-%s", marker, i, strings.Repeat("x", 200)), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if db.Dialect == store.SQLite {
			// Part of the rows reach the database file, part stay in the WAL.
			if _, err := db.Writer().ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
				t.Fatal(err)
			}
			for i := 200; i < 220; i++ {
				db.Exec(ctx, "INSERT INTO things (id, at) VALUES (?, ?)", fmt.Sprintf("%s-%03d", marker, i), time.Now())
			}
			if n := countInFiles(t, db.Target.Path, marker); n == 0 {
				t.Fatal("the marker is not in the files before the delete; the test proves nothing")
			}
		}
		if _, err := db.Exec(ctx, "DELETE FROM things WHERE id LIKE ?", marker+"%"); err != nil {
			t.Fatal(err)
		}
		if err := db.Scrub(ctx, "things"); err != nil {
			t.Fatal(err)
		}
		switch db.Dialect {
		case store.SQLite:
			if n := countInFiles(t, db.Target.Path, marker); n != 0 {
				t.Fatalf("got %d copies of deleted text in the database files, want 0", n)
			}
		case store.Postgres:
			var vacuumed bool
			if err := db.QueryRow(ctx, "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'things'").Scan(&vacuumed); err != nil || !vacuumed {
				t.Fatalf("things vacuumed: %v (%v), want true", vacuumed, err)
			}
			var dead int64
			db.QueryRow(ctx, "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'things'").Scan(&dead)
			if dead != 0 {
				t.Fatalf("got %d dead tuples after the vacuum, want 0", dead)
			}
		}
	}, productMigrations)
}

// countInFiles counts s in path, path-wal and path-shm.
func countInFiles(t *testing.T, path, s string) int {
	t.Helper()
	n := 0
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		n += bytes.Count(b, []byte(s))
	}
	return n
}

// TestScrubWhileAnotherConnectionCheckpoints: SQLite answers a TRUNCATE
// checkpoint "busy" at once while another connection checkpoints (the
// background checkpointer, a backup, the sqlite3 shell), which left an
// erased account's rows in the WAL; Scrub waits its turn and empties the
// log each time.
func TestScrubWhileAnotherConnectionCheckpoints(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite, productMigrations)
	ctx := context.Background()
	other, err := sql.Open("sqlite", db.Target.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			var busy, log, ckpt int
			if other.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &ckpt) == nil {
				n++
			}
		}
	}()
	const marker = "ibex-cobalt-scrub-marker"
	for round := range 20 {
		for i := range 40 {
			if _, err := db.Exec(ctx, "INSERT INTO things (id, at) VALUES (?, ?)", fmt.Sprintf("%s-%d-%d-%s", marker, round, i, strings.Repeat("y", 300)), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Exec(ctx, "DELETE FROM things WHERE id LIKE ?", marker+"%"); err != nil {
			t.Fatal(err)
		}
		if err := db.Scrub(ctx, "things"); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if n := countInFiles(t, db.Target.Path, marker); n != 0 {
			t.Fatalf("round %d: %d copies of deleted text in the database files, want 0", round, n)
		}
	}
	close(stop)
	if n := <-done; n < 20 {
		t.Fatalf("the other connection checkpointed %d times, want it busy throughout (the test proves nothing)", n)
	}
}
