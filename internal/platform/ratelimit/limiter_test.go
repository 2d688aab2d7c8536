package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"
)

// step is one call in a scenario: first let time pass, then Allow.
type step struct {
	wait time.Duration
	want Result
}

func allowed(limit, remaining int, resetAfter time.Duration) step {
	return step{want: Result{Allowed: true, Limit: limit, Remaining: remaining, ResetAfter: resetAfter}}
}

func limited(limit int, retryAfter, resetAfter time.Duration) step {
	return step{want: Result{Limit: limit, RetryAfter: retryAfter, ResetAfter: resetAfter}}
}

func after(d time.Duration, s step) step {
	s.wait = d
	return s
}

// scenarios are run against every implementation: Memory and Redis must
// decide identically for the same sequence.
var scenarios = []struct {
	name  string
	limit Limit
	steps []step
}{
	{
		name:  "burst then limited",
		limit: PerPeriod(5, time.Hour),
		steps: []step{
			allowed(5, 4, 12*time.Minute),
			allowed(5, 3, 24*time.Minute),
			allowed(5, 2, 36*time.Minute),
			allowed(5, 1, 48*time.Minute),
			allowed(5, 0, time.Hour),
			limited(5, 12*time.Minute, time.Hour),
			limited(5, 12*time.Minute, time.Hour),
		},
	},
	{
		name:  "refills one event per interval",
		limit: PerPeriod(10, 10*time.Second),
		steps: []step{
			allowed(10, 9, 1*time.Second), allowed(10, 8, 2*time.Second), allowed(10, 7, 3*time.Second),
			allowed(10, 6, 4*time.Second), allowed(10, 5, 5*time.Second), allowed(10, 4, 6*time.Second),
			allowed(10, 3, 7*time.Second), allowed(10, 2, 8*time.Second), allowed(10, 1, 9*time.Second),
			allowed(10, 0, 10*time.Second),
			limited(10, time.Second, 10*time.Second),
			after(400*time.Millisecond, limited(10, 600*time.Millisecond, 9600*time.Millisecond)),
			after(600*time.Millisecond, allowed(10, 0, 10*time.Second)),
			limited(10, time.Second, 10*time.Second),
			after(3*time.Second, allowed(10, 2, 8*time.Second)),
		},
	},
	{
		name:  "burst smaller than rate",
		limit: Limit{Rate: 10, Period: 10 * time.Second, Burst: 3},
		steps: []step{
			allowed(3, 2, time.Second),
			allowed(3, 1, 2*time.Second),
			allowed(3, 0, 3*time.Second),
			limited(3, time.Second, 3*time.Second),
			after(time.Second, allowed(3, 0, 3*time.Second)),
		},
	},
	{
		// 0.6 s has no exact binary form; redis_rate's float arithmetic
		// alone would report one fewer remaining.
		name:  "interval not exact in binary",
		limit: PerPeriod(100, time.Minute),
		steps: []step{
			allowed(100, 99, 600*time.Millisecond),
			allowed(100, 98, 1200*time.Millisecond),
			allowed(100, 97, 1800*time.Millisecond),
			after(1200*time.Millisecond, allowed(100, 98, 1200*time.Millisecond)),
		},
	},
	{
		name:  "a third of a second",
		limit: PerPeriod(3, time.Second),
		steps: []step{
			allowed(3, 2, time.Second/3),
			allowed(3, 1, 2*time.Second/3),
			allowed(3, 0, 999999999),
			limited(3, time.Second/3, 999999999),
		},
	},
	{
		name:  "zero burst means rate",
		limit: Limit{Rate: 2, Period: time.Minute},
		steps: []step{
			allowed(2, 1, 30*time.Second),
			allowed(2, 0, time.Minute),
			limited(2, 30*time.Second, time.Minute),
		},
	},
	{
		name:  "idle key is back to a full burst",
		limit: PerPeriod(3, time.Minute),
		steps: []step{
			allowed(3, 2, 20*time.Second),
			allowed(3, 1, 40*time.Second),
			allowed(3, 0, time.Minute),
			limited(3, 20*time.Second, time.Minute),
			after(time.Hour, allowed(3, 2, 20*time.Second)),
			allowed(3, 1, 40*time.Second),
		},
	},
}

