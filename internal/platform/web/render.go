// Package web renders HTML pages and serves the built front-end assets. It
// knows nothing about the products: a product passes its templates, its
// Product description and its navigation, and gets pages in the shared layout.
//
// # Templates
//
// The platform embeds templates/layout.html, the base layout, and
// templates/error.html, the error page. A product's template FS holds its
// pages: every *.html file except layout.html, error.html and the files under
// partials/. A page is named by its path in the FS ("home.html",
// "ideas/show.html") and defines the blocks the layout leaves open:
//
//	{{define "title"}}…{{end}}    the whole <title> (default: "Page.Title · Product.Name")
//	{{define "head"}}…{{end}}     extra <link> elements (e.g. a page stylesheet)
//	{{define "content"}}…{{end}}  the inside of <main>
//	{{define "scripts"}}…{{end}}  extra <script type="module" src=…> elements
//	{{define "logo"}}…{{end}}, {{define "account"}}…{{end}}, {{define "footer"}}…{{end}}
//
// Files under partials/ are parsed into every page, for shared {{define}}s.
// A product's own layout.html or error.html replaces the platform's.
//
// The dot in every template is a *Page. Templates have the func "asset",
// which maps a manifest name ("coda/terminal.css") to its URL and fails the
// render for an unknown name, and "initial", the first letter of a string,
// plus RendererOptions.Funcs.
//
// Pages run under a strict Content-Security-Policy (script-src 'self';
// style-src 'self'), so templates must not contain inline scripts, event
// handler attributes or style attributes.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/obs"
)

//go:embed templates
var platformTemplates embed.FS

const (
	layoutName = "layout.html"
	errorName  = "error.html"
	partials   = "partials/"
)

// Product describes the product whose pages a Renderer draws.
type Product struct {
	Name    string // shown in the header, the footer and every <title>
	Tagline string // the footer line and the default meta description
	Home    string // the URL the brand links to; "/" when empty
	CSS     string // the manifest name of the product stylesheet, e.g. "coda/main.css"
	JS      string // the manifest name of the product script, e.g. "coda/main.js"
	Icon    string // the favicon URL; when empty the layout links an empty icon, so browsers do not request /favicon.ico
	Logo    string // the logo URL shown in the header instead of the initial; a logo that fails to load falls back to it
}

// NavLink is one link of the main navigation.
type NavLink struct {
	Label string
	Href  string
	// Current marks the link as the current page (aria-current="page"). The
	// renderer sets it when Href equals the request path.
	Current bool
}

// Toast is a short message shown in the page's live region.
type Toast struct {
	Kind string // "info", "ok", "warn" or "error"; selects the style
	Text string
}

// Page is the dot of every template. A handler passes one (or a *Page) to
// Renderer.Page; any other value is wrapped as Page{Data: value}. The
// renderer fills what is left empty: Product, Nav and Vitals from the
// RendererOptions, Lang "en", Description from Product.Tagline.
type Page struct {
	Title       string    // the page title; the layout appends " · Product.Name"
	Description string    // <meta name="description">
	Lang        string    // <html lang>; "en" when empty
	Product     Product   // the product; RendererOptions.Product when zero
	Nav         []NavLink // the main navigation; RendererOptions.Nav when nil
	User        any       // the signed-in user, or nil; set by the handler or Prepare
	Data        any       // the page's own data
	Toasts      []Toast   // messages for the live region
	Stylesheets []string  // extra stylesheet URLs linked after the product CSS (e.g. a community brand)
	Vitals      bool      // adds <body data-vitals="on">, which makes the scripts report web vitals
	CSPNonce    string    // the request's CSP nonce, if the server uses one; added to the layout's <script>
	SignInURL   string    // where the header's "Sign in" goes; "/signin" when empty (a custom domain signs in elsewhere)
	Build       string    // the running build's version, shown in the default footer when set (the platform sets it for admins)
	Bare        bool      // no account menu or sign-in link: a page for a host that serves nothing
}

// ErrorInfo is the Data of the error page.
type ErrorInfo struct {
	Status  int
	Heading string
	Message string
	// Links replace the page's "Go to the home page" button; an empty,
	// non-nil slice shows none (a home page that would fail too).
	Links []NavLink
}

// RendererOptions configures NewRenderer.
type RendererOptions struct {
	// Templates holds the product's pages (see the package comment), rooted
	// at the folder that holds them (use fs.Sub on an embed.FS). It may be
	// nil for a renderer that draws only error pages.
	Templates fs.FS
	// Assets maps manifest names to URLs for the func "asset". When nil, no
	// asset exists and Product.CSS and Product.JS must be empty.
	Assets *Assets
	// Product is the default Page.Product; its Name is the site name.
	Product Product
	// Nav is the default Page.Nav.
	Nav []NavLink
	// Vitals turns Page.Vitals on for every page.
	Vitals bool
	// Prepare, if set, is called with every Page before it is rendered,
	// error pages included, to fill request-scoped fields such as User,
	// Nav or CSPNonce. It runs before the defaults are applied.
	Prepare func(req *http.Request, p *Page)
	// Funcs are added to the template funcs; a name here replaces a
	// built-in one.
	Funcs template.FuncMap
}

