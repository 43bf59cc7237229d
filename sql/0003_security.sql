-- 0003_security.sql — API keys, security events, rate-limiter state and blocked addresses.
--
-- Keys are stored only as the SHA-256 of the whole key (hex), never the key: a stolen
-- database cannot be replayed. `prefix` is the first characters of the key ("kw_AbCd1234"),
-- safe to show and to log. rate_per_minute 0 = the global RATE_LIMIT_PER_MINUTE.
CREATE TABLE api_keys (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    prefix          TEXT NOT NULL,
    key_sha256      TEXT NOT NULL UNIQUE,
    scope           TEXT NOT NULL CHECK (scope IN ('read', 'admin')),
    rate_per_minute INTEGER NOT NULL DEFAULT 0 CHECK (rate_per_minute >= 0),
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER,
    revoked_at      INTEGER
) STRICT;

-- One row per security event; the newest KW_SECURITY_EVENTS_KEEP (10000) are kept by the
-- trigger, so an attack cannot grow the file without bound.
CREATE TABLE security_events (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,          -- Unix seconds
    type        TEXT NOT NULL,             -- auth_failed, rate_limit_exceeded, ...
    client      TEXT NOT NULL DEFAULT '',  -- client address
    key_id      INTEGER,                   -- api_keys.id when known
    detail      TEXT NOT NULL DEFAULT '',  -- short reason, never a secret
    request_id  TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX security_events_type_at ON security_events(type, at);
CREATE TRIGGER security_events_bound AFTER INSERT ON security_events
BEGIN
    DELETE FROM security_events WHERE id <= NEW.id - 10000;
END;

-- Write-behind copy of the shared-memory GCRA table (lib/ratelimit.c): digest of the limiter
-- key -> theoretical arrival time (Unix microseconds). Rows in the past mean nothing.
CREATE TABLE rate_limit_state (
    key_digest  INTEGER PRIMARY KEY,
    tat_us      INTEGER NOT NULL
) STRICT;

-- Addresses blocked after repeated authentication failures (suspicious_activity).
CREATE TABLE blocked_addresses (
    address     TEXT PRIMARY KEY,
    blocked_at  INTEGER NOT NULL,
    until_at    INTEGER NOT NULL,
    reason      TEXT NOT NULL DEFAULT ''
) STRICT;
