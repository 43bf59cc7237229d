/*
 * store_api.h — the SQL behind kw-api's data routes (fcgi/markets.c, whales.c, alerts.c,
 * stats.c, legacy.c, refresh.c): filtered, keyset-paginated lists and the aggregates of
 * /api/v1/stats and the legacy analytics.
 *
 * Lists walk one index in the order they return rows and stop after `limit` rows; a page
 * resumes strictly after the (sort key, tie-breaker) of the last row of the previous page, so
 * rows are never skipped or repeated while the data is unchanged. Every list query's plan is
 * asserted by tests/unit/test_store_api.c (no full table scan, no sort of the whole table).
 *
 * Row callbacks receive borrowed strings that die when the callback returns; NULL columns are
 * NULL strings and KW_NULL integers. A callback returning non-zero stops the walk and that
 * value is returned. Functions return -1 (logged) on a database error.
 */
#ifndef KW_STORE_API_H
#define KW_STORE_API_H

#include <stdint.h>

#include "alert.h"
#include "store.h"

#define KW_NULL INT64_MIN
#define KW_WHALE_FLOOR_USD 1000 /* trades_whale indexes premiums >= $1000 */

struct kw_market_row {
	const char *ticker, *event_ticker, *series_ticker, *category, *title, *yes_sub_title,
		*no_sub_title, *market_type, *status, *frequency;
	int64_t open_at, close_at, yes_bid, yes_ask, no_bid, no_ask, last_price, previous_price;
	int64_t volume_centi, volume_24h_centi, open_interest_centi;
	int64_t first_seen_at, updated_at;
	int64_t usd_24h_micros; /* taker premium of stored trades in the 24 h before `now` */
	int64_t trades_24h;
	int64_t sort_key;
};
typedef int (*kw_market_fn)(void *ctx, const struct kw_market_row *m);

enum kw_market_sort {
	KW_MSORT_VOLUME_24H, /* descending; the declared order of the `sort` enum */
	KW_MSORT_VOLUME,
	KW_MSORT_OPEN_INTEREST,
	KW_MSORT_PRICE_CHANGE,
	KW_MSORT_CLOSE_TIME, /* ascending: soonest first */
	KW_MSORT_COUNT
};

struct kw_market_filter {
	const char *q; /* title substring (LIKE-escaped here) */
	const char *category, *series, *event;
	const char *status[2];	      /* match either; NULL = any */
	int64_t min_volume_24h_centi; /* KW_NULL = none */
	const char *crypto_prefixes;  /* JSON array; non-NULL = crypto view only */
	int sort;
	int64_t limit;
	int has_cursor;
	int64_t after_key;
	const char *after_ticker;
};
int kw_store_markets_list(struct kw_store *s, const struct kw_market_filter *f, kw_market_fn fn,
			  void *ctx) KW_WUR;
/* One market; 1 if it does not exist. */
int kw_store_market_get(struct kw_store *s, const char *ticker, kw_market_fn fn, void *ctx) KW_WUR;

struct kw_book_row {
	int64_t taken_at, yes_depth_centi, no_depth_centi, yes_levels, no_levels;
	int64_t best_yes_bid, best_no_bid;
};
/* Latest order-book snapshot of ticker: 0 found, 1 none. */
int kw_store_market_book(struct kw_store *s, const char *ticker, struct kw_book_row *out) KW_WUR;

struct kw_snapshot_row {
	int64_t taken_at, yes_bid, yes_ask, last_price, volume_centi, volume_24h_centi,
		open_interest_centi;
};
typedef int (*kw_snapshot_fn)(void *ctx, const struct kw_snapshot_row *r);
/* Snapshots of ticker with from <= taken_at <= to, the newest per interval_s slot (1 = all),
 * oldest first, at most limit rows. */
int kw_store_market_history(struct kw_store *s, const char *ticker, int64_t from, int64_t to,
			    int64_t interval_s, int64_t limit, kw_snapshot_fn fn, void *ctx) KW_WUR;

