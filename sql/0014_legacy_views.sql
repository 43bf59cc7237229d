-- 0014_legacy_views.sql — the legacy routes' market lists, ranked by kw-fetch.
--
-- /api/markets, /api/top-markets and /api/markets/top5 list open markets of a view (the crypto
-- view by default, a category, or all) by 24 h contract volume. Read through the volume index,
-- a view whose markets are rare among 50,000 (the crypto view: a category or a series prefix
-- that no index holds) walked nearly every market per request. kw-fetch now ranks the first
-- 1,000 open markets of every view after each run (lib/store_rollup.c) and the routes read
-- the first `limit` ranks: 'all', 'crypto' (CRYPTO_SERIES_PREFIXES and the Crypto category),
-- and 'c:' || lower(category) for each category. The markets rows themselves are joined
-- live; the order is the run's.
CREATE TABLE legacy_views (
    view    TEXT NOT NULL,
    rank    INTEGER NOT NULL,
    ticker  TEXT NOT NULL,
    PRIMARY KEY (view, rank)
) STRICT, WITHOUT ROWID;
