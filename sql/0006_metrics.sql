-- 0006_metrics.sql — request metrics, security-event and country counts, and the outbound
-- webhook queue (monitoring).
--
-- kw-api workers aggregate in memory and flush here every few seconds (lib/metrics.h,
-- lib/store_metrics.c): one upsert per (minute, method, endpoint, status class) cell, never a
-- write per request. Per-minute tables feed GET /api/v1/monitoring and are pruned after
-- METRICS_RETENTION_DAYS; the *_totals tables hold the same sums since the database was made,
-- never pruned (a few hundred rows at most: routes x methods x status classes), so that the
-- Prometheus counters on GET /metrics only ever grow.
--
-- Latency histogram: h0..h14 count requests whose duration (worker-side, from the first byte
-- read to the reply written) was <= 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000,
-- 2500 ms, and above (h14). Buckets are not cumulative here; /metrics accumulates them.

CREATE TABLE metrics_requests (
    minute          INTEGER NOT NULL,     -- Unix seconds, a multiple of 60
    method          TEXT NOT NULL,        -- GET, HEAD, POST, OPTIONS or OTHER
    endpoint        TEXT NOT NULL,        -- the route pattern, or '(unmatched)'
    status_class    INTEGER NOT NULL CHECK (status_class BETWEEN 1 AND 5),
    requests        INTEGER NOT NULL,
    bytes           INTEGER NOT NULL,     -- response body bytes
    latency_us_sum  INTEGER NOT NULL,
    h0 INTEGER NOT NULL, h1 INTEGER NOT NULL, h2 INTEGER NOT NULL, h3 INTEGER NOT NULL,
    h4 INTEGER NOT NULL, h5 INTEGER NOT NULL, h6 INTEGER NOT NULL, h7 INTEGER NOT NULL,
    h8 INTEGER NOT NULL, h9 INTEGER NOT NULL, h10 INTEGER NOT NULL, h11 INTEGER NOT NULL,
    h12 INTEGER NOT NULL, h13 INTEGER NOT NULL, h14 INTEGER NOT NULL,
    PRIMARY KEY (minute, method, endpoint, status_class)
) STRICT, WITHOUT ROWID;

CREATE TABLE metrics_request_totals (
    method          TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    status_class    INTEGER NOT NULL CHECK (status_class BETWEEN 1 AND 5),
    requests        INTEGER NOT NULL,
    bytes           INTEGER NOT NULL,
    latency_us_sum  INTEGER NOT NULL,
    h0 INTEGER NOT NULL, h1 INTEGER NOT NULL, h2 INTEGER NOT NULL, h3 INTEGER NOT NULL,
    h4 INTEGER NOT NULL, h5 INTEGER NOT NULL, h6 INTEGER NOT NULL, h7 INTEGER NOT NULL,
    h8 INTEGER NOT NULL, h9 INTEGER NOT NULL, h10 INTEGER NOT NULL, h11 INTEGER NOT NULL,
    h12 INTEGER NOT NULL, h13 INTEGER NOT NULL, h14 INTEGER NOT NULL,
    PRIMARY KEY (method, endpoint, status_class)
) STRICT, WITHOUT ROWID;

-- The same sums per hour, written in the same flush: the 7-day window reads 168 hours instead
-- of 10,080 minutes (about 0.5 s -> a few ms with a full week of traffic).
CREATE TABLE metrics_requests_hourly (
    hour            INTEGER NOT NULL,     -- Unix seconds, a multiple of 3600
    method          TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    status_class    INTEGER NOT NULL CHECK (status_class BETWEEN 1 AND 5),
    requests        INTEGER NOT NULL,
    bytes           INTEGER NOT NULL,
    latency_us_sum  INTEGER NOT NULL,
    h0 INTEGER NOT NULL, h1 INTEGER NOT NULL, h2 INTEGER NOT NULL, h3 INTEGER NOT NULL,
    h4 INTEGER NOT NULL, h5 INTEGER NOT NULL, h6 INTEGER NOT NULL, h7 INTEGER NOT NULL,
    h8 INTEGER NOT NULL, h9 INTEGER NOT NULL, h10 INTEGER NOT NULL, h11 INTEGER NOT NULL,
    h12 INTEGER NOT NULL, h13 INTEGER NOT NULL, h14 INTEGER NOT NULL,
    PRIMARY KEY (hour, method, endpoint, status_class)
) STRICT, WITHOUT ROWID;

-- name is a security event type (metrics_security) or an ISO 3166 country code, 'unknown'
-- when GEOIP_DB is unset or has no answer (metrics_countries).
CREATE TABLE metrics_security (
    minute  INTEGER NOT NULL,
    name    TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (minute, name)
) STRICT, WITHOUT ROWID;
CREATE TABLE metrics_countries (
    minute  INTEGER NOT NULL,
    name    TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (minute, name)
) STRICT, WITHOUT ROWID;
CREATE TABLE metrics_security_hourly (
    hour    INTEGER NOT NULL,
    name    TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (hour, name)
) STRICT, WITHOUT ROWID;
CREATE TABLE metrics_countries_hourly (
    hour    INTEGER NOT NULL,
    name    TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (hour, name)
) STRICT, WITHOUT ROWID;
CREATE TABLE metrics_security_totals (
    name   TEXT PRIMARY KEY,
    count  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE metrics_country_totals (
    name   TEXT PRIMARY KEY,
    count  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Outbound webhooks (lib/webhook.h), drained by kw-fetch after each run, never by a request.
-- webhook_cursors: per source ('alerts' -> alerts.id, 'security' -> security_events.id) the
-- newest row already queued; set to the newest existing row the first time a webhook is
-- configured, so that enabling one does not replay history.
-- webhook_deliveries: one row per (target, source, source row); UNIQUE makes queueing
-- idempotent. A delivery is retried with exponential backoff until delivered_at or failed_at.
CREATE TABLE webhook_cursors (
    source   TEXT PRIMARY KEY CHECK (source IN ('alerts', 'security')),
    last_id  INTEGER NOT NULL
) STRICT;
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    target           TEXT NOT NULL CHECK (target IN ('alert', 'whale')),
    source           TEXT NOT NULL CHECK (source IN ('alerts', 'security')),
    source_id        INTEGER NOT NULL,
    payload          TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,        -- Unix milliseconds
    delivered_at     INTEGER,
    failed_at        INTEGER,
    last_error       TEXT NOT NULL DEFAULT '',
    UNIQUE (target, source, source_id)
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
