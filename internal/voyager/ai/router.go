package ai

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configures a Router.
type Options struct {
	Providers []Provider // in order of preference
	Logger    *slog.Logger
	Metrics   prometheus.Registerer // nil: not registered
	Now       func() time.Time
	// FirstTokenTimeout bounds the wait for the first text (default 20 s);
	// IdleTimeout the silence between pieces (default 30 s).
	FirstTokenTimeout time.Duration
	IdleTimeout       time.Duration
	// BreakerFailures consecutive pre-token failures open a provider's
	// breaker (default 3) for BreakerCooldown (default 30 s); then one trial
	// call is let through.
	BreakerFailures int
	BreakerCooldown time.Duration
}

// Router streams answers from the first healthy provider.
type Router struct {
	o        Options
	log      *slog.Logger
	breakers map[string]*breaker
	m        *metrics
}

// NewRouter returns a Router; with no providers, Stream returns ErrNoProvider.
func NewRouter(o Options) *Router {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FirstTokenTimeout <= 0 {
		o.FirstTokenTimeout = 20 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = 3
	}
	if o.BreakerCooldown <= 0 {
		o.BreakerCooldown = 30 * time.Second
	}
	r := &Router{o: o, log: o.Logger, breakers: map[string]*breaker{}, m: newMetrics(o.Metrics)}
	for _, p := range o.Providers {
		r.breakers[p.Name()] = &breaker{}
		r.m.breaker.WithLabelValues(p.Name()).Set(0)
	}
	return r
}

// Configured reports whether any provider is set up.
func (r *Router) Configured() bool { return len(r.o.Providers) > 0 }

// Providers names the providers in order.
func (r *Router) Providers() []string {
	var out []string
	for _, p := range r.o.Providers {
		out = append(out, p.Name())
	}
	return out
}

// Stream generates an answer, calling emit with each piece of text. It
// returns the Result with the error:
//   - nil: complete;
//   - ErrStopped: ctx was cancelled; what was emitted is the partial answer;
//   - *InterruptedError: the provider failed after some text (no fallback);
//   - *UnavailableError or ErrNoProvider: nothing was emitted.
func (r *Router) Stream(ctx context.Context, req Request, emit func(text string)) (Result, error) {
	if len(r.o.Providers) == 0 {
		return Result{}, ErrNoProvider
	}
	var attempts []Attempt
	for _, p := range r.o.Providers {
		name := p.Name()
		b := r.breakers[name]
		if !b.allow(r.o.Now(), r.o.BreakerCooldown) {
			attempts = append(attempts, Attempt{Provider: name, Reason: "circuit open"})
			r.m.requests.WithLabelValues(name, "skipped").Inc()
			continue
		}
		r.m.breaker.WithLabelValues(name).Set(float64(b.stateCode()))
		res, started, err := r.call(ctx, p, req, emit)
		res.Attempts = attempts
		switch {
		case err == nil:
			r.success(name, b)
			r.account(req, res, "ok")
			return res, nil
		case ctx.Err() != nil:
			// The member stopped: not the provider's fault.
			b.release()
			res.FinishReason = "stopped"
			r.account(req, res, "stopped")
			return res, ErrStopped
		case started:
			r.failure(name, b)
			res.FinishReason = "interrupted"
			r.account(req, res, "interrupted")
			var pe *Error
			reason := "stream error"
			if errors.As(err, &pe) {
				reason = pe.Reason
			}
			return res, &InterruptedError{Provider: name, Reason: reason}
		}
		var pe *Error
		if !errors.As(err, &pe) {
			pe = Classify(name, 0, err)
		}
		r.failure(name, b)
		r.m.requests.WithLabelValues(name, "failed").Inc()
		r.log.Warn("ai provider failed before first token", "provider", name, "model", res.Model, "reason", pe.Reason, "status", pe.Status, "latency_ms", res.Latency.Milliseconds(), "fallback", pe.Retryable)
		attempts = append(attempts, Attempt{Provider: name, Reason: pe.Reason})
		if !pe.Retryable {
			break
		}
	}
	return Result{Attempts: attempts, FinishReason: "error"}, &UnavailableError{Attempts: attempts}
}

// call runs one provider with the first-token and idle watchdog.
func (r *Router) call(ctx context.Context, p Provider, req Request, emit func(string)) (res Result, started bool, err error) {
	model := req.Models[p.Name()]
	if model == "" {
		model = p.DefaultModel()
	}
	res.Provider, res.Model = p.Name(), model
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	start := r.o.Now()
	var mu sync.Mutex
	timedOut := errors.New("timeout")
	timer := time.AfterFunc(r.o.FirstTokenTimeout, func() { cancel(timedOut) })
	defer timer.Stop()
	usage, finish, err := p.Stream(cctx, req, model, func(text string) {
		if text == "" {
			return
		}
		mu.Lock()
		if !started {
			started = true
			res.FirstToken = r.o.Now().Sub(start)
			r.m.firstToken.WithLabelValues(p.Name()).Observe(res.FirstToken.Seconds())
		}
		mu.Unlock()
		timer.Reset(r.o.IdleTimeout)
		emit(text)
	})
	res.Latency = r.o.Now().Sub(start)
	res.Usage, res.FinishReason = usage, finish
	res.CostMicros = CostMicros(model, usage)
	if err != nil && ctx.Err() == nil && context.Cause(cctx) == timedOut {
		reason := "no first token in time"
		if started {
			reason = "silent for too long"
		}
		err = &Error{Provider: p.Name(), Retryable: true, Reason: reason, Err: context.DeadlineExceeded}
	}
	return res, started, err
}

