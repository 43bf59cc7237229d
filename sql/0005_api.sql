-- 0005_api.sql — what whale detection and the data API need on top of 0001.
--
-- detect_state: where kw_detect_run() stopped (the last trade id it examined, the newest
-- market and order-book snapshot times it examined), so that each run looks only at new data.
-- Re-examining data is harmless: every alert has a deterministic alert_key.
--
-- The markets indexes are on the exact sort-key expressions of GET /api/v1/markets (NULL sorts
-- last through ifnull), with the ticker as tie-breaker, so every sort is a keyset walk along
-- one index. trades_whale is a partial index over trades of at least $1000 taker premium (the
-- smallest min_notional the API accepts), newest first for GET /api/v1/whales.

CREATE TABLE detect_state (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    last_trade_id      INTEGER NOT NULL DEFAULT 0,
    last_snapshot_at   INTEGER NOT NULL DEFAULT 0,
    last_book_at       INTEGER NOT NULL DEFAULT 0,
    updated_at         INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX markets_v1_volume_24h ON markets(ifnull(volume_24h_centi, -1), ticker);
CREATE INDEX markets_v1_volume ON markets(ifnull(volume_centi, -1), ticker);
CREATE INDEX markets_v1_open_interest ON markets(ifnull(open_interest_centi, -1), ticker);
CREATE INDEX markets_v1_price_change
    ON markets(ifnull(last_price_micros - previous_price_micros, -2000000), ticker);
CREATE INDEX markets_v1_close_time
    ON markets(ifnull(close_at, 9223372036854775807), ticker);
CREATE INDEX markets_series ON markets(series_ticker);

CREATE INDEX trades_whale ON trades(created_us) WHERE notional_micros >= 1000000000;

-- Per-market premium over a time range (the 24 h dollar volume on market rows, detection's
-- surge and high-volume windows) read from the index alone, without a table lookup per trade.
-- It extends trades_ticker_time (ticker, created_us), which it replaces.
CREATE INDEX trades_ticker_time_notional ON trades(ticker, created_us, notional_micros);
DROP INDEX trades_ticker_time;

CREATE INDEX alerts_cooldown ON alerts(ticker, type, window_end);
CREATE INDEX alerts_severity ON alerts(severity, id);
