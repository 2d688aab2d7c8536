package coda

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/relaywork/suite/internal/coda/devmode"
	"github.com/relaywork/suite/internal/coda/relay"
	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/config"
	"github.com/relaywork/suite/internal/platform/obs"
	"github.com/relaywork/suite/internal/platform/server"
	"github.com/relaywork/suite/internal/platform/store"
)

// RelayCommand is `coda relay`: the DevMode relay alone, for running it on
// its own machines (DEVMODE_RELAY_URL then points pages and runners at
// it). It reads the same settings as `coda serve` and needs the same
// database (runner records) and DEVMODE_JWT_SECRET; it does not migrate.
func RelayCommand() app.Command {
	return app.Command{
		Name:    "relay",
		Usage:   "relay [--addr :PORT] [--advertise URL] [--heartbeat 20s]",
		Summary: "run the DevMode relay alone (for scale-out); see docs/devmode-relay.md",
		Run:     runRelay,
	}
}

func runRelay(ctx context.Context, env app.Env, args []string) error {
	fl := flag.NewFlagSet("coda relay", flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	addr := fl.String("addr", "", "listen address (default :PORT)")
	advertise := fl.String("advertise", "", "this node's URL for the other relay nodes (with REDIS_URL), e.g. http://10.0.0.5:3000; ${VAR} is read from the environment")
	heartbeat := fl.Duration("heartbeat", relay.DefaultPing, "how often connections are pinged and connected runners' credentials checked again")
	if err := fl.Parse(args); err != nil {
		return app.Usagef("usage: coda relay [--addr :PORT] [--advertise URL] [--heartbeat 20s]")
	}
	// ${VAR} in --advertise comes from the environment, for platforms
	// that hand each machine its address there (Fly.io: FLY_PRIVATE_IP).
	*advertise = os.Expand(*advertise, env.Getenv)
	c, err := config.Load(config.Coda, env.Getenv, config.Options{})
	if err != nil {
		return app.Usagef("coda relay: %v", err)
	}
	if !c.EnableDevMode {
		return app.Usagef("coda relay: ENABLE_DEVMODE is off")
	}
	format := c.LogFormat
	if format == "" {
		format = "json"
	}
	log := obs.NewLogger(env.Stderr, c.LogLevel, format).With("service", "coda-relay")
	db, err := store.Open(ctx, store.Options{URL: c.DatabaseURL, DataDir: c.DataDir, Name: string(config.Coda), ConnectTimeout: c.DBConnectTimeout, Logger: log})
	if err != nil {
		return fmt.Errorf("coda relay: cannot open the database: %w", err)
	}
	defer db.Close()
	var rdb redis.UniversalClient
	if c.RedisURL != "" {
		opt, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			return app.Usagef("REDIS_URL: %v", err)
		}
		rdb = redis.NewClient(opt)
		defer rdb.Close()
	}
	svc, err := devmode.New(devmode.Options{DB: db, Secret: []byte(c.DevModeJWTSecret), Audit: audit.New(db, nil), Logger: log, Redis: rdb})
	if err != nil {
		return err
	}
	var origins []string
	if o := server.Origin(c.PublicURL); o != "" {
		if u := hostOf(o); u != "" {
			origins = append(origins, u)
		}
	}
	if rdb != nil && *advertise == "" {
		log.Warn("coda relay: REDIS_URL is set but --advertise is not: browsers that land on another node cannot reach runners held here")
	}
	if rdb == nil {
		*advertise = ""
	}
	rl := relay.New(relay.Options{Auth: relayAuth{svc}, Logger: log, OriginPatterns: origins, Recheck: true,
		PingInterval: *heartbeat, Redis: rdb, Advertise: *advertise, Secret: []byte(c.DevModeJWTSecret)})
	defer rl.Close()

	// The platform's health, metrics and middleware, as on `coda serve`.
	reg := obs.NewRegistry()
	registerRelayMetrics(reg, rl)
	var srv *server.Server
	health := &server.Health{
		Version:  app.Version,
		Draining: func() bool { return srv != nil && srv.Draining() },
		Checks:   []server.Check{{Name: "database", Func: db.Ping}},
	}
	if rdb != nil {
		health.Checks = append(health.Checks, server.Check{Name: "redis", Func: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }})
	}
	rt := server.NewRouter(nil)
	rt.HandleFunc("GET "+relayRunnerPath, rl.HandleRunner)
	rt.HandleFunc("GET "+relayTerminalPath, rl.HandleTerminal)
	health.Register(rt)
	rt.Handle("GET /metrics", server.MetricsHandler(reg, c.MetricsToken))
	h, err := server.Stack(rt, server.StackOptions{
		Logger:         log,
		Metrics:        obs.NewHTTPMetrics(reg),
		PublicURL:      c.PublicURL,
		TrustedProxies: c.TrustedProxies,
		MaxBodyBytes:   c.MaxBodyBytes,
	})
	if err != nil {
		return err
	}
	if *addr == "" {
		*addr = c.Addr()
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("coda relay: %w", err)
	}
	srv = server.New(server.Options{Handler: h, Logger: log, ShutdownTimeout: c.ShutdownTimeout,
		OnReady: func(a string) {
			fmt.Fprintf(env.Stdout, "coda relay listening on http://%s\n", a)
			if env.Ready != nil {
				env.Ready(a)
			}
		}})
	// Hijacked WebSockets are not waited for by a shutdown: tell runners
	// and browsers the relay is going away, so they reconnect elsewhere.
	srv.RegisterOnShutdown(func() { rl.Close() })
	return srv.Serve(ctx, ln)
}

// hostOf returns the host[:port] of an origin such as https://coda.example.com.
func hostOf(origin string) string {
	for _, p := range []string{"https://", "http://"} {
		if len(origin) > len(p) && origin[:len(p)] == p {
			return origin[len(p):]
		}
	}
	return ""
}
