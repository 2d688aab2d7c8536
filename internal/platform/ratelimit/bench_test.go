package ratelimit

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// benchKeys are IP-shaped keys, built once so the benchmarks time Allow,
// not fmt.
var benchKeys = func() []string {
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("api:10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	}
	return keys
}()

// benchLimit is generous, so most calls take the write path (allowed).
var benchLimit = PerPeriod(1_000_000, time.Second)

func BenchmarkMemoryAllow(b *testing.B) {
	for _, bm := range []struct {
		name    string
		keys    []string
		maxKeys int
	}{
		{name: "single-key", keys: benchKeys[:1]},
		{name: "many-keys", keys: benchKeys[:50_000]},
		// Ten times more keys than room: every call inserts and evicts.
		{name: "evicting", keys: benchKeys, maxKeys: 10_000},
	} {
		b.Run(bm.name, func(b *testing.B) {
			m := NewMemory(MemoryOptions{MaxKeys: bm.maxKeys})
			defer m.Close()
			benchAllowParallel(b, m, bm.keys)
		})
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	r := newTestRedis(b)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		// One caller: ns/op is the round-trip latency a request pays.
		i := 0
		for b.Loop() {
			if _, err := r.Allow(ctx, benchKeys[i%len(benchKeys)], benchLimit); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		benchAllowParallel(b, r, benchKeys)
	})
}

func benchAllowParallel(b *testing.B, lim Limiter, keys []string) {
	ctx := context.Background()
	var start atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(start.Add(7919)) // spread the goroutines over the keys
		for pb.Next() {
			if _, err := lim.Allow(ctx, keys[i%len(keys)], benchLimit); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkHTTPWrap is the middleware's cost per request over Memory,
// including the per-call timeout context.
func BenchmarkHTTPWrap(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	h := NewHTTP(HTTPOptions{Limiter: m}).Wrap(Policy{Name: "api", Limit: benchLimit}, okHandler)
	var start atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(start.Add(7919))
		r := httptest.NewRequest(http.MethodGet, "/api/things", nil)
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			r.RemoteAddr = benchKeys[i%len(benchKeys)][4:] + ":1234"
			clear(w.h)
			h.ServeHTTP(w, r)
			i++
		}
	})
}

// discardWriter is a ResponseWriter that keeps nothing, so BenchmarkHTTPWrap
// doesn't time a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
