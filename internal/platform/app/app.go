// Package app is the shared shape of a server binary: it parses the
// subcommand (serve, migrate, config check, cron), loads settings, opens
// the store and Redis, builds the platform services and hands them to the
// product, which mounts its routes and jobs. Both products' main packages
// are a few lines over this.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/relaywork/suite/internal/platform/admin"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/platform/config"
	"github.com/relaywork/suite/internal/platform/cron"
	"github.com/relaywork/suite/internal/platform/maintenance"
	"github.com/relaywork/suite/internal/platform/obs"
	"github.com/relaywork/suite/internal/platform/ratelimit"
	"github.com/relaywork/suite/internal/platform/rollup"
	"github.com/relaywork/suite/internal/platform/server"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/version"
	"github.com/relaywork/suite/internal/platform/vitals"
	"github.com/relaywork/suite/internal/platform/web"
)

// Version is this build's version (see package version: the release tag
// set at link time, else the commit the binary was built from).
var Version = version.String()

// Product describes one server binary.
type Product struct {
	Name        config.Product
	Title       string // shown in help and logs, e.g. "Coda"
	Description string // one line for help
	Migrations  fs.FS  // sqlite/ and postgres/ folders
	// Mount registers the product's routes, jobs and readiness checks on
	// the platform. It must not start goroutines: the CLI mounts a product
	// to list its jobs without serving.
	Mount func(ctx context.Context, p *Platform) (*Mounted, error)
	// Commands are the product's own subcommands (`voyager communities
	// validate`, `coda relay`), dispatched before the shared ones' unknown
	// command error. Each gets the arguments after its name.
	Commands []Command
	// Check, if set, reports problems between the settings and the
	// product's own files (Voyager: a paid community without Stripe
	// settings). `config check` lists them; in production they are
	// problems and serve refuses to start, elsewhere they are warnings.
	Check func(c *config.Config) []string
}

// Command is a product subcommand.
type Command struct {
	Name    string // the first argument, e.g. "communities"
	Usage   string // one help line after the binary's name, e.g. "communities validate [DIR]"
	Summary string // what it does, for help
	Run     func(ctx context.Context, env Env, args []string) error
}

// Usagef returns an error that the binary prints as is and exits 1 with;
// for a product command's usage and input mistakes.
func Usagef(format string, args ...any) error { return usagef(format, args...) }

// Mounted is what a product hands back from Mount.
type Mounted struct {
	NotFound http.Handler   // HTML 404 page for non-API paths
	Checks   []server.Check // extra readiness checks
	// TrustedOrigins may send unsafe cross-origin requests (custom domains).
	TrustedOrigins []string
	// Domains, if set, lists the product's custom hostnames (Voyager's
	// communities' branding.domains), asked afresh each time: with TLS=auto
	// exactly these (and PUBLIC_URL's host) get certificates on demand, and
	// GET /api/domains/allowed answers 200 for them.
	Domains func() []string
	// BodyLimits are request body limits for exact paths that need more
	// (or less) than MAX_BODY_BYTES, e.g. an import.
	BodyLimits map[string]int64
	// Start runs background work while serving (after the server listens);
	// it must return when ctx ends.
	Start func(ctx context.Context)
	Close func() error

	// Admin are the product's sections of the admin console (/admin/{slug}).
	Admin []admin.Section
	// RollupSources add the product's own figures (messages, tokens, ideas)
	// to the rollups behind the console's charts.
	RollupSources []rollup.Source
	// VitalsSegment adds a label to the web-vitals histograms (Voyager's
	// community).
	VitalsSegment *vitals.Segment
}