func (r *Router) success(name string, b *breaker) {
	if b.success() {
		r.log.Info("ai circuit closed", "provider", name)
	}
	r.m.breaker.WithLabelValues(name).Set(0)
}

func (r *Router) failure(name string, b *breaker) {
	if b.failure(r.o.Now(), r.o.BreakerFailures) {
		r.log.Warn("ai circuit open", "provider", name, "cooldown_s", r.o.BreakerCooldown.Seconds())
		r.m.breakerOpens.WithLabelValues(name).Inc()
	}
	r.m.breaker.WithLabelValues(name).Set(float64(b.stateCode()))
}

// account records metrics and one log line (never message text).
func (r *Router) account(req Request, res Result, outcome string) {
	r.m.requests.WithLabelValues(res.Provider, outcome).Inc()
	l := []string{res.Provider, res.Model, req.Community}
	r.m.tokens.WithLabelValues(append(l, "input")...).Add(float64(res.Usage.Input))
	r.m.tokens.WithLabelValues(append(l, "output")...).Add(float64(res.Usage.Output))
	r.m.tokens.WithLabelValues(append(l, "cache_read")...).Add(float64(res.Usage.CacheRead))
	r.m.tokens.WithLabelValues(append(l, "cache_write")...).Add(float64(res.Usage.CacheWrite))
	r.m.cost.WithLabelValues(l...).Add(float64(res.CostMicros) / 1e6)
	r.log.Info("ai answer", "provider", res.Provider, "model", res.Model, "community", req.Community, "outcome", outcome,
		"latency_ms", res.Latency.Milliseconds(), "first_token_ms", res.FirstToken.Milliseconds(),
		"input_tokens", res.Usage.Input, "output_tokens", res.Usage.Output, "cache_read_tokens", res.Usage.CacheRead,
		"cache_write_tokens", res.Usage.CacheWrite, "cost_usd", float64(res.CostMicros)/1e6, "finish", res.FinishReason)
}

// BreakerState reports a provider's breaker: "closed", "open" or "half-open".
func (r *Router) BreakerState(provider string) string {
	b, ok := r.breakers[provider]
	if !ok {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return [...]string{"closed", "open", "half-open"}[b.code(r.o.Now(), r.o.BreakerCooldown)]
}

// breaker is a consecutive-failure circuit breaker.
type breaker struct {
	mu       sync.Mutex
	fails    int
	openedAt time.Time // zero: closed
	trial    bool      // a half-open trial call is in flight
}

func (b *breaker) code(now time.Time, cool time.Duration) int {
	switch {
	case b.openedAt.IsZero():
		return 0
	case now.Sub(b.openedAt) < cool:
		return 1
	}
	return 2
}

func (b *breaker) stateCode() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.openedAt.IsZero() {
		return 0
	}
	if b.trial {
		return 2
	}
	return 1
}

// allow says whether a call may go ahead; after the cool-down it lets one
// trial call through at a time.
func (b *breaker) allow(now time.Time, cool time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.code(now, cool) {
	case 0:
		return true
	case 1:
		return false
	}
	if b.trial {
		return false
	}
	b.trial = true
	return true
}

// release ends a trial without a verdict (the caller cancelled).
func (b *breaker) release() {
	b.mu.Lock()
	b.trial = false
	b.mu.Unlock()
}

// success closes the breaker; it reports whether it was open.
func (b *breaker) success() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	was := !b.openedAt.IsZero()
	b.fails, b.openedAt, b.trial = 0, time.Time{}, false
	return was
}

// failure counts a failure; it reports whether the breaker just opened.
func (b *breaker) failure(now time.Time, threshold int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails++
	if b.trial || (b.openedAt.IsZero() && b.fails >= threshold) {
		b.openedAt, b.trial = now, false
		return true
	}
	return false
}

type metrics struct {
	requests     *prometheus.CounterVec
	tokens       *prometheus.CounterVec
	cost         *prometheus.CounterVec
	firstToken   *prometheus.HistogramVec
	breaker      *prometheus.GaugeVec
	breakerOpens *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "voyager_ai_requests_total", Help: "AI provider calls by outcome (ok, stopped, interrupted, failed, skipped)."}, []string{"provider", "outcome"}),
		tokens:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "voyager_ai_tokens_total", Help: "Tokens by provider, model, community and kind (input, output, cache_read, cache_write)."}, []string{"provider", "model", "community", "kind"}),
		cost:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "voyager_ai_cost_usd_total", Help: "Estimated AI cost in US dollars by provider, model and community."}, []string{"provider", "model", "community"}),
		firstToken: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "voyager_ai_first_token_seconds", Help: "Time from calling a provider to its first text.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 20}}, []string{"provider"}),
		breaker:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "voyager_ai_breaker_state", Help: "Circuit breaker per provider: 0 closed, 1 open, 2 half-open."}, []string{"provider"}),
		breakerOpens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "voyager_ai_breaker_opens_total", Help: "Times a provider's circuit breaker opened."}, []string{"provider"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.tokens, m.cost, m.firstToken, m.breaker, m.breakerOpens)
	}
	return m
}
