package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/obs"
)

// httpFixture is middleware over a limiter, with its metrics, logs and
// clock in reach.
type httpFixture struct {
	h     *HTTP
	reg   *prometheus.Registry
	logs  *syncBuffer
	clock *fakeClock
}

func newHTTPFixture(t *testing.T, lim Limiter, clock *fakeClock) *httpFixture {
	t.Helper()
	if clock == nil {
		clock = newFakeClock()
	}
	f := &httpFixture{reg: prometheus.NewRegistry(), logs: &syncBuffer{}, clock: clock}
	f.h = NewHTTP(HTTPOptions{
		Limiter:    lim,
		Logger:     slog.New(slog.NewJSONHandler(f.logs, nil)),
		Registerer: f.reg,
		Now:        clock.Now,
	})
	return f
}

// newMemoryFixture is an httpFixture over a Memory limiter sharing its clock.
func newMemoryFixture(t *testing.T) *httpFixture {
	t.Helper()
	m, clock := newTestMemory(t, 0)
	return newHTTPFixture(t, m, clock)
}

func (f *httpFixture) count(t *testing.T, policy, outcome string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "ratelimit_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["policy"] == policy && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func (f *httpFixture) logCount(msg string) int {
	return strings.Count(f.logs.String(), `"msg":"`+msg+`"`)
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = w.Write([]byte("ok"))
})

func serve(h http.Handler, ip string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/api/things", nil)
	r.RemoteAddr = ip + ":40000"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHTTPAnswers429WithHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		limit         Limit
		wantAllowed   int
		wantPolicy    string
		wantReset     []string // RateLimit-Reset of each allowed answer
		wantRetry     string
		wantMessage   string
		wantLastReset string
	}{
		{
			name:          "two per minute",
			limit:         PerPeriod(2, time.Minute),
			wantAllowed:   2,
			wantPolicy:    "2;w=60",
			wantReset:     []string{"30", "60"},
			wantRetry:     "30",
			wantMessage:   "Too many requests; try again in 30 seconds.",
			wantLastReset: "60",
		},
		{
			name:          "sub-second retry rounds up to one second",
			limit:         PerPeriod(10, time.Second),
			wantAllowed:   10,
			wantPolicy:    "10;w=1",
			wantReset:     []string{"1", "1", "1", "1", "1", "1", "1", "1", "1", "1"},
			wantRetry:     "1",
			wantMessage:   "Too many requests; try again in 1 second.",
			wantLastReset: "1",
		},
		{
			name:          "period under a second",
			limit:         PerPeriod(1, 100*time.Millisecond),
			wantAllowed:   1,
			wantPolicy:    "1;w=1",
			wantReset:     []string{"1"},
			wantRetry:     "1",
			wantMessage:   "Too many requests; try again in 1 second.",
			wantLastReset: "1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newMemoryFixture(t)
			h := f.h.Wrap(Policy{Name: "api", Limit: tt.limit}, okHandler)
			for i := range tt.wantAllowed {
				w := serve(h, "192.0.2.1")
				if w.Code != http.StatusOK || w.Body.String() != "ok" {
					t.Fatalf("request %d: got %d %q, want 200 ok", i, w.Code, w.Body)
				}
				checkHeaders(t, w, map[string]string{
					"RateLimit-Limit":     strconv.Itoa(tt.limit.Burst),
					"RateLimit-Remaining": strconv.Itoa(tt.wantAllowed - 1 - i),
					"RateLimit-Reset":     tt.wantReset[i],
					"RateLimit-Policy":    tt.wantPolicy,
					"Retry-After":         "",
				})
			}

			w := serve(h, "192.0.2.1")
			if w.Code != http.StatusTooManyRequests {
				t.Fatalf("got %d, want 429", w.Code)
			}
			checkHeaders(t, w, map[string]string{
				"RateLimit-Limit":     strconv.Itoa(tt.limit.Burst),
				"RateLimit-Remaining": "0",
				"RateLimit-Reset":     tt.wantLastReset,
				"RateLimit-Policy":    tt.wantPolicy,
				"Retry-After":         tt.wantRetry,
				"Content-Type":        "application/json; charset=utf-8",
			})
			var body httpapi.ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("decode body %q: %v", w.Body, err)
			}
			if want := (httpapi.ErrorDetail{Code: "rate_limited", Message: tt.wantMessage}); body.Error.Code != want.Code || body.Error.Message != want.Message {
				t.Errorf("got body %+v, want %+v", body.Error, want)
			}
			if got, want := f.count(t, "api", "allowed"), float64(tt.wantAllowed); got != want {
				t.Errorf("allowed count: got %v, want %v", got, want)
			}
			if got := f.count(t, "api", "limited"); got != 1 {
				t.Errorf("limited count: got %v, want 1", got)
			}
			if got := f.logCount("rate limit hit"); got != 1 {
				t.Errorf("got %d \"rate limit hit\" logs, want 1", got)
			}
		})
	}
}

