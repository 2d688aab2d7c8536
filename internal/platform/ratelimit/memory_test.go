package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryEvictionKeepsLenBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		maxKeys int
		idle    bool // let each key go idle before the next is added
	}{
		{name: "one key", maxKeys: 1},
		{name: "fewer keys than shards", maxKeys: 10},
		{name: "not a multiple of the shards", maxKeys: 1000},
		{name: "exactly the shards", maxKeys: 64},
		{name: "many", maxKeys: 5000},
		{name: "many idle", maxKeys: 5000, idle: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, clock := newTestMemory(t, tt.maxKeys)
			l := PerPeriod(5, time.Hour)
			for i := range 10 * tt.maxKeys {
				got, err := m.Allow(context.Background(), fmt.Sprintf("ip:10.%d.%d.%d", i>>16&255, i>>8&255, i&255), l)
				if err != nil {
					t.Fatal(err)
				}
				if !got.Allowed || got.Remaining != 4 {
					t.Fatalf("key %d: got %+v, want a fresh key's first call allowed with 4 remaining", i, got)
				}
				if tt.idle {
					clock.Add(l.interval())
				}
				if i%97 != 0 && i != 10*tt.maxKeys-1 {
					continue // Len locks every shard: check often, not always
				}
				if n := m.Len(); n > tt.maxKeys {
					t.Fatalf("after %d keys: got Len %d, want ≤ %d", i+1, n, tt.maxKeys)
				}
			}
		})
	}
}

func TestMemoryDefaultMaxKeys(t *testing.T) {
	t.Parallel()
	m, _ := newTestMemory(t, 0)
	if got, want := len(m.shards)*m.shardCap, DefaultMaxKeys; got > want || got < want-len(m.shards) {
		t.Errorf("got capacity %d, want about %d", got, want)
	}
}

func TestMemoryEvictsNearestIdleWhenFull(t *testing.T) {
	t.Parallel()
	// One key per shard: the new key has a single candidate, so the choice
	// is deterministic; with more, it is the best of a random sample.
	m, clock := newTestMemory(t, 1)
	ctx := context.Background()
	l := PerPeriod(2, time.Minute)
	mustAllow(t, m, "old", l)
	mustAllow(t, m, "old", l) // "old" is now limited
	if got, _ := m.Allow(ctx, "old", l); got.Allowed {
		t.Fatalf("old: got allowed, want limited")
	}
	clock.Add(time.Second)
	mustAllow(t, m, "new", l) // evicts "old"
	if got := m.Len(); got != 1 {
		t.Fatalf("got Len %d, want 1", got)
	}
	// Eviction forgets: "old" starts over with a full burst.
	if got, _ := m.Allow(ctx, "old", l); !got.Allowed || got.Remaining != 1 {
		t.Errorf("old after eviction: got %+v, want allowed with 1 remaining", got)
	}
}

func TestMemorySweepDropsIdleKeysAndShrinks(t *testing.T) {
	t.Parallel()
	m, clock := newTestMemory(t, 0)
	l := PerPeriod(10, 10*time.Second)
	for i := range 40_000 { // enough that every shard passes shrinkMin
		mustAllow(t, m, fmt.Sprint("k", i), l)
	}
	mustAllow(t, m, "busy", l)
	mustAllow(t, m, "busy", l)

	clock.Add(time.Second) // every key but "busy" is idle again
	if got, want := m.sweep(), 40_000; got != want {
		t.Errorf("sweep: got %d dropped, want %d", got, want)
	}
	if got := m.Len(); got != 1 {
		t.Errorf("got Len %d, want 1 (the busy key)", got)
	}
	for i := range m.shards {
		if p := m.shards[i].peak; p > 1 {
			t.Fatalf("shard %d: got peak %d after sweep, want the map rebuilt small", i, p)
		}
	}
	// The busy key kept its state.
	if got, _ := m.Allow(context.Background(), "busy", l); got.Remaining != 8 {
		t.Errorf("busy: got %+v, want 8 remaining", got)
	}
}

func TestMemoryInsertsSweepIdleKeys(t *testing.T) {
	t.Parallel()
	m, clock := newTestMemory(t, 0)
	l := PerPeriod(1, time.Second)
	for i := range 2000 {
		mustAllow(t, m, fmt.Sprint("old", i), l)
	}
	clock.Add(time.Hour)
	for i := range 2000 {
		mustAllow(t, m, fmt.Sprint("new", i), l)
	}
	// Each insert inspects a few entries and drops the idle ones, so most
	// of the 2000 old keys are gone without any sweeper.
	if got := m.Len(); got >= 2500 {
		t.Errorf("got Len %d, want < 2500", got)
	}
}

func TestMemoryBackgroundSweeper(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	swept := make(chan int, 1)
	m := newMemory(MemoryOptions{Now: clock.Now, SweepInterval: time.Millisecond}, func(n int) {
		select {
		case swept <- n:
		default:
		}
	})
	defer m.Close()
	mustAllow(t, m, "a", PerPeriod(1, time.Second))
	clock.Add(2 * time.Second)
	deadline := time.After(5 * time.Second)
	for m.Len() != 0 {
		select {
		case <-swept:
		case <-deadline:
			t.Fatalf("got Len %d after 5 s, want the sweeper to drop the idle key", m.Len())
		}
	}
	m.Close()
	m.Close() // idempotent
	mustAllow(t, m, "b", PerPeriod(1, time.Second))
}

func TestMemoryConcurrent(t *testing.T) {
	t.Parallel()
	m, _ := newTestMemory(t, 0)
	const (
		goroutines = 8
		perG       = 2000
		keys       = 16
		rate       = 50
	)
	l := PerPeriod(rate, time.Hour)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				got, err := m.Allow(context.Background(), fmt.Sprint("k", (g+i)%keys), l)
				if err != nil {
					t.Error(err)
					return
				}
				if got.Allowed {
					allowed.Add(1)
				}
				if i%100 == 0 {
					_ = m.Len()
				}
			}
		})
	}
	wg.Wait()
	// The clock stood still, so each key allowed exactly its burst.
	if got, want := allowed.Load(), int64(keys*rate); got != want {
		t.Errorf("got %d allowed, want %d", got, want)
	}
}

func mustAllow(t testing.TB, lim Limiter, key string, l Limit) Result {
	t.Helper()
	got, err := lim.Allow(context.Background(), key, l)
	if err != nil {
		t.Fatalf("Allow %q: %v", key, err)
	}
	if !got.Allowed {
		t.Fatalf("Allow %q: got limited, want allowed", key)
	}
	return got
}
