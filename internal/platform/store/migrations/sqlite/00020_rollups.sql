-- +goose Up
-- Time-series rollups for the admin console's charts (no Prometheus server
-- needed). Each instance writes its own minute rows (instance = its ID);
-- the hourly rollup job sums them into hour and day rows (instance = '').
-- kind: counter (total adds up), gauge (total is a sum of samples, n their
-- count) or dist (hist holds sparse bucket counts "i:n,i:n" for percentiles).
CREATE TABLE metric_rollups (
    res      TEXT NOT NULL CHECK (res IN ('m', 'h', 'd')),
    metric   TEXT NOT NULL,
    dim      TEXT NOT NULL DEFAULT '',
    bucket   TIMESTAMP NOT NULL,
    instance TEXT NOT NULL DEFAULT '',
    kind     TEXT NOT NULL,
    n        BIGINT NOT NULL DEFAULT 0,
    total    REAL NOT NULL DEFAULT 0,
    hist     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (res, metric, dim, bucket, instance)
);
CREATE INDEX metric_rollups_bucket ON metric_rollups (res, bucket);

-- +goose Down
DROP TABLE metric_rollups;
