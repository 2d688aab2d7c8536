//go:build !unix

package store

import "context"

// lockFile is a no-op where flock is unavailable; SQLite's own locking and
// goose's transactions still keep a single migrator safe.
func lockFile(ctx context.Context, path string) (func(), error) { return func() {}, nil }
