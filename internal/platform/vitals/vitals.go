// Package vitals receives the web vitals real browsers measure on every
// page (LCP, INP, CLS, FCP, TTFB, sent by the web-vitals reporter in web/
// with navigator.sendBeacon) at POST /api/vitals. A beacon is validated
// and size-limited, obvious bots are ignored, and nothing personal is kept:
// the page's path becomes its route pattern, and only the metric's value
// is recorded, in Prometheus histograms (buckets at the guides' thresholds)
// and in the rollups behind the admin console's charts.
package vitals

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/relaywork/suite/internal/platform/apperr"
)

// MaxBody is the largest beacon accepted, in bytes; the reporter's are
// about 400.
const MaxBody = 4096

// Path is the route beacons are posted to.
const Path = "/api/vitals"

// Metric describes one web vital.
type Metric struct {
	Name string
	// Unit is "ms" for times or "" for CLS (a unitless score).
	Unit string
	// Good and Poor are the guides' thresholds: at most Good is good, above
	// Poor is poor.
	Good, Poor float64
	// Max is the largest value believed; larger ones are refused.
	Max float64
	// Buckets are the Prometheus histogram's upper bounds, in seconds for
	// times.
	Buckets []float64
}

// Metrics are the vitals accepted, by name. Thresholds: LCP 2.5 s / 4 s,
// INP 200 / 500 ms, CLS 0.1 / 0.25 (the guides and web.dev), FCP 1.8 s /
// 3 s, TTFB 800 ms / 1.8 s.
var Metrics = map[string]Metric{
	"LCP":  {Name: "LCP", Unit: "ms", Good: 2500, Poor: 4000, Max: 120000, Buckets: []float64{0.5, 1, 1.8, 2.5, 4, 6, 10}},
	"INP":  {Name: "INP", Unit: "ms", Good: 200, Poor: 500, Max: 60000, Buckets: []float64{0.05, 0.1, 0.2, 0.5, 1, 2}},
	"CLS":  {Name: "CLS", Good: 0.1, Poor: 0.25, Max: 100, Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1}},
	"FCP":  {Name: "FCP", Unit: "ms", Good: 1800, Poor: 3000, Max: 120000, Buckets: []float64{0.5, 1, 1.8, 3, 6}},
	"TTFB": {Name: "TTFB", Unit: "ms", Good: 800, Poor: 1800, Max: 120000, Buckets: []float64{0.1, 0.2, 0.5, 0.8, 1.8, 4}},
}

// Names lists the metrics in the order the console shows them.
var Names = []string{"LCP", "INP", "CLS", "FCP", "TTFB"}

// Rating is "good", "needs-improvement" or "poor" for value v of m.
func (m Metric) Rating(v float64) string {
	switch {
	case v <= m.Good:
		return "good"
	case v <= m.Poor:
		return "needs-improvement"
	}
	return "poor"
}

// Report is a validated beacon.
type Report struct {
	Page    string // the page's path, as sent
	Metrics []Measurement
}

// Measurement is one metric's value.
type Measurement struct {
	Name  string
	Value float64 // ms, or the CLS score
}

// wire is the beacon's JSON.
type wire struct {
	Page    string       `json:"page"`
	Metrics []wireMetric `json:"metrics"`
}

type wireMetric struct {
	Name           string   `json:"name"`
	Value          *float64 `json:"value"`
	Rating         string   `json:"rating"`
	ID             string   `json:"id"`
	NavigationType string   `json:"navigationType"`
}

// Parse decodes and validates a beacon body. Every problem is an apperr
// Invalid (422-worthy) naming the field; a body over MaxBody is TooLarge.
func Parse(body []byte) (Report, error) {
	if len(body) > MaxBody {
		return Report{}, &apperr.Error{Kind: apperr.TooLarge, Message: fmt.Sprintf("A vitals beacon is at most %d bytes.", MaxBody)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var w wire
	if err := dec.Decode(&w); err != nil {
		return Report{}, apperr.E(apperr.Invalid, "The beacon is not a vitals report: %s.", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Report{}, apperr.E(apperr.Invalid, "The beacon must hold a single JSON object.")
	}
	fields := map[string]string{}
	switch {
	case w.Page == "":
		fields["page"] = "required: the page's path, e.g. /ideas"
	case len(w.Page) > 1024 || w.Page[0] != '/' || strings.HasPrefix(w.Page, "//") || strings.ContainsAny(w.Page, "?#\x00\r\n\t\\"):
		fields["page"] = "must be a path on this site such as /ideas, without query or fragment, at most 1024 bytes"
	}
	switch {
	case len(w.Metrics) == 0:
		fields["metrics"] = "required: at least one of " + strings.Join(Names, ", ")
	case len(w.Metrics) > len(Names):
		fields["metrics"] = fmt.Sprintf("at most %d entries", len(Names))
	}
	r := Report{Page: w.Page}
	seen := map[string]bool{}
	for i, m := range w.Metrics {
		key := fmt.Sprintf("metrics[%d]", i)
		def, ok := Metrics[m.Name]
		switch {
		case !ok:
			fields[key+".name"] = "must be one of " + strings.Join(Names, ", ")
			continue
		case seen[m.Name]:
			fields[key+".name"] = m.Name + " appears twice"
			continue
		case m.Value == nil:
			fields[key+".value"] = "required"
			continue
		case math.IsNaN(*m.Value) || *m.Value < 0 || *m.Value > def.Max:
			fields[key+".value"] = fmt.Sprintf("must be between 0 and %g", def.Max)
			continue
		case len(m.ID) > 128 || len(m.Rating) > 32 || len(m.NavigationType) > 32:
			fields[key] = "id, rating or navigationType is too long"
			continue
		}
		seen[m.Name] = true
		r.Metrics = append(r.Metrics, Measurement{Name: m.Name, Value: *m.Value})
	}
	if len(fields) > 0 {
		return Report{}, apperr.InvalidFields("The vitals report has problems.", fields)
	}
	return r, nil
}

func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return typ.Field + " has the wrong type"
		}
		return "it must be a JSON object"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is empty or cut short"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "it could not be read as JSON"
}

// botMarks are User-Agent substrings of crawlers and scripts, not people.
var botMarks = []string{"bot", "crawl", "spider", "slurp", "facebookexternalhit", "preview", "curl/", "wget", "python-", "go-http-client", "okhttp", "java/", "lighthouse", "pagespeed", "pingdom", "uptime", "monitor", "headlessshell"}

// IsBot reports whether a User-Agent is an obvious bot (or missing).
func IsBot(ua string) bool {
	if len(ua) < 10 {
		return true
	}
	l := strings.ToLower(ua)
	for _, m := range botMarks {
		if strings.Contains(l, m) {
			return true
		}
	}
	return !strings.Contains(l, "mozilla/")
}
