package store

import (
	"context"
	"sync"
)

// Group shares commits among concurrent writes. SQLite's single writer
// otherwise spends most of each write on its own commit (the WAL append),
// and PostgreSQL on a WAL flush per commit. The first caller to find fewer
// than MaxLeaders commits under way becomes a leader and commits everything
// queued (up to MaxBatch) through Commit; the rest wait for theirs. A
// leader commits one batch only: if more writes queued meanwhile, it hands
// the next batch to the oldest of them, who commits it on its own
// goroutine. So no write waits for more than the commit under way and its
// own, however long the load lasts (a leader that kept committing while
// writes kept arriving would hold its own caller for all of them). There
// is no background goroutine.
//
// Commit gets each batch in arrival order and reports every member's
// result in the member itself (T is a pointer to the caller's request).
type Group[T any] struct {
	Commit     func(ctx context.Context, batch []T)
	MaxBatch   int // 0: 256
	MaxLeaders int // 0: 1

	mu      sync.Mutex
	pending []*groupReq[T]
	leaders int // commits under way or handed over
}

type groupReq[T any] struct {
	v    T
	done chan struct{}
	// lead receives the batch this request is to commit (one that holds
	// it); buffered, so a leader handing over never blocks.
	lead chan []*groupReq[T]
}

// Do queues v and returns once the batch holding it has been committed
// (Commit returned). It waits even if ctx ends: once queued, the write may
// be committed with others, and the caller must not be told otherwise; so
// Commit gets ctx without its cancellation.
func (g *Group[T]) Do(ctx context.Context, v T) {
	r := &groupReq[T]{v: v, done: make(chan struct{}), lead: make(chan []*groupReq[T], 1)}
	ctx = context.WithoutCancel(ctx)
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if g.leaders < max(g.MaxLeaders, 1) {
		g.leaders++
		batch := g.take()
		g.mu.Unlock()
		g.commitAndHandOver(ctx, batch)
	} else {
		g.mu.Unlock()
	}
	for {
		select {
		case <-r.done:
			return
		case batch := <-r.lead:
			g.commitAndHandOver(ctx, batch)
		}
	}
}

// take removes the next batch (oldest first) from the queue; nil if it is
// empty. g.mu is held.
func (g *Group[T]) take() []*groupReq[T] {
	if len(g.pending) == 0 {
		return nil
	}
	size := g.MaxBatch
	if size <= 0 {
		size = 256
	}
	n := min(len(g.pending), size)
	batch := g.pending[:n:n]
	g.pending = g.pending[n:]
	return batch
}

// commitAndHandOver commits batch, then gives the next queued batch to its
// oldest member (who leads it in its own Do), or gives up the leadership
// when nothing is queued.
func (g *Group[T]) commitAndHandOver(ctx context.Context, batch []*groupReq[T]) {
	vs := make([]T, len(batch))
	for i, r := range batch {
		vs[i] = r.v
	}
	g.Commit(ctx, vs)
	for _, r := range batch {
		close(r.done)
	}
	g.mu.Lock()
	if next := g.take(); next != nil {
		next[0].lead <- next
	} else {
		g.leaders--
	}
	g.mu.Unlock()
}
