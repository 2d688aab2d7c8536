package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/obs"
)

func newTestStack(t *testing.T, logs *bytes.Buffer) (http.Handler, *obs.HTTPMetrics) {
	t.Helper()
	reg := obs.NewRegistry()
	m := obs.NewHTTPMetrics(reg)
	rt := NewRouter(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(404)
		io.WriteString(w, "<h1>Page not found</h1>")
	}))
	rt.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, strings.Repeat("<p>hello</p>", 200))
	})
	rt.HandleFunc("POST /api/echo", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Name string `json:"name"`
		}
		if err := httpapi.Decode(w, r, &in, 0); err != nil {
			httpapi.Error(w, r, err)
			return
		}
		httpapi.Write(w, 200, in)
	})
	big := func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			httpapi.Error(w, r, apperr.Wrap(apperr.TooLarge, err, "too large"))
			return
		}
		httpapi.Write(w, 200, map[string]int64{"bytes": n})
	}
	rt.HandleFunc("POST /api/big", big)
	rt.HandleFunc("POST /api/c/{cid}/files", big)
	rt.HandleFunc("GET /api/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom secret-internal-detail") })
	rt.HandleFunc("GET /api/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		httpapi.Error(w, r, apperr.E(apperr.NotFound, "No such item."))
	})
	rt.Handle("GET /metrics", MetricsHandler(reg, "tok"))
	var w io.Writer = io.Discard
	if logs != nil {
		w = logs
	}
	h, err := Stack(rt, StackOptions{Logger: obs.NewLogger(w, "debug", "json"), Metrics: m, PublicURL: "https://ideas.example.com", MaxBodyBytes: 1024,
		BodyLimits: map[string]int64{"/api/big": 8192, "/api/c/{cid}/files": 8192}})
	if err != nil {
		t.Fatal(err)
	}
	return h, m
}