// Platform is every shared service a product may use.
type Platform struct {
	Config  *config.Config
	Logger  *slog.Logger
	DB      *store.DB
	Redis   redis.UniversalClient // nil without REDIS_URL
	Metrics *prometheus.Registry
	Limiter ratelimit.Limiter
	Limits  *ratelimit.HTTP
	Cron    *cron.Scheduler
	Audit   *audit.Log
	Auth    *auth.Service
	Router  *server.Router
	Now     func() time.Time
	Stdout  io.Writer
	// Maintenance is the operator's switch (`maintenance on|off`).
	Maintenance *maintenance.Mode
	// Rollups hold the admin console's time series; Recorder buffers this
	// instance's observations for them (Count, Observe, Gauge) and writes
	// them every few seconds, never on a request's path.
	Rollups  *rollup.Store
	Recorder *rollup.Recorder

	// DressPage, if a product sets it, is called for every page the
	// platform renders itself (sign-in, account, error pages: those whose
	// Product is left empty), to dress it for the request, e.g. in a
	// Voyager community's brand on that community's domain.
	DressPage func(*http.Request, *web.Page)
	// pages draws the platform's own pages (maintenance); set by MountSite.
	pages *web.Renderer

	rollupMu  sync.Mutex
	rolledAt  time.Time   // when the console last refreshed the rollups
	rollupJob *rollup.Job // the rollup-metrics job's work
}

// Rate-limit policies by route group: the guides' 10 requests per 10 s per
// IP for sign-in and changes, looser for reads.
var (
	AuthPolicy  = ratelimit.Policy{Name: "auth", Limit: ratelimit.PerPeriod(10, 10*time.Second)}
	WritePolicy = ratelimit.Policy{Name: "write", Limit: ratelimit.PerPeriod(10, 10*time.Second)}
	ReadPolicy  = ratelimit.Policy{Name: "read", Limit: ratelimit.PerPeriod(100, 10*time.Second)}
	// VitalsPolicy bounds web-vitals beacons per IP: a page sends one when
	// it is hidden, so 30 a minute is a very busy visitor.
	VitalsPolicy = ratelimit.Policy{Name: "vitals", Limit: ratelimit.PerPeriod(30, time.Minute)}
)

// SignInLimit wraps h in the sign-in rate limit.
func (p *Platform) SignInLimit(h http.Handler) http.Handler { return p.Limit(AuthPolicy, h) }

// Write wraps h in the mutation rate limit.
func (p *Platform) Write(h http.Handler) http.Handler { return p.Limit(WritePolicy, h) }

// Read wraps h in the read rate limit.
func (p *Platform) Read(h http.Handler) http.Handler { return p.Limit(ReadPolicy, h) }

// Limit wraps h in policy pol, scaled by RATE_LIMIT_SCALE (0: no limit).
func (p *Platform) Limit(pol ratelimit.Policy, h http.Handler) http.Handler {
	scale := p.Config.RateLimitScale
	if scale == 0 {
		return h
	}
	if scale != 1 {
		pol.Limit.Rate = max(1, int(float64(pol.Limit.Rate)*scale))
		if pol.Limit.Burst > 0 {
			pol.Limit.Burst = max(1, int(float64(pol.Limit.Burst)*scale))
		}
	}
	return p.Limits.Wrap(pol, h)
}

// exitError carries a message for the operator and a non-zero exit.
type exitError struct{ msg string }

func (e *exitError) Error() string { return e.msg }

// IsUsage reports whether err is a usage or configuration error (printed
// without a stack of wrapping).
func IsUsage(err error) bool {
	var e *exitError
	return errors.As(err, &e)
}

func usagef(format string, args ...any) error { return &exitError{msg: fmt.Sprintf(format, args...)} }

// newLogger builds the process logger from settings already loaded.
func newLogger(c *config.Config, w io.Writer) *slog.Logger {
	format := c.LogFormat
	if format == "" {
		format = "json"
	}
	return obs.NewLogger(w, c.LogLevel, format).With("service", string(c.Product))
}

// AddStart adds background work to run while serving, after any already
// added; each runs in its own goroutine and must return when ctx ends.
func (m *Mounted) AddStart(f func(ctx context.Context)) {
	prev := m.Start
	if prev == nil {
		m.Start = f
		return
	}
	m.Start = func(ctx context.Context) {
		// Start returns when all of its work has (serve waits for it
		// before closing the store).
		var wg sync.WaitGroup
		wg.Go(func() { prev(ctx) })
		f(ctx)
		wg.Wait()
	}
}

// AddClose adds a clean-up to run at shutdown, after any already added.
func (m *Mounted) AddClose(f func() error) {
	prev := m.Close
	if prev == nil {
		m.Close = f
		return
	}
	m.Close = func() error { return errors.Join(prev(), f()) }
}
