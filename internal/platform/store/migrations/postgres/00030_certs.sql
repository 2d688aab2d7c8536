-- +goose Up
-- Certificates, keys and ACME account data (package certs), shared by every
-- instance on one database so they don't each ask the CA for certificates.
CREATE TABLE platform_certs (
    key      TEXT PRIMARY KEY,
    value    BYTEA NOT NULL,
    modified TIMESTAMPTZ NOT NULL
);
-- Cluster-wide locks that keep two instances from issuing the same certificate.
CREATE TABLE platform_cert_locks (
    name    TEXT PRIMARY KEY,
    owner   TEXT NOT NULL,
    expires TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE platform_cert_locks;
DROP TABLE platform_certs;
