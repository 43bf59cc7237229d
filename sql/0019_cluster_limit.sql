-- 0019_cluster_limit.sql — the rate limiter's state when several nodes share one PostgreSQL.
--
-- On PostgreSQL a node takes quota from this table (lib/store_gcra.c) with one statement: one
-- row per limiter key ("k:12", "a:203.0.113.9", the failure counts "f:..." and the blocks
-- "b:..."), holding the GCRA theoretical arrival time in the server's clock, so that a key's
-- limit holds across every node. units is how many requests the last update took at once: a
-- node takes a few ahead (a lease) when the bucket allows it (docs/cluster.md). On SQLite the
-- limiter is the shared-memory table of one host (lib/ratelimit.c) and this table stays
-- empty: it exists so that both backends keep one schema.
CREATE TABLE rate_limit_cluster (
    key     TEXT PRIMARY KEY,
    tat_us  INTEGER NOT NULL,
    units   INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;
