-- +goose Up
-- One-time tokens that carry a sign-in from the platform's host to a
-- community's custom domain (session cookies are per host).
CREATE TABLE voyager_handoffs (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    community_id TEXT NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE voyager_handoffs;
