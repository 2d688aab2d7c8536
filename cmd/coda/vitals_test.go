package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
)

const chromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

func postBeacon(t *testing.T, base, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/api/vitals", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", chromeUA)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestVitalsBeacons sends malformed, oversized, cross-site, bot and
// flooding beacons to a running server: each gets a 4xx with a JSON error
// (bots a silent 204), never a 5xx, and only valid ones are counted.
func TestVitalsBeacons(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, apptest.BaseEnv(t, nil))
	valid := `{"page":"/ideas/0193c0de","metrics":[{"name":"LCP","value":640,"rating":"good","id":"v6-1","navigationType":"navigate"}]}`
	for _, c := range []struct {
		name, body string
		hdr        map[string]string
		want       int
	}{
		{"valid, no cookie", valid, nil, 204},
		{"malformed", `{"page":"/","metrics":[{"name":`, nil, 400},
		{"unknown metric", `{"page":"/","metrics":[{"name":"TTI","value":1}]}`, nil, 400},
		{"personal field", `{"page":"/","metrics":[{"name":"LCP","value":1}],"email":"a@b.example"}`, nil, 400},
		{"query string", `{"page":"/ideas?q=secret","metrics":[{"name":"LCP","value":1}]}`, nil, 400},
		{"oversized", `{"page":"/","pad":"` + strings.Repeat("x", 8<<10) + `"}`, nil, 413},
		{"form body", valid, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 400},
		{"cross-site", valid, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403},
		{"bot", valid, map[string]string{"User-Agent": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"}, 204},
	} {
		got, body := postBeacon(t, s.URL, c.body, c.hdr)
		if got != c.want {
			t.Errorf("%s: got %d, want %d: %s", c.name, got, c.want, body)
		}
		if got >= 400 && !strings.Contains(body, `"error"`) {
			t.Errorf("%s: no JSON error: %s", c.name, body)
		}
	}
	m := metricValue(t, s.URL, `web_vitals_lcp_seconds_count{route="/ideas/{id}"}`)
	if m != "1" {
		t.Fatalf("LCP count for /ideas/{id}: %q, want 1 (the bot's beacon is not counted)", m)
	}
	if v := metricValue(t, s.URL, `web_vitals_beacons_ignored_total{reason="bot"}`); v != "1" {
		t.Errorf("ignored bots: %q", v)
	}
	// A flood from one address is cut off with 429 and Retry-After.
	var limited int
	for i := 0; i < 40; i++ {
		req, _ := http.NewRequest("POST", s.URL+"/api/vitals", strings.NewReader(valid))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", chromeUA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("flood: %d", resp.StatusCode)
		}
		if resp.StatusCode == 429 {
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Fatal("40 beacons in a row were never rate limited")
	}
}

// TestVitalsDisabled turns VITALS_ENABLED off: pages carry no reporter
// switch and the endpoint is gone.
func TestVitalsDisabled(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, apptest.BaseEnv(t, map[string]string{"VITALS_ENABLED": "false"}))
	if got, _ := postBeacon(t, s.URL, `{"page":"/","metrics":[{"name":"LCP","value":1}]}`, nil); got != 404 {
		t.Fatalf("POST /api/vitals with vitals off: %d, want 404", got)
	}
	resp, err := http.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), "data-vitals") {
		t.Fatal("the page still turns the reporter on")
	}
}
