-- +goose Up
CREATE TABLE ideas (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL DEFAULT '',
    tags            TEXT NOT NULL DEFAULT '[]',
    version         INTEGER NOT NULL DEFAULT 1,
    content_hash    TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ,
    undo_expires_at TIMESTAMPTZ,
    undo_token_hash TEXT,
    search          TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', body), 'B')
    ) STORED
);
CREATE INDEX ideas_live ON ideas (user_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX ideas_deleted ON ideas (user_id, deleted_at DESC) WHERE deleted_at IS NOT NULL;
CREATE INDEX ideas_purge ON ideas (undo_expires_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX ideas_content ON ideas (user_id, content_hash);
CREATE INDEX ideas_undo ON ideas (undo_token_hash) WHERE undo_token_hash IS NOT NULL;
CREATE INDEX ideas_search ON ideas USING GIN (search);

CREATE TABLE idea_tags (
    idea_id TEXT NOT NULL REFERENCES ideas (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    tag     TEXT NOT NULL,
    PRIMARY KEY (idea_id, tag)
);
CREATE INDEX idea_tags_user ON idea_tags (user_id, tag);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    hint         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE idea_tags;
DROP TABLE ideas;
