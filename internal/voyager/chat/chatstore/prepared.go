package chatstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/relaywork/suite/internal/platform/store"
)

// prepared keeps the reads on the way to a chat answer (membership,
// conversation, history, usage) as prepared
// statements on the reader pool: database/sql prepares each once per
// connection and reuses it, so SQLite does not parse the SQL on every
// send (its parser was about 13% of the server's CPU with 100
// conversations at once). They bypass store.DB's query metrics and slow
// query log, so only the few hot reads of a send use them.
type prepared struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// stmt returns the prepared statement for q (with ? placeholders).
func (s *Store) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.prep.mu.Lock()
	defer s.prep.mu.Unlock()
	if st := s.prep.m[q]; st != nil {
		return st, nil
	}
	st, err := s.db.Reader().PrepareContext(ctx, store.Rebind(s.db.Dialect, q))
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if s.prep.m == nil {
		s.prep.m = map[string]*sql.Stmt{}
	}
	s.prep.m[q] = st
	return st, nil
}

// queryRow runs q as a prepared statement on the reader; a failed
// preparation falls back to an ordinary query.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.stmt(ctx, q)
	if err != nil {
		return s.db.QueryRow(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// query is queryRow for many rows.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, q)
	if err != nil {
		return s.db.Query(ctx, q, args...)
	}
	return st.QueryContext(ctx, args...)
}
