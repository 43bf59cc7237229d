/*
 * store_rollup.h — the figures kw-fetch keeps for kw-api after every run (sql/0013_rollups.sql):
 * per stats window (1 h, 24 h, 7 d) each market's trades, notional, yes-taker notional, last
 * trade price and the price its change starts from (store_api.h kw_store_price_at), the whale
 * trades per category, the window's 50 biggest trades;
 * and each market's traded notional per hour for eight days. kw-api reads them in O(rows it
 * returns) (store_api.h: kw_store_stats_*), never walking a window of trades.
 *
 * Contract: after kw_store_rollups_update(s, now_s, ...) returns 0, every window W holds exactly
 * what a recount of the stored trades with created_us >= cutoff and id <= upto_id gives, where
 * cutoff = (max(now_s - W, retention horizon)) in microseconds and upto_id the highest trade id
 * at the time (tests/unit/test_store_rollup.c checks it against the per-request computations). A
 * market's category is read when its trades are counted: a market whose category changes later
 * keeps its earlier whale counts until the trades leave the window or a rebuild.
 */
#ifndef KW_STORE_ROLLUP_H
#define KW_STORE_ROLLUP_H

#include <stdint.h>

#include "store.h"

/* The windows, in seconds, in the order /api/v1/stats lists them. */
#define KW_STATS_WINDOWS 3
extern const int64_t kw_stats_window_s[KW_STATS_WINDOWS];
/* The most trades a window keeps in its top list (the largest stats limit). */
#define KW_STATS_TOP_MAX 50

struct kw_rollup_rules {
	const char *category_thresholds; /* {"crypto": micros, ...}, lower-cased keys */
	int64_t default_threshold_micros;
	int64_t retention_s;	     /* no window reaches further back than this (RETENTION_DAYS) */
	const char *crypto_prefixes; /* ["KXBTC", ...]: the legacy crypto view */
	/* Tests only (0 in kw-fetch): tiny_steps cuts the update into the smallest steps (a few
	 * trade ids, half an hour of a window's edge); stop_after_steps > 0 stops it with -1
	 * after that many committed steps, as a kill between two steps would. */
	int tiny_steps;
	int64_t stop_after_steps;
};

/*
 * Bring every rollup to now_s and every stored trade, in steps of about
 * KW_STORE_WRITE_STEP_US, each its own transaction that leaves every rollup counting whole
 * trades under its own state (a run stopped between steps is carried on by the next); only
 * the last step advances the data generation; call it outside a transaction. Trades that
 * left a window are subtracted, trades stored since the last update added, and the start
 * price read again (one seek each) of every market whose price can have moved: it gained trades, its
 * row or snapshots changed since the last update (rollup_dirty, sql/0017_rollup_dirty.sql,
 * emptied here), or the window's start passed one of its snapshots. Call it after the run's
 * market rows and snapshots are stored: the start prices come from them. A window with no
 * state, one whose trades were removed under it, a clock that went back or changed whale
 * thresholds is counted from scratch; rebuild = 1 counts everything from scratch (kw-admin db
 * activity). The start prices move in the last step, with the legacy views
 * (sql/0014_legacy_views.sql), which are ranked again when a market row changed, the crypto
 * prefixes changed, or on a rebuild.
 */
int kw_store_rollups_update(struct kw_store *s, int64_t now_s, const struct kw_rollup_rules *rules,
			    int rebuild) KW_WUR;

#endif
