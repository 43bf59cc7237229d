-- 0019_cluster_limit.sql — the rate limiter's state shared by every node (see the SQLite
-- migration of the same number, and lib/store_gcra.c).
--
-- UNLOGGED: a row is updated by nearly every request, and a logged table would make each
-- wait for a WAL flush. The price is written in docs/cluster.md: a crash of the server (not a
-- clean restart) empties the table, so every key starts again with its full burst once, and
-- blocks in force are kept by blocked_addresses for operators but no longer enforced. A
-- replica has none of its rows either.
CREATE UNLOGGED TABLE rate_limit_cluster (
    key     TEXT COLLATE "C" PRIMARY KEY,
    tat_us  BIGINT NOT NULL,
    units   BIGINT NOT NULL DEFAULT 1
);
