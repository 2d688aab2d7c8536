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

// TestAdminConsoleHTTP checks, without a browser, that the console answers
// 404 to signed-out visitors and members for every route and method, and
// refuses bytes the database cannot store with 422 for an admin.
func TestAdminConsoleHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, apptest.BaseEnv(t, map[string]string{"EMAIL_SERVER": "stream", "RATE_LIMIT_SCALE": "0"}))
	member := ideasSignIn(t, s, "member@example.com")
	routes := []string{"GET /admin", "GET /admin/users", "GET /admin/users/x", "POST /admin/users/x/role", "POST /admin/users/x/revoke",
		"POST /admin/users/x/export", "POST /admin/users/x/delete", "GET /admin/audit", "GET /admin/audit.csv", "GET /admin/cron",
		"POST /admin/cron/rollup-metrics/run", "GET /admin/maintenance", "POST /admin/maintenance", "GET /admin/database", "GET /admin/ideas"}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt, " ")
		if code, _, _ := member.do(method, path, nil, "application/x-www-form-urlencoded"); code != 404 {
			t.Errorf("member %s: %d, want 404", rt, code)
		}
		req, _ := http.NewRequest(method, s.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("signed out %s: %d, want 404", rt, resp.StatusCode)
		}
	}
	admin := ideasSignIn(t, s, "root@example.com")
	if _, _, err := apptest.Command(t, run, s.Env, "admin", "login-link", "root@example.com", "--role", "admin"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/admin/users?q=%00", "/admin/audit?actor=%ff", "/admin/audit?from=yesterday"} {
		if code, _, _ := admin.do("GET", path, nil, ""); code != 422 {
			t.Errorf("admin GET %s: %d, want 422", path, code)
		}
	}
	if code, _, _ := admin.do("GET", "/admin/users/%00", nil, ""); code != 422 {
		t.Errorf("NUL in the path: %d, want 422 (refused at the edge, naming the field)", code)
	}
	// A POST without the session's form token is refused.
	if code, _, _ := admin.do("POST", "/admin/maintenance", []byte("on=1"), "application/x-www-form-urlencoded"); code != 403 {
		t.Errorf("POST without token: %d, want 403", code)
	}
}
