-- 0011_no_price.sql — "no price" stored as NULL, never as a price.
--
-- Kalshi writes a market that never traded with a last price of "0.0000" (and a previous
-- price of "0.0000" when it had none a day ago), and an empty side of the book as a bid of
-- "0.0000" or an ask of "1.0000". kw-fetch stored those as real prices, so a new market's
-- first trade read as a move from 0 % (a false odds flip) and legacy cards showed 0 %. kw-fetch
-- now stores them as NULL (lib/kalshi.c); this turns the rows already stored the same way.
UPDATE markets SET last_price_micros = NULL WHERE last_price_micros <= 0;
UPDATE markets SET previous_price_micros = NULL WHERE previous_price_micros <= 0;
UPDATE markets SET yes_bid_micros = NULL WHERE yes_bid_micros <= 0;
UPDATE markets SET no_bid_micros = NULL WHERE no_bid_micros <= 0;
UPDATE markets SET yes_ask_micros = NULL WHERE yes_ask_micros >= 1000000;
UPDATE markets SET no_ask_micros = NULL WHERE no_ask_micros >= 1000000;
UPDATE market_snapshots SET last_price_micros = NULL WHERE last_price_micros <= 0;
UPDATE market_snapshots SET yes_bid_micros = NULL WHERE yes_bid_micros <= 0;
UPDATE market_snapshots SET yes_ask_micros = NULL WHERE yes_ask_micros >= 1000000;
