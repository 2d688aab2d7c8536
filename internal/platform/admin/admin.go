// Package admin is the operators' console at /admin, shared by both
// products: an overview with charts (users, sign-ins, sessions, request
// rate, error rate, p95 latency, web vitals p75 by page, all from the
// rollups in the product's own database), users (search, role, sign out,
// export or delete their data), the audit log (filters, CSV), cron jobs
// (runs, failures, run now), maintenance mode and the database's `db stats`
// view. A product adds its own sections (Voyager's communities, Coda's
// ideas and DevMode) through Mounted.Admin.
//
// Everything under /admin answers 404 to anyone who is not an admin, as an
// unknown page would. Every change is a POST carrying a per-session token
// (on top of the server's cross-origin protection and SameSite cookies),
// and every action, including downloads, is written to the audit log.
package admin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/platform/cron"
	"github.com/relaywork/suite/internal/platform/maintenance"
	"github.com/relaywork/suite/internal/platform/rollup"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/web"
)

//go:embed templates
var templates embed.FS

// Templates are the console's pages (admin/*.html), to overlay on a
// product's templates.
func Templates() fs.FS {
	sub, _ := fs.Sub(templates, "templates")
	return sub
}

// Section is a product's page of the console at /admin/{Slug}.
type Section struct {
	Slug  string // lowercase, e.g. "communities"
	Title string // the navigation label and heading
	// Load builds the page for the chosen time range.
	Load func(ctx context.Context, rg Range) (View, error)
}

// View is what a section shows, top to bottom.
type View struct {
	// NoPeriod hides the period menu: the view does not depend on it.
	NoPeriod bool
	Intro    string
	Stats    []Stat
	Charts   []Chart
	Tables   []Table
}

// Range is the period the console's charts show.
type Range struct {
	Name     string // "24h", "7d", "30d" or "90d"
	From, To time.Time
	Res      rollup.Res // hour for 24h and 7d, day beyond
}

// Ranges are the periods offered.
var Ranges = []string{"24h", "7d", "30d", "90d"}

// ParseRange returns the range named name (24h when unknown) ending now.
func ParseRange(name string, now time.Time) Range {
	d, res := 24*time.Hour, rollup.Hour
	switch name {
	case "7d":
		d = 7 * 24 * time.Hour
	case "30d":
		d, res = 30*24*time.Hour, rollup.Day
	case "90d":
		d, res = 90*24*time.Hour, rollup.Day
	default:
		name = "24h"
	}
	to := res.Truncate(now).Add(res.Step())
	return Range{Name: name, From: to.Add(-d), To: to, Res: res}
}

// Options configure a Console.
type Options struct {
	Render      *web.Renderer // the product's renderer, with Templates overlaid
	Auth        *auth.Service
	Audit       *audit.Log
	Cron        *cron.Scheduler
	Maintenance *maintenance.Mode
	DB          *store.DB
	Rollups     *rollup.Store
	// BeforeRead runs before the overview reads the rollups: the platform
	// flushes this instance's buffered minute rows and rolls them up, so
	// the charts include the last minutes.
	BeforeRead func(ctx context.Context)
	Secret     []byte // keys the per-session form tokens
	Sections   []Section
	Logger     *slog.Logger
	Now        func() time.Time
	// VitalsOn says whether browsers report web vitals (VITALS_ENABLED).
	VitalsOn bool
}

// Console serves /admin.
type Console struct {
	o Options
}

// New returns a Console.
func New(o Options) *Console {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Console{o: o}
}

// router is what Routes registers on (server.Router).
type router interface {
	Handle(pattern string, h http.Handler)
}