func checkHeaders(t *testing.T, w *httptest.ResponseRecorder, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("header %s: got %q, want %q", k, got, v)
		}
	}
}

func TestHTTPRefillsAfterRetryAfter(t *testing.T) {
	t.Parallel()
	f := newMemoryFixture(t)
	h := f.h.Wrap(Policy{Name: "api", Limit: PerPeriod(1, 10*time.Second)}, okHandler)
	if w := serve(h, "192.0.2.1"); w.Code != http.StatusOK {
		t.Fatalf("first: got %d, want 200", w.Code)
	}
	w := serve(h, "192.0.2.1")
	retry, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if w.Code != http.StatusTooManyRequests || err != nil || retry < 1 {
		t.Fatalf("second: got %d Retry-After %q, want 429 with Retry-After ≥ 1", w.Code, w.Header().Get("Retry-After"))
	}
	f.clock.Add(time.Duration(retry) * time.Second)
	if w := serve(h, "192.0.2.1"); w.Code != http.StatusOK {
		t.Errorf("after Retry-After: got %d, want 200", w.Code)
	}
}

func TestHTTPSeparateBuckets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		policy, ip     string
		wantSecondCode int
	}{
		{name: "same policy and IP share a bucket", policy: "login", ip: "192.0.2.1", wantSecondCode: http.StatusTooManyRequests},
		{name: "another policy has its own bucket", policy: "signup", ip: "192.0.2.1", wantSecondCode: http.StatusOK},
		{name: "another IP has its own bucket", policy: "login", ip: "192.0.2.2", wantSecondCode: http.StatusOK},
		{name: "IPv6 client", policy: "login", ip: "[2001:db8::1]", wantSecondCode: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newMemoryFixture(t)
			one := PerPeriod(1, time.Minute)
			handlers := map[string]http.Handler{
				"login":  f.h.Wrap(Policy{Name: "login", Limit: one}, okHandler),
				"signup": f.h.Wrap(Policy{Name: "signup", Limit: one}, okHandler),
			}
			if w := serve(handlers["login"], "192.0.2.1"); w.Code != http.StatusOK {
				t.Fatalf("first: got %d, want 200", w.Code)
			}
			if w := serve(handlers[tt.policy], tt.ip); w.Code != tt.wantSecondCode {
				t.Errorf("second: got %d, want %d", w.Code, tt.wantSecondCode)
			}
		})
	}
}

func TestHTTPKeyFunc(t *testing.T) {
	t.Parallel()
	const email = "ada@example.com"
	byEmail := func(r *http.Request) string { return r.Header.Get("X-Test-Email") }
	tests := []struct {
		name       string
		email      string // sent as X-Test-Email
		contextLog bool   // the request carries its own logger
	}{
		{name: "custom key", email: email},
		{name: "custom key, request logger", email: email, contextLog: true},
		{name: "empty key falls back to the client IP", email: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newMemoryFixture(t)
			h := f.h.Wrap(Policy{Name: "magic-link", Limit: PerPeriod(1, time.Hour), Key: byEmail}, okHandler)
			reqLogs := &syncBuffer{}
			send := func(ip string) int {
				r := httptest.NewRequest(http.MethodPost, "/api/auth/email", nil)
				r.RemoteAddr = ip + ":1234"
				r.Header.Set("X-Test-Email", tt.email)
				if tt.contextLog {
					r = r.WithContext(obs.WithLogger(r.Context(), slog.New(slog.NewJSONHandler(reqLogs, nil))))
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w.Code
			}
			send("192.0.2.1")
			// With a custom key the budget follows the email across IPs;
			// without one, each IP has its own.
			wantCode := http.StatusTooManyRequests
			if tt.email == "" {
				wantCode = http.StatusOK
			}
			if got := send("192.0.2.9"); got != wantCode {
				t.Fatalf("second request from another IP: got %d, want %d", got, wantCode)
			}
			if tt.email == "" {
				return
			}
			logs, other := f.logs.String(), reqLogs.String()
			if tt.contextLog {
				logs, other = other, logs
			}
			if other != "" {
				t.Errorf("got logs on the wrong logger: %s", other)
			}
			var rec struct {
				Msg, Policy, Key, IP string
			}
			if err := json.Unmarshal([]byte(logs), &rec); err != nil {
				t.Fatalf("decode log %q: %v", logs, err)
			}
			want := struct{ Msg, Policy, Key, IP string }{"rate limit hit", "magic-link", keyDigest(email), "192.0.2.9"}
			if rec != want {
				t.Errorf("got log %+v, want %+v", rec, want)
			}
			if strings.Contains(logs, "ada") {
				t.Errorf("log reveals the key: %s", logs)
			}
		})
	}
}

func TestHTTPFailsOpenWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	r := NewRedis(c, "")
	if err := r.Ping(context.Background()); err == nil {
		t.Fatal("Ping: got nil, want an error")
	}
	f := newHTTPFixture(t, r, nil)
	h := f.h.Wrap(Policy{Name: "api", Limit: PerPeriod(1, time.Minute)}, okHandler)

	for i := range 3 {
		w := serve(h, "192.0.2.1")
		if w.Code != http.StatusOK || w.Body.String() != "ok" {
			t.Fatalf("request %d: got %d %q, want 200 ok (fail open)", i, w.Code, w.Body)
		}
		checkHeaders(t, w, map[string]string{"RateLimit-Policy": "1;w=60", "RateLimit-Remaining": "", "Retry-After": ""})
	}
	if got := f.count(t, "api", "error"); got != 3 {
		t.Errorf("error count: got %v, want 3", got)
	}
	if got := f.count(t, "api", "allowed"); got != 0 {
		t.Errorf("allowed count: got %v, want 0", got)
	}
	if err := f.h.Healthy(); err == nil {
		t.Error("Healthy: got nil, want the Redis error")
	}
	if got := f.logCount("rate limiter unavailable; allowing requests"); got != 1 {
		t.Errorf("got %d warnings, want 1 for a burst of failures", got)
	}
	f.clock.Add(31 * time.Second)
	if err := f.h.Healthy(); err != nil {
		t.Errorf("Healthy 31 s after the last failure: got %v, want nil", err)
	}
}

// switchLimiter fails while failing is set, else defers to Memory.
type switchLimiter struct {
	*Memory
	failing atomic.Bool
}

var errDown = errors.New("limiter down")

func (s *switchLimiter) Allow(ctx context.Context, key string, l Limit) (Result, error) {
	if s.failing.Load() {
		return Result{}, errDown
	}
	return s.Memory.Allow(ctx, key, l)
}

func TestHTTPHealthAndErrorLogs(t *testing.T) {
	t.Parallel()
	m, clock := newTestMemory(t, 0)
	lim := &switchLimiter{Memory: m}
	f := newHTTPFixture(t, lim, clock)
	h := f.h.Wrap(Policy{Name: "api", Limit: PerPeriod(100, time.Second)}, okHandler)

	steps := []struct {
		name        string
		wait        time.Duration
		failing     bool
		wantHealthy bool
		wantLogs    int  // warnings so far
		noRequest   bool // only ask Healthy
	}{
		{name: "healthy at start", wantHealthy: true},
		{name: "first failure warns", failing: true, wantLogs: 1},
		{name: "failure 5 s later is quiet", wait: 5 * time.Second, failing: true, wantLogs: 1},
		{name: "failure 10 s after the warning warns again", wait: 5 * time.Second, failing: true, wantLogs: 2},
		{name: "success clears", wantHealthy: true, wantLogs: 2},
		{name: "new failure within 10 s is quiet", wait: time.Second, failing: true, wantLogs: 2},
		{name: "failure ages out after 30 s", wait: 31 * time.Second, noRequest: true, wantHealthy: true, wantLogs: 2},
	}
	for _, s := range steps {
		clock.Add(s.wait)
		lim.failing.Store(s.failing)
		if !s.noRequest {
			if w := serve(h, "192.0.2.1"); w.Code != http.StatusOK {
				t.Fatalf("%s: got %d, want 200", s.name, w.Code)
			}
		}
		if err := f.h.Healthy(); (err == nil) != s.wantHealthy || err != nil && !errors.Is(err, errDown) {
			t.Errorf("%s: Healthy got %v, want healthy %v", s.name, err, s.wantHealthy)
		}
		if got := f.logCount("rate limiter unavailable; allowing requests"); got != s.wantLogs {
			t.Errorf("%s: got %d warnings, want %d", s.name, got, s.wantLogs)
		}
	}
	if !strings.Contains(f.logs.String(), `"suppressed":1`) {
		t.Errorf("the second warning should count the one it suppressed: %s", f.logs)
	}
}

