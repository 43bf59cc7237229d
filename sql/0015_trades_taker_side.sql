-- 0015_trades_taker_side.sql — trades Kalshi sends without a taker side are kept.
--
-- Such a trade happened: it belongs in contract volume and trade counts. Without a side its
-- taker premium is unknown, so it is stored with taker_side and notional_micros NULL, and
-- the premium-based parts (whale trades, surges, high volume, the whales list, dollar
-- volumes) skip it; kw-fetch used to drop it as "missing_taker_side". SQLite cannot relax a
-- column constraint in place, so the table is rebuilt as 0007 did: ids kept (kw-ws and
-- detection follow them), indexes created again as 0007 and 0008 left them.
CREATE TABLE trades_0015 (
    id                INTEGER PRIMARY KEY,    -- arrival order: what followers (kw-ws) track
    trade_id          TEXT NOT NULL,          -- Kalshi's id: unique, see trades_dedup
    ticker            TEXT NOT NULL,
    created_us        INTEGER NOT NULL,
    count_centi       INTEGER NOT NULL CHECK (count_centi > 0),
    yes_price_micros  INTEGER NOT NULL CHECK (yes_price_micros BETWEEN 0 AND 1000000),
    no_price_micros   INTEGER NOT NULL CHECK (no_price_micros BETWEEN 0 AND 1000000),
    taker_side        TEXT CHECK (taker_side IN ('yes', 'no')),  -- NULL: Kalshi did not say
    notional_micros   INTEGER,                -- taker premium; NULL without a taker side
    is_block          INTEGER NOT NULL DEFAULT 0,
    CHECK ((taker_side IS NULL) = (notional_micros IS NULL))
) STRICT;
INSERT INTO trades_0015 (id, trade_id, ticker, created_us, count_centi, yes_price_micros,
                         no_price_micros, taker_side, notional_micros, is_block)
    SELECT id, trade_id, ticker, created_us, count_centi, yes_price_micros, no_price_micros,
           taker_side, notional_micros, is_block FROM trades ORDER BY id;
DROP TABLE trades;
ALTER TABLE trades_0015 RENAME TO trades;
CREATE UNIQUE INDEX trades_dedup ON trades(created_us, trade_id);
CREATE INDEX trades_whale ON trades(created_us) WHERE notional_micros >= 1000000000;
CREATE INDEX trades_hour_ticker
    ON trades(created_us / 3600000000, ticker, created_us, notional_micros);
