// Package ratelimit limits how often a key (a client IP, a user, an API
// token) may do something. One interface, Limiter, has two implementations
// that decide the same way: Memory, for a single instance, and Redis, for
// several instances sharing one budget. Both use the generic cell rate
// algorithm (GCRA) of github.com/go-redis/redis_rate, so a deployment that
// adds Redis keeps its limits' behaviour. HTTP wraps a handler with a
// Policy, answers 429 with the IETF RateLimit-* headers, and fails open
// when the limiter is unreachable.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalidLimit is returned (wrapped) for a Limit whose Rate or Period is
// not positive: such a limit describes no budget at all.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit")

// Limit is a budget: Rate events per Period on average, with at most Burst
// of them at once. A zero Burst means Burst = Rate, so 10 per 10 s lets a
// fresh key make 10 requests at once and then one a second.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// PerPeriod returns a limit of rate events per period with Burst = rate.
func PerPeriod(rate int, period time.Duration) Limit {
	return Limit{Rate: rate, Period: period, Burst: rate}
}

// normalize fills in the default Burst and rejects limits without a budget.
func (l Limit) normalize() (Limit, error) {
	if l.Rate <= 0 || l.Period <= 0 {
		return l, fmt.Errorf("%w: %d per %s (rate and period must be positive)", ErrInvalidLimit, l.Rate, l.Period)
	}
	if l.Burst <= 0 {
		l.Burst = l.Rate
	}
	if int64(l.interval()) > math.MaxInt64/int64(l.Burst) {
		return l, fmt.Errorf("%w: burst %d of %s each overflows", ErrInvalidLimit, l.Burst, l.interval())
	}
	return l, nil
}

// interval is the time one event costs: Period / Rate, at least 1 ns.
func (l Limit) interval() time.Duration {
	return max(l.Period/time.Duration(l.Rate), 1)
}

// Result is a limiter's decision for one event.
type Result struct {
	// Allowed reports whether the event may happen now.
	Allowed bool
	// Limit is the most events the key may make at once (the Limit's Burst).
	Limit int
	// Remaining is how many more events the key could make right now.
	Remaining int
	// RetryAfter is how long until the next event would be allowed; 0 when
	// Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the key is back to its full Burst.
	ResetAfter time.Duration
}

// Limiter decides whether the event named by key fits within l. It is safe
// for concurrent use. An error means the limiter could not decide (for
// example Redis is unreachable); callers choose whether to fail open.
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit) (Result, error)
}
