/*
 * store_ws.h — what kw-ws reads from and writes to the store.
 *
 * kw-ws follows three tables by their integer ids, which only grow: alerts.id (new signals),
 * trades.id (new trades; only whale trades are returned) and fetch_runs.id (a finished run
 * means markets may have changed). It notices that another process committed anything with
 * PRAGMA data_version, which costs no I/O, and only then runs the follow queries. It reads
 * market snapshots for initial_data and market_update, and writes its counters to ws_stats
 * (the row /api/status reads).
 *
 * Items come back as rows (alerts, trades, markets), never as wire JSON: kw-ws builds the
 * messages (ws/items.c; an alert with lib/alert.h's one shape). Each item carries the fields
 * kw-ws filters on, so kw-ws never sees SQL or column numbers. Ownership: a struct kw_ws_items owns every item,
 * its strings and its json object; kw_ws_items_free() releases all of them.
 *
 * The connection is set to a short busy timeout (kw_store_ws_setup): kw-ws runs one event loop
 * for every client, and a writer holding the lock must not stall it. A stats write that meets
 * a lock is skipped and retried at the next report.
 */
#ifndef KW_STORE_WS_H
#define KW_STORE_WS_H

#include <json-c/json.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

/* Milliseconds kw-ws waits for a lock before giving up on one statement. */
#define KW_STORE_WS_BUSY_MS 50

/* An alert as stored (strings owned by the item); kw-ws turns it into JSON with
 * kw_alert_json(), the shape every other channel uses. */
struct kw_ws_alert_row {
	char *type, *severity, *description, *data, *title; /* title NULL when unknown */
	int64_t confidence, created_at, window_end;
};

/* A trade as stored (strings owned by the item); values absent in SQL are KW_WS_NULL. */
struct kw_ws_trade_row {
	char *trade_id, *taker_side, *title; /* taker_side, title NULL when absent */
	int64_t created_us, count_centi, yes_price_micros, no_price_micros;
	int is_block;
};

/* A market as stored (strings owned by the item); values absent in SQL are KW_WS_NULL. */
struct kw_ws_market_row {
	char *title, *status;
	int64_t yes_bid_micros, yes_ask_micros, last_price_micros, previous_price_micros;
	int64_t volume_centi, volume_24h_centi, open_interest_centi, close_at, updated_at;
};

#define KW_WS_NULL INT64_MIN

enum kw_ws_kind { KW_WS_ALERT, KW_WS_TRADE, KW_WS_MARKET };

struct kw_ws_item {
	enum kw_ws_kind kind;
	int64_t id;
	char *ticker;		      /* owned */
	char *category;		      /* owned; "" when the market or its series is unknown */
	int64_t notional_micros;      /* trades: taker premium; alerts: set with obj, -1 for none */
	json_object *obj;	      /* owned: the item as sent, NULL until kw-ws builds it */
	struct kw_ws_alert_row alert; /* kind KW_WS_ALERT */
	struct kw_ws_trade_row trade; /* kind KW_WS_TRADE */
	struct kw_ws_market_row market; /* kind KW_WS_MARKET */
};

struct kw_ws_items {
	struct kw_ws_item *v;
	int n;
};

void kw_ws_items_free(struct kw_ws_items *it);

/* Short busy timeout for an event-loop process (see above). */
void kw_store_ws_setup(struct kw_store *s);

/* Where following starts: the newest alert id, trade id and finished fetch run id (0 if none). */
int kw_store_ws_cursor(struct kw_store *s, int64_t *alert_id, int64_t *trade_id,
		       int64_t *run_id) KW_WUR;

/*
 * Alerts with id > after, oldest first, at most limit (1..1000). *next is where the following
 * call should continue; it never skips a row committed later with a smaller id than one seen.
 * -1 (logged) on error, with out empty.
 */
int kw_store_ws_alerts_after(struct kw_store *s, int64_t after, int limit, struct kw_ws_items *out,
			     int64_t *next) KW_WUR;

/* Trades with id > after and notional_micros >= min_notional_micros; as for alerts. */
int kw_store_ws_trades_after(struct kw_store *s, int64_t after, int64_t min_notional_micros,
			     int limit, struct kw_ws_items *out, int64_t *next) KW_WUR;

/*
 * The newest fetch run (outcome ok or partial) with id > after: 1 with *run_id and *started_at
 * set, 0 if there is none, -1 on error.
 */
int kw_store_ws_run_after(struct kw_store *s, int64_t after, int64_t *run_id,
			  int64_t *started_at) KW_WUR;

/*
 * Markets stored at or after updated_since (0 = any), by 24h volume, at most limit (1..5000);
 * tickers_json non-NULL (a JSON array of strings) restricts them to those tickers. -1 on error.
 */
int kw_store_ws_markets(struct kw_store *s, int64_t updated_since, const char *tickers_json,
			int limit, struct kw_ws_items *out) KW_WUR;

struct kw_ws_stats {
	int64_t connections;
	int64_t messages_sent;
	int64_t messages_received;
	int64_t pid;
};

/* Upsert the ws_stats row with updated_at = now_s. -1 (logged at debug if only busy) on error. */
int kw_store_ws_stats_write(struct kw_store *s, const struct kw_ws_stats *st, int64_t now_s) KW_WUR;

#endif
