package store_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// TestDriverErrorsHaveKinds makes the drivers' real errors and checks that
// apperr classifies them (so the HTTP layer answers 503, 499 or 422, not
// 500), on both back ends: a closed pool, a canceled context, a connection
// the server terminated, a locked SQLite file and a NUL in PostgreSQL text.
func TestDriverErrorsHaveKinds(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.Exec(ctx, "CREATE TABLE notes (body TEXT NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		check := func(what string, err error, want apperr.Kind) {
			t.Helper()
			if err == nil {
				t.Fatalf("%s: no error", what)
			}
			if got := apperr.KindOf(err); got != want {
				t.Errorf("%s: %v: got kind %v, want %v", what, err, got, want)
			}
		}
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		_, err := db.Query(canceled, "SELECT body FROM notes")
		check("canceled context", err, apperr.Canceled)

		_, err = db.Exec(ctx, "INSERT INTO notes (body) VALUES (?)", "a\x00b")
		if db.Dialect == store.Postgres {
			check("NUL in text", err, apperr.Invalid)
			if e, _ := apperr.As(err); e.Code != apperr.CodeInvalidText {
				t.Errorf("NUL in text: code %q, want %q", e.Code, apperr.CodeInvalidText)
			}
			_, err = db.Exec(ctx, "INSERT INTO notes (body) VALUES (?)", "a\xffb")
			check("invalid UTF-8 in text", err, apperr.Invalid)

			// The server ends this very connection (an operator's
			// pg_terminate_backend, a failover).
			conn, err := db.Writer().Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = conn.ExecContext(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
			check("terminated connection", err, apperr.Unavailable)
			conn.Close()
		} else {
			// Another process holds the write lock past the busy timeout.
			path := db.Target.Path
			holder, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Close()
			hc, err := holder.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer hc.Close()
			if _, err := hc.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
				t.Fatal(err)
			}
			other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(20)")
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			_, err = other.ExecContext(ctx, "INSERT INTO notes (body) VALUES ('x')")
			check("locked database", err, apperr.Unavailable)
			hc.ExecContext(ctx, "ROLLBACK")
		}

		db.Close()
		_, err = db.Query(ctx, "SELECT body FROM notes")
		check("closed pool", err, apperr.Unavailable)
		err = db.QueryRow(ctx, "SELECT body FROM notes").Scan(new(string))
		check("closed pool, one row", err, apperr.Unavailable)
	})
}
