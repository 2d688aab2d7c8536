package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

// testDist is a built-assets FS like the one tools/assets writes.
func testDist() fstest.MapFS {
	return fstest.MapFS{
		"manifest.json": {Data: []byte(`{
			"coda/main.js": "coda/main-ABCDEFGH.js",
			"coda/main.css": "coda/main-QRSTUVWX.css"
		}`)},
		"coda/main-ABCDEFGH.js":  {Data: []byte("console.log(1)")},
		"coda/main-QRSTUVWX.css": {Data: []byte("body{}")},
		"coda/logo.svg":          {Data: []byte("<svg/>")},
		".keep":                  {Data: nil},
	}
}

func mustAssets(t *testing.T) *Assets {
	t.Helper()
	a, err := NewAssets(testDist())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNewAssetsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"no manifest", fstest.MapFS{"coda/main.js": {}}, "assets not built: run `make assets`"},
		{"bad json", fstest.MapFS{"manifest.json": {Data: []byte("{")}}, "parse asset manifest"},
		{"missing file", fstest.MapFS{"manifest.json": {Data: []byte(`{"a.js":"a-ABCDEFGH.js"}`)}}, "a.js"},
		{"escaping path", fstest.MapFS{"manifest.json": {Data: []byte(`{"a.js":"../a.js"}`)}}, "invalid path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewAssets(tt.fsys)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestAssetsURL(t *testing.T) {
	t.Parallel()
	a := mustAssets(t)
	if got, want := a.URL("coda/main.js"), "/assets/coda/main-ABCDEFGH.js"; got != want {
		t.Errorf("URL(coda/main.js) = %q, want %q", got, want)
	}
	if got := a.URL("nope.js"); got != "" {
		t.Errorf("URL(nope.js) = %q, want \"\"", got)
	}
	if _, ok := a.Lookup("nope.js"); ok {
		t.Error("Lookup(nope.js) reported ok")
	}
}

func TestAssetsHandler(t *testing.T) {
	t.Parallel()
	h := mustAssets(t).Handler()
	tests := []struct {
		name, method, path string
		header             map[string]string
		status             int
		contentType, cache string
		body               string
	}{
		{name: "hashed js", path: "/assets/coda/main-ABCDEFGH.js", status: 200,
			contentType: "text/javascript; charset=utf-8", cache: "public, max-age=31536000, immutable", body: "console.log(1)"},
		{name: "hashed css", path: "/assets/coda/main-QRSTUVWX.css", status: 200,
			contentType: "text/css; charset=utf-8", cache: "public, max-age=31536000, immutable", body: "body{}"},
		{name: "head", method: http.MethodHead, path: "/assets/coda/main-ABCDEFGH.js", status: 200,
			contentType: "text/javascript; charset=utf-8", cache: "public, max-age=31536000, immutable"},
		{name: "unhashed file is revalidated", path: "/assets/coda/logo.svg", status: 200,
			contentType: "image/svg+xml", cache: "no-cache", body: "<svg/>"},
		{name: "revalidation", path: "/assets/coda/main-ABCDEFGH.js", header: map[string]string{"If-None-Match": `"main-ABCDEFGH.js"`}, status: 304},
		{name: "unknown", path: "/assets/coda/nope-ABCDEFGH.js", status: 404},
		{name: "manifest", path: "/assets/manifest.json", status: 404},
		{name: "dot file", path: "/assets/.keep", status: 404},
		{name: "directory", path: "/assets/coda", status: 404},
		{name: "directory slash", path: "/assets/coda/", status: 404},
		{name: "root", path: "/assets/", status: 404},
		{name: "dot dot", path: "/assets/coda/../manifest.json", status: 404},
		{name: "outside prefix", path: "/coda/main-ABCDEFGH.js", status: 404},
		{name: "post", method: http.MethodPost, path: "/assets/coda/main-ABCDEFGH.js", status: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, "/", nil)
			req.URL.Path = tt.path // keep dot segments as a raw client could send them
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status: got %d, want %d", rec.Code, tt.status)
			}
			if tt.contentType != "" {
				if got := rec.Header().Get("Content-Type"); got != tt.contentType {
					t.Errorf("Content-Type: got %q, want %q", got, tt.contentType)
				}
			}
			if tt.cache != "" {
				if got := rec.Header().Get("Cache-Control"); got != tt.cache {
					t.Errorf("Cache-Control: got %q, want %q", got, tt.cache)
				}
			}
			if tt.body != "" {
				if got := rec.Body.String(); got != tt.body {
					t.Errorf("body: got %q, want %q", got, tt.body)
				}
			}
		})
	}
}