struct kw_trade_row {
	int64_t id;
	const char *trade_id, *ticker, *taker_side, *category, *title;
	int64_t created_us, count_centi, yes_price, no_price, notional_micros, is_block;
};
typedef int (*kw_trade_fn)(void *ctx, const struct kw_trade_row *t);

struct kw_trade_filter {
	int64_t min_notional_micros;	 /* 0: each market category's whale threshold */
	const char *category_thresholds; /* JSON {"crypto": micros}, for min_notional 0 */
	int64_t default_threshold_micros;
	const char *ticker, *category, *side;
	int64_t from_us, to_us; /* created_us in [from, to) */
	int has_cursor;
	int64_t after_us, after_id;
	int64_t limit;
};
/* Whale trades, newest first. */
int kw_store_whales_list(struct kw_store *s, const struct kw_trade_filter *f, kw_trade_fn fn,
			 void *ctx) KW_WUR;
/* The newest `limit` trades of ticker, whatever their size. */
int kw_store_market_trades(struct kw_store *s, const char *ticker, int64_t limit, kw_trade_fn fn,
			   void *ctx) KW_WUR;

typedef int (*kw_alert_fn)(void *ctx, const struct kw_alert *a);

struct kw_alert_filter {
	const char *type, *severity, *ticker, *category;
	const char *crypto_prefixes; /* JSON array; non-NULL = crypto view only */
	int after_since;	     /* 1: only ids > since_id, oldest first */
	int64_t since_id;
	int64_t created_from; /* created_at >= it (0 = any) */
	int has_cursor;
	int64_t after_id;
	int64_t limit;
};
/* Alerts, newest first (or oldest first after since_id when after_since). */
int kw_store_alerts_list(struct kw_store *s, const struct kw_alert_filter *f, kw_alert_fn fn,
			 void *ctx) KW_WUR;

/* ---- aggregates ----
 * Per-request computations over a window of trades. No route calls them any more (kw-fetch's
 * rollups answer, below); they remain the definition the rollups are tested against
 * (tests/unit/test_store_rollup.c). */

/* Every trade since since_us, oldest first (stats aggregates them per market in memory: one
 * sequential pass along trades_time, no sort of the window). */
struct kw_window_trade {
	const char *ticker, *taker_side;
	int64_t created_us, notional_micros, yes_price;
};
typedef int (*kw_window_fn)(void *ctx, const struct kw_window_trade *t);
int kw_store_window_trades(struct kw_store *s, int64_t since_us, kw_window_fn fn, void *ctx) KW_WUR;
/* A market's title and category into the buffers ("" when NULL): 0 found, 1 unknown market. */
/*
 * The price a market's "price change" over a window starts from (one definition for every
 * list, see fcgi/stats.c): the last traded price in force when the window opened. For the
 * 24 h (day != 0) that is Kalshi's previous_price on the market row, which the markets lists
 * use; for another window, the last price of the newest market snapshot taken at or before
 * at. *out = KW_NULL when the market had no traded price then. 0 ok, -1 on a database error.
 */
int kw_store_price_at(struct kw_store *s, const char *ticker, int64_t at, int day,
		      int64_t *out) KW_WUR;
int kw_store_market_label(struct kw_store *s, const char *ticker, char *title, size_t tlen,
			  char *category, size_t clen) KW_WUR;
/* The `limit` largest trades since since_us, largest first. */
int kw_store_top_trades(struct kw_store *s, int64_t since_us, int64_t limit, kw_trade_fn fn,
			void *ctx) KW_WUR;
/* Whale trades (per-category thresholds) since since_us, counted per category ("" if none). */
typedef int (*kw_count_fn)(void *ctx, const char *key, int64_t n);
int kw_store_whale_counts(struct kw_store *s, int64_t since_us, const char *category_thresholds,
			  int64_t default_threshold_micros, kw_count_fn fn, void *ctx) KW_WUR;