// blockingLimiter waits until its context ends.
type blockingLimiter struct{}

func (blockingLimiter) Allow(ctx context.Context, _ string, _ Limit) (Result, error) {
	<-ctx.Done()
	return Result{}, ctx.Err()
}

func TestHTTPTimeoutFailsOpen(t *testing.T) {
	t.Parallel()
	f := &httpFixture{reg: prometheus.NewRegistry(), logs: &syncBuffer{}, clock: newFakeClock()}
	f.h = NewHTTP(HTTPOptions{Limiter: blockingLimiter{}, Registerer: f.reg, Now: f.clock.Now, Timeout: 10 * time.Millisecond})
	h := f.h.Wrap(Policy{Name: "api", Limit: PerPeriod(1, time.Second)}, okHandler)
	if w := serve(h, "192.0.2.1"); w.Code != http.StatusOK {
		t.Fatalf("got %d, want 200", w.Code)
	}
	if err := f.h.Healthy(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Healthy: got %v, want context.DeadlineExceeded", err)
	}
	if got := f.count(t, "api", "error"); got != 1 {
		t.Errorf("error count: got %v, want 1", got)
	}
}

func TestHTTPClientGoneIsNotUnhealthy(t *testing.T) {
	t.Parallel()
	f := newHTTPFixture(t, blockingLimiter{}, nil)
	var served atomic.Bool
	h := f.h.Wrap(Policy{Name: "api", Limit: PerPeriod(1, time.Second)}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		served.Store(true)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
	h.ServeHTTP(httptest.NewRecorder(), r)
	if !served.Load() {
		t.Error("handler not called; want the request passed on")
	}
	if err := f.h.Healthy(); err != nil {
		t.Errorf("Healthy: got %v, want nil (the client left, the limiter is fine)", err)
	}
	if got := f.logCount("rate limiter unavailable; allowing requests"); got != 0 {
		t.Errorf("got %d warnings, want 0", got)
	}
}

func TestHTTPWrapRejectsBadPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy Policy
	}{
		{name: "no name", policy: Policy{Limit: PerPeriod(1, time.Second)}},
		{name: "no limit", policy: Policy{Name: "api"}},
		{name: "no period", policy: Policy{Name: "api", Limit: Limit{Rate: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newMemoryFixture(t)
			defer func() {
				if recover() == nil {
					t.Error("Wrap: got no panic, want one")
				}
			}()
			f.h.Wrap(tt.policy, okHandler)
		})
	}
}

func TestNewHTTPSharesCounterOnOneRegistry(t *testing.T) {
	t.Parallel()
	m, _ := newTestMemory(t, 0)
	reg := prometheus.NewRegistry()
	a := NewHTTP(HTTPOptions{Limiter: m, Registerer: reg})
	b := NewHTTP(HTTPOptions{Limiter: m, Registerer: reg})
	serve(a.Wrap(Policy{Name: "a", Limit: PerPeriod(1, time.Second)}, okHandler), "192.0.2.1")
	serve(b.Wrap(Policy{Name: "b", Limit: PerPeriod(1, time.Second)}, okHandler), "192.0.2.1")
	f := &httpFixture{reg: reg}
	if got := f.count(t, "a", "allowed") + f.count(t, "b", "allowed"); got != 2 {
		t.Errorf("got %v allowed across both, want 2", got)
	}
}

func TestHTTPInstancesShareRedisBudget(t *testing.T) {
	t.Parallel()
	r := newTestRedis(t)
	// Two servers behind a load balancer, each with its own client.
	other := NewRedis(testRedisClient(t), r.prefix)
	policy := Policy{Name: "api", Limit: PerPeriod(3, time.Hour)}
	servers := []http.Handler{
		newHTTPFixture(t, r, nil).h.Wrap(policy, okHandler),
		newHTTPFixture(t, other, nil).h.Wrap(policy, okHandler),
	}
	wantCodes := []int{http.StatusOK, http.StatusOK, http.StatusOK, http.StatusTooManyRequests, http.StatusTooManyRequests}
	for i, want := range wantCodes {
		w := serve(servers[i%2], "192.0.2.1")
		if w.Code != want {
			t.Errorf("request %d: got %d, want %d", i, w.Code, want)
		}
		if want == http.StatusTooManyRequests && w.Header().Get("Retry-After") != "1200" {
			t.Errorf("request %d: got Retry-After %q, want 1200", i, w.Header().Get("Retry-After"))
		}
	}
}
