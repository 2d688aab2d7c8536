-- +goose Up
-- Membership of a community (defined by its JSON file, so no foreign key).
CREATE TABLE voyager_memberships (
    community_id TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'coach', 'admin')),
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (community_id, user_id)
);
CREATE INDEX voyager_memberships_user ON voyager_memberships (user_id);

-- Invite links for private communities; only the token's hash is kept.
CREATE TABLE voyager_invites (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    community_id TEXT NOT NULL,
    created_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    role         TEXT NOT NULL DEFAULT 'member',
    max_uses     INTEGER NOT NULL DEFAULT 0,
    uses         INTEGER NOT NULL DEFAULT 0,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);

CREATE TABLE voyager_conversations (
    id           TEXT PRIMARY KEY,
    community_id TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);
CREATE INDEX voyager_conversations_list ON voyager_conversations (user_id, community_id, updated_at DESC);

-- Messages in order of id (UUIDv7). status: complete, streaming, stopped,
-- interrupted, failed. cost_micros: estimated cost in millionths of a USD.
CREATE TABLE voyager_messages (
    id                 TEXT PRIMARY KEY,
    conversation_id    TEXT NOT NULL REFERENCES voyager_conversations (id) ON DELETE CASCADE,
    user_id            TEXT NOT NULL,
    community_id       TEXT NOT NULL,
    role               TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content            TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'complete',
    provider           TEXT NOT NULL DEFAULT '',
    model              TEXT NOT NULL DEFAULT '',
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    latency_ms         INTEGER NOT NULL DEFAULT 0,
    first_token_ms     INTEGER NOT NULL DEFAULT 0,
    finish_reason      TEXT NOT NULL DEFAULT '',
    cost_micros        INTEGER NOT NULL DEFAULT 0,
    error              TEXT NOT NULL DEFAULT '',
    created_at         TIMESTAMP NOT NULL
);
CREATE INDEX voyager_messages_conversation ON voyager_messages (conversation_id, id);

-- Answers asked for per member, community and UTC day (the daily limit);
-- kept apart from messages so deleting or regenerating does not refund.
CREATE TABLE voyager_usage (
    community_id TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day          TEXT NOT NULL,
    answers      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (community_id, user_id, day)
);

-- +goose Down
DROP TABLE voyager_usage;
DROP TABLE voyager_messages;
DROP TABLE voyager_conversations;
DROP TABLE voyager_invites;
DROP TABLE voyager_memberships;
