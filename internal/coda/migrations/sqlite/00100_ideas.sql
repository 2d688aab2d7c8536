-- +goose Up
-- seq is the row's stable integer key for the FTS5 index (external content
-- needs an INTEGER rowid that VACUUM never renumbers); id is what URLs use.
CREATE TABLE ideas (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL DEFAULT '',
    tags            TEXT NOT NULL DEFAULT '[]',
    version         INTEGER NOT NULL DEFAULT 1,
    content_hash    TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    deleted_at      TIMESTAMP,
    undo_expires_at TIMESTAMP,
    undo_token_hash TEXT
);
CREATE INDEX ideas_live ON ideas (user_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX ideas_deleted ON ideas (user_id, deleted_at DESC) WHERE deleted_at IS NOT NULL;
CREATE INDEX ideas_purge ON ideas (undo_expires_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX ideas_content ON ideas (user_id, content_hash);
CREATE INDEX ideas_undo ON ideas (undo_token_hash) WHERE undo_token_hash IS NOT NULL;

CREATE TABLE idea_tags (
    idea_id TEXT NOT NULL REFERENCES ideas (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    tag     TEXT NOT NULL,
    PRIMARY KEY (idea_id, tag)
);
CREATE INDEX idea_tags_user ON idea_tags (user_id, tag);

CREATE VIRTUAL TABLE ideas_fts USING fts5(
    title, body,
    content = 'ideas', content_rowid = 'seq',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

-- +goose StatementBegin
CREATE TRIGGER ideas_fts_insert AFTER INSERT ON ideas BEGIN
    INSERT INTO ideas_fts (rowid, title, body) VALUES (new.seq, new.title, new.body);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER ideas_fts_delete AFTER DELETE ON ideas BEGIN
    INSERT INTO ideas_fts (ideas_fts, rowid, title, body) VALUES ('delete', old.seq, old.title, old.body);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER ideas_fts_update AFTER UPDATE OF title, body ON ideas BEGIN
    INSERT INTO ideas_fts (ideas_fts, rowid, title, body) VALUES ('delete', old.seq, old.title, old.body);
    INSERT INTO ideas_fts (rowid, title, body) VALUES (new.seq, new.title, new.body);
END;
-- +goose StatementEnd

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    hint         TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

-- +goose Down
DROP TABLE api_tokens;
DROP TRIGGER ideas_fts_update;
DROP TRIGGER ideas_fts_delete;
DROP TRIGGER ideas_fts_insert;
DROP TABLE ideas_fts;
DROP TABLE idea_tags;
DROP TABLE ideas;
