-- 0021_markets_room.sql — room in the markets table's pages for a market's next version.
--
-- PostgreSQL only (see sql/pg/0021_markets_room.sql); SQLite updates a row in place and has
-- nothing of the kind to set. The number exists here so that both backends keep one schema
-- version.
SELECT 1;