func do(h http.Handler, method, target, body string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func errCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var b httpapi.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q is not the JSON error shape: %v", w.Body, err)
	}
	return b.Error.Code
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h, _ := newTestStack(t, &logs)
	json := map[string]string{"Content-Type": "application/json"}

	t.Run("oversized body 413", func(t *testing.T) {
		w := do(h, "POST", "/api/echo", `{"name":"`+strings.Repeat("x", 2000)+`"}`, json)
		if w.Code != 413 || errCode(t, w) != "too_large" {
			t.Fatalf("got %d %s, want 413 too_large", w.Code, w.Body)
		}
	})
	t.Run("a path with its own body limit", func(t *testing.T) {
		if w := do(h, "POST", "/api/big", strings.Repeat("x", 4000), json); w.Code != 200 {
			t.Fatalf("4000 bytes under an 8192 limit: got %d %s", w.Code, w.Body)
		}
		if w := do(h, "POST", "/api/big", strings.Repeat("x", 9000), json); w.Code != 413 {
			t.Fatalf("9000 bytes over an 8192 limit: got %d", w.Code)
		}
		// A pattern's {name} segment matches one segment.
		if w := do(h, "POST", "/api/c/alpha/files", strings.Repeat("x", 4000), json); w.Code != 200 {
			t.Fatalf("4000 bytes under a pattern's 8192 limit: got %d %s", w.Code, w.Body)
		}
		if w := do(h, "POST", "/api/c/alpha/files", strings.Repeat("x", 9000), json); w.Code != 413 {
			t.Fatalf("9000 bytes over a pattern's 8192 limit: got %d", w.Code)
		}
	})
	t.Run("oversized chunked body 413", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/api/echo", io.MultiReader(strings.NewReader(`{"name":"`), strings.NewReader(strings.Repeat("x", 2000)+`"}`)))
		r.ContentLength = -1
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 413 {
			t.Fatalf("got %d %s, want 413", w.Code, w.Body)
		}
	})
	t.Run("invalid JSON 400", func(t *testing.T) {
		w := do(h, "POST", "/api/echo", `{"name":`, json)
		if w.Code != 400 || errCode(t, w) != "invalid" {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
	})
	t.Run("cross-origin POST 403", func(t *testing.T) {
		w := do(h, "POST", "/api/echo", `{"name":"a"}`, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
		if w.Code != 403 || errCode(t, w) != "cross_origin" {
			t.Fatalf("got %d %s, want 403 cross_origin", w.Code, w.Body)
		}
	})
	t.Run("same-origin POST passes", func(t *testing.T) {
		w := do(h, "POST", "/api/echo", `{"name":"a"}`, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"})
		if w.Code != 200 {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
	})
	t.Run("panic 500 without detail", func(t *testing.T) {
		w := do(h, "GET", "/api/panic", "", nil)
		if w.Code != 500 || strings.Contains(w.Body.String(), "secret-internal-detail") || strings.Contains(w.Body.String(), "goroutine") {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
		id := w.Header().Get("X-Request-ID")
		if id == "" || !strings.Contains(w.Body.String(), id) {
			t.Fatalf("got body %s, want request ID %q in it", w.Body, id)
		}
		if !strings.Contains(logs.String(), "goroutine") || !strings.Contains(logs.String(), id) {
			t.Fatal("stack and request ID not logged")
		}
	})
	t.Run("security headers", func(t *testing.T) {
		w := do(h, "GET", "/", "", nil)
		for k, want := range map[string]string{
			"Content-Security-Policy":   "script-src 'self'",
			"X-Content-Type-Options":    "nosniff",
			"Referrer-Policy":           "strict-origin-when-cross-origin",
			"Strict-Transport-Security": "max-age=",
		} {
			if !strings.Contains(w.Header().Get(k), want) {
				t.Errorf("%s = %q, want it to contain %q", k, w.Header().Get(k), want)
			}
		}
		if !strings.Contains(w.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Error("CSP lacks frame-ancestors 'none'")
		}
		// Images only from this origin (and data: for the empty favicon):
		// a remote image URL is a way to send page content elsewhere.
		if got, want := imgSrc(w.Header().Get("Content-Security-Policy")), "img-src 'self' data:"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("csp with a logo host", func(t *testing.T) {
		for _, tc := range []struct {
			in   []string
			want string
		}{
			{[]string{"https://cdn.example"}, "img-src 'self' data: https://cdn.example"},
			{[]string{"https://cdn.example/logo.svg"}, "img-src 'self' data:"}, // not an origin
			{[]string{"http://cdn.example"}, "img-src 'self' data:"},
			{[]string{"https:"}, "img-src 'self' data:"},
			{[]string{"https://a.example", "https://b.example:8443"}, "img-src 'self' data: https://a.example https://b.example:8443"},
		} {
			if got := imgSrc(CSPWithImages(tc.in...)); got != tc.want {
				t.Errorf("%v: got %q, want %q", tc.in, got, tc.want)
			}
		}
	})
	t.Run("gzip", func(t *testing.T) {
		w := do(h, "GET", "/", "", map[string]string{"Accept-Encoding": "gzip"})
		if w.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("got encoding %q, want gzip", w.Header().Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(zr)
		if !strings.Contains(string(b), "<p>hello</p>") {
			t.Fatal("gzip body does not decode to the page")
		}
	})
	t.Run("request ID kept or made", func(t *testing.T) {
		w := do(h, "GET", "/", "", map[string]string{"X-Request-ID": "abc-123"})
		if got := w.Header().Get("X-Request-ID"); got != "abc-123" {
			t.Fatalf("got %q, want abc-123", got)
		}
		w = do(h, "GET", "/", "", map[string]string{"X-Request-ID": "bad id <script>"})
		if got := w.Header().Get("X-Request-ID"); got == "" || strings.Contains(got, "<") {
			t.Fatalf("got %q, want a fresh ID", got)
		}
	})
	t.Run("404 JSON under api, HTML elsewhere", func(t *testing.T) {
		w := do(h, "GET", "/api/nope", "", nil)
		if w.Code != 404 || errCode(t, w) != "not_found" {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
		w = do(h, "GET", "/nope", "", nil)
		if w.Code != 404 || !strings.Contains(w.Body.String(), "<h1>Page not found</h1>") {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
	})
	t.Run("metrics need token and label routes", func(t *testing.T) {
		do(h, "GET", "/api/items/42", "", nil)
		if w := do(h, "GET", "/metrics", "", nil); w.Code != 401 {
			t.Fatalf("got %d, want 401 without token", w.Code)
		}
		w := do(h, "GET", "/metrics", "", map[string]string{"Authorization": "Bearer tok"})
		if w.Code != 200 {
			t.Fatalf("got %d", w.Code)
		}
		body := w.Body.String()
		if !strings.Contains(body, `http_requests_total{code="404",method="GET",route="GET /api/items/{id}"}`) {
			t.Fatalf("metrics lack the route pattern label:\n%s", grep(body, "http_requests_total"))
		}
		if strings.Contains(body, `route="/api/items/42"`) {
			t.Fatal("raw path used as a label")
		}
		if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "http_request_duration_seconds_bucket") {
			t.Fatal("runtime or latency metrics missing")
		}
	})
	t.Run("access log has no secrets", func(t *testing.T) {
		do(h, "GET", "/", "", map[string]string{"Authorization": "Bearer topsecret", "Cookie": "sid=cookievalue"})
		if strings.Contains(logs.String(), "topsecret") || strings.Contains(logs.String(), "cookievalue") {
			t.Fatal("secret reached the log")
		}
	})
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote, xff, want string
	}{
		{"direct", "1.2.3.4:5", "", "1.2.3.4"},
		{"untrusted peer ignores xff", "1.2.3.4:5", "9.9.9.9", "1.2.3.4"},
		{"trusted proxy", "10.0.0.1:5", "9.9.9.9", "9.9.9.9"},
		{"spoofed left entries ignored", "10.0.0.1:5", "6.6.6.6, 9.9.9.9, 10.0.0.2", "9.9.9.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := ClientIPFrom(r, trusted); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestReadyzRecovers(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	hl := &Health{Checks: []Check{{Name: "database", Func: func(context.Context) error {
		if down.Load() {
			return errors.New("dial tcp: connection refused")
		}
		return nil
	}}}}
	rt := NewRouter(nil)
	hl.Register(rt)
	w := do(rt, "GET", "/readyz", "", nil)
	if w.Code != 503 || !strings.Contains(w.Body.String(), `"database":{"status":"down"`) {
		t.Fatalf("got %d %s, want 503 naming database", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "refused") {
		t.Fatal("readyz leaks the error text")
	}
	down.Store(false)
	if w := do(rt, "GET", "/readyz", "", nil); w.Code != 200 {
		t.Fatalf("got %d %s after recovery, want 200", w.Code, w.Body)
	}
	if w := do(rt, "GET", "/healthz", "", nil); w.Code != 200 {
		t.Fatalf("healthz got %d", w.Code)
	}
}

func TestGracefulShutdownDrains(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Handler: h, Logger: obs.Discard(), ShutdownTimeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	// New connections are refused once shutdown has begun.
	deadline := time.Now().Add(5 * time.Second)
	for !s.Draining() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting during shutdown")
		}
	}
	close(release)
	if body := <-got; body != "finished" {
		t.Fatalf("in-flight request got %q, want finished", body)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v", err)
	}
}

// imgSrc is a CSP's img-src directive.
func imgSrc(csp string) string {
	for _, d := range strings.Split(csp, ";") {
		if d = strings.TrimSpace(d); strings.HasPrefix(d, "img-src ") {
			return d
		}
	}
	return ""
}
