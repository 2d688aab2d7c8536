package chat

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relaywork/suite/internal/voyager/coach"
)

// CacheMetrics counts the answer cache's work per community.
type CacheMetrics struct {
	lookups     *prometheus.CounterVec
	tokensSaved *prometheus.CounterVec
	costSaved   *prometheus.CounterVec
}

// NewCacheMetrics registers the answer cache's metrics on reg.
func NewCacheMetrics(reg prometheus.Registerer) *CacheMetrics {
	m := &CacheMetrics{
		lookups:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "voyager_answer_cache_lookups_total", Help: "Answer-cache lookups for cacheable first questions, by community and result (hit, miss)."}, []string{"community", "result"}),
		tokensSaved: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "voyager_answer_cache_tokens_saved_total", Help: "Provider tokens not spent thanks to cached answers, by community."}, []string{"community"}),
		costSaved:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "voyager_answer_cache_cost_saved_usd_total", Help: "Estimated provider cost not spent thanks to cached answers (USD), by community."}, []string{"community"}),
	}
	if reg != nil {
		reg.MustRegister(m.lookups, m.tokensSaved, m.costSaved)
	}
	return m
}

func (m *CacheMetrics) observe(community string, hit *coach.CachedAnswer) {
	if m == nil {
		return
	}
	r := "miss"
	if hit != nil {
		r = "hit"
	}
	m.lookups.WithLabelValues(community, r).Inc()
}

func (m *CacheMetrics) saved(community string, hit *coach.CachedAnswer) {
	if m == nil {
		return
	}
	m.tokensSaved.WithLabelValues(community).Add(float64(hit.Usage.Input + hit.Usage.Output + hit.Usage.CacheRead + hit.Usage.CacheWrite))
	m.costSaved.WithLabelValues(community).Add(float64(hit.CostMicros) / 1e6)
}
