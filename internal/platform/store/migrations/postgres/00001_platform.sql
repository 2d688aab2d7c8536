-- +goose Up
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    actor_id    TEXT,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    resource_id TEXT,
    metadata    JSONB NOT NULL DEFAULT '{}',
    ip          TEXT,
    user_agent  TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor_id, at);

CREATE TABLE cron_runs (
    id          TEXT PRIMARY KEY,
    job         TEXT NOT NULL,
    trigger     TEXT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    duration_ms BIGINT NOT NULL,
    ok          BOOLEAN NOT NULL,
    result      JSONB NOT NULL DEFAULT '{}',
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX cron_runs_job ON cron_runs (job, started_at);

CREATE TABLE cron_claims (
    job        TEXT NOT NULL,
    slot       TIMESTAMPTZ NOT NULL,
    claimed_by TEXT NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job, slot)
);

-- +goose Down
DROP TABLE cron_claims;
DROP TABLE cron_runs;
DROP TABLE audit_log;
