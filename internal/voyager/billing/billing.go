// Package billing keeps paid Voyager communities open through Stripe
// subscriptions: an admin of a private or white-label community subscribes,
// Stripe's webhooks (re-read from Stripe, processed exactly once) update the
// subscription kept in our database, and access is decided from that
// database alone, so a Stripe outage never blocks chat.
//
// The domain types and the interfaces of the store and of Stripe live
// here; billingstore is the SQL store and billingstripe speaks to Stripe.
package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/relaywork/suite/internal/voyager/community"
)

// Status is a Stripe subscription status; "" is never subscribed.
type Status string

// Stripe's subscription statuses.
const (
	None              Status = ""
	Active            Status = "active"
	Trialing          Status = "trialing"
	PastDue           Status = "past_due"
	Unpaid            Status = "unpaid"
	Canceled          Status = "canceled"
	Incomplete        Status = "incomplete"
	IncompleteExpired Status = "incomplete_expired"
	Paused            Status = "paused"
)

// Statuses lists every status, for metrics.
var Statuses = []Status{Active, Trialing, PastDue, Unpaid, Canceled, Incomplete, IncompleteExpired, Paused}

// Live reports whether a subscription in this status is still being paid
// for (possibly late).
func (s Status) Live() bool { return s == Active || s == Trialing || s == PastDue }

// Label is the status for people.
func (s Status) Label() string {
	switch s {
	case None:
		return "Not subscribed"
	case Active:
		return "Active"
	case Trialing:
		return "Trial"
	case PastDue:
		return "Payment overdue"
	case Unpaid:
		return "Unpaid"
	case Canceled:
		return "Cancelled"
	case Incomplete:
		return "Waiting for the first payment"
	case IncompleteExpired:
		return "First payment failed"
	case Paused:
		return "Paused"
	}
	return string(s)
}

// Subscription is a community's Stripe subscription as last read from
// Stripe.
type Subscription struct {
	CommunityID       string    `json:"community_id"`
	CustomerID        string    `json:"customer_id"`
	SubscriptionID    string    `json:"subscription_id"`
	PriceID           string    `json:"price_id"`
	Status            Status    `json:"status"`
	AmountCents       int64     `json:"amount_cents"` // per interval, all units
	Currency          string    `json:"currency"`
	Interval          string    `json:"interval"` // day, week, month, year
	IntervalCount     int64     `json:"interval_count"`
	CurrentPeriodEnd  time.Time `json:"current_period_end,omitzero"`
	CancelAtPeriodEnd bool      `json:"cancel_at_period_end"`
	// PastDueSince is when the subscription became past_due (zero when
	// it is not); the grace period runs from here.
	PastDueSince time.Time `json:"past_due_since,omitzero"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// MonthlyCents is the subscription's monthly recurring revenue in cents
// (0 unless active or past due).
func (s Subscription) MonthlyCents() float64 {
	if s.Status != Active && s.Status != PastDue {
		return 0
	}
	n := float64(max(s.IntervalCount, 1))
	a := float64(s.AmountCents)
	switch s.Interval {
	case "year":
		return a / (12 * n)
	case "week":
		return a * 52 / 12 / n
	case "day":
		return a * 365 / 12 / n
	default:
		return a / n
	}
}

// Price is the subscription's amount for people, e.g. "$50.00 / month".
func (s Subscription) Price() string {
	if s.AmountCents == 0 && s.Currency == "" {
		return ""
	}
	cur := s.Currency
	sym := map[string]string{"usd": "$", "eur": "€", "gbp": "£"}[cur]
	amount := fmt.Sprintf("%.2f", float64(s.AmountCents)/100)
	if sym != "" {
		amount = sym + amount
	} else {
		amount += " " + cur
	}
	per := s.Interval
	if s.IntervalCount > 1 {
		per = fmt.Sprintf("%d %ss", s.IntervalCount, s.Interval)
	}
	if per == "" {
		return amount
	}
	return amount + " / " + per
}

// Remote is a subscription read from Stripe.
type Remote struct {
	Subscription
	// CommunityID from the subscription's metadata (set at checkout).
	MetaCommunityID string
}

// Event is a verified Stripe webhook event, reduced to what billing needs:
// the IDs to re-read. Its object's other fields are not trusted (events
// arrive out of order); the subscription is read from Stripe again.
type Event struct {
	ID             string
	Type           string
	CommunityID    string // checkout's client_reference_id or the object's metadata
	SubscriptionID string
	CustomerID     string
}

// Handled is the set of event types billing acts on; others are
// acknowledged and ignored.
var Handled = map[string]bool{
	"checkout.session.completed":    true,
	"customer.subscription.created": true,
	"customer.subscription.updated": true,
	"customer.subscription.deleted": true,
	"customer.subscription.paused":  true,
	"customer.subscription.resumed": true,
	"invoice.paid":                  true,
	"invoice.payment_failed":        true,
	"invoice.payment_succeeded":     true,
}

// Store keeps subscriptions and the events already processed.
type Store interface {
	// Subscription returns a community's subscription (apperr.NotFound
	// when it never had one).
	Subscription(ctx context.Context, communityID string) (Subscription, error)
	// BySubscriptionID and ByCustomerID find a community's row from
	// Stripe's IDs (apperr.NotFound when none).
	BySubscriptionID(ctx context.Context, id string) (Subscription, error)
	ByCustomerID(ctx context.Context, id string) (Subscription, error)
	// Subscriptions returns every row.
	Subscriptions(ctx context.Context) ([]Subscription, error)
	// Save inserts or replaces the community's row.
	Save(ctx context.Context, s Subscription) error
	// ClaimEvent records an event as being processed; false when it was
	// already recorded (a replay).
	ClaimEvent(ctx context.Context, id, typ string, at time.Time) (bool, error)
	// FinishEvent records the outcome of a claimed event.
	FinishEvent(ctx context.Context, id, communityID, outcome string) error
	// ReleaseEvent forgets a claim whose processing failed, so Stripe's
	// retry is processed.
	ReleaseEvent(ctx context.Context, id string) error
}

// Stripe is what billing asks of Stripe (billingstripe.Client).
type Stripe interface {
	// Subscription re-reads a subscription.
	Subscription(ctx context.Context, id string) (Remote, error)
	// CustomerSubscriptions lists a customer's subscriptions, newest first.
	CustomerSubscriptions(ctx context.Context, customerID string) ([]Remote, error)
	// Checkout starts a Checkout session in subscription mode and returns
	// its URL.
	Checkout(ctx context.Context, in CheckoutInput) (string, error)
	// Portal starts a Customer Portal session and returns its URL.
	Portal(ctx context.Context, customerID, returnURL string) (string, error)
}

// CheckoutInput is a Checkout session to start.
type CheckoutInput struct {
	CommunityID string // client_reference_id and subscription metadata
	PriceID     string
	CustomerID  string // reuse the community's customer when known
	Email       string // prefill for a new customer
	SuccessURL  string
	CancelURL   string
}

// Communities is the current set of communities (community.Registry).
type Communities interface {
	Current() *community.Set
}
