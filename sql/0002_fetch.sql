-- 0002_fetch.sql — kw-fetch's own bookkeeping.
--
-- fetch_state holds small named integers that must survive between runs and commit together
-- with the data they describe: 'trades_watermark_us' (newest trade time of the last COMPLETE
-- trade sweep: a sweep killed half-way never advances it, so the next run re-reads the gap and
-- trade_id de-duplicates) and 'catalog_refreshed_at' (last full series/events refresh).
CREATE TABLE fetch_state (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
) STRICT;

-- Marking markets that left the open listing, and counting open ones, without a table scan.
CREATE INDEX markets_status_updated ON markets(status, updated_at);
