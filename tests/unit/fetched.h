/*
 * fetched.h — fixtures for the store's unit tests: a temporary database, and markets, trades
 * and order books stored the way kw-fetch stores them (Kalshi's JSON through the kalshi.h
 * parsers into kw_store_fetch_*), alerts as detection records them (kw_store_alert_insert),
 * never rows written by hand. Only the public store API.
 *
 * Header-only, for test files: every function is static inline (a test uses some of them).
 */
#ifndef KW_TEST_FETCHED_H
#define KW_TEST_FETCHED_H

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kalshi.h"
#include "store.h"
#include "store_fetch.h"
#include "store_whale.h"

/* One trade as Kalshi lists it; side "yes", "no" or NULL (Kalshi did not say). */
static inline int put_trade(struct kw_store *s, const char *id, const char *ticker, int64_t at,
			    const char *count, const char *yes_price, const char *side)
{
	char json[512], ts[32], no_price[32];
	struct kw_kalshi_trade t;
	const char *why = NULL;
	int inserted = -1;
	long yes = strtol(yes_price + 2, NULL, 10); /* "0.NNNN" */
	kw_fmt_rfc3339(at, ts, sizeof(ts));
	snprintf(no_price, sizeof(no_price), "0.%04ld", 10000 - yes);
	snprintf(json, sizeof(json),
		 "{\"trade_id\":\"%s\",\"ticker\":\"%s\",\"count_fp\":\"%s\","
		 "\"yes_price_dollars\":\"%s\",\"no_price_dollars\":\"%s\"%s%s%s,"
		 "\"created_time\":\"%s\"}",
		 id, ticker, count, yes_price, no_price, side ? ",\"taker_outcome_side\":\"" : "",
		 side ? side : "", side ? "\"" : "", ts);
	json_object *o = json_tokener_parse(json);
	assert_non_null(o);
	assert_int_equal(kw_kalshi_trade_parse(o, &t, &why), 0);
	assert_int_equal(kw_store_fetch_trade(s, &t, 0, &inserted), 0);
	json_object_put(o);
	return inserted;
}

/* One open market as Kalshi lists it, stored with a snapshot at taken_at. */
static inline void put_market(struct kw_store *s, const char *ticker, const char *event,
			      const char *last_price, int64_t taken_at, int64_t run_id)
{
	char json[512];
	struct kw_kalshi_market m;
	const char *why = NULL;
	int as_was = 0;
	snprintf(json, sizeof(json),
		 "{\"ticker\":\"%s\",\"event_ticker\":\"%s\",\"market_type\":\"binary\","
		 "\"title\":\"Test "
		 "%s?\",\"status\":\"active\",\"open_time\":\"2026-11-01T00:00:00Z\","
		 "\"close_time\":\"2026-12-31T00:00:00Z\",\"yes_bid_dollars\":\"0.4000\","
		 "\"yes_ask_dollars\":\"0.4200\",\"last_price_dollars\":\"%s\","
		 "\"volume_fp\":\"100.00\",\"volume_24h_fp\":\"10.00\",\"open_interest_fp\":\"5."
		 "00\"}",
		 ticker, event, ticker, last_price);
	json_object *o = json_tokener_parse(json);
	assert_non_null(o);
	assert_int_equal(kw_kalshi_market_parse(o, &m, &why), 0);
	assert_int_equal(kw_store_fetch_market(s, &m, taken_at, run_id, &as_was), 0);
	json_object_put(o);
}

static inline void put_book(struct kw_store *s, const char *ticker, const char *yes_size,
			    const char *no_size, int64_t taken_at, int64_t run_id)
{
	char json[256];
	struct kw_kalshi_book b;
	const char *why = NULL;
	snprintf(json, sizeof(json),
		 "{\"orderbook_fp\":{\"yes_dollars\":[[\"0.4000\",\"%s\"]],"
		 "\"no_dollars\":[[\"0.5800\",\"%s\"]]}}",
		 yes_size, no_size);
	json_object *o = json_tokener_parse(json);
	assert_int_equal(kw_kalshi_book_parse(o, &b, &why), 0);
	assert_int_equal(kw_store_fetch_book(s, ticker, taken_at, run_id, &b), 0);
	json_object_put(o);
}

/* One run's catalog and listing at t: KXA-1 in the Crypto series KXA (event KXA-26), and
 * KXB-1, whose event is not known; categories linked. Returns the run's id. */
static inline int64_t put_two_markets(struct kw_store *s, int64_t t)
{
	struct kw_kalshi_series series = { "KXA", "Series A", "Crypto", "daily" };
	struct kw_kalshi_event event = { "KXA-26", "KXA", "Event A", "", "" };
	int64_t run = 0, changed = 0;
	assert_int_equal(kw_store_fetch_run_begin(s, t, &run), 0);
	assert_int_equal(kw_store_fetch_series(s, &series, t), 0);
	assert_int_equal(kw_store_fetch_event(s, &event, t), 0);
	put_market(s, "KXA-1", "KXA-26", "0.4100", t, run);
	put_market(s, "KXB-1", "KXB-26", "0.3000", t, run);
	assert_int_equal(kw_store_fetch_link_categories(s, &changed), 0);
	return run;
}

/* An alert as detection records it, with defaults a test overrides: severity high,
 * confidence 80, the key as description, data {}, the window ending when it was raised. */
static inline struct kw_alert_new alert_row(const char *key, const char *type, const char *ticker,
					    int64_t at)
{
	struct kw_alert_new a = { .alert_key = key,
				  .type = type,
				  .ticker = ticker,
				  .severity = "high",
				  .description = key,
				  .data = "{}",
				  .confidence = 80,
				  .created_at = at,
				  .window_end = at };
	return a;
}

static inline struct kw_store *open_temp(char *path, size_t len, const char *name)
{
	char err[256];
	snprintf(path, len, "/tmp/kw-test-store-%s-%d.db", name, (int)getpid());
	unlink(path);
	struct kw_store *s = kw_store_open(path, KW_DB_MIGRATE, err, sizeof(err));
	assert_non_null(s);
	return s;
}

#endif
