package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/config"
	"github.com/relaywork/suite/internal/platform/cron"
	"github.com/relaywork/suite/internal/platform/maintenance"
	"github.com/relaywork/suite/internal/platform/obs"
	"github.com/relaywork/suite/internal/platform/ratelimit"
	"github.com/relaywork/suite/internal/platform/rollup"
	"github.com/relaywork/suite/internal/platform/server"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/version"
)

// Env is what a run reads from and writes to; tests pass their own.
type Env struct {
	Args   []string // without the program name
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Ready, if set, is called with the listening address once serving.
	Ready func(addr string)
}

// Run executes the subcommand in env.Args for product p.
func Run(ctx context.Context, p Product, env Env) error {
	args := env.Args
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, p, env, args)
	case "migrate":
		return migrate(ctx, p, env, args)
	case "config":
		if len(args) != 1 || args[0] != "check" {
			return usagef("usage: %s config check", p.Name)
		}
		return configCheck(p, env)
	case "cron":
		return cronCmd(ctx, p, env, args)
	case "sessions":
		return sessionsCmd(ctx, p, env, args)
	case "admin":
		return adminCmd(ctx, p, env, args)
	case "maintenance":
		return maintenanceCmd(ctx, p, env, args)
	case "backup":
		return backupCmd(ctx, p, env, args)
	case "restore":
		return restoreCmd(ctx, p, env, args)
	case "db":
		return dbCmd(ctx, p, env, args)
	case "routes":
		return routesCmd(ctx, p, env, args)
	case "dr":
		return drCmd(ctx, p, env, args)
	case "healthcheck":
		return healthcheck(ctx, p, env, args)
	case "version", "--version":
		in := version.Get()
		in.Version = Version
		fmt.Fprintf(env.Stdout, "%s %s\n", p.Name, in.Line())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, help(p))
		return nil
	default:
		for _, c := range p.Commands {
			if c.Name == cmd {
				return c.Run(ctx, env, args)
			}
		}
		return usagef("unknown command %q\n\n%s", cmd, help(p))
	}
}

func help(p Product) string {
	var extra strings.Builder
	for _, c := range p.Commands {
		fmt.Fprintf(&extra, "  %s %s\n                               %s\n", p.Name, c.Usage, c.Summary)
	}
	return fmt.Sprintf(`%[1]s: %[2]s

Usage:
  %[1]s [serve]                 run the server (default; PORT, DATABASE_URL, … from the environment or .env)
  %[1]s migrate up|down|status|redo
                               apply, roll back one, list, or re-apply the latest migration
  %[1]s config check            print the effective settings (secrets masked) and every problem
  %[1]s cron list               list scheduled jobs, their next run and their recent runs
  %[1]s cron run JOB            run a job now and print its result
  %[1]s sessions revoke --all | --user EMAIL
                               sign everyone (or one user) out of every device
  %[1]s admin login-link EMAIL [--role admin]
                               print a single-use sign-in link, creating the user if needed
  %[1]s maintenance on [--message TEXT] | off | status
                               close the site to visitors (503) on every instance within a second
  %[1]s backup FILE             write a consistent copy of the database while it runs
  %[1]s backup verify FILE      restore a backup into a scratch database and check integrity and migrations
  %[1]s restore FILE --yes | --latest --yes | --to 2026-12-01T10:00:00Z --yes
                               replace the database with a backup file or the continuous replica
                               (BACKUP_REPLICA_URL); the site stays in maintenance until "maintenance off"
  %[1]s dr drill                restore the newest replica or backup into a scratch database, print the RTO
  %[1]s routes                  list every route pattern the server serves
  %[1]s db stats                size, rows and indexes per table, index usage, long-running queries
%[3]s  %[1]s healthcheck [--ready]   ask the server on this machine (HOST, PORT) for /healthz (or /readyz);
                               exit 0 when it answers 200: the container image's health check
  %[1]s version                 print the version

Settings are documented in .env.example and docs/operations.md.
`, p.Name, p.Description, extra.String())
}

func loadConfig(p Product, env Env, generate bool) (*config.Config, error) {
	c, err := config.Load(p.Name, env.Getenv, config.Options{NoGenerate: !generate})
	if err != nil {
		return c, usagef("%s: %v\nRun `%s config check` to see every setting.", p.Name, err, p.Name)
	}
	return c, nil
}

