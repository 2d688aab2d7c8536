package ideastore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/coda/idea"
	"github.com/relaywork/suite/internal/coda/idea/ideastore"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// BenchmarkCreate measures one idea insert (a transaction with its tags
// and, on SQLite, the FTS5 trigger) on each store.
func BenchmarkCreate(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, migrations)
			e := setup(b, db)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				title, body, tags := fmt.Sprintf("idea %d", i), "some *notes*", []string{"bench"}
				if _, err := e.svc.Create(context.Background(), "ada", idea.Input{Title: &title, Body: &body, Tags: &tags}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkList measures the first page of 20 of a user's 2,000 ideas.
func BenchmarkList(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, migrations)
			e := setup(b, db)
			for i := range 2000 {
				create(b, e, "ada", fmt.Sprintf("idea %d", i), "notes")
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.svc.List(context.Background(), "ada", idea.ListOptions{Limit: 20}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCreateParallel measures inserts from many concurrent requests,
// where SQLite's group commit shares commits between them.
func BenchmarkCreateParallel(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, migrations)
			e := setup(b, db)
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					title, body, tags := "parallel idea", "some *notes*", []string{"bench"}
					if _, err := e.svc.Create(context.Background(), "ada", idea.Input{Title: &title, Body: &body, Tags: &tags}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkSearch measures a one-match search among a user's 2,000 ideas,
// highlights included.
func BenchmarkSearch(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, migrations)
			e := setup(b, db)
			for i := range 2000 {
				create(b, e, "ada", fmt.Sprintf("Bench idea %d", i), fmt.Sprintf("Some *Markdown* notes about idea %d", i))
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				p, err := e.svc.List(context.Background(), "ada", idea.ListOptions{Query: fmt.Sprint(i % 2000), Limit: 20})
				if err != nil || len(p.Ideas) != 1 {
					b.Fatalf("%d results, %v", len(p.Ideas), err)
				}
			}
		})
	}
}

// BenchmarkPurgeBatch measures purging batches of 250 expired ideas.
func BenchmarkPurgeBatch(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d, migrations)
			e := setup(b, db)
			st := ideastore.New(db)
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				i := 0
				st.Import(ctx, "ada", func() (idea.Idea, error) {
					if i == 250 {
						return idea.Idea{}, ioEOF
					}
					i++
					at := e.clock.Now()
					return idea.Idea{Title: fmt.Sprintf("purge me %d", i), Body: "A paragraph of *Markdown* notes long enough to look like a real note someone kept.", Tags: []string{"seed"}, Version: 1, CreatedAt: at, UpdatedAt: at}, nil
				})
				if _, err := db.Exec(ctx, `UPDATE ideas SET deleted_at = ?, undo_expires_at = ? WHERE user_id = 'ada'`, e.clock.Now(), e.clock.Now()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				n, err := st.PurgeBatch(ctx, e.clock.Now().Add(time.Second), 250)
				if err != nil || n != 250 {
					b.Fatalf("purged %d, %v", n, err)
				}
			}
		})
	}
}
