-- 0017_rollup_dirty.sql — the markets whose rollup inputs changed since the last update.
--
-- The rollups (0013) keep each market's start price per window and the legacy views (0014)
-- rank markets; both used to be read again for every market after every run, which made a
-- kw-fetch run that found nothing new cost 0.25 s of CPU at 50,000 markets. Every store
-- function that writes a market's row (the columns a start price or a ranking reads) or its
-- snapshots notes the market here in the same transaction (lib/store_int.h
-- kw_store_rollup_dirty), and lib/store_rollup.c reads again only those, plus the markets
-- that gained trades and those whose window start moved past a snapshot, then empties the
-- table in the same transaction.
-- kind: 1 = the markets row changed (the 24 h start price, the legacy views), 2 = a snapshot
-- changed (the 1 h and 7 d start prices); a market may have a row of each.
-- Not triggers: a statement that fires one keeps a statement journal of every page it
-- touches, which made loading 50,000 markets four times slower (1.6 million temp-file writes).
CREATE TABLE rollup_dirty (
    kind    INTEGER NOT NULL,
    ticker  TEXT NOT NULL,
    PRIMARY KEY (kind, ticker)
) STRICT, WITHOUT ROWID;

-- A database upgraded between a run's market writes and its rollups: everything once.
INSERT INTO rollup_dirty (kind, ticker) SELECT 1, ticker FROM markets;
INSERT INTO rollup_dirty (kind, ticker) SELECT 2, ticker FROM markets;
