// Package billingstore is billing.Store on the platform's SQL database
// (SQLite or PostgreSQL).
package billingstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/voyager/billing"
)

// Store implements billing.Store.
type Store struct{ db *store.DB }

var _ billing.Store = (*Store)(nil)

// New returns a Store on db.
func New(db *store.DB) *Store { return &Store{db: db} }

const columns = `community_id, customer_id, subscription_id, price_id, status, amount_cents, currency,
	billing_interval, interval_count, current_period_end, cancel_at_period_end, past_due_since, updated_at`

type scanner interface{ Scan(...any) error }

func scan(r scanner) (billing.Subscription, error) {
	var s billing.Subscription
	var status string
	var end, since sql.NullTime
	err := r.Scan(&s.CommunityID, &s.CustomerID, &s.SubscriptionID, &s.PriceID, &status, &s.AmountCents, &s.Currency,
		&s.Interval, &s.IntervalCount, &end, &s.CancelAtPeriodEnd, &since, &s.UpdatedAt)
	s.Status = billing.Status(status)
	if end.Valid {
		s.CurrentPeriodEnd = end.Time.UTC()
	}
	if since.Valid {
		s.PastDueSince = since.Time.UTC()
	}
	s.UpdatedAt = s.UpdatedAt.UTC()
	return s, err
}

func (s *Store) one(ctx context.Context, where string, arg string) (billing.Subscription, error) {
	sub, err := scan(s.db.QueryRow(ctx, `SELECT `+columns+` FROM voyager_billing_subscriptions WHERE `+where+` = ? ORDER BY updated_at DESC LIMIT 1`, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return sub, apperr.E(apperr.NotFound, "subscription not found")
	}
	if err != nil {
		return sub, fmt.Errorf("billing subscription: %w", err)
	}
	return sub, nil
}

// Subscription implements billing.Store.
func (s *Store) Subscription(ctx context.Context, communityID string) (billing.Subscription, error) {
	return s.one(ctx, "community_id", communityID)
}

// BySubscriptionID implements billing.Store.
func (s *Store) BySubscriptionID(ctx context.Context, id string) (billing.Subscription, error) {
	if id == "" {
		return billing.Subscription{}, apperr.E(apperr.NotFound, "subscription not found")
	}
	return s.one(ctx, "subscription_id", id)
}

// ByCustomerID implements billing.Store.
func (s *Store) ByCustomerID(ctx context.Context, id string) (billing.Subscription, error) {
	if id == "" {
		return billing.Subscription{}, apperr.E(apperr.NotFound, "subscription not found")
	}
	return s.one(ctx, "customer_id", id)
}

// Subscriptions implements billing.Store.
func (s *Store) Subscriptions(ctx context.Context) ([]billing.Subscription, error) {
	rows, err := s.db.Query(ctx, `SELECT `+columns+` FROM voyager_billing_subscriptions ORDER BY community_id`)
	if err != nil {
		return nil, fmt.Errorf("billing subscriptions: %w", err)
	}
	defer rows.Close()
	var out []billing.Subscription
	for rows.Next() {
		sub, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sub)
	}
	return out, rows.Err()
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// Save implements billing.Store.
func (s *Store) Save(ctx context.Context, b billing.Subscription) error {
	_, err := s.db.Exec(ctx, `INSERT INTO voyager_billing_subscriptions (`+columns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (community_id) DO UPDATE SET customer_id = excluded.customer_id, subscription_id = excluded.subscription_id,
			price_id = excluded.price_id, status = excluded.status, amount_cents = excluded.amount_cents, currency = excluded.currency,
			billing_interval = excluded.billing_interval, interval_count = excluded.interval_count,
			current_period_end = excluded.current_period_end, cancel_at_period_end = excluded.cancel_at_period_end,
			past_due_since = excluded.past_due_since, updated_at = excluded.updated_at`,
		b.CommunityID, b.CustomerID, b.SubscriptionID, b.PriceID, string(b.Status), b.AmountCents, b.Currency,
		b.Interval, b.IntervalCount, nullTime(b.CurrentPeriodEnd), b.CancelAtPeriodEnd, nullTime(b.PastDueSince), b.UpdatedAt.UTC())
	if err != nil {
		return fmt.Errorf("save billing subscription: %w", err)
	}
	return nil
}

// ClaimEvent implements billing.Store.
func (s *Store) ClaimEvent(ctx context.Context, id, typ string, at time.Time) (bool, error) {
	res, err := s.db.Exec(ctx, `INSERT INTO voyager_billing_events (event_id, type, outcome, received_at) VALUES (?, ?, 'processing', ?)
		ON CONFLICT (event_id) DO NOTHING`, id, typ, at.UTC())
	if err != nil {
		return false, fmt.Errorf("claim stripe event: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// FinishEvent implements billing.Store.
func (s *Store) FinishEvent(ctx context.Context, id, communityID, outcome string) error {
	_, err := s.db.Exec(ctx, `UPDATE voyager_billing_events SET community_id = ?, outcome = ? WHERE event_id = ?`, communityID, outcome, id)
	if err != nil {
		return fmt.Errorf("finish stripe event: %w", err)
	}
	return nil
}

// ReleaseEvent implements billing.Store.
func (s *Store) ReleaseEvent(ctx context.Context, id string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM voyager_billing_events WHERE event_id = ? AND outcome = 'processing'`, id)
	if err != nil {
		return fmt.Errorf("release stripe event: %w", err)
	}
	return nil
}
