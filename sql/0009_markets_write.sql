-- 0009_markets_write.sql — one index fewer for kw-fetch to keep up on every market it stores.
--
-- markets_category (category, volume_24h_centi DESC) serves no query any more: the markets
-- lists filter on `category = ? COLLATE NOCASE`, which a BINARY index cannot answer, and walk
-- their sort index instead (lib/store_api.c); nothing else reads markets by category. Every
-- new or changed market still paid for an entry in it (bench/bench-fetch.sh, first run).
DROP INDEX markets_category;
