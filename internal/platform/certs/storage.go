package certs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/relaywork/suite/internal/platform/store"
)

// SQLStorage keeps CertMagic's certificates, keys, ACME account and
// challenge tokens in the product's database, so every instance on one
// PostgreSQL database serves the same certificates, answers challenges for
// orders another instance placed, and only one of them asks the CA.
type SQLStorage struct {
	db    *store.DB
	owner string
	now   func() time.Time
	// LockTTL is how long a lock holds without renewal before another
	// instance may take it over (an instance that died mid-issuance).
	lockTTL time.Duration
	poll    time.Duration
}

var (
	_ certmagic.Storage          = (*SQLStorage)(nil)
	_ certmagic.TryLocker        = (*SQLStorage)(nil)
	_ certmagic.LockLeaseRenewer = (*SQLStorage)(nil)
)

// NewSQLStorage returns storage on db. now may be nil (time.Now).
func NewSQLStorage(db *store.DB, now func() time.Time) *SQLStorage {
	if now == nil {
		now = time.Now
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &SQLStorage{db: db, owner: hex.EncodeToString(b), now: now, lockTTL: 2 * time.Minute, poll: time.Second}
}

func (s *SQLStorage) String() string { return "database (" + string(s.db.Dialect) + ")" }

// Store saves value under key.
func (s *SQLStorage) Store(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := s.db.Exec(ctx, `INSERT INTO platform_certs (key, value, modified) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, modified = excluded.modified`, key, value, s.now())
	if err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

// Load returns the value under key, or an error wrapping fs.ErrNotExist.
func (s *SQLStorage) Load(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.db.QueryRow(ctx, `SELECT value FROM platform_certs WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("load %s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", key, err)
	}
	return v, nil
}

// Delete removes key and, as a directory, everything below it.
func (s *SQLStorage) Delete(ctx context.Context, key string) error {
	res, err := s.db.Exec(ctx, `DELETE FROM platform_certs WHERE key = ? OR key LIKE ? ESCAPE '\'`, key, likePrefix(key))
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete %s: %w", key, fs.ErrNotExist)
	}
	return nil
}

// Exists reports whether key is a value or a directory.
func (s *SQLStorage) Exists(ctx context.Context, key string) bool {
	var one int
	err := s.db.QueryRow(ctx, `SELECT 1 FROM platform_certs WHERE key = ? OR key LIKE ? ESCAPE '\' LIMIT 1`, key, likePrefix(key)).Scan(&one)
	return err == nil
}

// List returns the keys directly below dir, or every key below it when
// recursive.
func (s *SQLStorage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	dir = strings.TrimSuffix(dir, "/")
	q, args := `SELECT key FROM platform_certs WHERE key LIKE ? ESCAPE '\'`, []any{likePrefix(dir)}
	if dir == "" {
		q, args = `SELECT key FROM platform_certs`, nil
	}
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		if !recursive {
			rest := strings.TrimPrefix(strings.TrimPrefix(k, dir), "/")
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				k = path.Join(dir, rest[:i])
			}
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("list %s: %w", dir, fs.ErrNotExist)
	}
	sort.Strings(out)
	return out, nil
}

// Stat describes key.
func (s *SQLStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	var v []byte
	var mod time.Time
	err := s.db.QueryRow(ctx, `SELECT value, modified FROM platform_certs WHERE key = ?`, key).Scan(&v, &mod)
	if err == nil {
		return certmagic.KeyInfo{Key: key, Modified: mod, Size: int64(len(v)), IsTerminal: true}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	if s.Exists(ctx, key) {
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, fs.ErrNotExist)
}

// Lock blocks until it holds the cluster-wide lock name, taking over a
// lock whose holder stopped renewing it.
func (s *SQLStorage) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.TryLock(ctx, name)
		if err != nil || ok {
			return err
		}
		t := time.NewTimer(s.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// TryLock takes the lock name if it is free or stale.
func (s *SQLStorage) TryLock(ctx context.Context, name string) (bool, error) {
	now := s.now()
	if _, err := s.db.Exec(ctx, `DELETE FROM platform_cert_locks WHERE name = ? AND expires < ?`, name, now); err != nil {
		return false, fmt.Errorf("lock %s: %w", name, err)
	}
	res, err := s.db.Exec(ctx, `INSERT INTO platform_cert_locks (name, owner, expires) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`, name, s.owner, now.Add(s.lockTTL))
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", name, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RenewLockLease extends a held lock.
func (s *SQLStorage) RenewLockLease(ctx context.Context, name string, lease time.Duration) error {
	if lease < s.lockTTL {
		lease = s.lockTTL
	}
	res, err := s.db.Exec(ctx, `UPDATE platform_cert_locks SET expires = ? WHERE name = ? AND owner = ?`, s.now().Add(lease), name, s.owner)
	if err != nil {
		return fmt.Errorf("renew lock %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("renew lock %s: not held by this instance", name)
	}
	return nil
}

// Unlock releases a lock this instance holds.
func (s *SQLStorage) Unlock(ctx context.Context, name string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM platform_cert_locks WHERE name = ? AND owner = ?`, name, s.owner)
	if err != nil {
		return fmt.Errorf("unlock %s: %w", name, err)
	}
	return nil
}

// likePrefix is a LIKE pattern matching every key below dir.
func likePrefix(dir string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(strings.TrimSuffix(dir, "/")) + "/%"
}
