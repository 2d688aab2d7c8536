-- +goose Up
-- DevMode runners: one row per paired machine. A revoked runner keeps its
-- row (revoked_at set) so its credential stays refused.
CREATE TABLE devmode_runners (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    os           TEXT NOT NULL DEFAULT '',
    arch         TEXT NOT NULL DEFAULT '',
    version      TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP,
    revoked_at   TIMESTAMP
);
CREATE INDEX devmode_runners_user ON devmode_runners (user_id, created_at);

-- Pairing requests (RFC 8628 device authorization). The device code is a
-- secret known only to the runner: only its SHA-256 is kept.
CREATE TABLE devmode_pairings (
    id           TEXT PRIMARY KEY,
    user_code    TEXT NOT NULL UNIQUE,
    device_hash  TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    os           TEXT NOT NULL DEFAULT '',
    arch         TEXT NOT NULL DEFAULT '',
    version      TEXT NOT NULL DEFAULT '',
    ip           TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    interval_s   INTEGER NOT NULL,
    polled_at    TIMESTAMP,
    approved_at  TIMESTAMP,
    denied_at    TIMESTAMP,
    claimed_at   TIMESTAMP,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    runner_id    TEXT REFERENCES devmode_runners (id) ON DELETE CASCADE
);
CREATE INDEX devmode_pairings_expires ON devmode_pairings (expires_at);

-- +goose Down
DROP TABLE devmode_pairings;
DROP TABLE devmode_runners;
