package ratelimit

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// DefaultMaxKeys is the number of keys a Memory limiter holds unless told
// otherwise: about 9 MB of heap with IP-sized keys (measured).
const DefaultMaxKeys = 100_000

// DefaultSweepInterval is how often a Memory limiter drops idle keys in the
// background unless told otherwise.
const DefaultSweepInterval = time.Minute

const (
	maxShards = 64 // a power of two; enough that 2–8 cores rarely contend
	// samples is how many entries an insert inspects to drop idle ones and,
	// when the shard is full, to pick a victim. Like Redis's approximate
	// LRU, a small random sample keeps each call O(1) however many keys an
	// attacker sprays.
	samples = 4
	// shrinkMin is the smallest high-water mark at which the sweeper
	// rebuilds a shard's map to give memory back after a spike.
	shrinkMin = 256
)

// MemoryOptions configures a Memory limiter. The zero value is usable.
type MemoryOptions struct {
	// Now is the clock; tests move it. Default time.Now.
	Now func() time.Time
	// MaxKeys caps how many keys are tracked at once (default
	// DefaultMaxKeys). When full, a new key evicts an idle key, or else the
	// one closest to becoming idle, so memory stays bounded under a flood of
	// distinct keys. The cap is split evenly over the shards, so eviction
	// starts in the fullest shard a little before Len reaches MaxKeys.
	MaxKeys int
	// SweepInterval is how often a background goroutine drops idle keys
	// and shrinks maps after a spike (default DefaultSweepInterval; negative
	// disables it, leaving only the sweeping each insert does).
	SweepInterval time.Duration
}

// Memory is an in-process GCRA limiter: the same algorithm as Redis, held in
// a sharded map. Each key stores only its theoretical arrival time (TAT);
// once that time has passed the key is back to a full burst, so the entry is
// idle and may be dropped without changing any decision. Call Close to stop
// the background sweeper.
type Memory struct {
	now      func() time.Time
	seed     maphash.Seed
	mask     uint64
	shardCap int
	shards   []shard
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
	swept    func(dropped int) // test hook, called after each background sweep
}

var _ Limiter = (*Memory)(nil)

// shard is one lock and the keys hashed to it, padded so that neighbouring
// shards' locks don't share a cache line.
type shard struct {
	mu   sync.Mutex
	tats map[string]int64 // key → TAT in Unix nanoseconds
	peak int              // largest len(tats) since the map was last rebuilt
	_    [40]byte
}

// NewMemory returns an in-memory limiter and starts its sweeper (see
// MemoryOptions.SweepInterval).
func NewMemory(o MemoryOptions) *Memory {
	return newMemory(o, nil)
}

func newMemory(o MemoryOptions, swept func(int)) *Memory {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	// Fewer shards than keys would let the per-shard caps add up to more
	// than MaxKeys, so a tiny MaxKeys gets fewer shards.
	n := maxShards
	for n > o.MaxKeys {
		n /= 2
	}
	m := &Memory{
		now:      o.Now,
		seed:     maphash.MakeSeed(),
		mask:     uint64(n - 1),
		shardCap: o.MaxKeys / n,
		shards:   make([]shard, n),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		swept:    swept,
	}
	for i := range m.shards {
		m.shards[i].tats = make(map[string]int64)
	}
	if o.SweepInterval > 0 {
		go m.sweepLoop(o.SweepInterval)
	} else {
		close(m.done)
	}
	return m
}

// Allow decides one event for key under l. It never blocks on I/O and
// ignores ctx.
func (m *Memory) Allow(_ context.Context, key string, l Limit) (Result, error) {
	l, err := l.normalize()
	if err != nil {
		return Result{}, err
	}
	now := m.now().UnixNano()
	ei := int64(l.interval())
	burstOffset := ei * int64(l.Burst)

	s := &m.shards[maphash.String(m.seed, key)&m.mask]
	s.mu.Lock()
	tat, known := s.tats[key]
	tat = max(tat, now)
	newTAT := tat + ei
	diff := now - (newTAT - burstOffset)
	if diff < 0 {
		s.mu.Unlock()
		return Result{
			Limit:      l.Burst,
			RetryAfter: time.Duration(-diff),
			ResetAfter: time.Duration(tat - now),
		}, nil
	}
	if !known {
		s.makeRoom(now, m.shardCap)
	}
	s.tats[key] = newTAT
	if n := len(s.tats); n > s.peak {
		s.peak = n
	}
	s.mu.Unlock()
	return Result{
		Allowed:    true,
		Limit:      l.Burst,
		Remaining:  int(diff / ei),
		ResetAfter: time.Duration(newTAT - now),
	}, nil
}

// makeRoom is called, with s.mu held, before a new key is added: it drops
// the idle entries among a few sampled ones and, if the shard is still full,
// evicts the sampled entry closest to becoming idle (the one whose loss
// forgives its owner the least). Go's map iteration starts at a random
// position, which is what makes this a sample.
func (s *shard) makeRoom(now int64, capacity int) {
	victim, victimTAT := "", int64(math.MaxInt64)
	n := 0
	for k, tat := range s.tats {
		if tat <= now {
			delete(s.tats, k)
		} else if tat < victimTAT {
			victim, victimTAT = k, tat
		}
		if n++; n == samples {
			break
		}
	}
	for len(s.tats) >= capacity {
		if victimTAT == math.MaxInt64 {
			// Unreachable unless capacity is 0; keep the bound anyway.
			for k := range s.tats {
				victim = k
				break
			}
		}
		delete(s.tats, victim)
		victimTAT = math.MaxInt64
	}
}

func (m *Memory) inProcess() {}

// Len returns the number of keys currently tracked.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.tats)
		s.mu.Unlock()
	}
	return n
}

// Close stops the background sweeper and waits for it. The limiter keeps
// working afterwards (inserts still sweep); Close may be called more than
// once.
func (m *Memory) Close() {
	m.once.Do(func() { close(m.stop) })
	<-m.done
}

func (m *Memory) sweepLoop(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			n := m.sweep()
			if m.swept != nil {
				m.swept(n)
			}
		}
	}
}

// sweep drops every idle key, one shard at a time so no lock is held for
// long, and rebuilds maps that shrank to a quarter of their peak: Go maps
// never give back their buckets otherwise. It returns how many keys it
// dropped.
func (m *Memory) sweep() int {
	dropped := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		now := m.now().UnixNano()
		for k, tat := range s.tats {
			if tat <= now {
				delete(s.tats, k)
				dropped++
			}
		}
		if s.peak >= shrinkMin && len(s.tats) < s.peak/4 {
			fresh := make(map[string]int64, len(s.tats))
			for k, tat := range s.tats {
				fresh[k] = tat
			}
			s.tats = fresh
			s.peak = len(fresh)
		}
		s.mu.Unlock()
	}
	return dropped
}
