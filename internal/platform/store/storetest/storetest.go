// Package storetest runs a test body against every storage back end: a
// fresh SQLite file, and a fresh PostgreSQL database when TEST_DATABASE_URL
// is set (CI always sets it; there a missing URL fails instead of skipping).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/relaywork/suite/internal/platform/store"
)

// Each runs fn as subtests "sqlite" and "postgres", each with a fresh,
// migrated database (platform migrations plus the given sources).
func Each(t *testing.T, fn func(t *testing.T, db *store.DB), sources ...fs.FS) {
	t.Helper()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			db := Open(t, d, sources...)
			fn(t, db)
		})
	}
}

// Open returns a fresh migrated database of dialect d, closed and dropped
// when the test ends.
func Open(t testing.TB, d store.Dialect, sources ...fs.FS) *store.DB {
	t.Helper()
	u := URL(t, d)
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{URL: u, Name: "test", ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	m, err := db.NewMigrator(nil, sources...)
	if err != nil {
		t.Fatalf("migrator: %v", err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// URL returns a DATABASE_URL for a fresh, empty database of dialect d.
func URL(t testing.TB, d store.Dialect) string {
	t.Helper()
	if d == store.SQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "test.db")
	}
	return NewPostgresDB(t)
}

// PostgresURL returns TEST_DATABASE_URL, skipping the test when it is unset
// outside CI and failing it in CI.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is not set; CI must run the PostgreSQL tests")
		}
		t.Skip("TEST_DATABASE_URL not set; skipping PostgreSQL")
	}
	return base
}

// NewPostgresDB creates a database with a random name on the TEST_DATABASE_URL
// server and drops it when the test ends; it returns the new database's URL.
func NewPostgresDB(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open admin connection: %v", err)
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := a.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

var _ = stdlib.GetDefaultDriver // registers the "pgx" driver
