-- 0001_init.sql — the market-data store.
--
-- Units: money is integer micro-dollars (*_micros: $0.42 = 420000); contract counts are integer
-- hundredths (*_centi: 25.00 contracts = 2500); times are Unix seconds (*_at) or, for trades,
-- Unix microseconds (created_us) so that order within a second is kept. A value Kalshi did not
-- send is NULL, never 0. Categories come from the series (market -> event -> series).

CREATE TABLE series (
    ticker      TEXT PRIMARY KEY,
    title       TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL DEFAULT '',
    frequency   TEXT NOT NULL DEFAULT '',
    fetched_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX series_category ON series(category);

CREATE TABLE events (
    event_ticker  TEXT PRIMARY KEY,
    series_ticker TEXT NOT NULL,
    title         TEXT NOT NULL DEFAULT '',
    sub_title     TEXT NOT NULL DEFAULT '',
    category      TEXT NOT NULL DEFAULT '',   -- deprecated on Kalshi's side; the series wins
    fetched_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX events_series ON events(series_ticker);

CREATE TABLE markets (
    ticker                 TEXT PRIMARY KEY,
    event_ticker           TEXT NOT NULL,
    series_ticker          TEXT,              -- known once the event is fetched
    category               TEXT,              -- denormalised from the series for filtering
    title                  TEXT NOT NULL DEFAULT '',
    yes_sub_title          TEXT NOT NULL DEFAULT '',
    no_sub_title           TEXT NOT NULL DEFAULT '',
    market_type            TEXT NOT NULL DEFAULT 'binary',
    status                 TEXT NOT NULL,
    open_at                INTEGER,
    close_at               INTEGER,
    yes_bid_micros         INTEGER,
    yes_ask_micros         INTEGER,
    no_bid_micros          INTEGER,
    no_ask_micros          INTEGER,
    last_price_micros      INTEGER,
    previous_price_micros  INTEGER,
    yes_bid_size_centi     INTEGER,
    yes_ask_size_centi     INTEGER,
    volume_centi           INTEGER,
    volume_24h_centi       INTEGER,
    open_interest_centi    INTEGER,
    first_seen_at          INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL   -- when kw-fetch last stored it
) STRICT;
CREATE INDEX markets_volume_24h ON markets(volume_24h_centi DESC, ticker);
CREATE INDEX markets_category ON markets(category, volume_24h_centi DESC);
CREATE INDEX markets_event ON markets(event_ticker);

CREATE TABLE trades (
    id                INTEGER PRIMARY KEY,    -- arrival order: what followers (kw-ws) track
    trade_id          TEXT NOT NULL UNIQUE,   -- Kalshi's id: de-duplicates overlapping runs
    ticker            TEXT NOT NULL,
    created_us        INTEGER NOT NULL,
    count_centi       INTEGER NOT NULL CHECK (count_centi > 0),
    yes_price_micros  INTEGER NOT NULL CHECK (yes_price_micros BETWEEN 0 AND 1000000),
    no_price_micros   INTEGER NOT NULL CHECK (no_price_micros BETWEEN 0 AND 1000000),
    taker_side        TEXT NOT NULL CHECK (taker_side IN ('yes', 'no')),
    notional_micros   INTEGER NOT NULL,       -- taker premium: count x taker-side price
    is_block          INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX trades_ticker_time ON trades(ticker, created_us);
CREATE INDEX trades_time ON trades(created_us);
CREATE INDEX trades_notional ON trades(notional_micros, created_us);

CREATE TABLE market_snapshots (
    ticker               TEXT NOT NULL,
    taken_at             INTEGER NOT NULL,
    run_id               INTEGER,
    yes_bid_micros       INTEGER,
    yes_ask_micros       INTEGER,
    last_price_micros    INTEGER,
    volume_centi         INTEGER,
    volume_24h_centi     INTEGER,
    open_interest_centi  INTEGER,
    yes_bid_size_centi   INTEGER,
    yes_ask_size_centi   INTEGER,
    PRIMARY KEY (ticker, taken_at)
) STRICT, WITHOUT ROWID;
CREATE INDEX market_snapshots_time ON market_snapshots(taken_at);

CREATE TABLE orderbook_snapshots (
    ticker               TEXT NOT NULL,
    taken_at             INTEGER NOT NULL,
    run_id               INTEGER,
    yes_depth_centi      INTEGER NOT NULL,   -- sum of YES bid sizes
    no_depth_centi       INTEGER NOT NULL,   -- sum of NO bid sizes
    yes_levels           INTEGER NOT NULL,
    no_levels            INTEGER NOT NULL,
    best_yes_bid_micros  INTEGER,
    best_no_bid_micros   INTEGER,
    PRIMARY KEY (ticker, taken_at)
) STRICT, WITHOUT ROWID;
CREATE INDEX orderbook_snapshots_time ON orderbook_snapshots(taken_at);

CREATE TABLE fetch_runs (
    id            INTEGER PRIMARY KEY,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    outcome       TEXT NOT NULL DEFAULT 'running'
                  CHECK (outcome IN ('running', 'ok', 'partial', 'failed')),
    pages         INTEGER NOT NULL DEFAULT 0,
    markets       INTEGER NOT NULL DEFAULT 0,
    trades        INTEGER NOT NULL DEFAULT 0,
    orderbooks    INTEGER NOT NULL DEFAULT 0,
    http_errors   INTEGER NOT NULL DEFAULT 0,
    skipped       INTEGER NOT NULL DEFAULT 0,
    open_markets  INTEGER,                      -- open markets stored when the run ended
    skip_reasons  TEXT NOT NULL DEFAULT '{}',   -- JSON object: reason -> count
    error         TEXT
) STRICT;
CREATE INDEX fetch_runs_outcome ON fetch_runs(outcome, finished_at);

-- Asked for by POST /api/refresh; kw-fetch claims the oldest unclaimed one.
CREATE TABLE refresh_requests (
    id            INTEGER PRIMARY KEY,
    requested_at  INTEGER NOT NULL,
    force         INTEGER NOT NULL DEFAULT 0,
    run_id        INTEGER REFERENCES fetch_runs(id)
) STRICT;

CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,          -- followers resume with since_id
    alert_key   TEXT NOT NULL UNIQUE,         -- type:ticker:window — re-runs never duplicate
    type        TEXT NOT NULL CHECK (type IN ('whale_trade', 'volume_surge', 'odds_flip',
                                              'order_book_shift', 'high_volume')),
    ticker      TEXT NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('high', 'medium')),
    confidence  INTEGER NOT NULL CHECK (confidence BETWEEN 0 AND 100),
    description TEXT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}',   -- JSON: the numbers and thresholds that fired it
    created_at  INTEGER NOT NULL,
    window_end  INTEGER NOT NULL
) STRICT;
CREATE INDEX alerts_ticker ON alerts(ticker, id);
CREATE INDEX alerts_type ON alerts(type, id);
CREATE INDEX alerts_time ON alerts(created_at);

-- Written by kw-ws every few seconds so that /api/status shows real connection counts.
CREATE TABLE ws_stats (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    connections        INTEGER NOT NULL DEFAULT 0,
    messages_sent      INTEGER NOT NULL DEFAULT 0,
    messages_received  INTEGER NOT NULL DEFAULT 0,
    pid                INTEGER,
    updated_at         INTEGER NOT NULL
) STRICT;