func configCheck(p Product, env Env) error {
	c, err := config.Load(p.Name, env.Getenv, config.Options{NoGenerate: true})
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SETTING\tVALUE\tSOURCE\n")
	for _, s := range c.Effective() {
		v, src := s.Value, s.Source
		if v == "" {
			v = "-"
		}
		if src == "" {
			src = "unset"
		}
		if src == "generated" && c.Sources[s.Name] == "generated" {
			src = "generated (DATA_DIR/dev-secrets.json)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, v, src)
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "\nListening on %s (HOST %s, PORT %d).\n", listenDescription(c), hostOrAll(c.Host), c.Port)
	if len(c.Warnings) > 0 {
		fmt.Fprintf(env.Stdout, "\n%d warning(s):\n", len(c.Warnings))
		for _, w := range c.Warnings {
			fmt.Fprintf(env.Stdout, "  - %s\n", w)
		}
	}
	if p.Check != nil && c != nil {
		if extra := p.Check(c); len(extra) > 0 {
			if c.Production() {
				var probs config.Problems
				errors.As(err, &probs)
				err = append(probs, extra...)
			} else {
				fmt.Fprintf(env.Stdout, "\n%d warning(s) (problems with APP_ENV=production):\n", len(extra))
				for _, w := range extra {
					fmt.Fprintf(env.Stdout, "  - %s\n", w)
				}
			}
		}
	}
	if err != nil {
		var probs config.Problems
		if errors.As(err, &probs) {
			fmt.Fprintf(env.Stdout, "\n%d problem(s):\n", len(probs))
			for _, pr := range probs {
				fmt.Fprintf(env.Stdout, "  - %s\n", pr)
			}
			return usagef("%s: configuration has %d problem(s)", p.Name, len(probs))
		}
		return err
	}
	fmt.Fprintf(env.Stdout, "\nNo problems (APP_ENV=%s).\n", c.AppEnv)
	return nil
}

// openStore opens the database for c with the configured retry.
func openStore(ctx context.Context, p Product, c *config.Config, log interface {
	Warn(string, ...any)
}) (*store.DB, error) {
	db, err := store.Open(ctx, store.Options{URL: c.DatabaseURL, DataDir: c.DataDir, Name: string(p.Name), ConnectTimeout: c.DBConnectTimeout, Logger: newLogger(c, io.Discard)})
	if err != nil {
		return nil, fmt.Errorf("%s: cannot open the database: %w", p.Name, err)
	}
	return db, nil
}

func migrate(ctx context.Context, p Product, env Env, args []string) error {
	if len(args) != 1 {
		return usagef("usage: %s migrate up|down|status|redo", p.Name)
	}
	c, err := loadConfig(p, env, false)
	if err != nil {
		return err
	}
	log := newLogger(c, env.Stderr)
	db, err := openStore(ctx, p, c, log)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := db.NewMigrator(log, p.Migrations)
	if err != nil {
		return err
	}
	switch args[0] {
	case "up":
		n, err := m.Up(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "applied %d migration(s) to %s\n", n, db.Target.Redacted)
	case "down":
		v, err := m.Down(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "rolled back migration %05d on %s\n", v, db.Target.Redacted)
	case "redo":
		v, err := m.Redo(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "re-applied migration %05d on %s\n", v, db.Target.Redacted)
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "database: %s\n", db.Target.Redacted)
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "VERSION\tMIGRATION\tAPPLIED\n")
		for _, s := range st {
			at := "pending"
			if s.Applied {
				at = s.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%05d\t%s\t%s\n", s.Version, s.Name, at)
		}
		tw.Flush()
	default:
		return usagef("usage: %s migrate up|down|status|redo", p.Name)
	}
	return nil
}

