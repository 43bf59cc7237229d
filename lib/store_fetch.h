/*
 * store_fetch.h — everything kw-fetch writes or reads in the store: markets and their
 * snapshots, trades, order-book snapshots, series and events, the fetch_runs journal, the
 * refresh_requests queue, fetch_state and retention.
 *
 * Transactions belong to the caller: kw-fetch wraps each API page in kw_store_begin() /
 * kw_store_commit(), so a page is stored whole or not at all, and a kill -9 at any moment
 * leaves the last committed page. Every function here runs one or a few cached prepared
 * statements with bound values, returns 0 ok / -1 failure (logged with SQLite's message).
 * Strings from struct kw_kalshi_* are bound SQLITE_STATIC: they outlive each statement step.
 */
#ifndef KW_STORE_FETCH_H
#define KW_STORE_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "kalshi.h"
#include "store.h"

/* An owned list of owned strings (tickers). */
struct kw_strlist {
	char **v;
	size_t n;
};
void kw_strlist_free(struct kw_strlist *l);

struct kw_fetch_run_row {
	const char *outcome; /* ok | partial | failed */
	int64_t finished_at;
	int64_t pages, markets, trades, orderbooks, http_errors, skipped;
	int64_t open_markets; /* < 0: unknown (stored as NULL) */
	const char *skip_reasons_json;
	const char *error; /* NULL when none */
};

/* Connection settings for a bulk writer: a larger page cache (bounded, 16 MiB). */
int kw_store_fetch_tune(struct kw_store *s) KW_WUR;

/* Start a run: mark runs left 'running' by a killed process failed, insert a new row. */
int kw_store_fetch_run_begin(struct kw_store *s, int64_t started_at, int64_t *run_id) KW_WUR;
int kw_store_fetch_run_finish(struct kw_store *s, int64_t run_id,
			      const struct kw_fetch_run_row *r) KW_WUR;

/* Claim every unclaimed refresh request for run_id; *force = 1 if any asked for force. */
int kw_store_fetch_claim_refresh(struct kw_store *s, int64_t run_id, int *claimed,
				 int *force) KW_WUR;
/* 1 if an unclaimed refresh request is waiting, 0 if not, -1 on error. */
int kw_store_fetch_refresh_pending(struct kw_store *s);

/* fetch_state: 1 found, 0 absent, -1 error. */
int kw_store_fetch_state_get(struct kw_store *s, const char *name, int64_t *value);
int kw_store_fetch_state_set(struct kw_store *s, const char *name, int64_t value) KW_WUR;

/* Upsert one market and, when it is new or changed, its snapshot at taken_at and its rollup
 * marks (an unchanged market's last snapshot still holds; only its updated_at moves).
 * *listed_as_it_was (the caller's, 0 at first) says whether the previous market was stored
 * unchanged and is set for this one: it only chooses which statement is tried first. On
 * PostgreSQL markets are sent in batches of KW_STORE_MARKET_BATCH (one round trip each; the
 * store sends a batch before any other statement, so readers always see it) and
 * *listed_as_it_was is left alone. */
#define KW_STORE_MARKET_BATCH 256
int kw_store_fetch_market(struct kw_store *s, const struct kw_kalshi_market *m, int64_t taken_at,
			  int64_t run_id, int *listed_as_it_was) KW_WUR;
/* Insert a trade unless it is stored (same trade_id at the same created_us, the same trade:
 * its time never changes); *inserted = 1 if it was new. On PostgreSQL trades are sent in
 * batches of KW_STORE_TRADE_BATCH rows (one round trip each): *inserted is then 0 and the new
 * ones are counted by kw_store_fetch_trades_flush. */
int kw_store_fetch_trade(struct kw_store *s, const struct kw_kalshi_trade *t, int64_t shift_us,
			 int *inserted) KW_WUR;
/* Store the trades still buffered (PostgreSQL) and add to *inserted how many were new since
 * the last call, those stored by an earlier batch included. -1 (logged) on failure. A batch is
 * a Kalshi page of trades: 1,000 rows (9,000 parameters of PostgreSQL's 65,535) stored 200,000
 * trades about 15% faster than 256 did (docs/postgresql.md). */
#define KW_STORE_TRADE_BATCH 1000
int kw_store_fetch_trades_flush(struct kw_store *s, int64_t *inserted) KW_WUR;
int kw_store_fetch_book(struct kw_store *s, const char *ticker, int64_t taken_at, int64_t run_id,
			const struct kw_kalshi_book *b) KW_WUR;
int kw_store_fetch_event(struct kw_store *s, const struct kw_kalshi_event *e,
			 int64_t fetched_at) KW_WUR;
int kw_store_fetch_series(struct kw_store *s, const struct kw_kalshi_series *x,
			  int64_t fetched_at) KW_WUR;

/* Give markets their series and category (market -> event -> series); *changed rows. */
int kw_store_fetch_link_categories(struct kw_store *s, int64_t *changed) KW_WUR;
/* Markets listed open before this run but not returned by it have left the listing. */
int kw_store_fetch_close_unseen(struct kw_store *s, int64_t run_at, int64_t *closed) KW_WUR;
/* Open markets stored by the run at run_at. */
int kw_store_fetch_count_open(struct kw_store *s, int64_t run_at, int64_t *n) KW_WUR;

/* Distinct event tickers of stored open markets whose event is unknown, at most max. */
int kw_store_fetch_unknown_events(struct kw_store *s, int64_t max, struct kw_strlist *out) KW_WUR;
/* Series tickers named by stored events but not stored themselves, at most max. */
int kw_store_fetch_unknown_series(struct kw_store *s, int64_t max, struct kw_strlist *out) KW_WUR;
/*
 * The order-book watch list: the top `top` open markets by 24h volume, then up to `extra`
 * markets with a whale trade since since_us: a trade of at least its market category's
 * threshold (categories_json: {"crypto": micros, ...} with lower-cased keys, as
 * kw_category_thresholds_json() gives; default_micros for other categories). whale_micros is the
 * smallest of those thresholds (it bounds the range read).
 */
int kw_store_fetch_watchlist(struct kw_store *s, int64_t top, int64_t whale_micros,
			     const char *categories_json, int64_t default_micros, int64_t since_us,
			     int64_t extra, struct kw_strlist *out) KW_WUR;

/*
 * Bring market_activity to the 24 hours before now_s and every stored trade, in short
 * transactions (each one leaves it counting whole trades); rebuild = 1 recounts it from the
 * trades (kw-admin db activity). Call it outside a transaction.
 */
int kw_store_fetch_activity(struct kw_store *s, int64_t now_s, int rebuild) KW_WUR;

/*
 * Delete trades, market and order-book snapshots, and fetch_runs rows (with the refresh
 * requests they answered) older than cutoff_s, `batch` rows per transaction and at most
 * max_batches transactions per table and call. *deleted = rows removed.
 */
int kw_store_fetch_prune(struct kw_store *s, int64_t cutoff_s, int batch, int max_batches,
			 int64_t *deleted) KW_WUR;

#endif
