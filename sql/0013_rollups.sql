-- 0013_rollups.sql — what /api/v1/stats and the legacy analytics show, kept by kw-fetch.
--
-- Both computed their figures per request from the trades: /api/v1/stats walked every trade
-- of its windows (1.4 s at 1,000,000 trades a day), the analytics summed each listed market's
-- trades hour by hour. kw-fetch now keeps the figures after every run, incrementally, in one
-- transaction with their state (lib/store_rollup.c), and kw-api reads only the rows it
-- returns. `kw-admin db activity` recounts them from the stored trades.
--
-- The windows end at the last run's clock: stats_windows.as_of. A window holds exactly the
-- trades with created_us >= cutoff_us and id <= upto_id.
CREATE TABLE stats_windows (
    window_s        INTEGER PRIMARY KEY,  -- 3600, 86400, 604800
    as_of           INTEGER NOT NULL,     -- the run's clock, seconds
    cutoff_us       INTEGER NOT NULL,     -- (as_of - window_s) * 1000000
    upto_id         INTEGER NOT NULL,
    markets_traded  INTEGER NOT NULL,
    whale_rules     INTEGER NOT NULL      -- hash of the thresholds stats_whales counted with
) STRICT;

-- Per window and market: the trades' count and notional (all, and the yes takers'), the last
-- trade in (created_us, trade_id) order with its yes price, and the price a change over the
-- window starts from (the one definition of price change, lib/store_api.h kw_store_price_at:
-- Kalshi's previous price for 24 h, the newest snapshot's last price at the window's start
-- otherwise; NULL when the market had no traded price then: no change, never a mover).
CREATE TABLE stats_markets (
    window_s            INTEGER NOT NULL,
    ticker              TEXT NOT NULL,
    trades              INTEGER NOT NULL,
    notional_micros     INTEGER NOT NULL,
    yes_micros          INTEGER NOT NULL,
    last_us             INTEGER NOT NULL,
    last_trade_id       TEXT NOT NULL,
    last_price_micros   INTEGER NOT NULL,
    start_price_micros  INTEGER,
    PRIMARY KEY (window_s, ticker)
) STRICT, WITHOUT ROWID;
-- most active (and flow): notional, biggest first; movers: change, both ends of one index.
CREATE INDEX stats_markets_active ON stats_markets(window_s, notional_micros DESC, ticker);
CREATE INDEX stats_markets_change
    ON stats_markets(window_s, last_price_micros - start_price_micros DESC, ticker);

-- Per window and market category ('' for none): trades at or over the whale threshold.
CREATE TABLE stats_whales (
    window_s  INTEGER NOT NULL,
    category  TEXT NOT NULL,
    trades    INTEGER NOT NULL,
    PRIMARY KEY (window_s, category)
) STRICT, WITHOUT ROWID;

-- Per window: its 50 biggest trades (the most a stats request lists).
CREATE TABLE stats_top_trades (
    window_s         INTEGER NOT NULL,
    trade_rowid      INTEGER NOT NULL,   -- trades.id
    notional_micros  INTEGER NOT NULL,
    created_us       INTEGER NOT NULL,
    PRIMARY KEY (window_s, trade_rowid)
) STRICT, WITHOUT ROWID;
CREATE INDEX stats_top_trades_order
    ON stats_top_trades(window_s, notional_micros DESC, trade_rowid DESC);

-- Per market and hour (created_us / 3600000000): traded notional, for the analytics' trends.
-- Kept for the last eight days.
CREATE TABLE market_hours (
    ticker           TEXT NOT NULL,
    hour             INTEGER NOT NULL,
    notional_micros  INTEGER NOT NULL,
    trades           INTEGER NOT NULL,
    PRIMARY KEY (ticker, hour)
) STRICT, WITHOUT ROWID;
