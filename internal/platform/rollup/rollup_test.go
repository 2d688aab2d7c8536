package rollup_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/rollup"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// clock is a time the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestHistQuantile(t *testing.T) {
	t.Parallel()
	h := rollup.Hist{}
	for i := 1; i <= 1000; i++ {
		h.Add(float64(i))
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 500}, {0.75, 750}, {0.95, 950}} {
		got := h.Quantile(c.q)
		if math.Abs(got-c.want)/c.want > 0.06 {
			t.Errorf("q%.2f: got %.1f, want %.1f ±6%%", c.q, got, c.want)
		}
	}
	back, err := rollup.ParseHist(h.String())
	if err != nil || back.Count() != 1000 || back.String() != h.String() {
		t.Fatalf("round trip: %v %d", err, back.Count())
	}
	for _, bad := range []string{"x", "1:", ":2", "1:-1", "999999:1"} {
		if _, err := rollup.ParseHist(bad); err == nil {
			t.Errorf("ParseHist(%q) accepted", bad)
		}
	}
	if (rollup.Hist{}).Quantile(0.5) != 0 {
		t.Error("empty histogram quantile is not 0")
	}
}

// TestRecorderAndJob records on two instances, rolls the minutes up into
// hours and days with a source, reads the series summed across instances,
// and prunes what is past retention.
func TestRecorderAndJob(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		st := rollup.NewStore(db)
		clk := &clock{t: time.Date(2026, 3, 4, 10, 15, 30, 0, time.UTC)}
		a := rollup.NewRecorder(rollup.RecorderOptions{Store: st, Instance: "a", Now: clk.Now})
		b := rollup.NewRecorder(rollup.RecorderOptions{Store: st, Instance: "b", Now: clk.Now})
		level := 3.0
		a.Gauge("terminals", func() map[string]float64 { return map[string]float64{"": level} })
		b.Gauge("terminals", func() map[string]float64 { return map[string]float64{"": 2} })
		for i := 0; i < 10; i++ {
			a.Count("http.requests", "", 1)
			a.Observe("http.latency", "", float64(10*(i+1)))
		}
		for i := 0; i < 5; i++ {
			b.Count("http.requests", "", 1)
			b.Observe("http.latency", "", 1000)
		}
		// Nothing of the current minute is written yet.
		if err := a.Flush(ctx, false); err != nil {
			t.Fatal(err)
		}
		pts, err := st.Series(ctx, rollup.Query{Res: rollup.Minute, Metric: "http.requests", From: clk.Now().Add(-time.Hour), To: clk.Now().Add(time.Hour)})
		if err != nil || len(pts) != 0 {
			t.Fatalf("before the minute ends: %v %v", pts, err)
		}
		// Gauges are sampled when the flush loop runs; emulate one sample each.
		ctxRun, cancel := context.WithCancel(ctx)
		cancel()
		a.Run(ctxRun) // samples and flushes everything at once
		b.Run(ctxRun)

		pts, err = st.Series(ctx, rollup.Query{Res: rollup.Minute, Metric: "http.requests", From: clk.Now().Add(-time.Hour), To: clk.Now().Add(time.Hour)})
		if err != nil || len(pts) != 1 || pts[0].Value() != 15 {
			t.Fatalf("minute requests across instances: %+v %v, want one point of 15", pts, err)
		}
		g, _ := st.Series(ctx, rollup.Query{Res: rollup.Minute, Metric: "terminals", From: clk.Now().Add(-time.Hour), To: clk.Now().Add(time.Hour)})
		if len(g) != 1 || g[0].Value() != 5 {
			t.Fatalf("gauge across instances: %+v, want 5", g)
		}

		signins := rollup.Source{Metric: "signins", Kind: rollup.Counter, Collect: func(ctx context.Context, from, to time.Time) (map[string]float64, error) {
			if from.Hour() == 10 {
				return map[string]float64{"": 4}, nil
			}
			return nil, nil
		}}
		users := rollup.Source{Metric: "users", Kind: rollup.Gauge, Collect: func(context.Context, time.Time, time.Time) (map[string]float64, error) {
			return map[string]float64{"": 7}, nil
		}}
		job := &rollup.Job{Store: st, Sources: []rollup.Source{signins, users}, Now: clk.Now}
		res, err := job.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res["hours"].(int) == 0 {
			t.Fatalf("job result %v", res)
		}
		hourFrom, hourTo := clk.Now().Add(-24*time.Hour), clk.Now().Add(time.Hour)
		for _, c := range []struct {
			metric string
			want   float64
		}{{"http.requests", 15}, {"signins", 4}, {"terminals", 5}, {"users", 7}} {
			pts, err := st.Series(ctx, rollup.Query{Res: rollup.Hour, Metric: c.metric, From: hourFrom, To: hourTo})
			if err != nil || len(pts) != 1 || pts[0].Value() != c.want || !pts[0].Bucket.Equal(time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)) {
				t.Errorf("hour %s: %+v %v, want one point of %v at 10:00", c.metric, pts, err, c.want)
			}
			pts, err = st.Series(ctx, rollup.Query{Res: rollup.Day, Metric: c.metric, From: hourFrom, To: hourTo})
			if err != nil || len(pts) != 1 || pts[0].Value() != c.want {
				t.Errorf("day %s: %+v %v, want %v", c.metric, pts, err, c.want)
			}
		}
		lat, _ := st.Series(ctx, rollup.Query{Res: rollup.Hour, Metric: "http.latency", From: hourFrom, To: hourTo})
		if len(lat) != 1 || lat[0].N != 15 {
			t.Fatalf("latency hour: %+v", lat)
		}
		if p95 := lat[0].Quantile(0.95); p95 < 900 || p95 > 1100 {
			t.Errorf("p95 latency %.1f, want about 1000", p95)
		}
		if p50 := lat[0].Quantile(0.5); p50 < 60 || p50 > 110 {
			t.Errorf("p50 latency %.1f, want about 80", p50)
		}
		// A second run changes nothing (idempotent).
		if _, err := job.Run(ctx); err != nil {
			t.Fatal(err)
		}
		pts, _ = st.Series(ctx, rollup.Query{Res: rollup.Hour, Metric: "http.requests", From: hourFrom, To: hourTo})
		if len(pts) != 1 || pts[0].Value() != 15 {
			t.Fatalf("after a second run: %+v", pts)
		}
		prefixed, _ := st.Series(ctx, rollup.Query{Res: rollup.Hour, Metric: "http.", Prefix: true, AllDims: true, From: hourFrom, To: hourTo})
		if len(prefixed) != 2 {
			t.Fatalf("prefix query: %d points, want 2", len(prefixed))
		}

		// Three days later the minutes are gone, the hours stay; after 91 days everything goes.
		clk.Add(72 * time.Hour)
		if n, err := st.Prune(ctx, clk.Now()); err != nil || n == 0 {
			t.Fatalf("prune minutes: %d %v", n, err)
		}
		pts, _ = st.Series(ctx, rollup.Query{Res: rollup.Hour, Metric: "http.requests", From: hourFrom, To: hourTo})
		if len(pts) != 1 {
			t.Fatal("hour rows pruned too early")
		}
		clk.Add(91 * 24 * time.Hour)
		if _, err := st.Prune(ctx, clk.Now()); err != nil {
			t.Fatal(err)
		}
		pts, _ = st.Series(ctx, rollup.Query{Res: rollup.Day, Metric: "", Prefix: true, AllDims: true, From: hourFrom, To: hourTo})
		if len(pts) != 0 {
			t.Fatalf("day rows kept past retention: %d", len(pts))
		}
	})
}
