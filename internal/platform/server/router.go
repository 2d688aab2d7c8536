package server

import (
	"errors"
	"fmt"
	"mime"
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
	fail     func(http.ResponseWriter, *http.Request, error)
	patterns []string
}

// NewRouter returns a Router; notFound renders the HTML 404 page (nil: plain).
func NewRouter(notFound http.Handler) *Router {
	rt := &Router{mux: http.NewServeMux(), notFound: notFound}
	rt.mux.HandleFunc("/", rt.handleNotFound)
	return rt
}

// SetNotFound sets the handler for unmatched non-API paths.
func (rt *Router) SetNotFound(h http.Handler) { rt.notFound = h }

// SetFail sets how errors the router answers itself (input refused at
// the edge) are shown on pages: the product's styled error page. API paths
// (and requests that want JSON) always get httpapi's JSON.
func (rt *Router) SetFail(f func(http.ResponseWriter, *http.Request, error)) { rt.fail = f }

// Handle registers h for a ServeMux pattern such as "GET /api/ideas/{id}".
// Before h runs, every path value, query parameter and urlencoded form
// value is checked for bytes the databases refuse (a NUL, invalid UTF-8):
// such a request is answered 422 naming the fields, so no handler ever
// sends them to a store.
func (rt *Router) Handle(pattern string, h http.Handler) {
	names := wildcards(pattern)
	rt.patterns = append(rt.patterns, pattern)
	rt.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r.Context(), pattern)
		if err := CheckText(r, names); err != nil {
			rt.Fail(w, r, err)
			return
		}
		h.ServeHTTP(w, r)
	}))
}

// Patterns returns every registered route pattern, in registration order.
func (rt *Router) Patterns() []string { return append([]string(nil), rt.patterns...) }

// Fail answers err as JSON under /api/ (or when the client wants JSON) and
// with the page set by SetFail elsewhere.
func (rt *Router) Fail(w http.ResponseWriter, r *http.Request, err error) {
	if rt.fail == nil || strings.HasPrefix(r.URL.Path, "/api/") || wantsJSON(r) {
		httpapi.Error(w, r, err)
		return
	}
	rt.fail(w, r, err)
}

// Label records the route pattern that will serve r before next runs, so
// a request that middleware in front of the router answers (a session
// lookup on a database that is down, maintenance) is still counted under
// its route in the metrics and the access log, not as "unmatched".
func (rt *Router) Label(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := rt.mux.Handler(r); pattern != "" && pattern != "/" {
			SetRoute(r.Context(), pattern)
		}
		next.ServeHTTP(w, r)
	})
}

// wildcards lists the names of a pattern's wildcards ("{id}", "{path...}").
func wildcards(pattern string) []string {
	var names []string
	for {
		i := strings.IndexByte(pattern, '{')
		if i < 0 {
			return names
		}
		j := strings.IndexByte(pattern[i:], '}')
		if j < 0 {
			return names
		}
		name := strings.TrimSuffix(pattern[i+1:i+j], "...")
		if name != "$" {
			names = append(names, name)
		}
		pattern = pattern[i+j+1:]
	}
}

// CheckText refuses a request whose path values (the wildcards names),
// query parameters or urlencoded form values hold bytes a database cannot
// store; the error is apperr.InvalidText naming each field. Multipart
// bodies are left to their handler, which streams them.
func CheckText(r *http.Request, names []string) error {
	var bad map[string]string
	note := func(field, problem string) {
		if bad == nil {
			bad = map[string]string{}
		}
		bad[fieldName(field)] = problem
	}
	for _, n := range names {
		if p := apperr.TextProblem(r.PathValue(n)); p != "" {
			note(n, p)
		}
	}
	if r.URL.RawQuery != "" {
		checkValues(r.URL.Query(), note)
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch || r.Method == http.MethodDelete {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
			if err := r.ParseForm(); err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					return &apperr.Error{Kind: apperr.TooLarge, Message: fmt.Sprintf("The form is larger than the limit of %d bytes.", tooBig.Limit)}
				}
				return apperr.E(apperr.Invalid, "The form could not be read.")
			}
			checkValues(r.PostForm, note)
		}
	}
	if bad != nil {
		return apperr.InvalidText(bad)
	}
	return nil
}

func checkValues(v url.Values, note func(field, problem string)) {
	for k, vs := range v {
		if p := apperr.TextProblem(k); p != "" {
			note(k, "the parameter's name "+p)
			continue
		}
		for _, s := range vs {
			if p := apperr.TextProblem(s); p != "" {
				note(k, p)
				break
			}
		}
	}
}

// fieldName makes a field name safe to show and to encode.
func fieldName(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", `\0`), "\uFFFD")
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
