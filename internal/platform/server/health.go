package server

import (
	"context"
	"crypto/subtle"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/obs"
)

// Check is one readiness dependency.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Health serves /healthz and /readyz.
type Health struct {
	Checks   []Check
	Draining func() bool
	Timeout  time.Duration // per check, default 2s
	Version  string

	mu   sync.Mutex
	last map[string]bool // previous outcome per check, to log changes once
}

// handleHealthz handles GET /healthz: the process is alive.
func (h *Health) handleHealthz(w http.ResponseWriter, r *http.Request) {
	httpapi.Write(w, http.StatusOK, map[string]any{"status": "ok", "version": h.Version})
}

// handleReadyz handles GET /readyz: every dependency answers, else 503.
func (h *Health) handleReadyz(w http.ResponseWriter, r *http.Request) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	type result struct {
		Status string `json:"status"`
		Error  string `json:"error,omitempty"`
	}
	results := make(map[string]result, len(h.Checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range h.Checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			err := c.Func(ctx)
			res := result{Status: "ok"}
			if err != nil {
				// The reason goes to the log; the answer says only what is down.
				res = result{Status: "down", Error: "unreachable"}
			}
			h.noteChange(r.Context(), c.Name, err)
			mu.Lock()
			results[c.Name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	status := http.StatusOK
	overall := "ok"
	for _, res := range results {
		if res.Status != "ok" {
			status, overall = http.StatusServiceUnavailable, "unavailable"
		}
	}
	if h.Draining != nil && h.Draining() {
		status, overall = http.StatusServiceUnavailable, "draining"
	}
	httpapi.Write(w, status, map[string]any{"status": overall, "checks": results})
}

func (h *Health) noteChange(ctx context.Context, name string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last == nil {
		h.last = map[string]bool{}
	}
	ok := err == nil
	prev, seen := h.last[name]
	h.last[name] = ok
	if seen && prev == ok {
		return
	}
	if ok && seen {
		obs.Logger(ctx).Info("dependency recovered", "check", name)
	} else if !ok {
		obs.Logger(ctx).Error("dependency down", "check", name, "err", err.Error())
	}
}

// Register adds /healthz and /readyz to rt.
func (h *Health) Register(rt *Router) {
	rt.HandleFunc("GET /healthz", h.handleHealthz)
	rt.HandleFunc("GET /readyz", h.handleReadyz)
}

// MetricsHandler serves Prometheus metrics from g, requiring a bearer token
// when token is set.
func MetricsHandler(g prometheus.Gatherer, token string) http.Handler {
	ph := promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			got := r.Header.Get("Authorization")
			want := "Bearer " + token
			if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
				httpapi.Error(w, r, apperr.E(apperr.Unauthorized, "Send Authorization: Bearer <METRICS_TOKEN>."))
				return
			}
		}
		ph.ServeHTTP(w, r)
	})
}
