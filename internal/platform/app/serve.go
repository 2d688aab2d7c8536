package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/platform/config"
	"github.com/relaywork/suite/internal/platform/maintenance"
	"github.com/relaywork/suite/internal/platform/obs"
	"github.com/relaywork/suite/internal/platform/server"
	"github.com/relaywork/suite/internal/platform/web"
)

type slogLogger = slog.Logger

func serve(ctx context.Context, p Product, env Env, args []string) error {
	if len(args) > 0 {
		return usagef("usage: %s serve (settings come from the environment; see %s config check)", p.Name, p.Name)
	}
	start := time.Now()
	c, err := loadConfig(p, env, true)
	if err != nil {
		return err
	}
	log := newLogger(c, env.Stderr)
	for _, w := range c.Warnings {
		log.Warn("setting ignored", "warning", w)
	}
	if p.Check != nil {
		if extra := p.Check(c); len(extra) > 0 {
			if c.Production() {
				return usagef("%s: refusing to start: %v\nRun `%s config check` to see every setting.", p.Name, config.Problems(extra), p.Name)
			}
			for _, w := range extra {
				log.Warn("configuration warning", "problem", w)
			}
		}
	}
	if c.SentryDSN != "" {
		withSentry, flush, err := obs.WithSentry(log, obs.SentryOptions{DSN: c.SentryDSN, Environment: c.AppEnv, Release: Version, Service: string(p.Name)})
		if err != nil {
			return usagef("%s: %v", p.Name, err)
		}
		defer flush()
		log = withSentry
		log.Info("errors are reported to Sentry")
	}
	// Bind first: with PORT=0 the address is known only now, and links in
	// mail and sign-in redirects need it when PUBLIC_URL is unset.
	var ln, httpLn net.Listener
	if c.TLS == "auto" {
		ln, httpLn, err = listenTLS(c.HTTPSAddr(), c.HTTPAddr())
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		defer httpLn.Close()
	} else if ln, err = net.Listen("tcp", c.Addr()); err != nil {
		return fmt.Errorf("%s: listen on %s: %w", p.Name, c.Addr(), err)
	}
	defer ln.Close()
	baseURL := publicOrLocal(c.PublicURL, ln.Addr().String())
	if err := migrateOnStart(ctx, p, c, log); err != nil {
		return err
	}
	pl, m, closeAll, err := build(ctx, p, c, env, log, baseURL)
	if err != nil {
		return err
	}
	defer closeAll()
	// Replication stops (after a last sync) once serving has ended, before
	// the store closes.
	stopReplication, err := startReplication(ctx, pl)
	if err != nil {
		return usagef("%s: %v", p.Name, err)
	}
	defer stopReplication()
	// The recorder writes its last minutes before the store closes.
	rctx, stopRecorder := context.WithCancel(context.Background())
	recorded := make(chan struct{})
	go func() { defer close(recorded); pl.Recorder.Run(rctx) }()
	defer func() { stopRecorder(); <-recorded }()
	if err := pl.mountConsole(m); err != nil {
		return err
	}

	var srv *server.Server
	platformRoutes(pl, m, func() bool { return srv != nil && srv.Draining() })
	trusted := append([]string(nil), m.TrustedOrigins...)
	if o := server.Origin(c.PublicURL); o != "" {
		trusted = append(trusted, o)
	}
	routes := pl.Maintenance.Middleware(pl.Router, maintenance.Options{
		Bypass: func(r *http.Request) bool {
			u, ok := auth.UserFrom(r.Context())
			return ok && u.IsAdmin()
		},
		Page: pl.maintenancePage,
	})
	httpMetrics := obs.NewHTTPMetrics(pl.Metrics)
	httpMetrics.Tap = pl.httpTap
	// Label: the route is known to the metrics even when the session
	// lookup in front of the router fails (a database outage).
	h, err := server.Stack(pl.Router.Label(pl.Auth.Middleware(routes)), server.StackOptions{
		Logger:         log,
		Metrics:        httpMetrics,
		PublicURL:      c.PublicURL,
		TrustedProxies: c.TrustedProxies,
		MaxBodyBytes:   c.MaxBodyBytes,
		TrustedOrigins: trusted,
		BodyLimits:     m.BodyLimits,
	})
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go pl.Maintenance.Keep(sctx)
	pl.registerDomainsAllowed(m.Domains)
	if c.TLS == "auto" {
		tln, t, err := startTLS(sctx, pl, m.Domains, ln, httpLn)
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		defer t.close()
		ln = tln
	}
	srv = server.New(server.Options{
		Addr:            c.Addr(),
		Handler:         h,
		Logger:          log,
		ShutdownTimeout: c.ShutdownTimeout,
		OnReady: func(addr string) {
			url := baseURL
			log.Info("ready", "url", url, "database", string(pl.DB.Dialect), "redis", pl.Redis != nil, "startup_ms", time.Since(start).Milliseconds(), "version", Version)
			fmt.Fprintf(env.Stdout, "%s listening on %s\n", p.Title, url)
			if env.Ready != nil {
				env.Ready(addr)
			}
		},
	})
	if err := pl.Cron.Start(); err != nil {
		return err
	}
	started := make(chan struct{})
	if m.Start != nil {
		go func() {
			defer close(started)
			m.Start(sctx)
		}()
	} else {
		close(started)
	}
	err = srv.Serve(ctx, ln)
	// Shut down in dependency order (the deferred closeAll then closes the
	// product's parts, Redis and, last, the store): first the background
	// work and scheduled jobs that write to the store.
	cancel()
	select {
	case <-started:
	case <-time.After(c.ShutdownTimeout):
		log.Warn("background work still running at shutdown", "waited", c.ShutdownTimeout.String())
	}
	if serr := pl.Cron.Stop(); serr != nil {
		log.Warn("stop scheduler", "err", serr.Error())
	}
	return err
}

