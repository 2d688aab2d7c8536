package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func openTestSQLite(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), Options{DataDir: t.TempDir(), Name: "stmt", ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.w.Exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestStatementCache: on SQLite a text is prepared once and reused by
// reads, writes and transactions; a transaction's texts are prepared
// after it (the writer's one connection is the transaction's meanwhile,
// so preparing inside would wait forever); past the cap, texts still run.
func TestStatementCache(t *testing.T) {
	db := openTestSQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 50 {
		if _, err := db.Exec(ctx, "INSERT INTO kv (k, v) VALUES (?, ?)", fmt.Sprint("k", i), i); err != nil {
			t.Fatal(err)
		}
		var v int
		if err := db.QueryRow(ctx, "SELECT v FROM kv WHERE k = ?", fmt.Sprint("k", i)).Scan(&v); err != nil || v != i {
			t.Fatalf("read back %d: %d %v", i, v, err)
		}
	}
	if w, r := db.wstmts.n.Load(), db.rstmts.n.Load(); w != 1 || r != 1 {
		t.Fatalf("prepared %d write and %d read statements for one text each, want 1 and 1", w, r)
	}

	const upd = "UPDATE kv SET v = v + 1 WHERE k = ?"
	done := make(chan error, 1)
	go func() {
		done <- db.InTx(ctx, func(tx *Tx) error {
			_, err := tx.Exec(ctx, upd, "k1")
			return err
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a transaction running a new text never finished (prepared on the writer it holds?)")
	}
	if _, ok := db.wstmts.m.Load(upd); !ok {
		t.Fatal("the transaction's text was not prepared after it")
	}
	// A rolled-back transaction prepares its texts too, and the next one
	// runs them prepared.
	const del = "DELETE FROM kv WHERE k = ?"
	boom := errors.New("boom")
	if err := db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, del, "k2"); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("rollback: %v", err)
	}
	if err := db.InTx(ctx, func(tx *Tx) error {
		if tx.stmt(ctx, del) == nil {
			return errors.New("not prepared for the second transaction")
		}
		_, err := tx.Exec(ctx, del, "k2")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM kv").Scan(&n); err != nil || n != 49 {
		t.Fatalf("%d rows after one deletion (%v), want 49 (the rolled-back one kept it)", n, err)
	}
	var v int
	if err := db.QueryRow(ctx, "SELECT v FROM kv WHERE k = ?", "k1").Scan(&v); err != nil || v != 2 {
		t.Fatalf("k1 = %d (%v), want 2", v, err)
	}

	// A text of several statements runs them all.
	if _, err := db.Exec(ctx, "INSERT INTO kv (k, v) VALUES ('a', 1); INSERT INTO kv (k, v) VALUES ('b', 2)"); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM kv WHERE k IN ('a', 'b')").Scan(&n); err != nil || n != 2 {
		t.Fatalf("a multi-statement text inserted %d rows (%v), want 2", n, err)
	}

	// Past the cap new texts run unprepared.
	db.rstmts.n.Store(maxCachedStmts)
	const extra = "SELECT v + 0 FROM kv WHERE k = ?"
	if err := db.QueryRow(ctx, extra, "k3").Scan(&v); err != nil || v != 3 {
		t.Fatalf("a text past the cap: %d %v", v, err)
	}
	if _, ok := db.rstmts.m.Load(extra); ok {
		t.Fatal("a text past the cap was cached")
	}
}

// TestStatementContext: a SQLite statement refuses a context that is
// already done, runs to its end otherwise, and keeps a deadline.
func TestStatementContext(t *testing.T) {
	db := openTestSQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.Exec(ctx, "INSERT INTO kv (k, v) VALUES ('x', 1)"); !errors.Is(err, context.Canceled) {
		t.Fatalf("exec with a cancelled context: %v, want context.Canceled", err)
	}
	var n int
	if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM kv").Scan(&n); !errors.Is(err, context.Canceled) {
		t.Fatalf("query row with a cancelled context: %v, want context.Canceled", err)
	}
	live, stop := context.WithCancel(context.Background())
	defer stop()
	if c, err := db.stmtCtx(live); err != nil || c.Done() != nil {
		t.Fatalf("a live cancellable context: done channel %v, err %v; want none (no goroutines per statement)", c.Done(), err)
	}
	dl, stop2 := context.WithTimeout(context.Background(), time.Minute)
	defer stop2()
	if c, _ := db.stmtCtx(dl); c.Done() == nil {
		t.Fatal("a context with a deadline lost it")
	}
	if err := db.QueryRow(context.Background(), "SELECT COUNT(*) FROM kv").Scan(&n); err != nil || n != 0 {
		t.Fatalf("count: %d %v", n, err)
	}
}

// BenchmarkLimit compares a cached query whose LIMIT is a parameter with
// the same query with Limit's literal (SQLite prepares the first again on
// every run; see Limit).
func BenchmarkLimit(b *testing.B) {
	for _, c := range []struct {
		name string
		q    string
		args []any
	}{
		{"parameter", "SELECT k FROM kv WHERE v >= ? ORDER BY k DESC LIMIT ?", []any{0, 20}},
		{"literal", "SELECT k FROM kv WHERE v >= ? ORDER BY k DESC " + Limit(20), []any{0}},
	} {
		b.Run(c.name, func(b *testing.B) {
			db, err := Open(context.Background(), Options{DataDir: b.TempDir(), Name: "limit", ConnectTimeout: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if _, err := db.w.Exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"); err != nil {
				b.Fatal(err)
			}
			for i := range 50 {
				if _, err := db.w.Exec("INSERT INTO kv VALUES (?, ?)", fmt.Sprint("k", i), i); err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			for b.Loop() {
				rows, err := db.Query(ctx, c.q, c.args...)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rows.Next() {
					n++
				}
				rows.Close()
				if n != 20 {
					b.Fatalf("%d rows, want 20", n)
				}
			}
		})
	}
}

// TestLimit: the limit is written into the text, and a negative one reads
// nothing (it is never "no limit").
func TestLimit(t *testing.T) {
	db := openTestSQLite(t)
	for i := range 5 {
		if _, err := db.w.Exec("INSERT INTO kv VALUES (?, ?)", fmt.Sprint("k", i), i); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ n, want int }{{3, 3}, {10, 5}, {0, 0}, {-1, 0}} {
		var got int
		if err := db.QueryRow(context.Background(), "SELECT count(*) FROM (SELECT k FROM kv ORDER BY k "+Limit(c.n)+")").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("Limit(%d): %d rows, want %d", c.n, got, c.want)
		}
	}
	if got := Limit(20); got != "LIMIT 20" {
		t.Errorf("Limit(20) = %q", got)
	}
}
