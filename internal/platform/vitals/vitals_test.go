package vitals_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/vitals"
)

const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

const good = `{"page":"/ideas/0193","metrics":[{"name":"LCP","value":812.5,"rating":"good","id":"v5-1","navigationType":"navigate"},{"name":"CLS","value":0.02,"rating":"good","id":"v5-2","navigationType":"navigate"},{"name":"TTFB","value":12,"rating":"good","id":"v5-3","navigationType":"navigate"}]}`

func TestParse(t *testing.T) {
	t.Parallel()
	rep, err := vitals.Parse([]byte(good))
	if err != nil || rep.Page != "/ideas/0193" || len(rep.Metrics) != 3 || rep.Metrics[0].Value != 812.5 {
		t.Fatalf("got %+v, %v", rep, err)
	}
	for _, c := range []struct{ name, body, field string }{
		{"empty", ``, ""},
		{"not json", `hello`, ""},
		{"array", `[]`, ""},
		{"two values", `{"page":"/","metrics":[{"name":"LCP","value":1}]} {}`, ""},
		{"unknown field", `{"page":"/","metrics":[{"name":"LCP","value":1}],"email":"a@b.c"}`, ""},
		{"no page", `{"metrics":[{"name":"LCP","value":1}]}`, "page"},
		{"absolute page", `{"page":"https://x.example/","metrics":[{"name":"LCP","value":1}]}`, "page"},
		{"page with query", `{"page":"/ideas?q=secret","metrics":[{"name":"LCP","value":1}]}`, "page"},
		{"scheme-relative page", `{"page":"//evil","metrics":[{"name":"LCP","value":1}]}`, "page"},
		{"no metrics", `{"page":"/","metrics":[]}`, "metrics"},
		{"unknown metric", `{"page":"/","metrics":[{"name":"FOO","value":1}]}`, "metrics[0].name"},
		{"twice", `{"page":"/","metrics":[{"name":"LCP","value":1},{"name":"LCP","value":2}]}`, "metrics[1].name"},
		{"negative", `{"page":"/","metrics":[{"name":"LCP","value":-1}]}`, "metrics[0].value"},
		{"huge", `{"page":"/","metrics":[{"name":"CLS","value":1e9}]}`, "metrics[0].value"},
		{"missing value", `{"page":"/","metrics":[{"name":"INP"}]}`, "metrics[0].value"},
		{"string value", `{"page":"/","metrics":[{"name":"INP","value":"1"}]}`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := vitals.Parse([]byte(c.body))
			if !apperr.Is(err, apperr.Invalid) {
				t.Fatalf("got %v, want an Invalid error", err)
			}
			if c.field != "" {
				var e *apperr.Error
				if !asErr(err, &e) || e.Fields[c.field] == "" {
					t.Fatalf("got %v, want a problem with %s", err, c.field)
				}
			}
		})
	}
	if _, err := vitals.Parse([]byte(strings.Repeat(" ", vitals.MaxBody+1))); !apperr.Is(err, apperr.TooLarge) {
		t.Fatalf("oversized: got %v", err)
	}
}

func asErr(err error, e **apperr.Error) bool {
	x, ok := err.(*apperr.Error)
	*e = x
	return ok
}

func TestIsBot(t *testing.T) {
	t.Parallel()
	for ua, want := range map[string]bool{
		chrome: false,
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36": false,
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)":                                      true,
		"curl/8.5.0":           true,
		"":                     true,
		"python-requests/2.31": true,
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1": false,
	} {
		if got := vitals.IsBot(ua); got != want {
			t.Errorf("IsBot(%q) = %v, want %v", ua, got, want)
		}
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h, err := vitals.NewHandler(vitals.Options{Registerer: reg,
		Route: func(p string) string {
			if strings.HasPrefix(p, "/ideas/") {
				return "/ideas/{id}"
			}
			return ""
		},
		Segment: &vitals.Segment{Label: "community", Of: func(*http.Request, string, string) string { return "acme" }},
	})
	if err != nil {
		t.Fatal(err)
	}
	post := func(body, ct, ua string) int {
		req := httptest.NewRequest("POST", "/api/vitals", strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("User-Agent", ua)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("status %d without a JSON error: %s", rec.Code, rec.Body)
		}
		return rec.Code
	}
	for _, c := range []struct {
		name, body, ct, ua string
		want               int
	}{
		{"valid", good, "application/json", chrome, 204},
		{"text/plain", good, "text/plain;charset=UTF-8", chrome, 204},
		{"bot ignored", good, "application/json", "Googlebot/2.1 (+http://www.google.com/bot.html)", 204},
		{"malformed", `{"page":`, "application/json", chrome, 400},
		{"wrong type", good, "application/x-www-form-urlencoded", chrome, 400},
		{"oversized", `{"page":"/` + strings.Repeat("a", 5000) + `"}`, "application/json", chrome, 413},
	} {
		if got := post(c.body, c.ct, c.ua); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(reg, "web_vitals_lcp_seconds"); n != 1 {
		t.Fatalf("LCP series: %d, want 1", n)
	}
	want := `
# HELP web_vitals_beacons_ignored_total Vitals beacons not recorded, by reason (bot, invalid).
# TYPE web_vitals_beacons_ignored_total counter
web_vitals_beacons_ignored_total{reason="bot"} 1
web_vitals_beacons_ignored_total{reason="invalid"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "web_vitals_beacons_ignored_total"); err != nil {
		t.Fatal(err)
	}
	// Two valid beacons (the bot's is not counted), under the route pattern and community.
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "web_vitals_lcp_seconds" {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetHistogram().GetSampleCount() != 2 {
			t.Fatalf("LCP samples %d, want 2", m.GetHistogram().GetSampleCount())
		}
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if got["route"] != "/ideas/{id}" || got["community"] != "acme" {
			t.Fatalf("labels %v", got)
		}
		var le25 uint64
		for _, b := range m.GetHistogram().GetBucket() {
			if b.GetUpperBound() == 2.5 {
				le25 = b.GetCumulativeCount()
			}
		}
		if le25 != 2 {
			t.Fatalf("2.5 s bucket holds %d, want 2", le25)
		}
	}
}

// FuzzVitals feeds arbitrary bodies to the beacon parser: it must never
// panic, and whatever it accepts must hold only known metrics with values
// in range and a plain path.
func FuzzVitals(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"page":"/","metrics":[{"name":"INP","value":40}]}`))
	f.Add([]byte(`{"page":"/c/acme/chat/1","metrics":[{"name":"CLS","value":0}]}`))
	f.Add([]byte(`{"page":"/","metrics":[{"name":"LCP","value":1e308}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rep, err := vitals.Parse(body)
		if err != nil {
			if !apperr.Is(err, apperr.Invalid) && !apperr.Is(err, apperr.TooLarge) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		if rep.Page == "" || rep.Page[0] != '/' || strings.ContainsAny(rep.Page, "?#") {
			t.Fatalf("accepted page %q", rep.Page)
		}
		if len(rep.Metrics) == 0 || len(rep.Metrics) > len(vitals.Names) {
			t.Fatalf("accepted %d metrics", len(rep.Metrics))
		}
		for _, m := range rep.Metrics {
			def, ok := vitals.Metrics[m.Name]
			if !ok || !(m.Value >= 0 && m.Value <= def.Max) {
				t.Fatalf("accepted %+v", m)
			}
		}
	})
}
