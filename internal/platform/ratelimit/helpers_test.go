package ratelimit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// fakeClock is a clock the tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestMemory returns a Memory on a fake clock, without the background
// sweeper, closed when the test ends.
func newTestMemory(t testing.TB, maxKeys int) (*Memory, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	m := NewMemory(MemoryOptions{Now: clock.Now, MaxKeys: maxKeys, SweepInterval: -1})
	t.Cleanup(m.Close)
	return m, clock
}

// testRedisClient returns a client for TEST_REDIS_URL. Without it the test
// is skipped, except in CI, where Redis is always provided.
func testRedisClient(t testing.TB) *redis.Client {
	t.Helper()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_REDIS_URL is not set; CI must provide Redis")
		}
		t.Skip("TEST_REDIS_URL is not set")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping TEST_REDIS_URL: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newTestRedis returns a Redis limiter under a prefix no other test uses,
// and deletes its keys when the test ends.
func newTestRedis(t testing.TB) *Redis {
	t.Helper()
	c := testRedisClient(t)
	r := NewRedis(c, "rltest:"+randomHex(t, 8)+":")
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, redisKey(r, "*"), 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return r
}

// redisKey is where redis_rate stores key's state.
func redisKey(r *Redis, key string) string {
	return "rate:" + r.prefix + key
}

// rewindScript moves a stored TAT back by ARGV[1] seconds: to the GCRA that
// is exactly as if that much time had passed, which lets the Redis
// implementation run the same timed scenarios as the fake-clocked one.
var rewindScript = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v then
  redis.call("SET", KEYS[1], string.format("%.17g", tonumber(v) - tonumber(ARGV[1])), "KEEPTTL")
end
return 0
`)

func rewindRedis(t testing.TB, r *Redis, key string, d time.Duration) {
	t.Helper()
	if err := rewindScript.Run(context.Background(), r.client, []string{redisKey(r, key)}, d.Seconds()).Err(); err != nil {
		t.Fatalf("rewind %s: %v", key, err)
	}
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