// platformRoutes registers the routes every server has: health, metrics
// and the cron triggers.
func platformRoutes(pl *Platform, m *Mounted, draining func() bool) {
	c := pl.Config
	health := &server.Health{
		Version:  Version,
		Draining: draining,
		Checks:   []server.Check{{Name: "database", Func: pl.DB.Ping}},
	}
	if pl.Redis != nil {
		health.Checks = append(health.Checks, server.Check{Name: "redis", Func: func(ctx context.Context) error { return pl.Redis.Ping(ctx).Err() }})
	}
	health.Checks = append(health.Checks, server.Check{Name: "rate_limiter", Func: func(context.Context) error { return pl.Limits.Healthy() }})
	health.Checks = append(health.Checks, m.Checks...)
	health.Register(pl.Router)
	pl.Router.Handle("GET /metrics", server.MetricsHandler(pl.Metrics, c.MetricsToken))
	pl.Router.Handle("GET /api/cron/{job}", pl.Cron.Handler(c.CronSecret))
	pl.Router.Handle("POST /api/cron/{job}", pl.Cron.Handler(c.CronSecret))
	if m.NotFound != nil {
		pl.Router.SetNotFound(m.NotFound)
	}
}

// routesCmd prints every route pattern the server serves, one a line.
func routesCmd(ctx context.Context, p Product, env Env, args []string) error {
	if len(args) != 0 {
		return usagef("usage: %s routes", p.Name)
	}
	c, err := loadConfig(p, env, true)
	if err != nil {
		return err
	}
	log := newLogger(c, env.Stderr)
	if err := migrateOnStart(ctx, p, c, log); err != nil {
		return err
	}
	pl, m, closeAll, err := build(ctx, p, c, env, log, publicOrLocal(c.PublicURL, c.Addr()))
	if err != nil {
		return err
	}
	defer closeAll()
	platformRoutes(pl, m, func() bool { return false })
	for _, pat := range pl.Router.Patterns() {
		fmt.Fprintln(env.Stdout, pat)
	}
	return nil
}

func publicOrLocal(public, addr string) string {
	if public != "" {
		return public
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	n, _ := strconv.Atoi(port)
	return "http://localhost:" + strconv.Itoa(n)
}

// maintenancePage renders the product's styled 503 page with the
// operator's message.
func (p *Platform) maintenancePage(w http.ResponseWriter, r *http.Request, st maintenance.State) {
	if p.pages == nil {
		http.Error(w, st.Message, http.StatusServiceUnavailable)
		return
	}
	// The home page would answer 503 too: no button leads there. Sign-in
	// stays open so operators can check the site (they bypass the switch).
	p.pages.ErrorPage(w, r, web.ErrorInfo{Status: http.StatusServiceUnavailable, Heading: "Down for maintenance",
		Message: st.Message + " This page will work again when we are done; there is no need to keep reloading.",
		Links:   []web.NavLink{{Label: "Operators: sign in", Href: "/signin"}}})
}
