// Package rollup keeps the time series behind the admin console's charts in
// the product's own database, so no Prometheus server is needed. A
// Recorder buffers observations in memory (request counts, latencies, web
// vitals, sampled gauges) and each instance writes its own per-minute rows
// every few seconds; no request ever writes to the database itself. The
// rollup job (a platform cron job) sums every instance's minute rows into
// hour and day rows, adds the values its Sources read from other tables
// (users, sign-ins, a product's messages), and prunes: minutes after two
// days, hours and days after Retention.
package rollup

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/platform/store"
)

// Kind says how a metric's values combine.
type Kind string

// The kinds of metric.
const (
	// Counter values add up: requests, sign-ins, tokens.
	Counter Kind = "counter"
	// Gauge values are levels sampled over time: the value of a bucket is
	// the mean of its samples (summed across instances per minute).
	Gauge Kind = "gauge"
	// Dist values are distributions read as percentiles: latency, LCP.
	Dist Kind = "dist"
)

// Res is a row's resolution.
type Res string

// The resolutions.
const (
	Minute Res = "m"
	Hour   Res = "h"
	Day    Res = "d"
)

// Retention is how long hour and day rows are kept; MinuteRetention how
// long the per-instance minute rows are.
const (
	Retention       = 90 * 24 * time.Hour
	MinuteRetention = 48 * time.Hour
)

// Step is the width of a bucket of resolution r.
func (r Res) Step() time.Duration {
	switch r {
	case Minute:
		return time.Minute
	case Hour:
		return time.Hour
	}
	return 24 * time.Hour
}

// Truncate returns the start of the bucket of resolution r holding t (UTC).
func (r Res) Truncate(t time.Time) time.Time {
	t = t.UTC()
	if r == Day {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return t.Truncate(r.Step())
}

// Point is one row: a metric's aggregate for one bucket (and, for minute
// rows, one instance).
type Point struct {
	Res      Res
	Metric   string
	Dim      string // a route pattern, a community, or "" for the total
	Bucket   time.Time
	Instance string
	Kind     Kind
	N        int64   // observations or samples
	Total    float64 // their sum
	Hist     Hist    // Dist only
}

// Value is the point's headline number: the total of a counter, the mean
// of a gauge, the mean of a distribution (use Quantile for percentiles).
func (p Point) Value() float64 {
	switch p.Kind {
	case Counter:
		return p.Total
	}
	if p.N == 0 {
		return 0
	}
	return p.Total / float64(p.N)
}

// Quantile is the q-quantile of a distribution point.
func (p Point) Quantile(q float64) float64 { return p.Hist.Quantile(q) }

// merge adds o into p (same metric, dim and bucket).
func (p *Point) merge(o Point) {
	p.N += o.N
	p.Total += o.Total
	if len(o.Hist) > 0 {
		if p.Hist == nil {
			p.Hist = Hist{}
		}
		p.Hist.Merge(o.Hist)
	}
}

// Store reads and writes rollup rows.
type Store struct {
	db *store.DB
}

// NewStore returns a Store on db.
func NewStore(db *store.DB) *Store { return &Store{db: db} }

// Write inserts points, replacing rows with the same key.
func (s *Store) Write(ctx context.Context, pts []Point) error {
	if len(pts) == 0 {
		return nil
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, p := range pts {
			if math.IsNaN(p.Total) || math.IsInf(p.Total, 0) {
				continue
			}
			hist := ""
			if p.Kind == Dist {
				hist = p.Hist.String()
			}
			_, err := tx.Exec(ctx, `INSERT INTO metric_rollups (res, metric, dim, bucket, instance, kind, n, total, hist)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (res, metric, dim, bucket, instance) DO UPDATE SET kind = excluded.kind, n = excluded.n, total = excluded.total, hist = excluded.hist`,
				string(p.Res), p.Metric, p.Dim, p.Bucket.UTC(), p.Instance, string(p.Kind), p.N, p.Total, hist)
			if err != nil {
				return fmt.Errorf("write rollup %s: %w", p.Metric, err)
			}
		}
		return nil
	})
}

// Query selects rows for charts. Metric is required; Prefix, when set,
// matches every metric starting with it instead.
type Query struct {
	Res      Res
	Metric   string
	Prefix   bool
	Dim      string // only this dim; ignored when AllDims
	AllDims  bool
	From, To time.Time // bucket in [From, To)
}

