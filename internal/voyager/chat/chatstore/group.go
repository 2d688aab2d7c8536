package chatstore

import (
	"context"
	"time"

	"github.com/relaywork/suite/internal/platform/store"
)

// Turn writes (StartTurn, FinishMessage) share commits through a
// store.Group: with many conversations answering at once, SQLite's single
// writer would otherwise spend most of each write on its own commit, and
// each turn queue behind every other one; PostgreSQL pays a WAL flush per
// commit. A batch is one transaction with a savepoint per write, so one
// failure does not fail the others.

type writeReq struct {
	fn  func(ctx context.Context, tx *store.Tx) error
	err error
}

// maxLeaders is how many group commits may run at once: one on SQLite (one
// writer), a few on PostgreSQL so a write rarely waits a whole commit for
// the one before it.
func maxLeaders(d store.Dialect) int {
	if d == store.Postgres {
		return 4
	}
	return 1
}

// write runs fn in a transaction shared with concurrent writes and returns
// once that transaction has committed (or failed), even if ctx ends: the
// write may already be committed, and the caller must not be told
// otherwise.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx *store.Tx) error) error {
	r := &writeReq{fn: fn}
	s.group.Do(ctx, r)
	return r.err
}

// commitGroup writes a batch in one transaction. A lone write runs as it
// is; several run each inside a savepoint, rolled back to on its error so
// the others still commit. If the transaction itself fails, every write
// in it gets that error.
func (s *Store) commitGroup(ctx context.Context, batch []*writeReq) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var err error
	if len(batch) == 1 {
		err = s.db.InTx(ctx, func(tx *store.Tx) error { return batch[0].fn(ctx, tx) })
		batch[0].err = err
	} else {
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			for _, r := range batch {
				if _, err := tx.Exec(ctx, "SAVEPOINT turn_write"); err != nil {
					return err
				}
				if r.err = r.fn(ctx, tx); r.err != nil {
					if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT turn_write"); err != nil {
						return err
					}
				}
				if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT turn_write"); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for _, r := range batch {
		if err != nil && r.err == nil {
			r.err = err
		}
	}
}
