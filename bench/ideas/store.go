package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/relaywork/suite/bench/loadgen"
	"github.com/relaywork/suite/internal/coda/idea"
	"github.com/relaywork/suite/internal/coda/idea/ideastore"
	"github.com/relaywork/suite/internal/platform/store"
)

// openLoop calls f rate times a second for dur, each call on its own
// goroutine, open loop like loadgen.Run: a call's latency counts from
// when it was due.
func openLoop(rate int, dur time.Duration, f func(i int) error) loadgen.Result {
	interval := time.Second / time.Duration(rate)
	n := max(int(dur/interval), 1)
	lat := make([]time.Duration, n)
	var errs int
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		due := t0.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			err := f(i)
			lat[i] = time.Since(due)
			if err != nil {
				mu.Lock()
				errs++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	p50, p99, mx := loadgen.Percentile(lat, 50), loadgen.Percentile(lat, 99), loadgen.Percentile(lat, 100)
	return loadgen.Result{N: n, Errors: errs, P50: p50, P99: p99, Max: mx}
}

// storeFloor runs the create, list and search steps straight on the
// store the server used (the same queries through the same ideastore
// code, no HTTP), with the server stopped: the floor the API rows are
// held to.
func storeFloor(db *store.DB, userID string, rate, searchRate int, dur time.Duration, ideas int) (create, list, search loadgen.Result) {
	ctx := context.Background()
	st := ideastore.New(db)
	svc := idea.NewService(idea.Options{Store: st})
	// List and search first, over the ideas the server's run left, as the
	// server's list and search saw them; then create.
	list = openLoop(rate, dur, func(int) error {
		_, err := svc.List(ctx, userID, idea.ListOptions{Limit: 20})
		return err
	})
	search = openLoop(searchRate, dur, func(k int) error {
		_, err := svc.List(ctx, userID, idea.ListOptions{Limit: 20, Query: strconv.Itoa(k%ideas + 1)})
		return err
	})
	create = openLoop(rate, dur, func(k int) error {
		title, body, tags := fmt.Sprintf("Floor idea %d", k), "Some *Markdown* notes about idea "+strconv.Itoa(k), []string{"bench", "t" + strconv.Itoa(k%10)}
		_, err := svc.Create(ctx, userID, idea.Input{Title: &title, Body: &body, Tags: &tags})
		return err
	})
	return create, list, search
}
