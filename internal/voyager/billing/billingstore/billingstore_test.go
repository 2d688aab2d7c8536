package billingstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
	"github.com/relaywork/suite/internal/voyager"
	"github.com/relaywork/suite/internal/voyager/billing"
	"github.com/relaywork/suite/internal/voyager/billing/billingstore"
)

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := billingstore.New(db)
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

		if _, err := s.Subscription(ctx, "acme"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("got %v, want not found", err)
		}
		if _, err := s.ByCustomerID(ctx, ""); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("empty customer: got %v, want not found", err)
		}
		sub := billing.Subscription{CommunityID: "acme", CustomerID: "cus_1", SubscriptionID: "sub_1", PriceID: "price_1", Status: billing.PastDue,
			AmountCents: 5000, Currency: "usd", Interval: "month", IntervalCount: 1, CurrentPeriodEnd: now.Add(30 * 24 * time.Hour),
			CancelAtPeriodEnd: true, PastDueSince: now.Add(-time.Hour), UpdatedAt: now}
		if err := s.Save(ctx, sub); err != nil {
			t.Fatal(err)
		}
		for name, get := range map[string]func() (billing.Subscription, error){
			"community":    func() (billing.Subscription, error) { return s.Subscription(ctx, "acme") },
			"subscription": func() (billing.Subscription, error) { return s.BySubscriptionID(ctx, "sub_1") },
			"customer":     func() (billing.Subscription, error) { return s.ByCustomerID(ctx, "cus_1") },
		} {
			got, err := get()
			if err != nil || got != sub {
				t.Fatalf("by %s: got %+v %v, want %+v", name, got, err, sub)
			}
		}
		// Save replaces; zero times are stored as NULL and read back zero.
		sub.Status, sub.PastDueSince, sub.CancelAtPeriodEnd, sub.CurrentPeriodEnd = billing.Active, time.Time{}, false, time.Time{}
		sub.UpdatedAt = now.Add(time.Minute)
		if err := s.Save(ctx, sub); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Subscription(ctx, "acme"); err != nil || got != sub {
			t.Fatalf("after update: got %+v %v, want %+v", got, err, sub)
		}
		if err := s.Save(ctx, billing.Subscription{CommunityID: "beta", Status: billing.Canceled, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		all, err := s.Subscriptions(ctx)
		if err != nil || len(all) != 2 || all[0].CommunityID != "acme" || all[1].CommunityID != "beta" {
			t.Fatalf("all: got %+v %v", all, err)
		}

		// Events: claimed once; a replay is refused; a released claim can
		// be claimed again, a finished one cannot be released.
		if ok, err := s.ClaimEvent(ctx, "evt_1", "invoice.paid", now); !ok || err != nil {
			t.Fatalf("claim: got %v %v, want true", ok, err)
		}
		if ok, err := s.ClaimEvent(ctx, "evt_1", "invoice.paid", now); ok || err != nil {
			t.Fatalf("replay: got %v %v, want false", ok, err)
		}
		if err := s.ReleaseEvent(ctx, "evt_1"); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.ClaimEvent(ctx, "evt_1", "invoice.paid", now); !ok || err != nil {
			t.Fatalf("claim after release: got %v %v, want true", ok, err)
		}
		if err := s.FinishEvent(ctx, "evt_1", "acme", billing.OutcomeProcessed); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseEvent(ctx, "evt_1"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.ClaimEvent(ctx, "evt_1", "invoice.paid", now); ok {
			t.Fatal("a finished event was claimed again")
		}
		var outcome, cid string
		if err := db.QueryRow(ctx, `SELECT outcome, community_id FROM voyager_billing_events WHERE event_id = ?`, "evt_1").Scan(&outcome, &cid); err != nil || outcome != "processed" || cid != "acme" {
			t.Fatalf("event row: got %q %q %v", outcome, cid, err)
		}
	}, voyager.Migrations())
}
