/*
 * store_ws.c — the SQL behind kw-ws (see store_ws.h for the contracts).
 *
 * Follow queries take the table's current max(id) first and read only ids up to it. SQLite
 * assigns INTEGER PRIMARY KEY ids at insert time, so a row committed after that max gets a
 * larger id and is read next time; nothing is skipped and nothing is read twice. Every value
 * is bound; every statement is reset on every path (an unreset SELECT pins a read snapshot).
 */
#include "store_ws.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

void kw_ws_items_free(struct kw_ws_items *it)
{
	for (int i = 0; i < it->n; i++) {
		free(it->v[i].ticker);
		free(it->v[i].category);
		json_object_put(it->v[i].obj);
		free(it->v[i].alert.type);
		free(it->v[i].alert.severity);
		free(it->v[i].alert.description);
		free(it->v[i].alert.data);
		free(it->v[i].alert.title);
		free(it->v[i].trade.trade_id);
		free(it->v[i].trade.taker_side);
		free(it->v[i].trade.title);
		free(it->v[i].market.title);
		free(it->v[i].market.status);
	}
	free(it->v);
	it->v = NULL;
	it->n = 0;
}

static struct kw_ws_item *items_add(struct kw_ws_items *it, int cap)
{
	if (!it->v)
		it->v = kw_xcalloc((size_t)cap, sizeof(*it->v));
	struct kw_ws_item *x = &it->v[it->n++];
	memset(x, 0, sizeof(*x));
	return x;
}

void kw_store_ws_setup(struct kw_store *s)
{
	kw_conn_wait_for_lock(kw_store_conn(s), KW_STORE_WS_BUSY_MS);
}

static char *col_dup_or_null(struct kw_stmt *st, int i)
{
	return kw_sql_col_null(st, i) ? NULL : kw_xstrdup(kw_store_col_str(st, i));
}

static const char SQL_CURSOR[] =
	"SELECT (SELECT coalesce(max(id), 0) FROM alerts),"
	"       (SELECT coalesce(max(id), 0) FROM trades),"
	"       (SELECT coalesce(max(id), 0) FROM fetch_runs WHERE outcome IN ('ok', 'partial'))";

int kw_store_ws_cursor(struct kw_store *s, int64_t *alert_id, int64_t *trade_id, int64_t *run_id)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_CURSOR);
	if (!st)
		return -1;
	int rc = kw_sql_step(st) == KW_ROW ? 0 : kw_store_fail(s, "cursor query");
	if (rc == 0) {
		*alert_id = kw_sql_col_i64(st, 0);
		*trade_id = kw_sql_col_i64(st, 1);
		*run_id = kw_sql_col_i64(st, 2);
	}
	kw_sql_reset(st);
	return rc;
}

static const char SQL_ALERTS_MAX[] = "SELECT coalesce(max(id), 0) FROM alerts";
/* ?3 (the trades' notional floor) is unused here: one driver binds both queries alike. */
static const char SQL_ALERTS_AFTER[] =
	"SELECT a.id, a.type, a.ticker, a.severity, a.confidence, a.description, a.data,"
	"       a.created_at, a.window_end, coalesce(m.category, ''), m.title"
	"  FROM alerts a LEFT JOIN markets m ON m.ticker = a.ticker"
	" WHERE a.id > ?1 AND a.id <= ?2 AND ?3 = ?3 ORDER BY a.id LIMIT ?4";

static void alert_row(struct kw_stmt *st, struct kw_ws_item *x)
{
	x->kind = KW_WS_ALERT;
	x->id = kw_sql_col_i64(st, 0);
	x->ticker = kw_xstrdup(kw_store_col_str(st, 2));
	x->category = kw_xstrdup(kw_store_col_str(st, 9));
	x->notional_micros = -1;
	x->alert.type = kw_xstrdup(kw_store_col_str(st, 1));
	x->alert.severity = kw_xstrdup(kw_store_col_str(st, 3));
	x->alert.confidence = kw_sql_col_i64(st, 4);
	x->alert.description = kw_xstrdup(kw_store_col_str(st, 5));
	x->alert.data = kw_xstrdup(kw_store_col_str(st, 6));
	x->alert.created_at = kw_sql_col_i64(st, 7);
	x->alert.window_end = kw_sql_col_i64(st, 8);
	x->alert.title = kw_sql_col_null(st, 10) ? NULL : kw_xstrdup(kw_store_col_str(st, 10));
}

