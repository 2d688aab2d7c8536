package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/chromedp/chromedp"

	platformweb "github.com/relaywork/suite/internal/platform/web"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
	"github.com/relaywork/suite/web"
)

// csp is the policy the servers send.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// builtAssets returns the embedded assets, skipping the test when they have
// not been built (failing it in CI).
func builtAssets(t *testing.T) *platformweb.Assets {
	t.Helper()
	a, err := platformweb.NewAssets(web.Dist())
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return a
}

func TestManifestNamesEveryBundle(t *testing.T) {
	a := builtAssets(t)
	for _, name := range []string{"coda/main.js", "coda/main.css", "coda/terminal.js", "coda/terminal.css", "voyager/main.js", "voyager/main.css"} {
		if _, ok := a.Lookup(name); !ok {
			t.Errorf("manifest has no %s", name)
		}
	}
}

var pages = fstest.MapFS{
	"home.html": {Data: []byte(`{{define "content"}}<h1>{{.Title}}</h1>
<div class="grid"><article class="card"><h2>A card</h2><p>With a fairly long line of text that must wrap on a narrow phone screen without scrolling sideways.</p><a class="btn" href="/">Open</a></article></div>
<form class="card"><div class="field"><label for="q">Search</label><input id="q" name="q"></div><button>Go</button></form>{{end}}`)},
	"terminal.html": {Data: []byte(`{{define "head"}}<link rel="stylesheet" href="{{asset "coda/terminal.css"}}">{{end}}
{{define "content"}}<h1>Terminal</h1><div id="terminal" class="terminal"></div>{{end}}
{{define "scripts"}}<script type="module" src="{{asset "coda/terminal.js"}}"></script>{{end}}`)},
}

// vitalsSink records the bodies POSTed to /api/vitals.
type vitalsSink struct {
	mu      sync.Mutex
	reports []string
}

func (v *vitalsSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	v.mu.Lock()
	v.reports = append(v.reports, string(body))
	v.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (v *vitalsSink) all() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.reports...)
}

// newSite serves the test pages of one product the way the servers do.
func newSite(t *testing.T, a *platformweb.Assets, product platformweb.Product, pageCSP string) (*httptest.Server, *vitalsSink) {
	t.Helper()
	r, err := platformweb.NewRenderer(platformweb.RendererOptions{
		Templates: pages,
		Assets:    a,
		Product:   product,
		Nav:       []platformweb.NavLink{{Label: "Home", Href: "/"}, {Label: "Terminal", Href: "/terminal"}, {Label: "About", Href: "/about"}},
		Vitals:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	sink := &vitalsSink{}
	mux := http.NewServeMux()
	mux.Handle("GET "+platformweb.AssetsPrefix, a.Handler())
	mux.Handle("POST /api/vitals", sink)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, req *http.Request) {
		r.Page(w, req, http.StatusOK, "home.html", platformweb.Page{Title: "Welcome"})
	})
	mux.HandleFunc("GET /terminal", func(w http.ResponseWriter, req *http.Request) {
		r.Page(w, req, http.StatusOK, "terminal.html", platformweb.Page{Title: "Terminal"})
	})
	mux.HandleFunc("GET /", r.NotFound)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Security-Policy", pageCSP)
		mux.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv, sink
}

var products = []platformweb.Product{
	{Name: "Coda", Tagline: "Ideas, shipped.", CSS: "coda/main.css", JS: "coda/main.js"},
	{Name: "Voyager", Tagline: "Career coaching that travels with you.", CSS: "voyager/main.css", JS: "voyager/main.js"},
}

