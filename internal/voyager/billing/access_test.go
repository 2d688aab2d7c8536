package billing

import (
	"testing"
	"time"

	"github.com/relaywork/suite/internal/voyager/community"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	grace := 7 * 24 * time.Hour
	paid := &community.Community{ID: "acme", Name: "Acme", Billing: community.Billing{Plan: community.PlanPrivate}}
	comp := &community.Community{ID: "p", Name: "Partner", Billing: community.Billing{Plan: community.PlanEnterprise, Comp: true}}
	free := &community.Community{ID: "f", Name: "Free"}
	sub := func(st Status, pastDue time.Duration) *Subscription {
		s := &Subscription{Status: st, UpdatedAt: now}
		if st == PastDue {
			s.PastDueSince = now.Add(-pastDue)
		}
		return s
	}
	tests := []struct {
		name       string
		c          *community.Community
		sub        *Subscription
		configured bool
		want       State
		readOnly   bool
		attention  bool
	}{
		{"free never subscribed", free, nil, true, StateFree, false, false},
		{"free with a cancelled row", free, sub(Canceled, 0), true, StateFree, false, false},
		{"comp never subscribed", comp, nil, true, StateComp, false, false},
		{"paid without Stripe settings", paid, nil, false, StateUnconfigured, false, false},
		{"never subscribed", paid, nil, true, StateReadOnly, true, true},
		{"active", paid, sub(Active, 0), true, StateOpen, false, false},
		{"trialing", paid, sub(Trialing, 0), true, StateOpen, false, false},
		{"past due a day", paid, sub(PastDue, 24*time.Hour), true, StateGrace, false, true},
		{"past due just inside grace", paid, sub(PastDue, grace-time.Second), true, StateGrace, false, true},
		{"past due at grace end", paid, sub(PastDue, grace), true, StateReadOnly, true, true},
		{"unpaid", paid, sub(Unpaid, 0), true, StateReadOnly, true, true},
		{"canceled", paid, sub(Canceled, 0), true, StateReadOnly, true, true},
		{"incomplete", paid, sub(Incomplete, 0), true, StateReadOnly, true, true},
		{"paused", paid, sub(Paused, 0), true, StateReadOnly, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Decide(tt.c, tt.sub, tt.configured, now, grace)
			if a.State != tt.want || a.ReadOnly != tt.readOnly || a.Attention != tt.attention {
				t.Fatalf("got %s read-only %v attention %v, want %s %v %v", a.State, a.ReadOnly, a.Attention, tt.want, tt.readOnly, tt.attention)
			}
			if a.ReadOnly && a.Message == "" {
				t.Fatal("read-only without a message for members")
			}
		})
	}
}

func TestMonthlyCents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    Subscription
		want float64
	}{
		{Subscription{Status: Active, AmountCents: 5000, Interval: "month", IntervalCount: 1}, 5000},
		{Subscription{Status: PastDue, AmountCents: 600000, Interval: "year", IntervalCount: 1}, 50000},
		{Subscription{Status: Active, AmountCents: 15000, Interval: "month", IntervalCount: 3}, 5000},
		{Subscription{Status: Trialing, AmountCents: 5000, Interval: "month", IntervalCount: 1}, 0},
		{Subscription{Status: Canceled, AmountCents: 5000, Interval: "month", IntervalCount: 1}, 0},
	}
	for _, tt := range tests {
		if got := tt.s.MonthlyCents(); got != tt.want {
			t.Errorf("%+v: got %v, want %v", tt.s, got, tt.want)
		}
	}
	if got := (Subscription{AmountCents: 5000, Currency: "usd", Interval: "month", IntervalCount: 1}).Price(); got != "$50.00 / month" {
		t.Errorf("price: got %q", got)
	}
}