// Series returns the points matching q with every instance's rows of a
// bucket merged (gauges: the instances' means add up), ordered by metric,
// dim and bucket.
func (s *Store) Series(ctx context.Context, q Query) ([]Point, error) {
	where := []string{"res = ?", "bucket >= ?", "bucket < ?"}
	args := []any{string(q.Res), q.From.UTC(), q.To.UTC()}
	if q.Prefix {
		where = append(where, "metric LIKE ?")
		args = append(args, likePrefix(q.Metric))
	} else {
		where = append(where, "metric = ?")
		args = append(args, q.Metric)
	}
	if !q.AllDims {
		where = append(where, "dim = ?")
		args = append(args, q.Dim)
	}
	rows, err := s.db.Query(ctx, `SELECT res, metric, dim, bucket, instance, kind, n, total, hist FROM metric_rollups
		WHERE `+strings.Join(where, " AND ")+` ORDER BY metric, dim, bucket`, args...)
	if err != nil {
		return nil, fmt.Errorf("read rollups: %w", err)
	}
	pts, err := scanPoints(rows)
	if err != nil {
		return nil, err
	}
	return mergeInstances(pts), nil
}

func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)
	return r.Replace(p) + "%"
}

func scanPoints(rows *sql.Rows) ([]Point, error) {
	defer rows.Close()
	var out []Point
	for rows.Next() {
		var p Point
		var res, kind, hist string
		if err := rows.Scan(&res, &p.Metric, &p.Dim, &p.Bucket, &p.Instance, &kind, &p.N, &p.Total, &hist); err != nil {
			return nil, fmt.Errorf("read rollups: %w", err)
		}
		p.Res, p.Kind, p.Bucket = Res(res), Kind(kind), p.Bucket.UTC()
		if p.Kind == Dist {
			h, err := ParseHist(hist)
			if err != nil {
				return nil, err
			}
			p.Hist = h
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

type seriesKey struct {
	metric, dim string
	bucket      int64
}

// mergeInstances folds rows that differ only by instance into one point
// with Instance "". A gauge's instances each contribute their mean.
func mergeInstances(pts []Point) []Point {
	idx := map[seriesKey]int{}
	var out []Point
	for _, p := range pts {
		if p.Kind == Gauge && p.Instance != "" && p.N > 0 {
			p.Total, p.N = p.Total/float64(p.N), 1
		}
		k := seriesKey{p.Metric, p.Dim, p.Bucket.Unix()}
		i, ok := idx[k]
		if !ok {
			p.Instance = ""
			if p.Hist != nil {
				h := Hist{}
				h.Merge(p.Hist)
				p.Hist = h
			}
			idx[k] = len(out)
			out = append(out, p)
			continue
		}
		if p.Kind == Gauge && p.Instance != "" {
			out[i].Total += p.Total // instances' levels add up within a minute
			continue
		}
		out[i].merge(p)
	}
	slices.SortStableFunc(out, func(a, b Point) int {
		if c := strings.Compare(a.Metric, b.Metric); c != 0 {
			return c
		}
		if c := strings.Compare(a.Dim, b.Dim); c != 0 {
			return c
		}
		return a.Bucket.Compare(b.Bucket)
	})
	return out
}

// Prune deletes minute rows older than MinuteRetention and hour and day
// rows older than Retention, and reports how many went.
func (s *Store) Prune(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	for _, c := range []struct {
		res    Res
		before time.Time
	}{{Minute, now.Add(-MinuteRetention)}, {Hour, now.Add(-Retention)}, {Day, now.Add(-Retention)}} {
		res, err := s.db.Exec(ctx, "DELETE FROM metric_rollups WHERE res = ? AND bucket < ?", string(c.res), c.before.UTC())
		if err != nil {
			return n, fmt.Errorf("prune rollups: %w", err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}

// Summarize reads the rows of resolution from in [start, end) and writes
// their merged sums as rows of resolution to, one per bucket of to, for
// every bucket that had data. Gauges average their per-bucket levels.
func (s *Store) Summarize(ctx context.Context, from, to Res, start, end time.Time) (int, error) {
	pts, err := s.Series(ctx, Query{Res: from, Metric: "", Prefix: true, AllDims: true, From: start, To: end})
	if err != nil {
		return 0, err
	}
	type k struct {
		metric, dim string
		bucket      int64
	}
	agg := map[k]*Point{}
	var order []k
	for _, p := range pts {
		b := to.Truncate(p.Bucket)
		key := k{p.Metric, p.Dim, b.Unix()}
		a, ok := agg[key]
		if !ok {
			a = &Point{Res: to, Metric: p.Metric, Dim: p.Dim, Bucket: b, Kind: p.Kind}
			agg[key] = a
			order = append(order, key)
		}
		a.merge(p)
	}
	out := make([]Point, 0, len(order))
	for _, key := range order {
		out = append(out, *agg[key])
	}
	return len(out), s.Write(ctx, out)
}