// TestPagesInBrowser loads the layout with the real bundles under the CSP:
// the scripts run, the styles apply, nothing is blocked, the page fits a
// 360 px phone, and web vitals reach /api/vitals.
func TestPagesInBrowser(t *testing.T) {
	a := builtAssets(t)
	b := browsertest.New(t)
	for _, p := range products {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			srv, sink := newSite(t, a, p, csp)
			tab := b.Tab(t)
			tab.Navigate(srv.URL + "/")
			if !browsertest.Eval[bool](tab, `document.documentElement.classList.contains("js")`) {
				t.Error("main.js did not run: <html> has no class js")
			}
			if got := browsertest.Eval[string](tab, `getComputedStyle(document.querySelector(".brand-mark")).display`); got != "grid" && got != "inline-grid" {
				t.Errorf("base.css not applied: .brand-mark display is %q", got)
			}
			if got, want := tab.Text("h1"), "Welcome"; got != want {
				t.Errorf("h1: got %q, want %q", got, want)
			}

			if dir := os.Getenv("SCREENSHOTS"); dir != "" {
				tab.Screenshot(filepath.Join(dir, strings.ToLower(p.Name)+"-desktop.png"))
			}

			tab.Run(chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile))
			tab.Navigate(srv.URL + "/")
			if w := browsertest.Eval[int](tab, `document.documentElement.scrollWidth`); w > 360 {
				t.Errorf("page is %d px wide at a 360 px viewport, want no horizontal scroll", w)
			}
			if dir := os.Getenv("SCREENSHOTS"); dir != "" {
				tab.Screenshot(filepath.Join(dir, strings.ToLower(p.Name)+"-360.png"))
			}

			// Leaving the page hides it, which makes web-vitals report. The
			// browser logs the 404 status of the page it goes to.
			tab.AllowConsoleError("the server responded with a status of 404")
			tab.WaitLCP() // leaving before the first paint reports no LCP at all
			tab.Navigate(srv.URL + "/about")
			if got := tab.Text("h1"); got != "Page not found" {
				t.Errorf("404 page h1: got %q", got)
			}
			// The reporter may send several beacons (TTFB and FCP early, LCP and
			// CLS when the page is hidden): look at all of them for page /.
			names := map[string]bool{}
			var reports []string
			deadline := time.Now().Add(10 * time.Second)
			for !(names["LCP"] && names["CLS"]) && time.Now().Before(deadline) {
				reports = sink.all()
				for _, r := range reports {
					var rep struct {
						Page    string `json:"page"`
						Metrics []struct {
							Name  string  `json:"name"`
							Value float64 `json:"value"`
						} `json:"metrics"`
					}
					if err := json.Unmarshal([]byte(r), &rep); err != nil {
						t.Fatalf("vitals report %q: %v", r, err)
					}
					for _, m := range rep.Metrics {
						if rep.Page == "/" {
							names[m.Name] = true
						}
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
			if len(reports) == 0 {
				t.Fatal("no web vitals report reached /api/vitals")
			}
			if !names["LCP"] || !names["CLS"] {
				t.Errorf("vitals reports %v: want page / with LCP and CLS", reports)
			}
		})
	}
}

// terminalCSP is the policy the terminal page needs: xterm's DOM renderer
// writes <style> elements and style attributes (cell sizes, theme colours),
// which style-src 'self' blocks. Scripts stay strict.
const terminalCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// TestTerminalPage loads the xterm bundle and checks that it draws a terminal
// without errors under the terminal page's policy, and that the strict policy
// still breaks it (when that changes, the terminal page can drop
// 'unsafe-inline').
func TestTerminalPage(t *testing.T) {
	a := builtAssets(t)
	b := browsertest.New(t)
	for _, tt := range []struct {
		name   string
		csp    string
		strict bool
	}{
		{"terminal policy", terminalCSP, false},
		{"strict policy", csp, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newSite(t, a, products[0], tt.csp)
			tab := b.Tab(t)
			if tt.strict {
				tab.AllowConsoleError("violates the following Content Security Policy directive 'style-src 'self''")
			}
			tab.Navigate(srv.URL + "/terminal")
			tab.WaitVisible("#terminal .xterm-screen")
			if got := browsertest.Eval[string](tab, `document.querySelector("#terminal").dataset.ready || ""`); got != "true" {
				t.Errorf("terminal not constructed: data-ready = %q", got)
			}
			if tt.strict && len(tab.ConsoleErrors()) == 0 {
				t.Log("xterm no longer needs inline styles: the terminal page can use the strict CSP")
			}
		})
	}
}
