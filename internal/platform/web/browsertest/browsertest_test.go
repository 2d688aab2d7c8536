package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// csp is the policy the servers send.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// recorder is a testing.TB that records errors instead of failing, so a test
// can assert that the harness reported a problem. Cleanups are kept to be run
// by the test; everything else goes to the real test.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	errors   []string
	cleanups []func()
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// end runs the cleanups, last first, as the testing package does, and
// returns the recorded errors.
func (r *recorder) end() []string {
	r.mu.Lock()
	cleanups := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for _, f := range slices.Backward(cleanups) {
		f()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errors
}

// newServer serves pages under the strict CSP, plus /app.js.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", csp)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>t</title><link rel="icon" href="data:,">
<script type="module" src="/app.js"></script></head><body>%s</body></html>`, body)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `document.documentElement.classList.add("js");
const b = document.querySelector("#go");
if (b) b.addEventListener("click", () => {
  document.querySelector("#out").textContent = "hello " + document.querySelector("#name").value;
});
if (document.body.dataset.fail === "console") console.error("boom", 42);
if (document.body.dataset.fail === "throw") throw new Error("kaput");
`)
	})
	mux.Handle("GET /clean", page(`<h1>Clean</h1><label for="name">Name</label><input id="name"><button id="go">Go</button><p id="out"></p>`))
	mux.Handle("GET /inline-script", page(`<h1>Inline</h1><script>document.title = "ran"</script>`))
	mux.Handle("GET /inline-style", page(`<h1 style="color: red">Styled</h1>`))
	mux.Handle("GET /console", page(`<h1 data-x>Console</h1><div id="f"></div>`))
	mux.HandleFunc("GET /console-error", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		fmt.Fprint(w, `<!doctype html><html><head><link rel="icon" href="data:,"><script type="module" src="/app.js"></script></head><body data-fail="console"></body></html>`)
	})
	mux.HandleFunc("GET /exception", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		fmt.Fprint(w, `<!doctype html><html><head><link rel="icon" href="data:,"><script type="module" src="/app.js"></script></head><body data-fail="throw"></body></html>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestBrowser(t *testing.T) {
	srv := newServer(t)
	b := New(t)

	t.Run("helpers", func(t *testing.T) {
		tab := b.Tab(t)
		tab.Navigate(srv.URL + "/clean")
		tab.WaitVisible("#go")
		tab.Type("#name", "Ada")
		tab.Click("#go")
		if got, want := tab.Text("#out"), "hello Ada"; got != want {
			t.Errorf("Text(#out): got %q, want %q", got, want)
		}
		if got := Eval[bool](tab, `document.documentElement.classList.contains("js")`); !got {
			t.Error("the module script did not run")
		}
		shot := filepath.Join(t.TempDir(), "shots", "clean.png")
		tab.Screenshot(shot)
		data, err := os.ReadFile(shot)
		if err != nil || !strings.HasPrefix(string(data), "\x89PNG") {
			t.Errorf("screenshot: got %d bytes, err %v; want a PNG", len(data), err)
		}
	})

	tests := []struct {
		name  string
		path  string
		allow string
		want  []string // substrings of the reported failure; none for a clean page
	}{
		{name: "clean page passes", path: "/clean"},
		{name: "inline script is a CSP violation", path: "/inline-script", want: []string{"inline script", "Content Security Policy", "script-src 'self'"}},
		{name: "inline style is a CSP violation", path: "/inline-style", want: []string{"inline style", "Content Security Policy"}},
		{name: "console.error fails", path: "/console-error", want: []string{"console.error: boom 42", "/app.js"}},
		{name: "uncaught exception fails", path: "/exception", want: []string{"exception: Uncaught", "Error: kaput"}},
		{name: "allowed error passes", path: "/console-error", allow: "boom"},
		{name: "missing resource fails", path: "/nope", want: []string{"404"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{TB: t}
			tab := b.Tab(rec)
			if tt.allow != "" {
				tab.AllowConsoleError(tt.allow)
			}
			tab.Navigate(srv.URL + tt.path)
			errs := rec.end()
			t.Logf("reported: %q", errs)
			if len(tt.want) == 0 {
				if len(errs) != 0 {
					t.Fatalf("got failures %q, want none", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("got %d failures %q, want 1", len(errs), errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs[0], w) {
					t.Errorf("failure %q does not mention %q", errs[0], w)
				}
			}
		})
	}
}