// Routes registers the console. write wraps the POST routes (the
// platform's mutation rate limit).
//
//	GET  /admin                          overview (?range=24h|7d|30d|90d)
//	GET  /admin/users                    search (?q=, ?role=)
//	GET  /admin/users/{id}               one user: sessions, linked sign-ins, actions
//	POST /admin/users/{id}/role          change the role (role=admin|user)
//	POST /admin/users/{id}/revoke        sign the user out everywhere
//	POST /admin/users/{id}/export        download the user's data (JSON)
//	POST /admin/users/{id}/delete        delete the user and their data (confirm=address)
//	GET  /admin/audit                    the audit log (?actor=&action=&from=&to=)
//	GET  /admin/audit.csv                the same entries as CSV
//	GET  /admin/cron                     jobs, schedules, recent runs and failures
//	POST /admin/cron/{job}/run           run a job now
//	GET  /admin/maintenance              maintenance mode
//	POST /admin/maintenance              turn it on (on=1, message=) or off
//	GET  /admin/database                 the `db stats` view
//	GET  /admin/{section}                a product's section
func (c *Console) Routes(rt router, write func(http.Handler) http.Handler) {
	get := func(f http.HandlerFunc) http.Handler { return c.guard(f) }
	// The guard comes first: a non-admin's POST is a 404, never a 429.
	post := func(f http.HandlerFunc) http.Handler { return c.guard(write(c.checkToken(f)).ServeHTTP) }
	rt.Handle("GET /admin", get(c.handleOverview))
	rt.Handle("GET /admin/{$}", get(c.handleOverview))
	rt.Handle("GET /admin/users", get(c.handleUsers))
	rt.Handle("GET /admin/users/{id}", get(c.handleUser))
	rt.Handle("POST /admin/users/{id}/role", post(c.handleUserRole))
	rt.Handle("POST /admin/users/{id}/revoke", post(c.handleUserRevoke))
	rt.Handle("POST /admin/users/{id}/export", post(c.handleUserExport))
	rt.Handle("POST /admin/users/{id}/delete", post(c.handleUserDelete))
	rt.Handle("GET /admin/audit", get(c.handleAudit))
	rt.Handle("GET /admin/audit.csv", get(c.handleAuditCSV))
	rt.Handle("GET /admin/cron", get(c.handleCron))
	rt.Handle("POST /admin/cron/{job}/run", post(c.handleCronRun))
	rt.Handle("GET /admin/maintenance", get(c.handleMaintenance))
	rt.Handle("POST /admin/maintenance", post(c.handleMaintenanceSet))
	rt.Handle("GET /admin/database", get(c.handleDatabase))
	rt.Handle("GET /admin/{section}", get(c.handleSection))
	// Anything else under /admin is a 404 for everyone, admins included.
	rt.Handle("/admin/", get(func(w http.ResponseWriter, r *http.Request) { c.o.Render.NotFound(w, r) }))
}

// guard answers 404, exactly as an unknown page, to anyone but an admin.
func (c *Console) guard(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := auth.UserFrom(r.Context())
		if !ok || !u.IsAdmin() {
			c.o.Render.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Robots-Tag", "noindex")
		// Bytes the database would refuse are refused here, naming the field.
		if !utf8.ValidString(r.URL.Path) || strings.ContainsRune(r.URL.Path, 0) {
			c.o.Render.NotFound(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			c.fail(w, r, apperr.E(apperr.Invalid, "The form could not be read."))
			return
		}
		for name, vals := range r.Form {
			for _, v := range vals {
				if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
					c.fail(w, r, apperr.InvalidFields("A field holds bytes that are not text.", map[string]string{name: "must be UTF-8 text without NUL characters"}))
					return
				}
			}
		}
		next(w, r)
	})
}

// Token is the form token of the request's session.
func (c *Console) Token(r *http.Request) string {
	s, ok := auth.SessionFrom(r.Context())
	if !ok {
		return ""
	}
	m := hmac.New(sha256.New, c.o.Secret)
	m.Write([]byte("admin-form:" + s.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkToken refuses a POST whose form token is not the session's.
func (c *Console) checkToken(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		want := c.Token(r)
		got := r.PostFormValue("token")
		if want == "" || !hmac.Equal([]byte(got), []byte(want)) {
			c.o.Render.ErrorPage(w, r, web.ErrorInfo{Status: http.StatusForbidden, Heading: "Form expired",
				Message: "This form was not sent from this console session. Go back, reload the page and try again."})
			return
		}
		next(w, r)
	}
}

// record writes an admin action to the audit log.
func (c *Console) record(r *http.Request, action, resource, id string, meta map[string]any) {
	u, _ := auth.UserFrom(r.Context())
	e := audit.Entry{Action: action, Resource: resource, ResourceID: id, Metadata: meta}
	if u != nil {
		e.ActorID = u.ID
	}
	if err := c.o.Audit.Record(r.Context(), c.o.Audit.FromRequest(r, e)); err != nil {
		c.o.Logger.Warn("audit admin action", "action", action, "err", err.Error())
	}
}
