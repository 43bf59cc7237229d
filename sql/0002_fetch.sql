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

-- No index on markets(updated_at): it changes for every market on every run, so keeping one
-- would cost more than the one scan per run that closing unlisted markets needs.
