package obs

import (
	"database/sql"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors; each server has its own, so tests never share global state.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// RegisterDB adds connection-pool metrics for db under the given name.
func RegisterDB(r prometheus.Registerer, db *sql.DB, name string) error {
	return r.Register(collectors.NewDBStatsCollector(db, name))
}

// HTTPMetrics counts requests by route pattern, method and status.
type HTTPMetrics struct {
	Requests *prometheus.CounterVec
	Duration *prometheus.HistogramVec
	InFlight prometheus.Gauge
	// Tap, if set, also sees every finished request: the admin console's
	// rollups count them in memory from here.
	Tap func(route, method string, code int, d time.Duration)
}

// NewHTTPMetrics registers the HTTP metrics on r.
func NewHTTPMetrics(r prometheus.Registerer) *HTTPMetrics {
	m := &HTTPMetrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight", Help: "HTTP requests being served now.",
		}),
	}
	r.MustRegister(m.Requests, m.Duration, m.InFlight)
	return m
}

// Observe records one finished request.
func (m *HTTPMetrics) Observe(route, method string, code int, d time.Duration) {
	m.Requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.Duration.WithLabelValues(route).Observe(d.Seconds())
	if m.Tap != nil {
		m.Tap(route, method, code, d)
	}
}
