package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/obs"
)

// DefaultTimeout bounds each limiter call the middleware makes unless told
// otherwise, so an unreachable Redis costs a request at most this much
// before it fails open.
const DefaultTimeout = 250 * time.Millisecond

const (
	// errorLogEvery is the least time between two "limiter unavailable"
	// warnings, so an outage logs a line every few seconds, not one per
	// request.
	errorLogEvery = 10 * time.Second
	// unhealthyFor is how long after a failed call Healthy reports it.
	unhealthyFor = 30 * time.Second
)

// The headers, from the IETF draft "RateLimit header fields for HTTP", in
// the canonical form Header.Set would compute on every request.
var (
	hLimit     = http.CanonicalHeaderKey("RateLimit-Limit")
	hRemaining = http.CanonicalHeaderKey("RateLimit-Remaining")
	hReset     = http.CanonicalHeaderKey("RateLimit-Reset")
	hPolicy    = http.CanonicalHeaderKey("RateLimit-Policy")
)

// Policy names one limit on a group of routes.
type Policy struct {
	// Name identifies the policy in keys, metrics and logs ("login",
	// "api"). Policies with different names never share a bucket.
	Name string
	// Limit is the budget each key gets.
	Limit Limit
	// Key returns whose budget a request draws on. Default, and whenever
	// it returns "": the client IP (httpapi.ClientIP).
	Key func(*http.Request) string
}

// HTTPOptions configures HTTP.
type HTTPOptions struct {
	// Limiter decides; required.
	Limiter Limiter
	// Logger is used when the request's context carries none (obs.Logger).
	// Default: discard.
	Logger *slog.Logger
	// Registerer receives the ratelimit_requests_total counter; nil keeps
	// the metrics unregistered.
	Registerer prometheus.Registerer
	// Now is the clock for Healthy and for spacing error logs. Default
	// time.Now.
	Now func() time.Time
	// Timeout bounds each limiter call (default DefaultTimeout; negative:
	// only the request's own context applies).
	Timeout time.Duration
}

// HTTP is rate-limiting middleware. It fails open: when the limiter errors
// the request is served, counted as outcome "error", and Healthy reports
// the failure so /readyz can.
type HTTP struct {
	limiter  Limiter
	logger   *slog.Logger
	now      func() time.Time
	timeout  time.Duration
	requests *prometheus.CounterVec

	failure    atomic.Pointer[failure] // set while the last call failed
	lastLogged atomic.Int64            // Unix ns of the last error warning
	suppressed atomic.Int64            // error warnings skipped since then
}

type failure struct {
	err error
	at  time.Time
}

