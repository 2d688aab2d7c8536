package chatstore

import (
	"context"
	"sync"
	"time"

	"github.com/relaywork/suite/internal/platform/store"
)

// group commits concurrent turn writes (StartTurn, FinishMessage) together.
// With many conversations answering at once, SQLite's single writer would
// otherwise spend most of each write on its own commit, and each turn
// queue behind every other one; PostgreSQL pays a WAL flush per commit. The
// first caller to find no commit under way becomes the leader and writes
// everything queued in one transaction, with a savepoint per write so one
// failure does not fail the others; the rest wait for their own result.
// There is no background goroutine. (The same scheme as Coda's ideastore.)
type group struct {
	mu      sync.Mutex
	pending []*writeReq
	leaders int // commits under way
}

type writeReq struct {
	fn   func(ctx context.Context, tx *store.Tx) error
	err  error
	done chan struct{}
}

// maxGroup bounds one group commit.
const maxGroup = 256

// maxLeaders is how many group commits may run at once: one on SQLite (one
// writer), a few on PostgreSQL so a write rarely waits a whole commit for
// the one before it.
func (s *Store) maxLeaders() int {
	if s.db.Dialect == store.Postgres {
		return 4
	}
	return 1
}

// write runs fn in a transaction shared with concurrent writes and returns
// once that transaction has committed (or failed). It waits even if ctx
// ends: the write may already be committed, and the caller must not be
// told otherwise.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx *store.Tx) error) error {
	r := &writeReq{fn: fn, done: make(chan struct{})}
	g := &s.group
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if g.leaders >= s.maxLeaders() {
		g.mu.Unlock()
		<-r.done
		return r.err
	}
	g.leaders++
	for len(g.pending) > 0 {
		n := min(len(g.pending), maxGroup)
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.mu.Unlock()
		s.commitGroup(context.WithoutCancel(ctx), batch)
		g.mu.Lock()
	}
	g.leaders--
	g.mu.Unlock()
	<-r.done
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
		close(r.done)
	}
}
