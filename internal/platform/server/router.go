package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
)

// Router is an http.ServeMux that records each matched route pattern (for
// logs and metrics) and answers unmatched paths with JSON under /api/ and
// the product's HTML page elsewhere.
type Router struct {
	mux      *http.ServeMux
	notFound http.Handler
}

// NewRouter returns a Router; notFound renders the HTML 404 page (nil: plain).
func NewRouter(notFound http.Handler) *Router {
	rt := &Router{mux: http.NewServeMux(), notFound: notFound}
	rt.mux.HandleFunc("/", rt.handleNotFound)
	return rt
}

// SetNotFound sets the handler for unmatched non-API paths.
func (rt *Router) SetNotFound(h http.Handler) { rt.notFound = h }

// Handle registers h for a ServeMux pattern such as "GET /api/ideas/{id}".
func (rt *Router) Handle(pattern string, h http.Handler) {
	rt.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r.Context(), pattern)
		h.ServeHTTP(w, r)
	}))
}

// HandleFunc registers a handler function.
func (rt *Router) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	rt.Handle(pattern, http.HandlerFunc(h))
}

// PagePattern returns the pattern of the GET route that serves path,
// without its method ("/ideas/{id}"), or "" when only the not-found page
// would. Web vitals are labelled with it, so no page's own path (with its
// IDs) is kept.
func (rt *Router) PagePattern(path string) string {
	_, pat := rt.mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}})
	if pat == "" || pat == "/" {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(pat, "GET "), "{$}")
}

// ServeHTTP dispatches to the matching route.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.mux.ServeHTTP(w, r) }

func (rt *Router) handleNotFound(w http.ResponseWriter, r *http.Request) {
	SetRoute(r.Context(), "not_found")
	if strings.HasPrefix(r.URL.Path, "/api/") || rt.notFound == nil || wantsJSON(r) {
		httpapi.Error(w, r, apperr.E(apperr.NotFound, "No route matches %s %s.", r.Method, r.URL.Path))
		return
	}
	rt.notFound.ServeHTTP(w, r)
}

func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}
