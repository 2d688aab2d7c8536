-- +goose Up
-- One row per paid community: its Stripe customer and subscription as last
-- read from Stripe. Access is decided from this table, never from a live
-- call to Stripe, so a Stripe outage does not block chat.
CREATE TABLE voyager_billing_subscriptions (
    community_id         TEXT PRIMARY KEY,
    customer_id          TEXT NOT NULL DEFAULT '',
    subscription_id      TEXT NOT NULL DEFAULT '',
    price_id             TEXT NOT NULL DEFAULT '',
    status               TEXT NOT NULL DEFAULT '',
    amount_cents         BIGINT NOT NULL DEFAULT 0,
    currency             TEXT NOT NULL DEFAULT '',
    billing_interval     TEXT NOT NULL DEFAULT '',
    interval_count       BIGINT NOT NULL DEFAULT 0,
    current_period_end   TIMESTAMP,
    cancel_at_period_end BOOLEAN NOT NULL DEFAULT FALSE,
    past_due_since       TIMESTAMP,
    updated_at           TIMESTAMP NOT NULL
);
CREATE INDEX voyager_billing_subscriptions_sub ON voyager_billing_subscriptions (subscription_id);
CREATE INDEX voyager_billing_subscriptions_cus ON voyager_billing_subscriptions (customer_id);

-- Every Stripe event handled, so each is processed exactly once.
CREATE TABLE voyager_billing_events (
    event_id     TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    community_id TEXT NOT NULL DEFAULT '',
    outcome      TEXT NOT NULL,
    received_at  TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE voyager_billing_events;
DROP TABLE voyager_billing_subscriptions;