static const char SQL_TRADES_MAX[] = "SELECT coalesce(max(id), 0) FROM trades";
static const char SQL_TRADES_AFTER[] =
	"SELECT t.id, t.trade_id, t.ticker, t.created_us, t.count_centi, t.yes_price_micros,"
	"       t.no_price_micros, t.taker_side, t.notional_micros, t.is_block,"
	"       coalesce(m.category, ''), m.title"
	"  FROM trades t LEFT JOIN markets m ON m.ticker = t.ticker"
	" WHERE t.id > ?1 AND t.id <= ?2 AND t.notional_micros >= ?3 ORDER BY t.id LIMIT ?4";

static void trade_row(struct kw_stmt *st, struct kw_ws_item *x)
{
	x->kind = KW_WS_TRADE;
	x->id = kw_sql_col_i64(st, 0);
	x->ticker = kw_xstrdup(kw_store_col_str(st, 2));
	x->category = kw_xstrdup(kw_store_col_str(st, 10));
	x->notional_micros = kw_sql_col_i64(st, 8);
	x->trade.trade_id = kw_xstrdup(kw_store_col_str(st, 1));
	x->trade.created_us = kw_sql_col_i64(st, 3);
	x->trade.count_centi = kw_sql_col_i64(st, 4);
	x->trade.yes_price_micros = kw_sql_col_i64(st, 5);
	x->trade.no_price_micros = kw_sql_col_i64(st, 6);
	x->trade.taker_side = col_dup_or_null(st, 7);
	x->trade.is_block = kw_sql_col_int(st, 9) != 0;
	x->trade.title = col_dup_or_null(st, 11);
}

typedef void (*row_fn)(struct kw_stmt *st, struct kw_ws_item *x);

/*
 * Step st (bound by the caller) to the end, one item per row built by row(), at most limit;
 * *last_id (if not NULL) gets the last row's id when limit rows came back. Resets st on every
 * path; -1 (logged, out emptied) if a step fails.
 */
static int read_rows(struct kw_store *s, struct kw_stmt *st, int limit, row_fn row,
		     struct kw_ws_items *out, int64_t *last_id, const char *what)
{
	int rc = -1, step;
	while ((step = kw_sql_step(st)) == KW_ROW) {
		struct kw_ws_item *x = items_add(out, limit);
		row(st, x);
		if (last_id && out->n == limit)
			*last_id = x->id;
	}
	if (step != KW_DONE) {
		kw_store_fail(s, what);
		kw_ws_items_free(out);
		goto out;
	}
	rc = 0;
out:
	kw_sql_reset(st);
	return rc;
}

/* Rows with after < id <= max(id) now (see the file comment), each built by row(). */
static int follow(struct kw_store *s, const char *sql_max, const char *sql_rows, int64_t after,
		  int64_t floor, int limit, row_fn row, struct kw_ws_items *out, int64_t *next)
{
	int64_t top = 0;
	memset(out, 0, sizeof(*out));
	if (limit < 1 || limit > 1000 || kw_store_scalar(s, sql_max, &top) < 0)
		return -1;
	*next = after > top ? after : top;
	struct kw_stmt *st = kw_store_stmt(s, sql_rows);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, after);
	kw_sql_bind_i64(st, 2, top);
	kw_sql_bind_i64(st, 3, floor);
	kw_sql_bind_int(st, 4, limit);
	return read_rows(s, st, limit, row, out, next, "follow query");
}

int kw_store_ws_alerts_after(struct kw_store *s, int64_t after, int limit, struct kw_ws_items *out,
			     int64_t *next)
{
	return follow(s, SQL_ALERTS_MAX, SQL_ALERTS_AFTER, after, 0, limit, alert_row, out, next);
}

int kw_store_ws_trades_after(struct kw_store *s, int64_t after, int64_t min_notional_micros,
			     int limit, struct kw_ws_items *out, int64_t *next)
{
	return follow(s, SQL_TRADES_MAX, SQL_TRADES_AFTER, after, min_notional_micros, limit,
		      trade_row, out, next);
}

static const char SQL_RUN_AFTER[] =
	"SELECT id, started_at FROM fetch_runs"
	" WHERE id > ?1 AND outcome IN ('ok', 'partial') ORDER BY id DESC LIMIT 1";

