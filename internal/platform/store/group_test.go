package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/store"
)

type groupWrite struct {
	n         int
	committed int // how many times a Commit held it
}

// TestGroup: every write is committed exactly once, in batches no larger
// than MaxBatch, with no more than MaxLeaders commits at a time, and every
// Do returns — also for writes queued behind a backlog of several batches.
func TestGroup(t *testing.T) {
	t.Parallel()
	var running, most, commits atomic.Int32
	var mu sync.Mutex
	var g store.Group[*groupWrite]
	g.MaxBatch, g.MaxLeaders = 16, 2
	g.Commit = func(ctx context.Context, batch []*groupWrite) {
		if ctx.Err() != nil {
			t.Error("Commit got a cancelled context")
		}
		n := running.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		commits.Add(1)
		if len(batch) > 16 {
			t.Errorf("batch of %d, want at most 16", len(batch))
		}
		time.Sleep(time.Millisecond) // let a backlog build
		mu.Lock()
		for _, w := range batch {
			w.committed++
		}
		mu.Unlock()
		running.Add(-1)
	}
	ws := make([]*groupWrite, 1000)
	var wg sync.WaitGroup
	for i := range ws {
		ws[i] = &groupWrite{n: i}
		ctx, cancel := context.WithCancel(context.Background())
		if i%10 == 0 {
			cancel() // a caller that gave up still waits for its commit
		}
		wg.Go(func() {
			defer cancel()
			g.Do(ctx, ws[i])
			mu.Lock()
			c := ws[i].committed
			mu.Unlock()
			if c != 1 {
				t.Errorf("write %d returned after %d commits of it, want 1", i, c)
			}
		})
	}
	wg.Wait()
	if m := most.Load(); m > 2 {
		t.Errorf("%d commits ran at once, want at most 2", m)
	}
	if c := commits.Load(); c < 1000/16 || c >= 1000 {
		t.Errorf("%d commits for 1000 writes: want them grouped (at least %d, far fewer than 1000)", c, 1000/16)
	}
}