// build opens everything a product needs and mounts it. close releases it all.
func build(ctx context.Context, p Product, c *config.Config, env Env, log *slogLogger, baseURL string) (*Platform, *Mounted, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	db, err := openStore(ctx, p, c, log)
	if err != nil {
		return nil, nil, nil, err
	}
	closers = append(closers, func() { db.Close() })
	reg := obs.NewRegistry()
	_ = obs.RegisterDB(reg, db.Writer(), string(p.Name))
	if err := db.Instrument(store.Instrumentation{Registerer: reg, Logger: log, SlowQuery: time.Duration(c.SlowQueryMS) * time.Millisecond, Route: server.Route}); err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	storageDir := c.DataDir
	if db.Dialect == store.SQLite {
		storageDir = filepath.Dir(db.Target.Path)
	}
	_ = obs.RegisterStorage(reg, storageDir, db.Size)

	var rdb redis.UniversalClient
	var limiter ratelimit.Limiter
	if c.RedisURL != "" {
		opt, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			closeAll()
			return nil, nil, nil, usagef("REDIS_URL: %v", err)
		}
		// Requests must not wait seconds on a Redis that is down: honour
		// context deadlines, dial quickly and retry little (fail open).
		opt.ContextTimeoutEnabled = true
		opt.DialTimeout = 2 * time.Second
		opt.DialerRetries = 1
		opt.MaxRetries = 1
		// go-redis prints through its own package logger: once per
		// process, send it through slog (JSON) instead of plain stderr.
		redisLogOnce.Do(func() { redis.SetLogger(obs.RedisLogger{Fallback: log}) })
		client := redis.NewClient(opt)
		closers = append(closers, func() { client.Close() })
		rdb = client
		limiter = ratelimit.NewRedis(client, string(p.Name)+":rl:")
	} else {
		mem := ratelimit.NewMemory(ratelimit.MemoryOptions{})
		closers = append(closers, mem.Close)
		limiter = mem
	}
	sched, err := cron.New(cron.Options{DB: db, Redis: rdb, Logger: log, Registerer: reg, InstanceID: instanceID(p), KeyPrefix: string(p.Name) + ":cron:"})
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	authSvc, err := newAuth(p, c, db, log, baseURL)
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	pl := &Platform{
		Config:  c,
		Logger:  log,
		DB:      db,
		Redis:   rdb,
		Metrics: reg,
		Limiter: limiter,
		Limits:  ratelimit.NewHTTP(ratelimit.HTTPOptions{Limiter: limiter, Logger: log, Registerer: reg}),
		Cron:    sched,
		Audit:   audit.New(db, nil),
		Auth:    authSvc,
		Router:  server.NewRouter(nil),
		Now:     time.Now,
		Stdout:  env.Stdout,

		Maintenance: maintenance.New(db, nil, 0),
		Rollups:     rollup.NewStore(db),
	}
	pl.Recorder = rollup.NewRecorder(rollup.RecorderOptions{Store: pl.Rollups, Instance: instanceID(p), Logger: log})
	if err := sched.Register(cron.Job{
		Name: "cleanup-sessions", Schedule: "17 3 * * *",
		Description: "delete expired sessions and spent or expired sign-in links",
		Run: func(ctx context.Context) (map[string]any, error) {
			s, l, err := authSvc.PurgeExpired(ctx)
			return map[string]any{"sessions": s, "links": l}, err
		},
	}); err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	if err := registerBackup(pl, p); err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	m, err := p.Mount(ctx, pl)
	if err != nil {
		closeAll()
		return nil, nil, nil, fmt.Errorf("%s: %w", p.Name, err)
	}
	if err := pl.registerRollupJob(m); err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	if m.Close != nil {
		closers = append(closers, func() {
			if err := m.Close(); err != nil {
				log.Warn("close", "err", err.Error())
			}
		})
	}
	return pl, m, closeAll, nil
}

// redisLogOnce guards go-redis's process-wide logger: the first server's
// logger is its fallback for messages outside a request.
var redisLogOnce sync.Once

func instanceID(p Product) string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s@%s:%d", p.Name, h, os.Getpid())
}

