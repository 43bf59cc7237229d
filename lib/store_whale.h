/*
 * store_whale.h — the SQL behind whale detection (lib/whale.c): reading what arrived since
 * the last run, the windowed sums and extremes the signals compare, and recording alerts.
 *
 * Row callbacks receive borrowed strings that die when the callback returns; a callback
 * returning non-zero stops the walk and that value is returned. Every function returns -1
 * (logged with SQLite's message) on a database error.
 */
#ifndef KW_STORE_WHALE_H
#define KW_STORE_WHALE_H

#include <stdint.h>

#include "store.h"

struct kw_detect_state {
	int64_t last_trade_id;	  /* trades.id examined up to (inclusive) */
	int64_t last_snapshot_at; /* newest market_snapshots.taken_at examined */
	int64_t last_book_at;	  /* newest orderbook_snapshots.taken_at examined */
	int64_t max_trade_id;	  /* trades.id at the start of this run */
	int64_t max_snapshot_at;  /* newest market snapshot at the start of this run */
	int64_t max_book_at;	  /* newest order-book snapshot at the start of this run */
	int fresh;		  /* no run has been recorded yet */
};

/* Open the run's transaction: BEGIN IMMEDIATE, or a savepoint when the caller already holds a
 * transaction (*own = 0). End it: commit/release when ok, roll back otherwise. */
int kw_store_detect_begin(struct kw_store *s, int *own) KW_WUR;
int kw_store_detect_end(struct kw_store *s, int own, int ok) KW_WUR;

/* Read the saved state and the current newest trade id and snapshot times. */
int kw_store_detect_state(struct kw_store *s, struct kw_detect_state *st) KW_WUR;
/* Smallest trades.id with created_us >= since_us (max(id) + 1 when there is none). */
int kw_store_first_trade_since(struct kw_store *s, int64_t since_us, int64_t *id) KW_WUR;
int kw_store_detect_save(struct kw_store *s, const struct kw_detect_state *st, int64_t now) KW_WUR;

struct kw_trade_candidate {
	int64_t id;
	const char *trade_id, *ticker, *taker_side;
	const char *category, *series; /* NULL when the market is not (yet) known */
	int64_t created_us, count_centi, yes_price_micros, no_price_micros, notional_micros;
};
typedef int (*kw_trade_candidate_fn)(void *ctx, const struct kw_trade_candidate *t);
/* Trades with after_id < id <= upto_id and notional >= min_micros, in id order. */
int kw_store_whale_candidates(struct kw_store *s, int64_t after_id, int64_t upto_id,
			      int64_t min_micros, kw_trade_candidate_fn fn, void *ctx) KW_WUR;

/*
 * One row per market and bucket_us-wide bucket for trades in (after_id, upto_id], ordered by
 * ticker then bucket: the bucket index, its newest created_us, and on the market's last bucket
 * the market's newest created_us among those trades (market_newest_us; 0 on its other
 * buckets), so that the caller can ask for that bucket's sum and the market's day in one
 * statement (kw_store_notional_sums).
 */
struct kw_trade_bucket {
	const char *ticker;
	int64_t bucket, newest_us;
	int64_t market_newest_us;
};
typedef int (*kw_bucket_fn)(void *ctx, const struct kw_trade_bucket *b);
int kw_store_trade_buckets(struct kw_store *s, int64_t after_id, int64_t upto_id, int64_t bucket_us,
			   kw_bucket_fn fn, void *ctx) KW_WUR;

/* Two kw_store_notional_sum ranges of ticker's trades, [from_us[i], to_us[i]) for i = 0, 1,
 * read in one statement (one round trip on PostgreSQL); each range should be short (at most a
 * day and a bucket apart). */
int kw_store_notional_sums(struct kw_store *s, const char *ticker, const int64_t from_us[2],
			   const int64_t to_us[2], int64_t sum_micros[2], int64_t count[2]) KW_WUR;

/* One market's two ranges for kw_store_notional_sums_many: the sums and counts of ticker's
 * trades in [from_us[i], to_us[i]) for i = 0, 1 (an empty range, from == to, gives 0 and 0). */
struct kw_sum_ask {
	const char *ticker; /* must outlive the call */
	int64_t from_us[2], to_us[2];
	int64_t sum_micros[2], count[2]; /* set by the call */
};
/* The sums of n asks, each exactly as kw_store_notional_sums (or kw_store_notional_sum for
 * an empty second range) would give it: on SQLite those statements one ask at a time (a local
 * index seek each), on PostgreSQL one statement per up to KW_SUMS_BATCH asks (a statement
 * each was a round trip each: about 200,000 for 200,000 new trades). Each ask's ranges should
 * be short (at most a day and a bucket apart). -1 on error. */
