-- 0016_worker_writes.sql — what kw-api's workers had to drop instead of writing.
--
-- A worker keeps every write (metrics, security events, key use, blocks) in memory until the
-- database takes it, in bounded tables; when a table is full for long enough (the database
-- refused writes for minutes) the newest records are dropped, and the worker counts them
-- here, by kind, at its next successful write. GET /metrics shows them
-- (kw_worker_writes_dropped_total), so a loss is never silent.
CREATE TABLE worker_writes_dropped (
    kind  TEXT PRIMARY KEY,
    count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
