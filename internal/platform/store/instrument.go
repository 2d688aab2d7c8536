package store

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relaywork/suite/internal/platform/obs"
)

// DefaultSlowQuery is the guides' slow-query threshold.
const DefaultSlowQuery = 500 * time.Millisecond

// Instrumentation says where a DB reports the time its queries take.
type Instrumentation struct {
	// Registerer gets db_query_duration_seconds{operation} and
	// db_pool_saturation_ratio; nil keeps no metrics.
	Registerer prometheus.Registerer
	// Logger gets one "slow query" line per statement slower than
	// SlowQuery, naming the operation, route and request ID and never the
	// SQL text or its arguments.
	Logger *slog.Logger
	// SlowQuery is the threshold (SLOW_QUERY_MS); zero means DefaultSlowQuery.
	SlowQuery time.Duration
	// Route returns the matched route pattern of the request in ctx, if any.
	Route func(context.Context) string
}

// instruments is a DB's live instrumentation.
type instruments struct {
	duration *prometheus.HistogramVec
	slow     *prometheus.CounterVec
	log      *slog.Logger
	slowAt   time.Duration
	route    func(context.Context) string
	ops      sync.Map // operation name → *opMetrics
}

// opMetrics are one operation's series; the slow counter exists (at 0)
// from the operation's first statement, so rate() sees it start.
type opMetrics struct {
	duration prometheus.Observer
	slow     prometheus.Counter
}

func (in *instruments) forOp(op string) *opMetrics {
	if m, ok := in.ops.Load(op); ok {
		return m.(*opMetrics)
	}
	m, _ := in.ops.LoadOrStore(op, &opMetrics{duration: in.duration.WithLabelValues(op), slow: in.slow.WithLabelValues(op)})
	return m.(*opMetrics)
}

// Instrument makes every statement run through DB (Exec, Query, QueryRow,
// InTx and the statements of its transaction) observed under the name of
// the store operation that ran it: the Go function outside this package
// that called, e.g. "ideastore.Store.List". Operation names come from code,
// never from SQL text or parameters, so the label set is small and holds
// no personal data. Call it once, before serving.
func (db *DB) Instrument(o Instrumentation) error {
	if o.SlowQuery <= 0 {
		o.SlowQuery = DefaultSlowQuery
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	in := &instruments{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "db_query_duration_seconds",
			Help:    "Time a database statement took, by store operation (the Go function that ran it).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		slow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "db_slow_queries_total",
			Help: "Statements slower than SLOW_QUERY_MS, by store operation.",
		}, []string{"operation"}),
		log:    o.Logger,
		slowAt: o.SlowQuery,
		route:  o.Route,
	}
	if o.Registerer != nil {
		sat := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "db_pool_saturation_ratio",
			Help: "Connections in use divided by the pool's limit (PostgreSQL: connection_limit; SQLite: the one writer connection).",
		}, func() float64 { return db.Saturation() })
		for _, c := range []prometheus.Collector{in.duration, in.slow, sat} {
			if err := o.Registerer.Register(c); err != nil {
				return err
			}
		}
	}
	db.ins = in
	return nil
}

// Saturation is the writer pool's in-use connections over its limit.
func (db *DB) Saturation() float64 {
	s := db.w.Stats()
	if s.MaxOpenConnections <= 0 {
		return 0
	}
	return float64(s.InUse) / float64(s.MaxOpenConnections)
}

// observe records one statement of op that started at start.
func (in *instruments) observe(ctx context.Context, op string, start time.Time, err error) {
	d := time.Since(start)
	m := in.forOp(op)
	m.duration.Observe(d.Seconds())
	if d < in.slowAt {
		return
	}
	m.slow.Inc()
	route := ""
	if in.route != nil {
		route = in.route(ctx)
	}
	attrs := []any{"operation", op, "duration_ms", d.Milliseconds(), "threshold_ms", in.slowAt.Milliseconds()}
	if route != "" {
		attrs = append(attrs, "route", route)
	}
	if id := obs.RequestID(ctx); id != "" {
		attrs = append(attrs, "request_id", id)
	}
	if err != nil {
		attrs = append(attrs, "failed", true)
	}
	in.log.Warn("slow query", attrs...)
}

// opNames caches program counters' operation names; opStacks caches the
// name of a whole call stack (its first eight return addresses), so the
// usual call costs one runtime.Callers and one lookup, without expanding
// frames (which allocated on every query).
var (
	opNames  sync.Map // uintptr → string
	opStacks sync.Map // [8]uintptr → string
	nStacks  atomic.Int32
)

// maxOpStacks bounds opStacks (distinct call paths into the store).
const maxOpStacks = 4096

// storePkg is this package's import path, whose frames are skipped.
const storePkg = "github.com/relaywork/suite/internal/platform/store."

// operation names the first caller outside this package.
func operation() string {
	var pcs [8]uintptr
	n := runtime.Callers(2, pcs[:])
	if v, ok := opStacks.Load(pcs); ok {
		return v.(string)
	}
	name := operationOf(pcs[:n])
	if nStacks.Load() < maxOpStacks {
		if _, loaded := opStacks.LoadOrStore(pcs, name); !loaded {
			nStacks.Add(1)
		}
	}
	return name
}

func operationOf(pcs []uintptr) string {
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, storePkg) {
			if v, ok := opNames.Load(f.PC); ok {
				return v.(string)
			}
			name := opName(f.Function)
			opNames.Store(f.PC, name)
			return name
		}
		if !more {
			return "unknown"
		}
	}
}

// opName turns "example.com/x/ideastore.(*Store).List.func1" into
// "ideastore.Store.List".
func opName(fn string) string {
	if i := strings.LastIndexByte(fn, '/'); i >= 0 {
		fn = fn[i+1:]
	}
	fn = strings.NewReplacer("(*", "", ")", "").Replace(fn)
	parts := strings.Split(fn, ".")
	for len(parts) > 1 {
		last := parts[len(parts)-1]
		if strings.HasPrefix(last, "func") || last == "deferwrap1" || (last != "" && last[0] >= '0' && last[0] <= '9') {
			parts = parts[:len(parts)-1]
			continue
		}
		break
	}
	if fn == "" {
		return "unknown"
	}
	return strings.Join(parts, ".")
}

// timed runs a statement, observing it when the DB is instrumented.
func timed[T any](ctx context.Context, in *instruments, op string, f func() (T, error)) (T, error) {
	if in == nil {
		return f()
	}
	start := time.Now()
	v, err := f()
	in.observe(ctx, op, start, err)
	return v, err
}
