package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
)

// AssetsPrefix is the URL path under which Assets.Handler serves the bundles.
const AssetsPrefix = "/assets/"

// ManifestFile is the name of the manifest that tools/assets writes at the
// root of the built assets.
const ManifestFile = "manifest.json"

// Assets serves the content-hashed bundles that tools/assets builds and maps
// their logical names ("coda/main.js") to URLs. It is safe for concurrent use.
type Assets struct {
	fsys     fs.FS
	manifest map[string]string // logical name → path relative to the FS root
}

// NewAssets reads manifest.json at the root of fsys (web.Dist() in the
// binaries) and checks that every file it names exists.
func NewAssets(fsys fs.FS) (*Assets, error) {
	data, err := fs.ReadFile(fsys, ManifestFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errors.New("assets not built: run `make assets` (go run ./tools/assets) before building the binary")
	}
	if err != nil {
		return nil, fmt.Errorf("read asset manifest: %w", err)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse asset manifest: %w", err)
	}
	for name, p := range m {
		if !fs.ValidPath(p) {
			return nil, fmt.Errorf("asset manifest: %s maps to invalid path %q", name, p)
		}
		if _, err := fs.Stat(fsys, p); err != nil {
			return nil, fmt.Errorf("asset manifest: %s: %w", name, err)
		}
	}
	return &Assets{fsys: fsys, manifest: m}, nil
}

// Lookup returns the URL of the asset with the logical name, such as
// "coda/main.js", and whether the manifest has it.
func (a *Assets) Lookup(name string) (string, bool) {
	p, ok := a.manifest[name]
	if !ok {
		return "", false
	}
	return AssetsPrefix + p, true
}

// URL returns the URL of the asset with the logical name, or "" when the
// manifest has no such name. Templates use the func "asset", which fails
// the render instead.
func (a *Assets) URL(name string) string {
	u, _ := a.Lookup(name)
	return u
}

// assetFunc is the template func "asset".
func (a *Assets) assetFunc(name string) (string, error) {
	u, ok := a.Lookup(name)
	if !ok {
		return "", fmt.Errorf("asset %q is not in the manifest", name)
	}
	return u, nil
}

// hashed matches the names esbuild gives outputs: "name-HASH.ext", where the
// hash is eight characters of base32.
var hashed = regexp.MustCompile(`-[A-Z2-7]{8}\.[a-z0-9]+$`)

// Handler serves the files of the FS under AssetsPrefix. Content-hashed files
// are cached for a year as immutable; anything else is revalidated. The
// manifest, dot files and directories are not served: they answer 404.
// Mount it as mux.Handle("GET "+web.AssetsPrefix, assets.Handler()).
func (a *Assets) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, AssetsPrefix)
		if !ok || !fs.ValidPath(name) || name == ManifestFile || hidden(name) {
			http.NotFound(w, r)
			return
		}
		f, err := a.fsys.Open(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}

		h := w.Header()
		h.Set("Content-Type", contentType(name))
		h.Set("X-Content-Type-Options", "nosniff")
		if hashed.MatchString(name) {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
			// The name changes with the content, so it is a strong validator.
			h.Set("ETag", `"`+path.Base(name)+`"`)
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		if rs, ok := f.(io.ReadSeeker); ok {
			http.ServeContent(w, r, "", st.ModTime(), rs)
			return
		}
		data, err := io.ReadAll(f)
		if err != nil {
			http.Error(w, "read asset", http.StatusInternalServerError)
			return
		}
		http.ServeContent(w, r, "", st.ModTime(), bytes.NewReader(data))
	})
}

// hidden reports whether any element of the slash-separated path starts
// with a dot, like .keep.
func hidden(name string) bool {
	for el := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(el, ".") {
			return true
		}
	}
	return false
}

// contentType names the common asset types explicitly, so the answer does
// not depend on the host's MIME tables.
func contentType(name string) string {
	switch ext := path.Ext(name); ext {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".json", ".map":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".webp":
		return "image/webp"
	case ".ico":
		return "image/x-icon"
	case ".woff2":
		return "font/woff2"
	case ".woff":
		return "font/woff"
	case ".txt":
		return "text/plain; charset=utf-8"
	default:
		if t := mime.TypeByExtension(ext); t != "" {
			return t
		}
		return "application/octet-stream"
	}
}
