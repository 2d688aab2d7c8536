package ideastore_test

import (
	"context"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/coda/idea/ideastore"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// TestActivityAndTotals covers the admin console's ideas figures.
func TestActivityAndTotals(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		a := create(t, e, "ada", "one", "")
		create(t, e, "ada", "two", "")
		create(t, e, "bob", "three", "")
		if _, err := e.svc.Delete(ctx, "ada", a.ID); err != nil {
			t.Fatal(err)
		}
		now := e.clock.Now()
		st := ideastore.New(db)
		act, err := st.ActivityBetween(ctx, now.Add(-time.Hour), now.Add(time.Hour))
		if err != nil || act.Created != 3 || act.Deleted != 1 {
			t.Fatalf("activity %+v %v", act, err)
		}
		old, err := st.ActivityBetween(ctx, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
		if err != nil || old.Created != 0 || old.Deleted != 0 {
			t.Fatalf("yesterday %+v %v", old, err)
		}
		tot, err := st.CountAll(ctx)
		if err != nil || tot.Live != 2 || tot.Deleted != 1 || tot.Authors != 2 {
			t.Fatalf("totals %+v %v", tot, err)
		}
	}, migrations)
}
