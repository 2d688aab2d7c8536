package app

import (
	"context"
	"flag"
	"fmt"
	"io"
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

// WithStore runs fn with the product's database opened from the settings
// in env (migrated first when MIGRATE_ON_START is on), for product
// commands such as `voyager archive`.
func WithStore(ctx context.Context, p Product, env Env, fn func(*store.DB) error) error {
	return withStore(ctx, p, env, true, fn)
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
