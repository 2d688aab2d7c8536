package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var platformMigrations embed.FS

// PlatformMigrations holds the shared tables (audit log, cron runs); every
// product database gets them. They are numbered below 100; products number
// theirs from 100, and later platform migrations may land out of order.
func PlatformMigrations() fs.FS {
	sub, _ := fs.Sub(platformMigrations, "migrations")
	return sub
}

// Migration is one migration's state.
type Migration struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time
}

// Migrator runs the embedded migrations of a product plus the platform's.
type Migrator struct {
	db  *DB
	p   *goose.Provider
	log *slog.Logger
}

// NewMigrator merges the platform's migrations with each given FS (each
// holding sqlite/ and postgres/ folders) and prepares a goose provider.
func (db *DB) NewMigrator(logger *slog.Logger, sources ...fs.FS) (*Migrator, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	merged := fstest.MapFS{}
	for _, src := range append([]fs.FS{PlatformMigrations()}, sources...) {
		dir := string(db.Dialect)
		entries, err := fs.ReadDir(src, dir)
		if err != nil {
			return nil, fmt.Errorf("read %s migrations: %w", dir, err)
		}
		for _, e := range entries {
			if e.IsDir() || path.Ext(e.Name()) != ".sql" {
				continue
			}
			b, err := fs.ReadFile(src, path.Join(dir, e.Name()))
			if err != nil {
				return nil, err
			}
			if _, dup := merged[e.Name()]; dup {
				return nil, fmt.Errorf("migration %s defined twice", e.Name())
			}
			merged[e.Name()] = &fstest.MapFile{Data: b, Mode: 0o444}
		}
	}
	opts := []goose.ProviderOption{goose.WithAllowOutofOrder(true), goose.WithDisableGlobalRegistry(true)}
	dialect := goose.DialectSQLite3
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db.w, merged, opts...)
	if err != nil {
		return nil, fmt.Errorf("prepare migrations: %w", err)
	}
	return &Migrator{db: db, p: p, log: logger}, nil
}

// withLock serialises migrations between processes sharing a SQLite file;
// PostgreSQL uses goose's advisory session lock instead.
func (m *Migrator) withLock(ctx context.Context, fn func() error) error {
	if m.db.Dialect != SQLite {
		return fn()
	}
	unlock, err := lockFile(ctx, m.db.Target.Path+".migrate.lock")
	if err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	defer unlock()
	return fn()
}

// Up applies every pending migration and returns how many ran.
func (m *Migrator) Up(ctx context.Context) (int, error) {
	var n int
	err := m.withLock(ctx, func() error {
		res, err := m.p.Up(ctx)
		n = len(res)
		for _, r := range res {
			m.log.Info("migration applied", "version", r.Source.Version, "file", path.Base(r.Source.Path), "duration", r.Duration.String())
		}
		return err
	})
	if err != nil {
		return n, fmt.Errorf("migrate up: %w", err)
	}
	return n, nil
}

// Down rolls back the latest applied migration.
func (m *Migrator) Down(ctx context.Context) (int64, error) {
	var v int64
	err := m.withLock(ctx, func() error {
		r, err := m.p.Down(ctx)
		if r != nil && r.Source != nil {
			v = r.Source.Version
		}
		return err
	})
	if errors.Is(err, goose.ErrNoNextVersion) {
		return 0, errors.New("migrate down: nothing to roll back")
	}
	if err != nil {
		return v, fmt.Errorf("migrate down: %w", err)
	}
	m.log.Info("migration rolled back", "version", v)
	return v, nil
}

// Redo rolls back the latest migration and applies it again.
func (m *Migrator) Redo(ctx context.Context) (int64, error) {
	v, err := m.Down(ctx)
	if err != nil {
		return v, err
	}
	err = m.withLock(ctx, func() error {
		_, err := m.p.UpByOne(ctx)
		return err
	})
	if err != nil {
		return v, fmt.Errorf("migrate redo: %w", err)
	}
	return v, nil
}

// Pending reports whether migrations are waiting.
func (m *Migrator) Pending(ctx context.Context) (bool, error) { return m.p.HasPending(ctx) }

// Status lists every known migration, applied or not, oldest first.
func (m *Migrator) Status(ctx context.Context) ([]Migration, error) {
	st, err := m.p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate status: %w", err)
	}
	out := make([]Migration, 0, len(st))
	for _, s := range st {
		out = append(out, Migration{
			Version:   s.Source.Version,
			Name:      path.Base(s.Source.Path),
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}
