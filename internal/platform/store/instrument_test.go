package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/relaywork/suite/internal/platform/obs"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// saveThing is a store operation: its name labels the statements it runs.
func saveThing(ctx context.Context, db *store.DB, id string) error {
	return db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO things (id, at) VALUES (?, ?)", id, time.Now())
		return err
	})
}

// listThings reads twice with each of two texts (on SQLite the second time through the statement cache).
func listThings(ctx context.Context, db *store.DB) (ids []string, err error) {
	for range 2 {
		var n int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM things WHERE id <> ?", "x").Scan(&n); err != nil {
			return nil, err
		}
		rows, err := db.Query(ctx, "SELECT id FROM things WHERE id <> ? ORDER BY id", "x")
		if err != nil {
			return nil, err
		}
		ids = ids[:0]
		for rows.Next() {
			var id string
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) != n {
			return nil, fmt.Errorf("count %d, rows %d", n, len(ids))
		}
	}
	return ids, nil
}

func countThings(ctx context.Context, db *store.DB) (n int, err error) {
	err = db.QueryRow(ctx, "SELECT COUNT(*) FROM things WHERE id <> ?", "secret-parameter").Scan(&n)
	return n, err
}

// TestInstrumentation checks statements are timed by the store operation
// that ran them and that a slow one is logged with operation, route and
// request ID but never its SQL or parameters. The threshold is one
// nanosecond, so every statement counts as slow: no timing is involved.
func TestInstrumentation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var logs bytes.Buffer
		reg := prometheus.NewRegistry()
		err := db.Instrument(store.Instrumentation{
			Registerer: reg,
			Logger:     slog.New(slog.NewJSONHandler(&logs, nil)),
			SlowQuery:  time.Nanosecond,
			Route:      func(context.Context) string { return "POST /api/things" },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := obs.WithRequestID(context.Background(), "req-42")
		if err := saveThing(ctx, db, "secret-parameter"); err != nil {
			t.Fatal(err)
		}
		if n, err := countThings(ctx, db); err != nil || n != 0 {
			t.Fatalf("count: %d, %v", n, err)
		}

		// Cached statements give the same rows every time and are timed
		// under their operation like any other read.
		if ids, err := listThings(ctx, db); err != nil || len(ids) != 1 || ids[0] != "secret-parameter" {
			t.Fatalf("cached reads: %v, %v", ids, err)
		}
		logs.Reset()
		if err := saveThing(ctx, db, "secret-parameter-2"); err != nil {
			t.Fatal(err)
		}
		if ids, err := listThings(ctx, db); err != nil || len(ids) != 2 {
			t.Fatalf("cached reads after a write: %v, %v", ids, err)
		}

		n, err := testutil.GatherAndCount(reg, "db_query_duration_seconds")
		if err != nil || n != 3 {
			t.Fatalf("db_query_duration_seconds series: got %d (%v), want 3 (one per operation)", n, err)
		}
		mfs, _ := reg.Gather()
		ops := map[string]uint64{}
		for _, mf := range mfs {
			if mf.GetName() != "db_query_duration_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				ops[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
			}
		}
		// saveThing: begin, insert, commit, twice; listThings: 2 rounds of 2, twice.
		if ops["store_test.saveThing"] != 6 || ops["store_test.countThings"] != 1 || ops["store_test.listThings"] != 8 {
			t.Fatalf("operations: got %v, want store_test.saveThing:6, countThings:1 and listThings:8", ops)
		}
		if n, _ := testutil.GatherAndCount(reg, "db_pool_saturation_ratio"); n != 1 {
			t.Fatalf("db_pool_saturation_ratio: got %d series, want 1", n)
		}

		text := logs.String()
		if strings.Contains(text, "secret-parameter") || strings.Contains(text, "INSERT") || strings.Contains(text, "SELECT") {
			t.Fatalf("the slow-query log shows SQL or parameters:\n%s", text)
		}
		var line struct {
			Msg, Operation, Route string
			RequestID             string `json:"request_id"`
			DurationMS            *int64 `json:"duration_ms"`
		}
		first := strings.SplitN(strings.TrimSpace(text), "\n", 2)[0]
		if err := json.Unmarshal([]byte(first), &line); err != nil {
			t.Fatalf("log line %q: %v", first, err)
		}
		if line.Msg != "slow query" || line.Operation != "store_test.saveThing" || line.Route != "POST /api/things" || line.RequestID != "req-42" || line.DurationMS == nil {
			t.Fatalf("slow-query line: got %+v from %s", line, first)
		}
	}, productMigrations)
}