// NewHTTP returns the middleware. It panics if o.Limiter is nil or the
// counter clashes with a different metric already registered under its name;
// registering twice on one registry shares the counter.
func NewHTTP(o HTTPOptions) *HTTP {
	if o.Limiter == nil {
		panic("ratelimit: HTTPOptions.Limiter is required")
	}
	if o.Logger == nil {
		o.Logger = obs.Discard()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ratelimit_requests_total",
		Help: "Requests seen by rate-limit policies, by outcome (allowed, limited, or error when the limiter failed and the request was let through).",
	}, []string{"policy", "outcome"})
	if o.Registerer != nil {
		if err := o.Registerer.Register(requests); err != nil {
			are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
			if !ok {
				panic(fmt.Sprintf("ratelimit: register metrics: %v", err))
			}
			requests = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return &HTTP{
		limiter:  o.Limiter,
		logger:   o.Logger,
		now:      o.Now,
		timeout:  o.Timeout,
		requests: requests,
	}
}

// Wrap returns next limited by p. Every answer carries RateLimit-Policy and,
// when the limiter answered, RateLimit-Limit, RateLimit-Remaining and
// RateLimit-Reset (seconds until the full burst is back); a limited request
// gets 429 with Retry-After and the standard JSON error body. Wrap panics if
// p has no Name or an invalid Limit: both are programming errors, caught at
// start-up like a bad ServeMux pattern.
func (h *HTTP) Wrap(p Policy, next http.Handler) http.Handler {
	if p.Name == "" {
		panic("ratelimit: Policy.Name is required")
	}
	l, err := p.Limit.normalize()
	if err != nil {
		panic(fmt.Sprintf("ratelimit: policy %q: %v", p.Name, err))
	}
	keyOf := p.Key
	if keyOf == nil {
		keyOf = httpapi.ClientIP
	}
	policyHeader := fmt.Sprintf("%d;w=%d", l.Rate, max(ceilSeconds(l.Period), 1))
	allowed := h.requests.WithLabelValues(p.Name, "allowed")
	limited := h.requests.WithLabelValues(p.Name, "limited")
	failed := h.requests.WithLabelValues(p.Name, "error")

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := keyOf(r)
		if key == "" {
			key = httpapi.ClientIP(r)
		}
		res, err := h.allow(r.Context(), p.Name+":"+key, l)
		hdr := w.Header()
		hdr[hPolicy] = []string{policyHeader}
		if err != nil {
			// Fail open: a limiter outage must not become a site outage.
			failed.Inc()
			h.fail(r, p.Name, err)
			next.ServeHTTP(w, r)
			return
		}
		h.clearFailure()
		hdr[hLimit] = []string{strconv.Itoa(res.Limit)}
		hdr[hRemaining] = []string{strconv.Itoa(res.Remaining)}
		hdr[hReset] = []string{strconv.Itoa(ceilSeconds(res.ResetAfter))}
		if res.Allowed {
			allowed.Inc()
			next.ServeHTTP(w, r)
			return
		}
		limited.Inc()
		retry := max(ceilSeconds(res.RetryAfter), 1)
		hdr.Set("Retry-After", strconv.Itoa(retry))
		h.loggerFor(r).Warn("rate limit hit",
			"policy", p.Name, "key", keyDigest(key), "ip", httpapi.ClientIP(r), "retry_after_s", retry)
		unit := "seconds"
		if retry == 1 {
			unit = "second"
		}
		httpapi.ErrorStatus(w, r, http.StatusTooManyRequests, &apperr.Error{
			Kind:    apperr.RateLimited,
			Message: fmt.Sprintf("Too many requests; try again in %d %s.", retry, unit),
		})
	})
}

// Healthy returns the limiter's error if its last call failed within the
// last 30 s, else nil; calls abandoned because the client left don't count.
// The server's /readyz reports it.
func (h *HTTP) Healthy() error {
	f := h.failure.Load()
	if f == nil || h.now().Sub(f.at) > unhealthyFor {
		return nil
	}
	return f.err
}

func (h *HTTP) allow(ctx context.Context, key string, l Limit) (Result, error) {
	if _, ok := h.limiter.(inProcess); !ok && h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	return h.limiter.Allow(ctx, key, l)
}

// inProcess marks limiters that never wait on I/O, so the middleware spares
// them the timer a timeout costs (most of its allocations).
type inProcess interface{ inProcess() }

// fail records a limiter error and warns about it at most once per
// errorLogEvery. A request whose client went away says nothing about the
// limiter, so it is not recorded.
func (h *HTTP) fail(r *http.Request, policy string, err error) {
	if r.Context().Err() != nil {
		return
	}
	now := h.now()
	h.failure.Store(&failure{err: err, at: now})
	last := h.lastLogged.Load()
	if last != 0 && now.UnixNano()-last < int64(errorLogEvery) || !h.lastLogged.CompareAndSwap(last, now.UnixNano()) {
		h.suppressed.Add(1)
		return
	}
	h.loggerFor(r).Warn("rate limiter unavailable; allowing requests",
		"policy", policy, "err", err.Error(), "suppressed", h.suppressed.Swap(0))
}

// clearFailure forgets a recorded failure after a successful call. It
// writes only when there is something to forget, so the hot path stays
// read-only and shared cache lines stay clean.
func (h *HTTP) clearFailure() {
	if h.failure.Load() != nil {
		h.failure.Store(nil)
	}
}

// loggerFor returns the request's logger, or h.logger when the request
// carries none (obs.Logger then answers with a discarding one).
func (h *HTTP) loggerFor(r *http.Request) *slog.Logger {
	if l := obs.Logger(r.Context()); l.Handler() != slog.DiscardHandler {
		return l
	}
	return h.logger
}

// keyDigest identifies a key in logs without revealing it: keys can be
// emails or tokens.
func keyDigest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}