int kw_store_ws_run_after(struct kw_store *s, int64_t after, int64_t *run_id, int64_t *started_at)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_RUN_AFTER);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, after);
	int step = kw_sql_step(st), rc;
	if (step == KW_ROW) {
		*run_id = kw_sql_col_i64(st, 0);
		*started_at = kw_sql_col_i64(st, 1);
		rc = 1;
	} else {
		rc = step == KW_DONE ? 0 : kw_store_fail(s, "fetch run query");
	}
	kw_sql_reset(st);
	return rc;
}

#define MARKET_COLS                                                                                \
	"SELECT ticker, title, coalesce(category, ''), status, yes_bid_micros, yes_ask_micros,"    \
	"       last_price_micros, previous_price_micros, volume_centi, volume_24h_centi,"         \
	"       open_interest_centi, close_at, updated_at FROM markets"
static const char SQL_MARKETS[] =
	MARKET_COLS " WHERE updated_at >= ?1"
		    " ORDER BY volume_24h_centi DESC NULLS LAST, ticker LIMIT ?2";
/* The subscription's tickers (at most 50), bound as one JSON array: one indexed query. */
static const char SQL_MARKET_SET[] =
	MARKET_COLS " WHERE ticker IN (SELECT value FROM json_each(?3)) AND updated_at >= ?1"
		    " ORDER BY volume_24h_centi DESC NULLS LAST, ticker LIMIT ?2";

static void market_row(struct kw_stmt *st, struct kw_ws_item *x)
{
	x->kind = KW_WS_MARKET;
	x->ticker = kw_xstrdup(kw_store_col_str(st, 0));
	x->category = kw_xstrdup(kw_store_col_str(st, 2));
	x->market.title = kw_xstrdup(kw_store_col_str(st, 1));
	x->market.status = kw_xstrdup(kw_store_col_str(st, 3));
	x->market.yes_bid_micros = kw_store_col_i64(st, 4);
	x->market.yes_ask_micros = kw_store_col_i64(st, 5);
	x->market.last_price_micros = kw_store_col_i64(st, 6);
	x->market.previous_price_micros = kw_store_col_i64(st, 7);
	x->market.volume_centi = kw_store_col_i64(st, 8);
	x->market.volume_24h_centi = kw_store_col_i64(st, 9);
	x->market.open_interest_centi = kw_store_col_i64(st, 10);
	x->market.close_at = kw_store_col_i64(st, 11);
	x->market.updated_at = kw_store_col_i64(st, 12);
}

int kw_store_ws_markets(struct kw_store *s, int64_t updated_since, const char *tickers_json,
			int limit, struct kw_ws_items *out)
{
	memset(out, 0, sizeof(*out));
	if (limit < 1 || limit > 5000)
		return -1;
	struct kw_stmt *st = kw_store_stmt(s, tickers_json ? SQL_MARKET_SET : SQL_MARKETS);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, updated_since);
	kw_sql_bind_int(st, 2, limit);
	if (tickers_json)
		kw_sql_bind_text(st, 3, tickers_json);
	return read_rows(s, st, limit, market_row, out, NULL, "markets query");
}

static const char SQL_STATS[] =
	"INSERT INTO ws_stats (id, connections, messages_sent, messages_received, pid, updated_at)"
	" VALUES (1, ?1, ?2, ?3, ?4, ?5)"
	" ON CONFLICT (id) DO UPDATE SET connections = excluded.connections,"
	"   messages_sent = excluded.messages_sent, messages_received = excluded.messages_received,"
	"   pid = excluded.pid, updated_at = excluded.updated_at";

int kw_store_ws_stats_write(struct kw_store *s, const struct kw_ws_stats *stats, int64_t now_s)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_STATS);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, stats->connections);
	kw_sql_bind_i64(st, 2, stats->messages_sent);
	kw_sql_bind_i64(st, 3, stats->messages_received);
	kw_sql_bind_i64(st, 4, stats->pid);
	kw_sql_bind_i64(st, 5, now_s);
	int step = kw_sql_step(st), rc = 0;
	if (step != KW_DONE) {
		if (kw_store_was_busy(s))
			kw_debug("store: ws_stats write skipped: database busy");
		else
			kw_error("store: ws_stats write failed: %s", kw_store_errmsg(s));
		rc = -1;
	}
	kw_sql_reset(st);
	return rc;
}