// Renderer renders pages into the shared layout. It is safe for concurrent
// use.
type Renderer struct {
	pages   map[string]*template.Template
	product Product
	nav     []NavLink
	vitals  bool
	prepare func(*http.Request, *Page)
	bufs    sync.Pool
}

// NewRenderer parses the layout, the partials and every page. It fails on a
// template error or when Product.CSS or Product.JS is not in the manifest, so
// a broken build stops at start-up and not at the first request.
func NewRenderer(o RendererOptions) (*Renderer, error) {
	for _, name := range []string{o.Product.CSS, o.Product.JS} {
		if name == "" {
			continue
		}
		if o.Assets == nil {
			return nil, fmt.Errorf("web: product asset %q needs RendererOptions.Assets", name)
		}
		if _, ok := o.Assets.Lookup(name); !ok {
			return nil, fmt.Errorf("web: product asset %q is not in the asset manifest", name)
		}
	}

	platform, err := fs.Sub(platformTemplates, "templates")
	if err != nil {
		return nil, err
	}
	// sources lists where a template is looked up, the product first.
	sources := []fs.FS{platform}
	product := o.Templates
	if product != nil {
		sources = []fs.FS{product, platform}
	}

	funcs := template.FuncMap{
		"asset": func(name string) (string, error) {
			if o.Assets == nil {
				return "", fmt.Errorf("asset %q: renderer has no assets", name)
			}
			return o.Assets.assetFunc(name)
		},
		"initial": initial,
	}
	maps.Copy(funcs, o.Funcs)

	// The root has its own name: a template that New replaces under the
	// root's name loses the funcs in Clone.
	base := template.New("").Funcs(funcs)
	if err := parseFile(base, layoutName, sources...); err != nil {
		return nil, err
	}
	var pageFiles []string
	if product != nil {
		err = fs.WalkDir(product, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || path.Ext(p) != ".html" || p == layoutName {
				return nil
			}
			if strings.HasPrefix(p, partials) {
				return parseInto(base, p, product)
			}
			if p != errorName {
				pageFiles = append(pageFiles, p)
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("web: read templates: %w", err)
	}

	r := &Renderer{
		pages:   map[string]*template.Template{},
		product: o.Product,
		nav:     o.Nav,
		vitals:  o.Vitals,
		prepare: o.Prepare,
	}
	r.bufs.New = func() any { return new(bytes.Buffer) }

	add := func(name string, fsyss ...fs.FS) error {
		t, err := base.Clone()
		if err != nil {
			return err
		}
		if err := parseFile(t, name, fsyss...); err != nil {
			return err
		}
		r.pages[name] = t
		return nil
	}
	if err := add(errorName, sources...); err != nil {
		return nil, err
	}
	for _, p := range pageFiles {
		if err := add(p, product); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// parseFile parses the file name from the first FS that has it, as a
// template of that name in t.
func parseFile(t *template.Template, name string, fsyss ...fs.FS) error {
	for _, fsys := range fsyss {
		err := parseInto(t, name, fsys)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return err
	}
	return fmt.Errorf("web: template %s: %w", name, fs.ErrNotExist)
}

func parseInto(t *template.Template, name string, fsys fs.FS) error {
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		return err
	}
	if _, err := t.New(name).Parse(string(src)); err != nil {
		return fmt.Errorf("web: parse template: %w", err)
	}
	return nil
}

// Pages returns the names of the pages the renderer can draw, sorted.
func (r *Renderer) Pages() []string {
	names := make([]string, 0, len(r.pages))
	for n := range r.pages {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Page renders the page template name ("home.html") with data into the layout
// and writes it with the status. The page is rendered into a buffer first: if
// rendering fails, the error is logged with the request's logger and the
// client gets a plain 500 page, never half a page.
func (r *Renderer) Page(w http.ResponseWriter, req *http.Request, status int, name string, data any) {
	t, ok := r.pages[name]
	if !ok {
		obs.Logger(req.Context()).Error("render page", "page", name, "err", "no such page template")
		plainError(w)
		return
	}
	p := r.page(req, data)

	buf := r.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 {
			r.bufs.Put(buf)
		}
	}()
	if err := t.ExecuteTemplate(buf, layoutName, p); err != nil {
		obs.Logger(req.Context()).Error("render page", "page", name, "err", err)
		plainError(w)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// page builds the dot for a render from the handler's data.
func (r *Renderer) page(req *http.Request, data any) *Page {
	var p Page
	switch d := data.(type) {
	case Page:
		p = d
	case *Page:
		if d != nil {
			p = *d
		}
	default:
		p.Data = data
	}
	if r.prepare != nil {
		r.prepare(req, &p)
	}
	if p.Product == (Product{}) {
		p.Product = r.product
	}
	if p.Nav == nil {
		p.Nav = r.nav
	}
	if p.Lang == "" {
		p.Lang = "en"
	}
	if p.Description == "" {
		p.Description = p.Product.Tagline
	}
	p.Vitals = p.Vitals || r.vitals
	// Mark the current link on a copy: the slice may be shared.
	nav := make([]NavLink, len(p.Nav))
	for i, l := range p.Nav {
		l.Current = l.Current || l.Href == req.URL.Path
		nav[i] = l
	}
	p.Nav = nav
	return &p
}

// errorTexts are the heading and message of the error page by status.
var errorTexts = map[int][2]string{
	http.StatusBadRequest:          {"Bad request", "The request could not be understood. Check the address or the form and try again."},
	http.StatusUnauthorized:        {"Sign in required", "Please sign in to see this page."},
	http.StatusForbidden:           {"Not allowed", "You do not have access to this page."},
	http.StatusNotFound:            {"Page not found", "The page you asked for does not exist or has moved."},
	http.StatusMethodNotAllowed:    {"Not allowed", "This page does not accept that kind of request."},
	http.StatusTooManyRequests:     {"Slow down", "Too many requests in a short time. Please wait a moment and try again."},
	http.StatusInternalServerError: {"Something went wrong", "We could not show this page. Please try again in a moment."},
	http.StatusServiceUnavailable:  {"Temporarily unavailable", "The service is briefly unavailable. Please try again in a moment."},
}

// Error renders the styled error page for the status, with a standard
// heading and message. It does not log: the caller's error mapping does.
func (r *Renderer) Error(w http.ResponseWriter, req *http.Request, status int) {
	texts, ok := errorTexts[status]
	if !ok {
		texts = [2]string{http.StatusText(status), "The request could not be completed."}
		if status >= 500 {
			texts = errorTexts[http.StatusInternalServerError]
		}
	}
	r.ErrorPage(w, req, ErrorInfo{Status: status, Heading: texts[0], Message: texts[1]})
}

// ErrorPage renders the error page with a custom heading and message.
func (r *Renderer) ErrorPage(w http.ResponseWriter, req *http.Request, info ErrorInfo) {
	w.Header().Set("Cache-Control", "no-store")
	if info.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", httpapi.RetryAfterSeconds)
	}
	r.Page(w, req, info.Status, errorName, Page{Title: info.Heading, Data: info})
}

// Fail renders the error page for err, as httpapi.Error answers it in
// JSON: its kind's status and safe message; a failing dependency (a
// database that is down) is the "temporarily unavailable" page with
// Retry-After, logged once as a warning; a client that went away is logged
// at info; anything else is the generic 500 page, logged once as an error.
func (r *Renderer) Fail(w http.ResponseWriter, req *http.Request, err error) {
	log := obs.Logger(req.Context())
	e, ok := apperr.As(err)
	if (!ok || e.Kind == apperr.Internal) && errors.Is(req.Context().Err(), context.Canceled) {
		e, ok = &apperr.Error{Kind: apperr.Canceled, Message: apperr.CanceledMessage, Err: err}, true
	}
	if !ok || e.Kind == apperr.Internal {
		log.Error("internal error", "err", err.Error())
		r.ServerError(w, req)
		return
	}
	status := httpapi.StatusOf(e)
	texts, known := errorTexts[status]
	if !known {
		texts = [2]string{http.StatusText(status), "The request could not be completed."}
	}
	msg := e.Message
	if msg == "" {
		msg = texts[1]
	}
	switch e.Kind {
	case apperr.Canceled:
		log.Info("request canceled by the client", "err", err.Error())
		w.WriteHeader(status)
		return
	case apperr.Unavailable:
		log.Warn("dependency unavailable", "err", err.Error())
	case apperr.NotFound:
		r.NotFound(w, req)
		return
	}
	r.ErrorPage(w, req, ErrorInfo{Status: status, Heading: texts[0], Message: msg})
}

// NotFound renders the styled 404 page; use it for unknown non-API paths.
func (r *Renderer) NotFound(w http.ResponseWriter, req *http.Request) {
	r.Error(w, req, http.StatusNotFound)
}

// ServerError renders the styled 500 page.
func (r *Renderer) ServerError(w http.ResponseWriter, req *http.Request) {
	r.Error(w, req, http.StatusInternalServerError)
}

// plainPage is the 500 page sent when a template fails: it uses no template
// and no asset, so it cannot fail itself.
const plainPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Something went wrong</title></head>
<body><main><h1>Something went wrong</h1><p>We could not show this page. Please try again in a moment.</p><p><a href="/">Go to the home page</a></p></main></body>
</html>
`

func plainError(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(http.StatusInternalServerError)
	w.Write([]byte(plainPage))
}

// initial returns the first letter of s, upper-cased, for the default logo.
func initial(s string) string {
	r, _ := utf8.DecodeRuneInString(strings.TrimSpace(s))
	if r == utf8.RuneError {
		return ""
	}
	return string(unicode.ToUpper(r))
}

// DurationText writes d for people: "15 minutes", "1 hour", "90 seconds".
func DurationText(d time.Duration) string {
	unit, n := "second", int64(d/time.Second)
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		unit, n = "hour", int64(d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		unit, n = "minute", int64(d/time.Minute)
	}
	if n != 1 {
		unit += "s"
	}
	return strconv.FormatInt(n, 10) + " " + unit
}
