package cron

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// testClock is a time source the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newScheduler(t *testing.T, o Options) *Scheduler {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatalf("new scheduler: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

func mustRegister(t *testing.T, s *Scheduler, jobs ...Job) {
	t.Helper()
	for _, j := range jobs {
		if err := s.Register(j); err != nil {
			t.Fatalf("register %s: %v", j.Name, err)
		}
	}
}

func okJob(name string, result map[string]any) Job {
	return Job{Name: name, Schedule: "0 8 * * *", Run: func(context.Context) (map[string]any, error) { return result, nil }}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// redisClient connects to TEST_REDIS_URL, skipping without it outside CI,
// and returns a random key prefix whose keys are deleted when the test ends.
func redisClient(t *testing.T) (redis.UniversalClient, string) {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_REDIS_URL is not set; CI must run the Redis tests")
		}
		t.Skip("TEST_REDIS_URL not set; skipping Redis")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opt)
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis ping: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "test:" + hex.EncodeToString(b[:]) + ":cron:"
	t.Cleanup(func() {
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	return rdb, prefix
}

func TestRegisterValidates(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	s := newScheduler(t, Options{DB: db})
	mustRegister(t, s, okJob("taken", nil))
	run := func(context.Context) (map[string]any, error) { return nil, nil }
	tests := []struct {
		name string
		job  Job
		kind apperr.Kind
		want string // part of the message
	}{
		{"upper case name", Job{Name: "Purge", Schedule: "0 8 * * *", Run: run}, apperr.Invalid, `"Purge"`},
		{"underscore", Job{Name: "purge_all", Schedule: "0 8 * * *", Run: run}, apperr.Invalid, "lowercase"},
		{"empty name", Job{Schedule: "0 8 * * *", Run: run}, apperr.Invalid, "lowercase"},
		{"leading dash", Job{Name: "-x", Schedule: "0 8 * * *", Run: run}, apperr.Invalid, "lowercase"},
		{"no run", Job{Name: "norun", Schedule: "0 8 * * *"}, apperr.Invalid, `"norun" has no Run`},
		{"four fields", Job{Name: "four", Schedule: "0 8 * *", Run: run}, apperr.Invalid, `cron job "four": schedule "0 8 * *" has 4 fields; want 5`},
		{"seconds field", Job{Name: "six", Schedule: "0 0 8 * * *", Run: run}, apperr.Invalid, "has 6 fields"},
		{"descriptor", Job{Name: "daily", Schedule: "@daily", Run: run}, apperr.Invalid, "has 1 fields"},
		{"time zone", Job{Name: "tz", Schedule: "TZ=Europe/Paris 0 8 * * *", Run: run}, apperr.Invalid, "has 6 fields"},
		{"bad minute", Job{Name: "badmin", Schedule: "61 8 * * *", Run: run}, apperr.Invalid, `cron job "badmin": schedule "61 8 * * *" is not a valid cron schedule`},
		{"bad word", Job{Name: "badword", Schedule: "0 8 * * funday", Run: run}, apperr.Invalid, `"badword"`},
		{"duplicate", okJob("taken", nil), apperr.Conflict, `"taken" is registered twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Register(tt.job)
			if err == nil {
				t.Fatalf("got nil, want an error")
			}
			if apperr.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v (%s), want %s containing %q", err, apperr.KindOf(err), tt.kind, tt.want)
			}
		})
	}
	if got := len(s.Jobs()); got != 1 {
		t.Errorf("got %d jobs, want only the valid one", got)
	}
}

func TestJobsAndNextRun(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	clock := &testClock{t: time.Date(2026, 3, 1, 7, 30, 0, 0, time.FixedZone("X", -5*3600))} // 12:30 UTC
	s := newScheduler(t, Options{DB: db, Now: clock.Now})
	mustRegister(t, s,
		Job{Name: "purge-soft-deletes", Schedule: "0 8 * * *", Run: okJob("", nil).Run},
		Job{Name: "cleanup-pairings", Schedule: "0 */6 * * *", Run: okJob("", nil).Run},
	)
	var names []string
	for _, j := range s.Jobs() {
		names = append(names, j.Name)
	}
	if got, want := strings.Join(names, ","), "cleanup-pairings,purge-soft-deletes"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	tests := []struct {
		job  string
		want time.Time
	}{
		{"purge-soft-deletes", time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)},
		{"cleanup-pairings", time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, ok := s.NextRun(tt.job)
		if !ok || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("%s: got %v, %v; want %v in UTC", tt.job, got, ok, tt.want)
		}
	}
	if _, ok := s.NextRun("nope"); ok {
		t.Errorf("got a next run for an unknown job, want none")
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		logs := &syncBuffer{}
		s := newScheduler(t, Options{DB: db, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
		mustRegister(t, s,
			okJob("purge-soft-deletes", map[string]any{"deleted": 3, "success": "overridden"}),
			Job{Name: "fails", Schedule: "0 8 * * *", Run: func(context.Context) (map[string]any, error) {
				return nil, errors.New("db exploded at host db.internal")
			}},
			Job{Name: "panics", Schedule: "0 8 * * *", Run: func(context.Context) (map[string]any, error) {
				panic("boom")
			}},
		)
		const secret = "s3cret-value"
		h := s.Handler(secret)

		type errBody struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		tests := []struct {
			name   string
			secret string // configured
			method string
			path   string
			auth   string
			status int
			code   string // error code expected
		}{
			{"no header", secret, "GET", "/api/cron/purge-soft-deletes", "", 401, "unauthorized"},
			{"wrong secret", secret, "GET", "/api/cron/purge-soft-deletes", "Bearer nope", 401, "unauthorized"},
			{"secret as prefix", secret, "GET", "/api/cron/purge-soft-deletes", "Bearer " + secret + "x", 401, "unauthorized"},
			{"wrong scheme", secret, "GET", "/api/cron/purge-soft-deletes", "Basic " + secret, 401, "unauthorized"},
			{"bare secret", secret, "GET", "/api/cron/purge-soft-deletes", secret, 401, "unauthorized"},
			{"empty configured secret", "", "GET", "/api/cron/purge-soft-deletes", "Bearer ", 401, "unauthorized"},
			{"empty configured secret, no header", "", "POST", "/api/cron/purge-soft-deletes", "", 401, "unauthorized"},
			{"unknown job unauthenticated", secret, "GET", "/api/cron/nope", "", 401, "unauthorized"},
			{"unknown job", secret, "GET", "/api/cron/nope", "Bearer " + secret, 404, "not_found"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := h
				if tt.secret != secret {
					h = s.Handler(tt.secret)
				}
				req := httptest.NewRequest(tt.method, tt.path, nil)
				if tt.auth != "" {
					req.Header.Set("Authorization", tt.auth)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != tt.status {
					t.Fatalf("got status %d, want %d; body %s", rec.Code, tt.status, rec.Body)
				}
				var b errBody
				if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
					t.Fatalf("body %q is not JSON: %v", rec.Body, err)
				}
				if b.Error.Code != tt.code || b.Error.Message == "" {
					t.Errorf("got error %+v, want code %s with a message", b.Error, tt.code)
				}
			})
		}
		if runs, err := s.Runs(context.Background(), "", 0); err != nil || len(runs) != 0 {
			t.Fatalf("got %d runs, %v; want refused calls to run nothing", len(runs), err)
		}

		call := func(t *testing.T, method, job string) (*httptest.ResponseRecorder, map[string]any) {
			t.Helper()
			req := httptest.NewRequest(method, "/api/cron/"+job, nil)
			req.Header.Set("Authorization", "Bearer "+secret)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q is not JSON: %v", rec.Body, err)
			}
			return rec, body
		}

		for _, method := range []string{"GET", "POST"} {
			t.Run("success "+method, func(t *testing.T) {
				rec, body := call(t, method, "purge-soft-deletes")
				if rec.Code != 200 {
					t.Fatalf("got status %d, want 200; body %s", rec.Code, rec.Body)
				}
				if body["success"] != true || body["deleted"] != float64(3) {
					t.Errorf("got %v, want success true and deleted 3", body)
				}
				ts, _ := body["timestamp"].(string)
				if at, err := time.Parse(time.RFC3339, ts); err != nil || at.Location() != time.UTC || time.Since(at) > time.Minute {
					t.Errorf("got timestamp %q (%v), want a recent RFC 3339 UTC time", ts, err)
				}
				if len(body) != 3 {
					t.Errorf("got keys %v, want success, deleted and timestamp", body)
				}
			})
		}

		t.Run("failing job", func(t *testing.T) {
			rec, body := call(t, "POST", "fails")
			if rec.Code != 500 {
				t.Fatalf("got status %d, want 500", rec.Code)
			}
			if strings.Contains(rec.Body.String(), "exploded") || strings.Contains(rec.Body.String(), "db.internal") {
				t.Errorf("body %s leaks the job's error", rec.Body)
			}
			e, _ := body["error"].(map[string]any)
			if body["success"] != false || e["code"] != "internal" || e["message"] != "job failed; see server logs" {
				t.Errorf("got %v, want success false with the internal error", body)
			}
			if _, err := time.Parse(time.RFC3339, fmt.Sprint(body["timestamp"])); err != nil {
				t.Errorf("got timestamp %v: %v", body["timestamp"], err)
			}
			if !strings.Contains(logs.String(), "db exploded at host db.internal") {
				t.Errorf("the job's error was not logged; logs:\n%s", logs)
			}
			runs, err := s.Runs(context.Background(), "fails", 1)
			if err != nil || len(runs) != 1 || runs[0].OK || runs[0].Error != "db exploded at host db.internal" || runs[0].Trigger != TriggerHTTP {
				t.Errorf("got runs %+v, %v; want one failed http run with the error", runs, err)
			}
		})

		t.Run("panicking job", func(t *testing.T) {
			rec, body := call(t, "GET", "panics")
			if rec.Code != 500 || body["success"] != false || strings.Contains(rec.Body.String(), "boom") {
				t.Fatalf("got %d %s, want 500 without the panic value", rec.Code, rec.Body)
			}
			runs, err := s.Runs(context.Background(), "panics", 0)
			if err != nil || len(runs) != 1 || runs[0].OK || runs[0].Error != "panic: boom" {
				t.Errorf("got runs %+v, %v; want one failed run with error \"panic: boom\"", runs, err)
			}
		})
	})
}

func TestRunNow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		clock := &testClock{t: time.Date(2026, 3, 1, 8, 0, 0, 123456789, time.UTC)}
		reg := prometheus.NewRegistry()
		s := newScheduler(t, Options{DB: db, Now: clock.Now, Registerer: reg, Timeout: 100 * time.Millisecond})
		mustRegister(t, s,
			okJob("purge", map[string]any{"deleted": 2, "ids": []string{"a", "b"}}),
			okJob("nothing", nil),
			Job{Name: "slow", Schedule: "0 8 * * *", Run: func(ctx context.Context) (map[string]any, error) {
				<-ctx.Done() // only the timeout ends it
				return map[string]any{"partial": 1}, ctx.Err()
			}},
			Job{Name: "odd-result", Schedule: "0 8 * * *", Run: func(context.Context) (map[string]any, error) {
				return map[string]any{"f": func() {}}, nil
			}},
		)

		run, err := s.RunNow(ctx, "purge", TriggerCLI)
		if err != nil {
			t.Fatalf("run now: %v", err)
		}
		if !run.OK || run.Job != "purge" || run.Trigger != TriggerCLI || run.ID == "" || run.Result["deleted"] != 2 {
			t.Errorf("got %+v, want an ok cli run with its result", run)
		}
		clock.Set(clock.Now().Add(time.Second))
		if _, err := s.RunNow(ctx, "nothing", TriggerHTTP); err != nil {
			t.Fatalf("run now: %v", err)
		}
		clock.Set(clock.Now().Add(time.Second))
		slow, err := s.RunNow(ctx, "slow", TriggerCLI)
		if err != nil {
			t.Fatalf("run now: %v", err)
		}
		if slow.OK || !strings.Contains(slow.Error, "deadline exceeded") {
			t.Errorf("got %+v, want a failure after the timeout", slow)
		}
		clock.Set(clock.Now().Add(time.Second))
		odd, _ := s.RunNow(ctx, "odd-result", TriggerCLI)
		if odd.OK || !strings.Contains(odd.Error, "does not encode as JSON") {
			t.Errorf("got %+v, want a failure for a result that is not JSON", odd)
		}

		runs, err := s.Runs(ctx, "", 0)
		if err != nil {
			t.Fatalf("runs: %v", err)
		}
		var got []string
		for _, r := range runs {
			got = append(got, r.Job)
		}
		if strings.Join(got, ",") != "odd-result,slow,nothing,purge" {
			t.Fatalf("got runs %v, want newest first", got)
		}
		p := runs[3]
		if p.ID != run.ID || !p.StartedAt.Equal(time.Date(2026, 3, 1, 8, 0, 0, 123456000, time.UTC)) || !p.OK || p.Trigger != TriggerCLI {
			t.Errorf("got %+v, want the purge run as recorded", p)
		}
		if p.Result["deleted"] != float64(2) || fmt.Sprint(p.Result["ids"]) != "[a b]" {
			t.Errorf("got result %v, want deleted 2 and ids", p.Result)
		}
		if n := runs[2].Result; n == nil || len(n) != 0 {
			t.Errorf("got result %#v for a nil result, want an empty map", n)
		}
		if sr := runs[1]; sr.OK || sr.Result["partial"] != float64(1) || sr.Duration < 100*time.Millisecond {
			t.Errorf("got %+v, want the failed slow run with its partial result and duration", sr)
		}
		if only, err := s.Runs(ctx, "purge", 0); err != nil || len(only) != 1 {
			t.Errorf("got %d purge runs, %v; want 1", len(only), err)
		}
		if two, err := s.Runs(ctx, "", 2); err != nil || len(two) != 2 || two[0].Job != "odd-result" {
			t.Errorf("got %d runs, %v; want the newest 2", len(two), err)
		}

		if _, err := s.RunNow(ctx, "nope", TriggerCLI); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("got %v, want NotFound", err)
		}
		if _, err := s.RunNow(ctx, "purge", "cron"); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("got %v, want Invalid for an unknown trigger", err)
		}

		checkMetrics(t, reg, map[string]float64{
			`cron_runs_total{job="purge",outcome="success"}`: 1,
			`cron_runs_total{job="slow",outcome="failure"}`:  1,
			`cron_run_duration_seconds_count{job="nothing"}`: 1,
		})

		if err := s.Stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if _, err := s.RunNow(ctx, "purge", TriggerCLI); !apperr.Is(err, apperr.Unavailable) {
			t.Errorf("got %v after Stop, want Unavailable", err)
		}
	})
}

// checkMetrics compares counter values and histogram counts, written as
// name{label="value",...}.
func checkMetrics(t *testing.T, reg *prometheus.Registry, want map[string]float64) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var parts []string
			for _, l := range m.GetLabel() {
				parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			labels := "{" + strings.Join(parts, ",") + "}"
			switch {
			case m.Counter != nil:
				got[f.GetName()+labels] = m.Counter.GetValue()
			case m.Histogram != nil:
				got[f.GetName()+"_count"+labels] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("got %s = %v, want %v", k, got[k], v)
		}
	}
}

// raceForSlots has a and b each fire job for the same n slots at once and
// fails unless exactly one of them ran it in each slot.
func raceForSlots(t *testing.T, a, b *Scheduler, job string, start time.Time, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		// A few seconds into the minute, as real timers fire, on both.
		at := start.Add(time.Duration(i)*time.Minute + time.Duration(i%7)*time.Second)
		var wg sync.WaitGroup
		var ran atomic.Int32
		for _, s := range []*Scheduler{a, b} {
			wg.Go(func() {
				if _, ok := s.runScheduledAt(ctx, job, at); ok {
					ran.Add(1)
				}
			})
		}
		wg.Wait()
		if got := ran.Load(); got != 1 {
			t.Fatalf("slot %s: got %d runs, want exactly 1", at.Format(time.RFC3339), got)
		}
	}
}

func countingJob(name string, calls *atomic.Int32) Job {
	return Job{Name: name, Schedule: "* * * * *", Run: func(context.Context) (map[string]any, error) {
		calls.Add(1)
		return nil, nil
	}}
}

func TestClaimIsExclusiveInDatabase(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		var calls atomic.Int32
		a := newScheduler(t, Options{DB: db, InstanceID: "a"})
		b := newScheduler(t, Options{DB: db, InstanceID: "b"})
		mustRegister(t, a, countingJob("tick", &calls))
		mustRegister(t, b, countingJob("tick", &calls))

		start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		const n = 20
		raceForSlots(t, a, b, "tick", start, n)
		if got := calls.Load(); got != n {
			t.Errorf("got %d calls, want %d", got, n)
		}
		runs, err := a.Runs(ctx, "tick", 100)
		if err != nil || len(runs) != n {
			t.Fatalf("got %d runs, %v; want %d", len(runs), err, n)
		}
		var claims, byOthers int
		if err := db.QueryRow(ctx, `SELECT count(*), count(CASE WHEN claimed_by NOT IN ('a', 'b') THEN 1 END) FROM cron_claims WHERE job = 'tick'`).Scan(&claims, &byOthers); err != nil {
			t.Fatalf("count claims: %v", err)
		}
		if claims != n || byOthers != 0 {
			t.Errorf("got %d claims (%d by strangers), want %d by a or b", claims, byOthers, n)
		}
		// The same instance cannot take a slot twice either, and the
		// slot is the minute: a later second of it is the same slot.
		if won, err := a.claim(ctx, "tick", start.Add(30*time.Second).Truncate(time.Minute)); err != nil || won {
			t.Errorf("got %v, %v for a taken slot, want false", won, err)
		}
		if _, ok := a.runScheduledAt(ctx, "tick", start.Add(59*time.Second)); ok {
			t.Errorf("ran again in a claimed minute")
		}
		// Another job's claim on the same minute is separate.
		mustRegister(t, b, countingJob("tock", &calls))
		if _, ok := b.runScheduledAt(ctx, "tock", start); !ok {
			t.Errorf("another job could not claim the same minute")
		}
	})
}

func TestOldClaimsAreCleaned(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		now := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
		clock := &testClock{t: now.Add(-8 * 24 * time.Hour)}
		s := newScheduler(t, Options{DB: db, Now: clock.Now})
		for _, at := range []time.Time{clock.Now(), clock.Now().Add(time.Minute)} {
			if won, err := s.claim(ctx, "old", at); err != nil || !won {
				t.Fatalf("claim: %v, %v", won, err)
			}
		}
		clock.Set(now.Add(-6 * 24 * time.Hour))
		if won, err := s.claim(ctx, "recent", clock.Now()); err != nil || !won {
			t.Fatalf("claim: %v, %v", won, err)
		}
		clock.Set(now)
		if won, err := s.claim(ctx, "new", now); err != nil || !won {
			t.Fatalf("claim: %v, %v", won, err)
		}
		rows, err := db.Query(ctx, `SELECT job FROM cron_claims ORDER BY job`)
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		defer rows.Close()
		var jobs []string
		for rows.Next() {
			var j string
			if err := rows.Scan(&j); err != nil {
				t.Fatalf("scan: %v", err)
			}
			jobs = append(jobs, j)
		}
		if got := strings.Join(jobs, ","); got != "new,recent" {
			t.Errorf("got claims %s, want those older than 7 days gone", got)
		}
	})
}

func TestClaimIsExclusiveInRedis(t *testing.T) {
	t.Parallel()
	rdb, prefix := redisClient(t)
	db := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	var calls atomic.Int32
	a := newScheduler(t, Options{DB: db, Redis: rdb, KeyPrefix: prefix, InstanceID: "a"})
	b := newScheduler(t, Options{DB: db, Redis: rdb, KeyPrefix: prefix, InstanceID: "b"})
	mustRegister(t, a, countingJob("tick", &calls))
	mustRegister(t, b, countingJob("tick", &calls))

	start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	const n = 20
	raceForSlots(t, a, b, "tick", start, n)
	if got := calls.Load(); got != n {
		t.Errorf("got %d calls, want %d", got, n)
	}
	key := prefix + "tick:2026-03-01T08:00:00Z"
	who, err := rdb.Get(ctx, key).Result()
	if err != nil || (who != "a" && who != "b") {
		t.Errorf("got %s = %q, %v; want the winner's instance ID", key, who, err)
	}
	if ttl, err := rdb.TTL(ctx, key).Result(); err != nil || ttl <= 23*time.Hour || ttl > 24*time.Hour {
		t.Errorf("got TTL %v, %v; want about 24h", ttl, err)
	}
	var claims int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM cron_claims`).Scan(&claims); err != nil || claims != 0 {
		t.Errorf("got %d database claims, %v; want none with Redis", claims, err)
	}
	if runs, err := a.Runs(ctx, "tick", 100); err != nil || len(runs) != n {
		t.Errorf("got %d runs, %v; want %d", len(runs), err, n)
	}
}

func TestScheduleFires(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		s := newScheduler(t, Options{DB: db, WithSeconds: true})
		mustRegister(t, s, Job{Name: "every-second", Schedule: "* * * * * *", Run: func(context.Context) (map[string]any, error) {
			return map[string]any{"fired": true}, nil
		}})
		if next, ok := s.NextRun("every-second"); !ok || time.Until(next) > time.Second {
			t.Errorf("got next run %v, %v; want within a second", next, ok)
		}
		if err := s.Start(); err != nil {
			t.Fatalf("start: %v", err)
		}
		if err := s.Start(); err == nil {
			t.Errorf("got nil starting twice, want an error")
		}
		var runs []Run
		waitFor(t, 10*time.Second, "a scheduled run", func() bool {
			var err error
			runs, err = s.Runs(context.Background(), "every-second", 1)
			if err != nil {
				t.Fatalf("runs: %v", err)
			}
			return len(runs) > 0
		})
		if r := runs[0]; !r.OK || r.Trigger != TriggerSchedule || r.Result["fired"] != true {
			t.Errorf("got %+v, want an ok scheduled run", r)
		}
	})
}