/* Taker premium of ticker per hour since since_us (hour index = created_us / 3600e6). */
typedef int (*kw_hour_fn)(void *ctx, int64_t hour, int64_t notional_micros);
int kw_store_hourly_notional(struct kw_store *s, const char *ticker, int64_t since_us,
			     kw_hour_fn fn, void *ctx) KW_WUR;

/* A legacy route's view, ranked by kw-fetch (sql/0014_legacy_views.sql): "all", "crypto" or
 * "c:" + the lower-cased category; its first `limit` (<= 1000) open markets by 24 h contract
 * volume. 0 ok, 1 when kw-fetch has not ranked the views yet (the caller walks the markets
 * instead), -1 on a database error. */
#define KW_LEGACY_VIEW_MAX 1000
int kw_store_legacy_view(struct kw_store *s, const char *view, int64_t limit, kw_market_fn fn,
			 void *ctx) KW_WUR;

/* ---- rollups kept by kw-fetch (store_rollup.h), read in O(rows returned) ---- */

/* A stats window's state: 0 and *as_of (the run's clock it ends at), *since (its start) and
 * *markets_traded; 1 when kw-fetch has not counted it yet. */
int kw_store_stats_window(struct kw_store *s, int64_t window_s, int64_t *as_of, int64_t *since,
			  int64_t *markets_traded) KW_WUR;
struct kw_stats_market_row {
	const char *ticker, *title, *category; /* title, category NULL for an unknown market */
	int64_t trades, notional_micros, yes_micros;
	int64_t start_price, last_price; /* change = last - start; start KW_NULL: no change */
};
typedef int (*kw_stats_market_fn)(void *ctx, const struct kw_stats_market_row *m);
enum kw_stats_order {
	KW_STATS_ACTIVE,  /* notional, largest first (ties: ticker) */
	KW_STATS_GAINERS, /* change > 0, largest first (ties: ticker) */
	KW_STATS_LOSERS,  /* change < 0, most negative first (ties: ticker desc) */
};
int kw_store_stats_markets(struct kw_store *s, int64_t window_s, enum kw_stats_order order,
			   int64_t limit, kw_stats_market_fn fn, void *ctx) KW_WUR;
/* The window's `limit` (<= 50) largest trades, largest first (ties: newer id first). */
int kw_store_stats_top_trades(struct kw_store *s, int64_t window_s, int64_t limit, kw_trade_fn fn,
			      void *ctx) KW_WUR;
/* The window's whale trades per category ("" when none), most first. */
int kw_store_stats_whales(struct kw_store *s, int64_t window_s, kw_count_fn fn, void *ctx) KW_WUR;
/* ticker's taker premium per hour for the hours >= from_hour that kw-fetch counted (the last
 * eight days). */
int kw_store_market_hours(struct kw_store *s, const char *ticker, int64_t from_hour, kw_hour_fn fn,
			  void *ctx) KW_WUR;

/* Freshness for the v1 envelope: finish time of the last ok/partial fetch run (0 if none). */
int kw_store_last_fetch(struct kw_store *s, int64_t *finished_at) KW_WUR;

enum kw_refresh_result { KW_REFRESH_QUEUED, KW_REFRESH_RUNNING, KW_REFRESH_PENDING };
/*
 * Ask kw-fetch for a run: inserts a refresh_requests row unless a run started in the last
 * running_window_s is still 'running' (KW_REFRESH_RUNNING, *id = its fetch_runs id) or a request
 * is still unclaimed (KW_REFRESH_PENDING, *id = that request). -1 on error.
 */
int kw_store_refresh_request(struct kw_store *s, int force, int64_t now, int64_t running_window_s,
			     int64_t *id) KW_WUR;

/* EXPLAIN QUERY PLAN of every list query, for the plan test: fn gets (query name, plan line). */
typedef int (*kw_plan_fn)(void *ctx, const char *query, const char *detail);
int kw_store_api_plans(struct kw_store *s, kw_plan_fn fn, void *ctx) KW_WUR;

#endif
