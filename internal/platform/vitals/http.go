package vitals

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/rollup"
)

// Segment adds a label to the Prometheus histograms: Voyager's community.
type Segment struct {
	Label string // the label's name, e.g. "community"
	// Of returns the label's value for a beacon about path (its route
	// pattern already known), from a bounded set; "" becomes "none".
	Of func(r *http.Request, route, path string) string
}

// Options configure a Handler.
type Options struct {
	Registerer prometheus.Registerer
	Recorder   *rollup.Recorder // nil: Prometheus only
	// Route maps a page's path to its route pattern ("/ideas/{id}"), or ""
	// when no page matches; such beacons count under "other".
	Route   func(path string) string
	Segment *Segment
}

// Handler serves POST /api/vitals.
type Handler struct {
	o       Options
	hists   map[string]*prometheus.HistogramVec
	ignored *prometheus.CounterVec
}

// RollupMetric is the rollup metric name of vital name ("vitals.LCP").
func RollupMetric(name string) string { return "vitals." + name }

// NewHandler registers the histograms and returns the handler.
func NewHandler(o Options) (*Handler, error) {
	if o.Route == nil {
		o.Route = func(string) string { return "" }
	}
	labels := []string{"route"}
	if o.Segment != nil {
		labels = append(labels, o.Segment.Label)
	}
	h := &Handler{o: o, hists: map[string]*prometheus.HistogramVec{}}
	for _, name := range Names {
		m := Metrics[name]
		metric, help := "web_vitals_"+strings.ToLower(name)+"_seconds", name+" measured by real browsers, in seconds, by route pattern."
		if m.Unit == "" {
			metric, help = "web_vitals_"+strings.ToLower(name), name+" (layout shift score) measured by real browsers, by route pattern."
		}
		h.hists[name] = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: metric, Help: help, Buckets: m.Buckets}, labels)
	}
	h.ignored = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "web_vitals_beacons_ignored_total", Help: "Vitals beacons not recorded, by reason (bot, invalid)."}, []string{"reason"})
	if o.Registerer != nil {
		for _, c := range h.hists {
			if err := o.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
		if err := o.Registerer.Register(h.ignored); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// ServeHTTP handles POST /api/vitals: 204 when recorded or ignored (bots),
// 400 for a malformed beacon, 413 for an oversized one.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "text/plain") {
		h.ignored.WithLabelValues("invalid").Inc()
		httpapi.Error(w, r, &apperr.Error{Kind: apperr.Invalid, Code: "unsupported_media_type", Message: "Send the beacon as application/json."})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		h.ignored.WithLabelValues("invalid").Inc()
		httpapi.Error(w, r, &apperr.Error{Kind: apperr.TooLarge, Message: "A vitals beacon is at most 4096 bytes."})
		return
	}
	if err != nil {
		httpapi.Error(w, r, apperr.E(apperr.Invalid, "The beacon could not be read."))
		return
	}
	rep, err := Parse(body)
	if err != nil {
		h.ignored.WithLabelValues("invalid").Inc()
		httpapi.Error(w, r, err)
		return
	}
	if IsBot(r.UserAgent()) {
		h.ignored.WithLabelValues("bot").Inc()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.Record(r, rep)
	w.WriteHeader(http.StatusNoContent)
}

// Record counts a valid report.
func (h *Handler) Record(r *http.Request, rep Report) {
	route := h.o.Route(rep.Page)
	if route == "" {
		route = "other"
	}
	labels := []string{route}
	if h.o.Segment != nil {
		seg := h.o.Segment.Of(r, route, rep.Page)
		if seg == "" {
			seg = "none"
		}
		labels = append(labels, seg)
	}
	for _, m := range rep.Metrics {
		def := Metrics[m.Name]
		v := m.Value
		if def.Unit == "ms" {
			v /= 1000
		}
		h.hists[m.Name].WithLabelValues(labels...).Observe(v)
		h.o.Recorder.Observe(RollupMetric(m.Name), route, m.Value)
	}
}
