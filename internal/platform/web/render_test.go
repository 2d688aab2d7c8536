package web

import (
	"bytes"
	"context"
	"flag"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/relaywork/suite/internal/platform/obs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testPages is a product template FS.
func testPages() fstest.MapFS {
	return fstest.MapFS{
		"home.html": {Data: []byte(`{{define "content"}}<h1>{{.Title}}</h1>{{template "greeting" .}}{{end}}`)},
		"ideas/show.html": {Data: []byte(`{{define "title"}}Idea {{.Data.Name}}{{end}}
{{define "head"}}<link rel="stylesheet" href="{{asset "coda/main.css"}}">{{end}}
{{define "content"}}<h1>{{.Data.Name}}</h1><p>{{shout .Data.Name}}</p>{{end}}
{{define "scripts"}}<script type="module" src="{{asset "coda/main.js"}}"></script>{{end}}`)},
		"broken.html":          {Data: []byte(`{{define "content"}}<p>before</p>{{asset "nope.js"}}{{end}}`)},
		"raw.html":             {Data: []byte(`{{define "content"}}<p>{{.Data}}</p>{{end}}`)},
		"partials/common.html": {Data: []byte(`{{define "greeting"}}<p>Hello{{with .User}}, {{.}}{{end}}</p>{{end}}`)},
		"README.md":            {Data: []byte("not a template")},
	}
}

var testProduct = Product{Name: "Coda", Tagline: "Ideas, shipped.", Home: "/", CSS: "coda/main.css", JS: "coda/main.js"}

func newTestRenderer(t *testing.T, mod func(*RendererOptions)) *Renderer {
	t.Helper()
	o := RendererOptions{
		Templates: testPages(),
		Assets:    mustAssets(t),
		Product:   testProduct,
		Nav:       []NavLink{{Label: "Ideas", Href: "/ideas"}, {Label: "About", Href: "/about"}},
		Funcs:     template.FuncMap{"shout": strings.ToUpper},
	}
	if mod != nil {
		mod(&o)
	}
	r, err := NewRenderer(o)
	if err != nil {
		t.Fatalf("NewRenderer: %v", err)
	}
	return r
}

// render runs r.Page and returns the recorder; the request context carries a
// logger writing to logs.
func render(t *testing.T, r *Renderer, path, name string, status int, data any) (*httptest.ResponseRecorder, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req = req.WithContext(obs.WithLogger(context.Background(), slog.New(slog.NewTextHandler(&logs, nil))))
	rec := httptest.NewRecorder()
	r.Page(rec, req, status, name, data)
	return rec, &logs
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test -update to accept):\n%s", p, got)
	}
}

// assertCSPSafe fails when the HTML has an inline script, an event handler
// attribute or inline CSS, which the pages' CSP would block.
func assertCSPSafe(t *testing.T, html string) {
	t.Helper()
	for _, m := range regexp.MustCompile(`<script\b([^>]*)>([\s\S]*?)</script>`).FindAllStringSubmatch(html, -1) {
		if !strings.Contains(m[1], " src=") || strings.TrimSpace(m[2]) != "" {
			t.Errorf("CSP would block the inline script %q", m[0])
		}
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
		regexp.MustCompile(`<style\b`),
	} {
		for _, m := range re.FindAllString(html, -1) {
			t.Errorf("CSP would block %q", m)
		}
	}
}

func TestPageGolden(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t, nil)
	rec, logs := render(t, r, "/ideas/42", "ideas/show.html", http.StatusOK, Page{
		Data:        struct{ Name string }{"Rocket <fuel>"},
		User:        "ada@example.com",
		Toasts:      []Toast{{Kind: "ok", Text: "Saved."}},
		Stylesheets: []string{"/c/acme/brand.css"},
		Nav:         []NavLink{{Label: "Ideas", Href: "/ideas"}, {Label: "This idea", Href: "/ideas/42"}},
	})
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200; logs: %s", rec.Code, logs)
	}
	if got, want := rec.Header().Get("Content-Type"), "text/html; charset=utf-8"; got != want {
		t.Errorf("Content-Type: got %q, want %q", got, want)
	}
	golden(t, "show.golden.html", rec.Body.String())
	assertCSPSafe(t, rec.Body.String())
}

