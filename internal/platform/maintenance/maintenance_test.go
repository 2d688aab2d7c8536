package maintenance_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/maintenance"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
		served := maintenance.New(db, clk.Now, time.Second) // this instance serves
		operator := maintenance.New(db, clk.Now, time.Second)
		ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
		h := served.Middleware(ok, maintenance.Options{Bypass: func(r *http.Request) bool { return r.Header.Get("X-Admin") == "1" }})
		get := func(path string, hdr ...string) *httptest.ResponseRecorder {
			r := httptest.NewRequest("GET", path, nil)
			if len(hdr) > 0 {
				r.Header.Set("X-Admin", "1")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w
		}
		if w := get("/ideas"); w.Code != 200 {
			t.Fatalf("before: got %d", w.Code)
		}
		if _, err := operator.Set(ctx, true, "Back at ten"); err != nil {
			t.Fatal(err)
		}
		// Another instance's switch is seen once the cached state is a second old.
		if w := get("/ideas"); w.Code != 200 {
			t.Fatalf("within the cache's second: got %d, want the cached state (200)", w.Code)
		}
		clk.Add(time.Second)
		w := get("/api/ideas")
		if w.Code != 503 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `"code":"maintenance"`) || !strings.Contains(w.Body.String(), "Back at ten") {
			t.Fatalf("during maintenance: %d %v %s", w.Code, w.Header(), w.Body)
		}
		for _, p := range []string{"/healthz", "/readyz", "/metrics", "/api/cron/purge-soft-deletes", "/assets/app.js", "/signin", "/auth/email/confirm", "/api/auth/session"} {
			if w := get(p); w.Code != 200 {
				t.Errorf("%s during maintenance: got %d, want it served", p, w.Code)
			}
		}
		if w := get("/ideas", "admin"); w.Code != 200 {
			t.Fatalf("admin during maintenance: got %d", w.Code)
		}
		if _, err := operator.Set(ctx, false, ""); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
		if w := get("/ideas"); w.Code != 200 {
			t.Fatalf("after: got %d", w.Code)
		}
		if _, err := operator.Set(ctx, true, strings.Repeat("x", 501)); err == nil {
			t.Fatal("a 501-character message was accepted")
		}
	})
}

// TestKeep: with Keep running, another instance's switch reaches the
// cached state in the background. The clock here never moves, so no
// request would ever find the state old enough to re-read it itself.
func TestKeep(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		clk := &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
		served := maintenance.New(db, clk.Now, 100*time.Millisecond)
		operator := maintenance.New(db, clk.Now, 100*time.Millisecond)
		h := served.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }), maintenance.Options{})
		get := func() int {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/ideas", nil))
			return w.Code
		}
		if c := get(); c != 200 {
			t.Fatalf("before: got %d", c)
		}
		if _, err := operator.Set(ctx, true, ""); err != nil {
			t.Fatal(err)
		}
		if c := get(); c != 200 {
			t.Fatalf("without Keep and with a clock that stands still: got %d, want the cached 200", c)
		}
		go served.Keep(ctx)
		deadline := time.Now().Add(5 * time.Second)
		for get() != 503 {
			if time.Now().After(deadline) {
				t.Fatal("Keep did not bring the switch in within 5s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