func cronCmd(ctx context.Context, p Product, env Env, args []string) error {
	if len(args) == 0 || (args[0] == "run" && len(args) != 2) || (args[0] != "run" && args[0] != "list") {
		return usagef("usage: %s cron list | %s cron run JOB", p.Name, p.Name)
	}
	c, err := loadConfig(p, env, true)
	if err != nil {
		return err
	}
	log := newLogger(c, env.Stderr)
	if err := migrateOnStart(ctx, p, c, log); err != nil {
		return err
	}
	pl, _, closeAll, err := build(ctx, p, c, env, log, publicOrLocal(c.PublicURL, c.Addr()))
	if err != nil {
		return err
	}
	defer closeAll()
	if args[0] == "list" {
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "JOB\tSCHEDULE (UTC)\tLAST RUN\tRESULT\tDESCRIPTION\n")
		jobs := pl.Cron.Jobs()
		sort.Slice(jobs, func(i, j int) bool { return jobs[i].Name < jobs[j].Name })
		for _, j := range jobs {
			last, result := "never", "-"
			if runs, err := pl.Cron.Runs(ctx, j.Name, 1); err == nil && len(runs) > 0 {
				r := runs[0]
				last = r.StartedAt.UTC().Format(time.RFC3339) + " (" + r.Trigger + ")"
				result = "ok"
				if !r.OK {
					result = "failed: " + r.Error
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.Name, j.Schedule, last, result, j.Description)
		}
		tw.Flush()
		runs, err := pl.Cron.Runs(ctx, "", 10)
		if err == nil && len(runs) > 0 {
			fmt.Fprintf(env.Stdout, "\nRecent runs:\n")
			tw = tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "STARTED\tJOB\tTRIGGER\tDURATION\tOK\tRESULT\n")
			for _, r := range runs {
				res, _ := json.Marshal(r.Result)
				if !r.OK {
					res = []byte(r.Error)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", r.StartedAt.UTC().Format(time.RFC3339), r.Job, r.Trigger, r.Duration.Round(time.Millisecond), r.OK, res)
			}
			tw.Flush()
		}
		return nil
	}
	run, err := pl.Cron.RunNow(ctx, args[1], "cli")
	if err != nil && run.ID == "" {
		return usagef("%s: %v (see `%s cron list`)", p.Name, err, p.Name)
	}
	out := map[string]any{"success": run.OK, "job": run.Job, "duration_ms": run.Duration.Milliseconds(), "timestamp": run.StartedAt.UTC().Format(time.RFC3339)}
	for k, v := range run.Result {
		out[k] = v
	}
	if !run.OK {
		out["error"] = run.Error
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintln(env.Stdout, string(b))
	if !run.OK {
		return usagef("%s: job %s failed: %s", p.Name, run.Job, run.Error)
	}
	return nil
}

// migrateOnStart applies pending migrations when MIGRATE_ON_START is on.
func migrateOnStart(ctx context.Context, p Product, c *config.Config, log *slogLogger) error {
	if !c.MigrateOnStart {
		return nil
	}
	db, err := openStore(ctx, p, c, log)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := db.NewMigrator(log, p.Migrations)
	if err != nil {
		return err
	}
	if _, err := m.Up(ctx); err != nil {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	return nil
}

// hostOrAll describes HOST for people: empty means every interface.
func hostOrAll(h string) string {
	if h == "" {
		return "unset: every interface"
	}
	return h
}

// listenDescription is the address serve binds, as `config check` shows it.
func listenDescription(c *config.Config) string {
	if c.Host == "" {
		return fmt.Sprintf("every interface, port %d", c.Port)
	}
	return c.Addr()
}

// healthcheck asks the server on this machine for /healthz (--ready:
// /readyz) and fails unless it answers 200. A container built FROM scratch
// has no curl, so the image's HEALTHCHECK runs this.
func healthcheck(ctx context.Context, p Product, env Env, args []string) error {
	path := "/healthz"
	switch {
	case len(args) == 1 && args[0] == "--ready":
		path = "/readyz"
	case len(args) > 0:
		return usagef("usage: %s healthcheck [--ready]", p.Name)
	}
	c, _ := config.Load(p.Name, env.Getenv, config.Options{NoGenerate: true})
	host := strings.Trim(c.Host, "[]")
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	u := "http://" + net.JoinHostPort(host, strconv.Itoa(c.Port)) + path
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return usagef("%s: unhealthy: %v", p.Name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return usagef("%s: unhealthy: %s answered %s: %s", p.Name, u, resp.Status, strings.TrimSpace(string(b)))
	}
	fmt.Fprintf(env.Stdout, "%s: %s answered %s\n", p.Name, u, resp.Status)
	return nil
}
