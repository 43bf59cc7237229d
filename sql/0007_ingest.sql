-- 0007_ingest.sql — trades de-duplicated along time, not through a random-order index.
--
-- 0001 declared trade_id UNIQUE: an index keyed by Kalshi's UUIDs, so every new trade landed
-- on a random page of it, and at a million trades kw-fetch's ingest was bound by rewriting
-- those pages (bench/bench-fetch.sh). A trade's created_time never changes at Kalshi, so every
-- copy of a trade carries the same created_us, and (created_us, trade_id) is unique exactly
-- when trade_id is. That index is in time order: new trades land at its newest end, on a few
-- hot pages. trades_time (created_us) stays as it was: the stats window walks it in
-- (created_us, id) order without a sort. SQLite cannot drop a column constraint, so the table
-- is rebuilt, ids kept (kw-ws and detection follow them), and its indexes are created again
-- as 0001 and 0005 left them.
CREATE TABLE trades_0007 (
    id                INTEGER PRIMARY KEY,    -- arrival order: what followers (kw-ws) track
    trade_id          TEXT NOT NULL,          -- Kalshi's id: unique, see trades_dedup
    ticker            TEXT NOT NULL,
    created_us        INTEGER NOT NULL,
    count_centi       INTEGER NOT NULL CHECK (count_centi > 0),
    yes_price_micros  INTEGER NOT NULL CHECK (yes_price_micros BETWEEN 0 AND 1000000),
    no_price_micros   INTEGER NOT NULL CHECK (no_price_micros BETWEEN 0 AND 1000000),
    taker_side        TEXT NOT NULL CHECK (taker_side IN ('yes', 'no')),
    notional_micros   INTEGER NOT NULL,       -- taker premium: count x taker-side price
    is_block          INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO trades_0007 (id, trade_id, ticker, created_us, count_centi, yes_price_micros,
                         no_price_micros, taker_side, notional_micros, is_block)
    SELECT id, trade_id, ticker, created_us, count_centi, yes_price_micros, no_price_micros,
           taker_side, notional_micros, is_block FROM trades ORDER BY id;
DROP TABLE trades;
ALTER TABLE trades_0007 RENAME TO trades;
CREATE UNIQUE INDEX trades_dedup ON trades(created_us, trade_id);
CREATE INDEX trades_time ON trades(created_us);
CREATE INDEX trades_notional ON trades(notional_micros, created_us);
CREATE INDEX trades_whale ON trades(created_us) WHERE notional_micros >= 1000000000;
CREATE INDEX trades_ticker_time_notional ON trades(ticker, created_us, notional_micros);
