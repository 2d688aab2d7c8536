package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/maintenance"
	"github.com/relaywork/suite/internal/platform/obs"
	"github.com/relaywork/suite/internal/platform/store"
)

// withStore loads settings, migrates and runs fn with the open database,
// for the operator commands that need only the store.
func withStore(ctx context.Context, p Product, env Env, migrateFirst bool, fn func(*store.DB) error) error {
	c, err := loadConfig(p, env, false)
	if err != nil {
		return err
	}
	log := newLogger(c, env.Stderr)
	if migrateFirst {
		if err := migrateOnStart(ctx, p, c, log); err != nil {
			return err
		}
	}
	db, err := openStore(ctx, p, c, log)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db)
}

func opsAudit(ctx context.Context, db *store.DB, action string, meta map[string]any) {
	_ = audit.New(db, nil).Record(ctx, audit.Entry{Action: action, Resource: "system", Metadata: meta})
}

// maintenanceCmd is `maintenance on [--message TEXT] | off | status`.
func maintenanceCmd(ctx context.Context, p Product, env Env, args []string) error {
	usage := usagef("usage: %s maintenance on [--message TEXT] | off | status", p.Name)
	if len(args) == 0 {
		return usage
	}
	fs := flag.NewFlagSet("maintenance", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	msg := fs.String("message", "", "what visitors see")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return usage
	}
	return withStore(ctx, p, env, true, func(db *store.DB) error {
		m := maintenance.New(db, nil, 0)
		var st maintenance.State
		var err error
		switch args[0] {
		case "on", "off":
			if args[0] == "off" && *msg != "" {
				return usage
			}
			st, err = m.Set(ctx, args[0] == "on", *msg)
			if err == nil {
				opsAudit(ctx, db, "maintenance_"+args[0], nil)
			}
		case "status":
			if *msg != "" {
				return usage
			}
			st, err = m.Status(ctx)
		default:
			return usage
		}
		if err != nil {
			return err
		}
		if !st.On {
			fmt.Fprintf(env.Stdout, "maintenance mode is off\n")
			return nil
		}
		fmt.Fprintf(env.Stdout, "maintenance mode is on since %s: visitors get 503 with %q (health, metrics, cron, sign-in and admins still work)\n",
			st.Since.Format("2006-01-02T15:04:05Z"), st.Message)
		return nil
	})
}

// backupCmd is `backup FILE`.
func backupCmd(ctx context.Context, p Product, env Env, args []string) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usagef("usage: %s backup FILE", p.Name)
	}
	return withStore(ctx, p, env, false, func(db *store.DB) error {
		res, err := db.Backup(ctx, args[0])
		if err != nil {
			return usagef("%s: backup failed: %v", p.Name, err)
		}
		opsAudit(ctx, db, "backup", map[string]any{"bytes": res.Bytes, "tool": res.Tool})
		fmt.Fprintf(env.Stdout, "backed up %s to %s (%d bytes, %s, with the %s)\n", db.Target.Redacted, res.Path, res.Bytes, res.Duration.Round(1e6), res.Tool)
		return nil
	})
}

// restoreCmd is `restore FILE --yes`.
func restoreCmd(ctx context.Context, p Product, env Env, args []string) error {
	usage := usagef("usage: %s restore FILE --yes   (replaces every row of the database with the backup's)", p.Name)
	var file string
	yes := false
	for _, a := range args {
		switch {
		case a == "--yes" || a == "-yes":
			yes = true
		case strings.HasPrefix(a, "-") || file != "":
			return usage
		default:
			file = a
		}
	}
	if file == "" {
		return usage
	}
	if !yes {
		return usagef("%s: restore replaces the whole database with %s; run it again with --yes to go ahead (turn `%s maintenance on` first)", p.Name, file, p.Name)
	}
	return withStore(ctx, p, env, false, func(db *store.DB) error {
		if err := db.Restore(ctx, file); err != nil {
			return usagef("%s: restore failed, the database is unchanged: %v", p.Name, err)
		}
		opsAudit(ctx, db, "restore", nil)
		fmt.Fprintf(env.Stdout, "restored %s from %s; run `%s migrate status` to check the schema version\n", db.Target.Redacted, file, p.Name)
		return nil
	})
}

// dbCmd is `db stats`.
func dbCmd(ctx context.Context, p Product, env Env, args []string) error {
	if len(args) != 1 || args[0] != "stats" {
		return usagef("usage: %s db stats", p.Name)
	}
	return withStore(ctx, p, env, false, func(db *store.DB) error {
		st, err := db.Inspect(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s database at %s, %.1f MB\n\n", st.Dialect, st.Where, float64(st.Bytes)/(1<<20))
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "TABLE\tROWS\n")
		for _, t := range st.Tables {
			fmt.Fprintf(tw, "%s\t%d\n", t.Name, t.Rows)
		}
		return tw.Flush()
	})
}

// WithPlatform loads settings, migrates and runs fn with a Platform that
// holds the settings, logger (to stderr), database, audit log, a fresh
// metrics registry and the clock, without routes, Redis or jobs: for a
// product's own commands that work on its database (`voyager billing`).
func WithPlatform(ctx context.Context, p Product, env Env, fn func(*Platform) error) error {
	c, err := loadConfig(p, env, false)
	if err != nil {
		return err
	}
	log := newLogger(c, env.Stderr)
	if err := migrateOnStart(ctx, p, c, log); err != nil {
		return err
	}
	db, err := openStore(ctx, p, c, log)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(&Platform{Config: c, Logger: log, DB: db, Metrics: obs.NewRegistry(), Audit: audit.New(db, nil), Now: time.Now, Stdout: env.Stdout})
}
