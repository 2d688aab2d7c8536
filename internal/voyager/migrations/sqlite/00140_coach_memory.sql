-- +goose Up
-- What the coach knows about a member in a community (docs/voyager.md, "What the coach sees").
CREATE TABLE voyager_profiles (
    community_id TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    current_job  TEXT NOT NULL DEFAULT '',
    experience   TEXT NOT NULL DEFAULT '',
    goals        TEXT NOT NULL DEFAULT '',
    target_roles TEXT NOT NULL DEFAULT '',
    location     TEXT NOT NULL DEFAULT '',
    notes        TEXT NOT NULL DEFAULT '',
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (community_id, user_id)
);

-- Facts the coach proposed (status proposed) and the member kept (kept).
CREATE TABLE voyager_memories (
    id           TEXT PRIMARY KEY,
    community_id TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('proposed', 'kept')),
    message_id   TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);
CREATE INDEX voyager_memories_member ON voyager_memories (user_id, community_id, created_at);

-- Documents a member attached to a conversation or (conversation_id '') to
-- the profile: the file as uploaded and its extracted text.
CREATE TABLE voyager_documents (
    id              TEXT PRIMARY KEY,
    community_id    TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL DEFAULT '',
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    media_type      TEXT NOT NULL,
    size            INTEGER NOT NULL,
    pages           INTEGER NOT NULL DEFAULT 0,
    tokens          INTEGER NOT NULL DEFAULT 0,
    text            TEXT NOT NULL,
    data            BLOB NOT NULL,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX voyager_documents_member ON voyager_documents (user_id, community_id, conversation_id, created_at);

-- Document tokens attached per member, community and day (counted in the quota).
ALTER TABLE voyager_usage ADD COLUMN document_tokens INTEGER NOT NULL DEFAULT 0;

-- Answers to a community's common first questions (opt-in, per-community TTL).
CREATE TABLE voyager_answer_cache (
    key         TEXT PRIMARY KEY,
    community_id TEXT NOT NULL,
    content     TEXT NOT NULL,
    provider    TEXT NOT NULL,
    model       TEXT NOT NULL,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_micros INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);
CREATE INDEX voyager_answer_cache_expiry ON voyager_answer_cache (expires_at);

-- +goose Down
DROP TABLE voyager_answer_cache;
ALTER TABLE voyager_usage DROP COLUMN document_tokens;
DROP TABLE voyager_documents;
DROP TABLE voyager_memories;
DROP TABLE voyager_profiles;
