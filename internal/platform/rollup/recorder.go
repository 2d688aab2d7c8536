package rollup

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// FlushEvery is how often a Recorder writes its finished minutes.
const FlushEvery = 15 * time.Second

// Recorder buffers one instance's observations by minute in memory and
// writes each finished minute as rows of its own. Count and Observe take
// a mutex and touch a map: cheap enough for every request.
type Recorder struct {
	st       *Store
	instance string
	now      func() time.Time
	log      *slog.Logger

	mu       sync.Mutex
	buf      map[recKey]*Point
	gauges   []gauge
	sampled  time.Time // the minute gauges were last sampled for
	disabled bool
}

type recKey struct {
	minute      int64
	metric, dim string
}

type gauge struct {
	metric string
	read   func() map[string]float64
}

// RecorderOptions configure NewRecorder.
type RecorderOptions struct {
	Store    *Store
	Instance string // this process's ID; each instance writes its own rows
	Now      func() time.Time
	Logger   *slog.Logger
}

// NewRecorder returns a Recorder; call Run to flush while serving.
func NewRecorder(o RecorderOptions) *Recorder {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{st: o.Store, instance: o.Instance, now: o.Now, log: o.Logger, buf: map[recKey]*Point{}}
}

func (r *Recorder) point(metric, dim string, kind Kind) *Point {
	m := Minute.Truncate(r.now())
	k := recKey{m.Unix(), metric, dim}
	p, ok := r.buf[k]
	if !ok {
		p = &Point{Res: Minute, Metric: metric, Dim: dim, Bucket: m, Instance: r.instance, Kind: kind}
		if kind == Dist {
			p.Hist = Hist{}
		}
		r.buf[k] = p
	}
	return p
}

// Count adds v to a counter.
func (r *Recorder) Count(metric, dim string, v float64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	p := r.point(metric, dim, Counter)
	p.N++
	p.Total += v
	r.mu.Unlock()
}

// Observe records one value of a distribution.
func (r *Recorder) Observe(metric, dim string, v float64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	p := r.point(metric, dim, Dist)
	p.N++
	p.Total += v
	p.Hist.Add(v)
	r.mu.Unlock()
}

// Gauge registers a level read once a minute: read returns the value by
// dim (use "" for a single value). Call before Run.
func (r *Recorder) Gauge(metric string, read func() map[string]float64) {
	r.mu.Lock()
	r.gauges = append(r.gauges, gauge{metric, read})
	r.mu.Unlock()
}

// OnSample registers f to run once a minute before the gauges are read:
// a place to Count the growth of a cumulative counter (bytes relayed).
func (r *Recorder) OnSample(f func()) {
	r.Gauge("", func() map[string]float64 { f(); return nil })
}

// sample reads the gauges once per minute.
func (r *Recorder) sample() {
	r.mu.Lock()
	m := Minute.Truncate(r.now())
	if !r.sampled.Before(m) {
		r.mu.Unlock()
		return
	}
	r.sampled = m
	gs := append([]gauge(nil), r.gauges...)
	r.mu.Unlock()
	for _, g := range gs {
		vals := g.read()
		r.mu.Lock()
		for dim, v := range vals {
			p := r.point(g.metric, dim, Gauge)
			p.N++
			p.Total += v
		}
		r.mu.Unlock()
	}
}

// Flush writes the finished minutes, and with all set the current one too
// (the rollup job and shutdown do, so nothing waits for the minute to end). A failed write keeps the rows for the next flush, up to an
// hour's worth, so a database blip loses nothing.
func (r *Recorder) Flush(ctx context.Context, all bool) error {
	r.mu.Lock()
	cur := Minute.Truncate(r.now()).Unix()
	var pts []Point
	var keys []recKey
	for k, p := range r.buf {
		if all || k.minute < cur {
			pts = append(pts, *p)
			keys = append(keys, k)
		}
	}
	r.mu.Unlock()
	if len(pts) == 0 {
		return nil
	}
	err := r.st.Write(ctx, pts)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		// The current minute stays buffered (its row is rewritten whole
		// when it ends); finished ones go once written, or after an hour
		// of failed writes.
		if k.minute < cur && (err == nil || k.minute < cur-3600) {
			delete(r.buf, k)
		}
	}
	return err
}

// Run samples gauges and flushes until ctx ends, then flushes everything.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(FlushEvery)
	defer t.Stop()
	r.sample()
	logged := false
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r.sample()
			if err := r.Flush(fctx, true); err != nil {
				r.log.Warn("write metric rollups at shutdown", "err", err.Error())
			}
			cancel()
			return
		case <-t.C:
			r.sample()
			if err := r.Flush(ctx, false); err != nil {
				if !logged {
					r.log.Warn("write metric rollups; keeping them for the next try", "err", err.Error())
					logged = true
				}
			} else {
				logged = false
			}
		}
	}
}