#define KW_SUMS_BATCH 1000
int kw_store_notional_sums_many(struct kw_store *s, struct kw_sum_ask *asks, size_t n) KW_WUR;

/* Sum of taker premium and trade count of ticker's trades with from_us <= created_us < to_us:
 * one index seek per hour of the range, so keep it short (detection's windows: a day at most). */
int kw_store_notional_sum(struct kw_store *s, const char *ticker, int64_t from_us, int64_t to_us,
			  int64_t *sum_micros, int64_t *count) KW_WUR;

/* Market snapshots with taken_at > since whose last price differs from the market's previous
 * snapshot, oldest first. */
typedef int (*kw_price_fn)(void *ctx, const char *ticker, int64_t taken_at, int64_t price);
int kw_store_price_snapshots_since(struct kw_store *s, int64_t since, kw_price_fn fn,
				   void *ctx) KW_WUR;
/* Lowest and highest last price of ticker in force during [start, to), where start is the
 * later of from and the window_end of ticker's newest alert of type with window_end < to (a
 * flip's window is not counted again): the snapshots taken in it and the one in force at
 * start (the newest at or before it), in one statement; *n = 0 if there are none. */
int kw_store_price_range_after(struct kw_store *s, const char *ticker, const char *type,
			       int64_t from, int64_t to, int64_t *lo, int64_t *hi,
			       int64_t *n) KW_WUR;

/* One market's kw_store_price_range_after, for kw_store_price_ranges_after. */
struct kw_range_ask {
	const char *ticker; /* must outlive the call */
	int64_t from, to;
	int64_t lo, hi, n; /* set by the call */
};
/* n asks (at most KW_SUMS_BATCH), each exactly as kw_store_price_range_after gives it: on
 * SQLite that statement an ask at a time, on PostgreSQL one statement for all (a statement
 * each was a round trip each, one per new snapshot). An ask reads the alerts stored before
 * the call: asks for one market whose answers depend on each other's alerts go in separate
 * calls. -1 on error. */
int kw_store_price_ranges_after(struct kw_store *s, const char *type, struct kw_range_ask *asks,
				size_t n) KW_WUR;

struct kw_book_point {
	int64_t taken_at, yes_depth_centi, no_depth_centi;
};
typedef int (*kw_book_fn)(void *ctx, const char *ticker, const struct kw_book_point *b);
/* Order-book snapshots with taken_at > since, oldest first. */
int kw_store_book_snapshots_since(struct kw_store *s, int64_t since, kw_book_fn fn,
				  void *ctx) KW_WUR;
/* The snapshot of ticker just before `before`; 0 found, 1 none, -1 error. */
int kw_store_book_previous(struct kw_store *s, const char *ticker, int64_t before,
			   struct kw_book_point *out) KW_WUR;

struct kw_alert_new {
	const char *alert_key, *type, *ticker, *severity, *description, *data;
	int confidence;
	int64_t created_at, window_end;
	int64_t strength; /* comparable between alerts of one type: the larger, the stronger */
};
/* Trades with after_id < id <= upto_id stored without a taker side (no premium). */
int kw_store_trades_without_side(struct kw_store *s, int64_t after_id, int64_t upto_id,
				 int64_t *n) KW_WUR;
/* The newest order-book time before `before` over all markets (the previous run that took
 * books; kw-fetch stores a run's books under one time), 0 if none. */
int kw_store_book_run_before(struct kw_store *s, int64_t before, int64_t *out) KW_WUR;
/* 1 if an alert with this key exists, 0 if not, -1 on error. */
int kw_store_alert_key_exists(struct kw_store *s, const char *key) KW_WUR;
/* 1 if an alert of type for ticker with window_end in (t - cooldown_s, t] is at least as
 * strong as strength (an alert stored before strengths were recorded counts as strong), 0 if
 * none is, -1 on error. Forward only: a later alert never holds back an earlier window. */
int kw_store_alert_cooling(struct kw_store *s, const char *ticker, const char *type, int64_t t,
			   int64_t cooldown_s, int64_t strength) KW_WUR;
/* Insert; 1 stored, 0 the key already existed, -1 error. */
int kw_store_alert_insert(struct kw_store *s, const struct kw_alert_new *a) KW_WUR;

#endif