// implementation is a Limiter plus a way to let time pass for one key.
type implementation struct {
	name string
	// tolerance is how far durations may be off: Redis reads its own clock,
	// which moves while the test runs.
	tolerance time.Duration
	new       func(t *testing.T) (Limiter, func(key string, d time.Duration))
}

var implementations = []implementation{
	{
		name: "memory",
		new: func(t *testing.T) (Limiter, func(string, time.Duration)) {
			m, clock := newTestMemory(t, 0)
			return m, func(_ string, d time.Duration) { clock.Add(d) }
		},
	},
	{
		name:      "redis",
		tolerance: 250 * time.Millisecond,
		new: func(t *testing.T) (Limiter, func(string, time.Duration)) {
			r := newTestRedis(t)
			return r, func(key string, d time.Duration) { rewindRedis(t, r, key, d) }
		},
	},
}

func TestLimiterScenarios(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					lim, wait := impl.new(t)
					ctx := context.Background()
					const key = "scenario:192.0.2.1"
					for i, s := range sc.steps {
						if s.wait > 0 {
							wait(key, s.wait)
						}
						got, err := lim.Allow(ctx, key, sc.limit)
						if err != nil {
							t.Fatalf("step %d: Allow: %v", i, err)
						}
						if got.Allowed != s.want.Allowed || got.Limit != s.want.Limit || got.Remaining != s.want.Remaining {
							t.Errorf("step %d: got %+v, want %+v", i, got, s.want)
						}
						if !near(got.RetryAfter, s.want.RetryAfter, impl.tolerance) || !near(got.ResetAfter, s.want.ResetAfter, impl.tolerance) {
							t.Errorf("step %d: got retry %v reset %v, want retry %v reset %v (±%v)",
								i, got.RetryAfter, got.ResetAfter, s.want.RetryAfter, s.want.ResetAfter, impl.tolerance)
						}
					}
				})
			}
		})
	}
}

// near reports whether got is want, or at most tolerance less: time only
// moves forward while a test runs, so durations only shrink. An inexact
// implementation may also overshoot by a microsecond, Redis's clock
// resolution (its float arithmetic is noisier than that by nanoseconds).
func near(got, want, tolerance time.Duration) bool {
	over := time.Duration(0)
	if tolerance > 0 {
		over = time.Microsecond
	}
	return got <= want+over && want-got <= tolerance
}

func TestLimiterKeysAreIndependent(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			lim, _ := impl.new(t)
			ctx := context.Background()
			l := PerPeriod(1, time.Hour)
			for _, key := range []string{"a", "b", "login:a", "api:a"} {
				got, err := lim.Allow(ctx, key, l)
				if err != nil {
					t.Fatal(err)
				}
				if !got.Allowed {
					t.Errorf("key %q: got limited, want allowed (keys must not share a bucket)", key)
				}
			}
			got, err := lim.Allow(ctx, "a", l)
			if err != nil {
				t.Fatal(err)
			}
			if got.Allowed {
				t.Errorf("key a again: got allowed, want limited")
			}
		})
	}
}

func TestLimiterRejectsInvalidLimit(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			lim, _ := impl.new(t)
			for _, l := range []Limit{{}, {Rate: 1}, {Period: time.Second}, {Rate: -1, Period: time.Second}, {Rate: 1, Period: -time.Second}, {Rate: 1, Period: 24 * time.Hour, Burst: 1 << 30}} {
				if _, err := lim.Allow(context.Background(), "k", l); !errors.Is(err, ErrInvalidLimit) {
					t.Errorf("Allow with %+v: got %v, want ErrInvalidLimit", l, err)
				}
			}
		})
	}
}