func TestStopWaitsForRunningJob(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	s := newScheduler(t, Options{DB: db, WithSeconds: true})
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	mustRegister(t, s, Job{Name: "slow", Schedule: "* * * * * *", Run: func(context.Context) (map[string]any, error) {
		once.Do(func() { close(started) })
		<-release
		return nil, nil
	}})
	if err := s.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not start")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a job was running", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return after the job finished")
	}
	runs, err := s.Runs(context.Background(), "slow", 0)
	if err != nil || len(runs) != 1 || !runs[0].OK {
		t.Errorf("got runs %+v, %v; want the one run recorded before Stop returned", runs, err)
	}
	if err := s.Start(); err == nil {
		t.Errorf("got nil starting a stopped scheduler, want an error")
	}
}

func TestNewNeedsDB(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); err == nil {
		t.Fatal("got nil, want an error without a database")
	}
}

func TestSchedulersShareRegistry(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	reg := prometheus.NewRegistry()
	a := newScheduler(t, Options{DB: db, Registerer: reg})
	b := newScheduler(t, Options{DB: db, Registerer: reg})
	mustRegister(t, a, okJob("x", nil))
	mustRegister(t, b, okJob("x", nil))
	ctx := context.Background()
	a.RunNow(ctx, "x", TriggerCLI)
	b.RunNow(ctx, "x", TriggerCLI)
	checkMetrics(t, reg, map[string]float64{`cron_runs_total{job="x",outcome="success"}`: 2})
}