func TestPageDefaults(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t, func(o *RendererOptions) { o.Vitals = true })
	rec, logs := render(t, r, "/about", "home.html", http.StatusOK, Page{Title: "Welcome"})
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200; logs: %s", rec.Code, logs)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`<html lang="en">`,
		`<title>Welcome · Coda</title>`,
		`<meta name="description" content="Ideas, shipped.">`,
		`<link rel="stylesheet" href="/assets/coda/main-QRSTUVWX.css">`,
		`<script type="module" src="/assets/coda/main-ABCDEFGH.js" defer></script>`,
		`<body data-vitals="on">`,
		`<a class="skip-link" href="#main">Skip to content</a>`,
		`<nav class="site-nav" aria-label="Main">`,
		`<a href="/about" aria-current="page">About</a>`,
		`<a href="/ideas">Ideas</a>`,
		`<main id="main" tabindex="-1">`,
		`<footer class="site-footer">`,
		`<h1>Welcome</h1><p>Hello</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s\n%s", want, body)
		}
	}
	assertCSPSafe(t, body)
}

func TestPageWrapsData(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t, nil)
	rec, _ := render(t, r, "/", "raw.html", http.StatusAccepted, "<b>plain</b>")
	if rec.Code != http.StatusAccepted {
		t.Errorf("status: got %d, want %d", rec.Code, http.StatusAccepted)
	}
	if !strings.Contains(rec.Body.String(), "<p>&lt;b&gt;plain&lt;/b&gt;</p>") {
		t.Errorf("data not escaped into the page:\n%s", rec.Body.String())
	}
}

func TestPreparePage(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t, func(o *RendererOptions) {
		o.Prepare = func(req *http.Request, p *Page) {
			p.User = "grace@example.com"
			p.CSPNonce = "n0nce"
		}
	})
	rec, _ := render(t, r, "/", "home.html", http.StatusOK, nil)
	body := rec.Body.String()
	for _, want := range []string{"<p>Hello, grace@example.com</p>", `nonce="n0nce"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s\n%s", want, body)
		}
	}
}

func TestPageErrorsArePlain500(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t, nil)
	tests := []struct{ name, page, log string }{
		{"template error", "broken.html", `nope.js`},
		{"unknown page", "missing.html", "no such page template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, logs := render(t, r, "/", tt.page, http.StatusOK, nil)
			if rec.Code != http.StatusInternalServerError {
				t.Errorf("status: got %d, want 500", rec.Code)
			}
			if got := rec.Body.String(); got != plainPage {
				t.Errorf("body: got %q, want the plain page", got)
			}
			if !strings.Contains(logs.String(), "render page") || !strings.Contains(logs.String(), tt.log) {
				t.Errorf("log: got %q, want the render error with %q", logs, tt.log)
			}
		})
	}
}

func TestErrorPages(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t, nil)
	tests := []struct {
		name    string
		call    func(http.ResponseWriter, *http.Request)
		status  int
		heading string
	}{
		{"not found", r.NotFound, 404, "Page not found"},
		{"server error", r.ServerError, 500, "Something went wrong"},
		{"rate limited", func(w http.ResponseWriter, req *http.Request) { r.Error(w, req, 429) }, 429, "Slow down"},
		{"unlisted 5xx", func(w http.ResponseWriter, req *http.Request) { r.Error(w, req, 502) }, 502, "Something went wrong"},
		{"unlisted 4xx", func(w http.ResponseWriter, req *http.Request) { r.Error(w, req, 410) }, 410, "Gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			tt.call(rec, httptest.NewRequest(http.MethodGet, "/nowhere", nil))
			if rec.Code != tt.status {
				t.Errorf("status: got %d, want %d", rec.Code, tt.status)
			}
			body := rec.Body.String()
			for _, want := range []string{
				"<title>" + tt.heading + " · Coda</title>",
				`<h1 id="error-title">` + tt.heading + "</h1>",
				`<nav class="site-nav" aria-label="Main">`,
				`href="/assets/coda/main-QRSTUVWX.css"`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %s\n%s", want, body)
				}
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control: got %q, want no-store", got)
			}
			assertCSPSafe(t, body)
		})
	}
}

func TestProductOverrides(t *testing.T) {
	t.Parallel()
	pages := testPages()
	pages["error.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}<p>custom {{.Data.Status}}</p>{{end}}`)}
	pages["layout.html"] = &fstest.MapFile{Data: []byte(`<main>{{block "content" .}}{{end}}</main>`)}
	r := newTestRenderer(t, func(o *RendererOptions) { o.Templates = pages })
	rec := httptest.NewRecorder()
	r.NotFound(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	if got, want := rec.Body.String(), "<main><p>custom 404</p></main>"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRendererWithoutTemplates(t *testing.T) {
	t.Parallel()
	r, err := NewRenderer(RendererOptions{Product: Product{Name: "Bare"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Pages(), []string{"error.html"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Pages() = %v, want %v", got, want)
	}
	rec := httptest.NewRecorder()
	r.NotFound(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "Page not found") {
		t.Errorf("got %d %q, want the 404 page", rec.Code, rec.Body.String())
	}
}

func TestNewRendererErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    RendererOptions
		want string
	}{
		{"product css not built", RendererOptions{Assets: mustAssets(t), Product: Product{CSS: "voyager/main.css"}}, "not in the asset manifest"},
		{"no assets", RendererOptions{Product: Product{JS: "coda/main.js"}}, "needs RendererOptions.Assets"},
		{"bad page", RendererOptions{Templates: fstest.MapFS{"x.html": {Data: []byte("{{if}}")}}}, "parse template"},
		{"unknown func", RendererOptions{Templates: fstest.MapFS{"x.html": {Data: []byte("{{nofunc}}")}}}, "nofunc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewRenderer(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestPagesListed(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t, nil)
	got := strings.Join(r.Pages(), ",")
	if want := "broken.html,error.html,home.html,ideas/show.html,raw.html"; got != want {
		t.Errorf("Pages() = %s, want %s", got, want)
	}
}
