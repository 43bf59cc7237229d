-- 0008_trade_hours.sql — trade indexes whose new entries land on a few hot pages.
--
-- kw-fetch's trade ingest was bound by two indexes keyed in random order: trades_notional
-- (notional, time) and trades_ticker_time_notional (ticker, time, notional). Every new trade
-- landed on a random leaf of each, so once they outgrew the page cache each commit rewrote
-- most of their pages (bench/bench-fetch.sh: 67k trades per CPU-second with them, 250k
-- without, at a million trades).
--
-- trades_hour_ticker keeps the per-market access, sliced by hour: its key starts with the
-- trade's hour, so a run's trades go into the slice of their hour (a few MB at Kalshi's rate)
-- and the rest of the index is never touched. A per-market query names the hours it wants
-- (`created_us / 3600000000 IN (...)`, one seek per hour; lib/store_api.c HOURS_IN) and
-- must spell the expression exactly so for SQLite to use the index.
--
-- trades_notional served only the stats' top trades, which now read the partial whale index
-- first (lib/store_api.c kw_store_top_trades). trades_time duplicated the leading column of
-- trades_dedup (created_us, trade_id), which serves every time range.
--
-- market_activity: each market's traded notional and trade count over the 24 hours before
-- the last fetch run. The markets lists showed them through two subqueries per market row,
-- which now would cost 25 seeks each; kw-fetch keeps this table current incrementally
-- (lib/store_fetch.c kw_store_fetch_activity; fetch_state 'activity_cutoff_us' and
-- 'activity_upto_id' say which trades it holds). Built here from what is stored.
DROP INDEX trades_notional;
DROP INDEX trades_ticker_time_notional;
DROP INDEX trades_time;
CREATE INDEX trades_hour_ticker
    ON trades(created_us / 3600000000, ticker, created_us, notional_micros);

CREATE TABLE market_activity (
    ticker          TEXT PRIMARY KEY,
    usd_24h_micros  INTEGER NOT NULL,   -- sum of the trades' notional_micros
    trades_24h      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT OR REPLACE INTO fetch_state (name, value)
    VALUES ('activity_cutoff_us', (CAST(strftime('%s', 'now') AS INTEGER) - 86400) * 1000000),
           ('activity_upto_id', (SELECT ifnull(max(id), 0) FROM trades));
INSERT INTO market_activity (ticker, usd_24h_micros, trades_24h)
    SELECT ticker, sum(notional_micros), count(*) FROM trades
     WHERE created_us >= (SELECT value FROM fetch_state WHERE name = 'activity_cutoff_us')
     GROUP BY ticker;
