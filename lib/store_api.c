/*
 * store_api.c — SQL for kw-api's data routes (contract in store_api.h).
 *
 * Keyset pagination: each list orders by (sort key, tie-breaker) in one direction and resumes
 * with a row-value comparison against the last row sent, so SQLite starts the index walk at
 * the cursor instead of skipping rows. The first page binds a cursor beyond every row.
 * Optional filters are written `(CAST(?n AS TEXT) IS NULL OR ...)` so one prepared statement
 * serves every combination; the walk stays on the sort index and the filters prune rows as it
 * goes. (The CAST gives PostgreSQL the parameter's type at its first use, which it needs.)
 *
 * Plans (SQLite 3.40, asserted in tests/unit/test_store_api.c):
 *   markets sort=volume_24h   SEARCH m USING INDEX markets_v1_volume_24h (<expr><?), one index
 *                             per sort (the keyset is written key <= ?k AND (key < ?k OR
 *                             ticker < ?t): SQLite does not start a walk from a row value on
 *                             an expression index)
 *   whales                    SEARCH t USING INDEX trades_whale (created_us>? AND created_us<?)
 *   whales ticker=            SEARCH t USING INDEX trades_ticker_time_notional (ticker=? AND ...)
 *   alerts                    SEARCH a USING INTEGER PRIMARY KEY (rowid<?)
 *   market trades             SEARCH t USING INDEX trades_ticker_time_notional (ticker=?)
 *   history                   SEARCH market_snapshots USING PRIMARY KEY (ticker=? AND ...)
 * The joined markets row is always SEARCH m USING INDEX sqlite_autoindex_markets_1 (ticker=?).
 */
#include "store_api.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

/* The highest possible ticker: U+10FFFF sorts after every valid UTF-8 string. */
static const char TICKER_MAX[] = "\xF4\x8F\xBF\xBF";

/* ---- markets ------------------------------------------------------------------------------- */

#define MARKET_COLS                                                                                \
	"m.ticker, m.event_ticker, m.series_ticker, m.category, m.title, m.yes_sub_title,"         \
	" m.no_sub_title, m.market_type, m.status, s.frequency, m.open_at, m.close_at,"            \
	" m.yes_bid_micros, m.yes_ask_micros, m.no_bid_micros, m.no_ask_micros,"                   \
	" m.last_price_micros, m.previous_price_micros, m.volume_centi, m.volume_24h_centi,"       \
	" m.open_interest_centi, m.first_seen_at, m.updated_at,"                                   \
	" ifnull(a.usd_24h_micros, 0), ifnull(a.trades_24h, 0)"

/* The 24 hours' activity comes from market_activity, which kw-fetch keeps current after every
 * run (0008_trade_hours.sql): one lookup per row instead of a walk over the market's trades. */
#define MARKET_FROM                                                                                \
	" FROM markets m LEFT JOIN series s ON s.ticker = m.series_ticker"                         \
	" LEFT JOIN market_activity a ON a.ticker = m.ticker"

#define CRYPTO_VIEW(N) KW_SQL_CRYPTO_VIEW(N)

/* BY narrows the walk: the general form walks the sort index; with an event or a series the
 * few matching markets come from markets_event / markets_series and are then sorted. */
#define BY_ANY                                                                                     \
	"(CAST(?3 AS TEXT) IS NULL OR m.series_ticker = ?3) AND (CAST(?4 AS TEXT) IS NULL OR "     \
	"m.event_ticker = ?4)"
#define BY_EVENT "(CAST(?3 AS TEXT) IS NULL OR m.series_ticker = ?3) AND m.event_ticker = ?4"
#define BY_SERIES "m.series_ticker = ?3 AND (CAST(?4 AS TEXT) IS NULL OR m.event_ticker = ?4)"

#define MARKETS_SQL(KEY, CMP, DIR, BY)                                                             \
	"SELECT " MARKET_COLS ", " KEY MARKET_FROM                                                 \
	" WHERE (CAST(?1 AS TEXT) IS NULL OR m.title LIKE '%' || ?1 || '%' ESCAPE '\\')"           \
	"   AND (CAST(?2 AS TEXT) IS NULL OR m.category = ?2 COLLATE NOCASE)"                      \
	"   AND " BY "   AND (CAST(?5 AS TEXT) IS NULL OR m.status = ?5 OR m.status = ?6)"         \
	"   AND (CAST(?7 AS BIGINT) IS NULL OR m.volume_24h_centi >= ?7)"                          \
	"   AND " CRYPTO_VIEW("?8") "   AND " KEY " " CMP "= ?9"                                   \
				    "   AND (" KEY " " CMP " ?9 OR m.ticker " CMP " ?10)"          \
				    " ORDER BY " KEY " " DIR ", m.ticker " DIR " LIMIT ?11"

#define KEY_VOL24 "ifnull(m.volume_24h_centi, -1)"
#define KEY_VOL "ifnull(m.volume_centi, -1)"
#define KEY_OI "ifnull(m.open_interest_centi, -1)"
#define KEY_CHG "ifnull(m.last_price_micros - m.previous_price_micros, -2000000)"
#define KEY_CLOSE "ifnull(m.close_at, 9223372036854775807)"

#define MARKETS_SORTS(BY)                                                                          \
	{                                                                                          \
		MARKETS_SQL(KEY_VOL24, "<", "DESC", BY), MARKETS_SQL(KEY_VOL, "<", "DESC", BY),    \
			MARKETS_SQL(KEY_OI, "<", "DESC", BY),                                      \
			MARKETS_SQL(KEY_CHG, "<", "DESC", BY),                                     \
			MARKETS_SQL(KEY_CLOSE, ">", "ASC", BY)                                     \
	}

/* [walk][sort]: walk 0 = sort index, 1 = by event, 2 = by series. The strings are static, so
 * kw_store_stmt caches each statement by its address. */
static const char *const market_sql[3][KW_MSORT_COUNT] = {
	MARKETS_SORTS(BY_ANY),
	MARKETS_SORTS(BY_EVENT),
	MARKETS_SORTS(BY_SERIES),
};

static void market_row(struct kw_stmt *st, struct kw_market_row *m)
{
	m->ticker = kw_store_col_text(st, 0);
	m->event_ticker = kw_store_col_text(st, 1);
	m->series_ticker = kw_store_col_text(st, 2);
	m->category = kw_store_col_text(st, 3);
	m->title = kw_store_col_text(st, 4);
	m->yes_sub_title = kw_store_col_text(st, 5);
	m->no_sub_title = kw_store_col_text(st, 6);
	m->market_type = kw_store_col_text(st, 7);
	m->status = kw_store_col_text(st, 8);
	m->frequency = kw_store_col_text(st, 9);
	m->open_at = kw_store_col_i64(st, 10);
	m->close_at = kw_store_col_i64(st, 11);
	m->yes_bid = kw_store_col_i64(st, 12);
	m->yes_ask = kw_store_col_i64(st, 13);
	m->no_bid = kw_store_col_i64(st, 14);
	m->no_ask = kw_store_col_i64(st, 15);
	m->last_price = kw_store_col_i64(st, 16);
	m->previous_price = kw_store_col_i64(st, 17);
	m->volume_centi = kw_store_col_i64(st, 18);
	m->volume_24h_centi = kw_store_col_i64(st, 19);
	m->open_interest_centi = kw_store_col_i64(st, 20);
	m->first_seen_at = kw_store_col_i64(st, 21);
	m->updated_at = kw_store_col_i64(st, 22);
	m->usd_24h_micros = kw_sql_col_i64(st, 23);
	m->trades_24h = kw_sql_col_i64(st, 24);
}

/* Step st to the end, handing each row to fn through conv; the shared loop of every list. */
#define WALK(s, st, what, ROWTYPE, CONV, fn, ctx)                                                  \
	do {                                                                                       \
		int step_;                                                                         \
		while (rc == 0 && (step_ = kw_sql_step(st)) == KW_ROW) {                           \
			ROWTYPE row_;                                                              \
			memset(&row_, 0, sizeof(row_));                                            \
			CONV(st, &row_);                                                           \
			rc = fn(ctx, &row_);                                                       \
		}                                                                                  \
		if (rc == 0 && step_ != KW_DONE)                                                   \
			rc = kw_store_fail(s, what);                                               \
	} while (0)

static void market_row_sorted(struct kw_stmt *st, struct kw_market_row *m)
{
	market_row(st, m);
	m->sort_key = kw_sql_col_i64(st, 25);
}

/* q as a LIKE pattern body: %, _ and \ escaped with \. */
static char *like_escape(const char *q)
{
	size_t n = strlen(q);
	char *out = kw_xmalloc(2 * n + 1), *o = out;
	for (const char *p = q; *p; p++) {
		if (*p == '%' || *p == '_' || *p == '\\')
			*o++ = '\\';
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

int kw_store_markets_list(struct kw_store *s, const struct kw_market_filter *f, kw_market_fn fn,
			  void *ctx)
{
	if (f->sort < 0 || f->sort >= KW_MSORT_COUNT)
		return -1;
	struct kw_stmt *st = kw_store_stmt(s, market_sql[f->event    ? 1
							 : f->series ? 2
								     : 0][f->sort]);
	if (!st)
		return -1;
	int asc = f->sort == KW_MSORT_CLOSE_TIME, rc = 0;
	char *q = f->q ? like_escape(f->q) : NULL;
	kw_store_bind_text(st, 1, q);
	kw_store_bind_text(st, 2, f->category);
	kw_store_bind_text(st, 3, f->series);
	kw_store_bind_text(st, 4, f->event);
	kw_store_bind_text(st, 5, f->status[0]);
	kw_store_bind_text(st, 6, f->status[1] ? f->status[1] : f->status[0]);
	if (f->min_volume_24h_centi != KW_NULL)
		kw_sql_bind_i64(st, 7, f->min_volume_24h_centi);
	kw_store_bind_text(st, 8, f->crypto_prefixes);
	if (f->has_cursor) {
		kw_sql_bind_i64(st, 9, f->after_key);
		kw_sql_bind_text(st, 10, f->after_ticker);
	} else {
		kw_sql_bind_i64(st, 9, asc ? INT64_MIN : INT64_MAX);
		kw_sql_bind_text_static(st, 10, asc ? "" : TICKER_MAX);
	}
	kw_sql_bind_i64(st, 11, f->limit);
	WALK(s, st, "listing markets", struct kw_market_row, market_row_sorted, fn, ctx);
	kw_sql_reset(st);
	free(q);
	return rc;
}

/* A legacy view's ranked list (sql/0014_legacy_views.sql): `limit` primary-key rows. */
static const char SQL_VIEW_LIST[] =
	"SELECT " MARKET_COLS MARKET_FROM " JOIN legacy_views v ON v.ticker = m.ticker"
	" WHERE v.view = ?1 ORDER BY v.rank LIMIT ?2";
static const char SQL_VIEWS_BUILT[] =
	"SELECT count(*) FROM fetch_state WHERE name = 'legacy_views_at'";

int kw_store_legacy_view(struct kw_store *s, const char *view, int64_t limit, kw_market_fn fn,
			 void *ctx)
{
	int64_t built = 0;
	if (kw_store_scalar(s, SQL_VIEWS_BUILT, &built) < 0)
		return -1;
	if (!built)
		return 1;
	struct kw_stmt *st = kw_store_stmt(s, SQL_VIEW_LIST);
	if (!st)
		return -1;
	int rc = 0;
	kw_sql_bind_text(st, 1, view);
	kw_sql_bind_i64(st, 2, limit);
	WALK(s, st, "listing a legacy view", struct kw_market_row, market_row, fn, ctx);
	kw_sql_reset(st);
	return rc;
}

static const char SQL_MARKET_GET[] = "SELECT " MARKET_COLS MARKET_FROM " WHERE m.ticker = ?1";

int kw_store_market_get(struct kw_store *s, const char *ticker, kw_market_fn fn, void *ctx)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_MARKET_GET);
	if (!st)
		return -1;
	kw_sql_bind_text(st, 1, ticker);
	int rc, step = kw_sql_step(st);
	if (step == KW_ROW) {
		struct kw_market_row m;
		memset(&m, 0, sizeof(m));
		market_row(st, &m);
		rc = fn(ctx, &m);
	} else {
		rc = step == KW_DONE ? 1 : kw_store_fail(s, "reading a market");
	}
	kw_sql_reset(st);
	return rc;
}

static const char SQL_BOOK[] =
	"SELECT taken_at, yes_depth_centi, no_depth_centi, yes_levels, no_levels,"
	"       best_yes_bid_micros, best_no_bid_micros"
	"  FROM orderbook_snapshots WHERE ticker = ?1 ORDER BY taken_at DESC LIMIT 1";

int kw_store_market_book(struct kw_store *s, const char *ticker, struct kw_book_row *out)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_BOOK);
	if (!st)
		return -1;
	kw_sql_bind_text(st, 1, ticker);
	int rc, step = kw_sql_step(st);
	if (step == KW_ROW) {
		out->taken_at = kw_sql_col_i64(st, 0);
		out->yes_depth_centi = kw_sql_col_i64(st, 1);
		out->no_depth_centi = kw_sql_col_i64(st, 2);
		out->yes_levels = kw_sql_col_i64(st, 3);
		out->no_levels = kw_sql_col_i64(st, 4);
		out->best_yes_bid = kw_store_col_i64(st, 5);
		out->best_no_bid = kw_store_col_i64(st, 6);
		rc = 0;
	} else {
		rc = step == KW_DONE ? 1 : kw_store_fail(s, "reading an order book");
	}
	kw_sql_reset(st);
	return rc;
}

/* The last snapshot of each bucket of ?4 seconds: the buckets' latest times first, then
 * their rows by primary key (a column beside max() is SQLite's shorthand for that row, which
 * standard SQL does not have). */
static const char SQL_HISTORY[] =
	"SELECT s.taken_at, s.yes_bid_micros, s.yes_ask_micros, s.last_price_micros,"
	"       s.volume_centi, s.volume_24h_centi, s.open_interest_centi"
	"  FROM (SELECT max(taken_at) AS t FROM market_snapshots"
	"         WHERE ticker = ?1 AND taken_at >= ?2 AND taken_at <= ?3"
	"         GROUP BY taken_at / ?4 ORDER BY 1 LIMIT ?5) AS g"
	"  JOIN market_snapshots s ON s.ticker = ?1 AND s.taken_at = g.t ORDER BY 1";

static void snapshot_row(struct kw_stmt *st, struct kw_snapshot_row *r)
{
	r->taken_at = kw_sql_col_i64(st, 0);
	r->yes_bid = kw_store_col_i64(st, 1);
	r->yes_ask = kw_store_col_i64(st, 2);
	r->last_price = kw_store_col_i64(st, 3);
	r->volume_centi = kw_store_col_i64(st, 4);
	r->volume_24h_centi = kw_store_col_i64(st, 5);
	r->open_interest_centi = kw_store_col_i64(st, 6);
}

int kw_store_market_history(struct kw_store *s, const char *ticker, int64_t from, int64_t to,
			    int64_t interval_s, int64_t limit, kw_snapshot_fn fn, void *ctx)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_HISTORY);
	if (!st)
		return -1;
	int rc = 0;
	kw_sql_bind_text(st, 1, ticker);
	kw_sql_bind_i64(st, 2, from);
	kw_sql_bind_i64(st, 3, to);
	kw_sql_bind_i64(st, 4, interval_s > 0 ? interval_s : 1);
	kw_sql_bind_i64(st, 5, limit);
	WALK(s, st, "reading market history", struct kw_snapshot_row, snapshot_row, fn, ctx);
	kw_sql_reset(st);
	return rc;
}

/* ---- trades -------------------------------------------------------------------------------- */

#define TRADE_COLS                                                                                 \
	"t.id, t.trade_id, t.ticker, t.taker_side, m.category, m.title, t.created_us,"             \
	" t.count_centi, t.yes_price_micros, t.no_price_micros, t.notional_micros, t.is_block"

static void trade_row(struct kw_stmt *st, struct kw_trade_row *t)
{
	t->id = kw_sql_col_i64(st, 0);
	t->trade_id = kw_store_col_text(st, 1);
	t->ticker = kw_store_col_text(st, 2);
	t->taker_side = kw_store_col_text(st, 3);
	t->category = kw_store_col_text(st, 4);
	t->title = kw_store_col_text(st, 5);
	t->created_us = kw_sql_col_i64(st, 6);
	t->count_centi = kw_sql_col_i64(st, 7);
	t->yes_price = kw_sql_col_i64(st, 8);
	t->no_price = kw_sql_col_i64(st, 9);
	t->notional_micros = kw_store_col_i64(st, 10); /* KW_NULL: no taker side, no premium */
	t->is_block = kw_sql_col_i64(st, 11);
}

/* The whale threshold of a trade's market: min_notional when given, else the category's.
 * json_extract (not json_each) because SQLite caches the parsed JSON across rows. A category
 * holding a double quote cannot be a configured one (config refuses it) and would not be a
 * valid JSON path: it gets the default. */
#define WHALE_MIN                                                                                  \
	"t.notional_micros >= CASE WHEN ?1 > 0 THEN ?1"                                            \
	" WHEN m.category IS NULL OR instr(m.category, '\"') > 0 THEN ?3"                          \
	" ELSE ifnull(json_extract(?2, '$.\"' || lower(m.category) || '\"'), ?3) END"

/* FLOOR repeats the partial index's condition so SQLite may use trades_whale. */
#define WHALE_FLOOR "t.notional_micros >= 1000000000 AND "

#define WHALES_SQL(FLOOR, TICKER, HOUR)                                                            \
	"SELECT " TRADE_COLS " FROM trades t LEFT JOIN markets m ON m.ticker = t.ticker"           \
	" WHERE " FLOOR TICKER " AND " WHALE_MIN                                                   \
	"   AND (CAST(?5 AS TEXT) IS NULL OR m.category = ?5 COLLATE NOCASE)"                      \
	"   AND (CAST(?6 AS TEXT) IS NULL OR t.taker_side = ?6)"                                   \
	"   AND t.created_us >= ?7 AND t.created_us < ?8 AND (t.created_us, t.id) < (?9, ?10)"     \
	" ORDER BY " HOUR "t.created_us DESC, t.id DESC LIMIT ?11"

/* One market: its hours in trades_hour_ticker, newest first (the hour leads the order so
 * the walk stops after the hours it needs; the hour follows created_us, so the order is the
 * same). Every market: the time-ordered whale index, or the trades in time order. */
#define BY_TICKER KW_SQL_TRADE_HOUR("t.") KW_SQL_HOURS_IN("?7", "?8 - 1") " AND t.ticker = ?4"
#define HOUR_DESC KW_SQL_TRADE_HOUR("t.") " DESC, "

static const char SQL_WHALES[] = WHALES_SQL(WHALE_FLOOR, "CAST(?4 AS TEXT) IS NULL", "");
static const char SQL_WHALES_TICKER[] = WHALES_SQL(WHALE_FLOOR, BY_TICKER, HOUR_DESC);
static const char SQL_WHALES_LOW[] = WHALES_SQL("", "CAST(?4 AS TEXT) IS NULL", "");
static const char SQL_WHALES_LOW_TICKER[] = WHALES_SQL("", BY_TICKER, HOUR_DESC);

/* Can the indexed floor be used: is every threshold the query applies at least $1000? */
static int floor_applies(int64_t min_notional, const char *cats_json, int64_t default_micros)
{
	const int64_t floor = (int64_t)KW_WHALE_FLOOR_USD * 1000000;
	if (min_notional > 0)
		return min_notional >= floor;
	if (default_micros < floor)
		return 0;
	/* Category thresholds are validated >= $1 at start-up; find any below the floor. */
	json_object *o = cats_json ? json_tokener_parse(cats_json) : NULL;
	int ok = 1;
	if (o) {
		json_object_object_foreach(o, k, v)
		{
			(void)k;
			if (json_object_get_int64(v) < floor)
				ok = 0;
		}
		json_object_put(o);
	}
	return ok;
}

int kw_store_whales_list(struct kw_store *s, const struct kw_trade_filter *f, kw_trade_fn fn,
			 void *ctx)
{
	int fl = floor_applies(f->min_notional_micros, f->category_thresholds,
			       f->default_threshold_micros);
	const char *sql = fl ? (f->ticker ? SQL_WHALES_TICKER : SQL_WHALES)
			     : (f->ticker ? SQL_WHALES_LOW_TICKER : SQL_WHALES_LOW);
	struct kw_stmt *st = kw_store_stmt(s, sql);
	if (!st)
		return -1;
	int rc = 0;
	kw_sql_bind_i64(st, 1, f->min_notional_micros);
	kw_sql_bind_text(st, 2, f->category_thresholds ? f->category_thresholds : "{}");
	kw_sql_bind_i64(st, 3, f->default_threshold_micros);
	kw_store_bind_text(st, 4, f->ticker);
	kw_store_bind_text(st, 5, f->category);
	kw_store_bind_text(st, 6, f->side);
	kw_sql_bind_i64(st, 7, f->from_us);
	kw_sql_bind_i64(st, 8, f->to_us);
	kw_sql_bind_i64(st, 9, f->has_cursor ? f->after_us : INT64_MAX);
	kw_sql_bind_i64(st, 10, f->has_cursor ? f->after_id : INT64_MAX);
	kw_sql_bind_i64(st, 11, f->limit);
	WALK(s, st, "listing whale trades", struct kw_trade_row, trade_row, fn, ctx);
	kw_sql_reset(st);
	return rc;
}

static const char SQL_MARKET_TRADES[] =
	"SELECT " TRADE_COLS " FROM trades t LEFT JOIN markets m ON m.ticker = t.ticker"
	" WHERE " KW_SQL_TRADE_HOUR("t.") KW_SQL_HOURS_IN(
		"0", "9223372036854775807") "   AND t.ticker = ?1 ORDER BY " HOUR_DESC
					    "t.created_us DESC, t.id DESC LIMIT ?2";

int kw_store_market_trades(struct kw_store *s, const char *ticker, int64_t limit, kw_trade_fn fn,
			   void *ctx)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_MARKET_TRADES);
	if (!st)
		return -1;
	int rc = 0;
	kw_sql_bind_text(st, 1, ticker);
	kw_sql_bind_i64(st, 2, limit);
	WALK(s, st, "listing a market's trades", struct kw_trade_row, trade_row, fn, ctx);
	kw_sql_reset(st);
	return rc;
}

/* ---- alerts -------------------------------------------------------------------------------- */

#define ALERTS_SQL(CMP, DIR)                                                                       \
	"SELECT a.id, a.type, a.ticker, a.severity, a.description, a.data,"                        \
	"       m.category, m.title, a.confidence, a.created_at, a.window_end"                     \
	"  FROM alerts a LEFT JOIN markets m ON m.ticker = a.ticker"                               \
	" WHERE (CAST(?1 AS TEXT) IS NULL OR a.type = ?1) AND (CAST(?2 AS TEXT) IS NULL OR "       \
	"a.severity = ?2)"                                                                         \
	"   AND (CAST(?3 AS TEXT) IS NULL OR a.ticker = ?3)"                                       \
	"   AND (CAST(?4 AS TEXT) IS NULL OR m.category = ?4 COLLATE NOCASE)"                      \
	"   AND " CRYPTO_VIEW("?5") " AND a.created_at >= ?6 AND a.id " CMP " ?7"                  \
				    " ORDER BY a.id " DIR " LIMIT ?8"

static const char SQL_ALERTS_DESC[] = ALERTS_SQL("<", "DESC");
static const char SQL_ALERTS_ASC[] = ALERTS_SQL(">", "ASC");

static void alert_row(struct kw_stmt *st, struct kw_alert *a)
{
	a->id = kw_sql_col_i64(st, 0);
	a->type = kw_store_col_text(st, 1);
	a->ticker = kw_store_col_text(st, 2);
	a->severity = kw_store_col_text(st, 3);
	a->description = kw_store_col_text(st, 4);
	a->data = kw_store_col_text(st, 5);
	a->category = kw_store_col_text(st, 6);
	a->title = kw_store_col_text(st, 7);
	a->confidence = kw_sql_col_i64(st, 8);
	a->created_at = kw_sql_col_i64(st, 9);
	a->window_end = kw_sql_col_i64(st, 10);
}

int kw_store_alerts_list(struct kw_store *s, const struct kw_alert_filter *f, kw_alert_fn fn,
			 void *ctx)
{
	int asc = f->after_since;
	struct kw_stmt *st = kw_store_stmt(s, asc ? SQL_ALERTS_ASC : SQL_ALERTS_DESC);
	if (!st)
		return -1;
	int rc = 0;
	kw_store_bind_text(st, 1, f->type);
	kw_store_bind_text(st, 2, f->severity);
	kw_store_bind_text(st, 3, f->ticker);
	kw_store_bind_text(st, 4, f->category);
	kw_store_bind_text(st, 5, f->crypto_prefixes);
	kw_sql_bind_i64(st, 6, f->created_from);
	if (asc)
		kw_sql_bind_i64(st, 7,
				f->has_cursor && f->after_id > f->since_id ? f->after_id
									   : f->since_id);
	else
		kw_sql_bind_i64(st, 7, f->has_cursor ? f->after_id : INT64_MAX);
	kw_sql_bind_i64(st, 8, f->limit);
	WALK(s, st, "listing alerts", struct kw_alert, alert_row, fn, ctx);
	kw_sql_reset(st);
	return rc;
}

/* ---- aggregates ---------------------------------------------------------------------------- */

static const char SQL_WINDOW[] =
	"SELECT ticker, taker_side, created_us, notional_micros, yes_price_micros FROM trades"
	" WHERE created_us >= ?1 ORDER BY created_us, trade_id"; /* trades_dedup's order */

static void window_row(struct kw_stmt *st, struct kw_window_trade *t)
{
	t->ticker = kw_store_col_text(st, 0);
	t->taker_side = kw_store_col_text(st, 1);
	t->created_us = kw_sql_col_i64(st, 2);
	t->notional_micros = kw_sql_col_i64(st, 3);
	t->yes_price = kw_sql_col_i64(st, 4);
}

int kw_store_window_trades(struct kw_store *s, int64_t since_us, kw_window_fn fn, void *ctx)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_WINDOW);
	if (!st)
		return -1;
	int rc = 0;
	kw_sql_bind_i64(st, 1, since_us);
	WALK(s, st, "reading a window of trades", struct kw_window_trade, window_row, fn, ctx);
	kw_sql_reset(st);
	return rc;
}

static const char SQL_PRICE_DAY[] = "SELECT previous_price_micros FROM markets WHERE ticker = ?1";
static const char SQL_PRICE_AT[] = "SELECT last_price_micros FROM market_snapshots"
				   " WHERE ticker = ?1 AND taken_at <= ?2"
				   " ORDER BY taken_at DESC LIMIT 1";

int kw_store_price_at(struct kw_store *s, const char *ticker, int64_t at, int day, int64_t *out)
{
	struct kw_stmt *st = kw_store_stmt(s, day ? SQL_PRICE_DAY : SQL_PRICE_AT);
	if (!st)
		return -1;
	kw_sql_bind_text(st, 1, ticker);
	if (!day)
		kw_sql_bind_i64(st, 2, at);
	int rc = 0, step = kw_sql_step(st);
	*out = KW_NULL;
	if (step == KW_ROW)
		*out = kw_store_col_i64(st, 0);
	else if (step != KW_DONE)
		rc = -1;
	if (rc < 0)
		kw_error("store: reading a reference price failed: %s", kw_store_errmsg(s));
	kw_sql_reset(st);
	return rc;
}

static const char SQL_LABEL[] = "SELECT title, category FROM markets WHERE ticker = ?1";

int kw_store_market_label(struct kw_store *s, const char *ticker, char *title, size_t tlen,
			  char *category, size_t clen)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_LABEL);
	if (!st)
		return -1;
	kw_sql_bind_text(st, 1, ticker);
	int rc, step = kw_sql_step(st);
	title[0] = category[0] = '\0';
	if (step == KW_ROW) {
		kw_strlcpy(title, kw_store_col_text(st, 0) ? kw_store_col_text(st, 0) : "", tlen);
		kw_strlcpy(category, kw_store_col_text(st, 1) ? kw_store_col_text(st, 1) : "",
			   clen);
		rc = 0;
	} else {
		rc = step == KW_DONE ? 1 : kw_store_fail(s, "reading a market label");
	}
	kw_sql_reset(st);
	return rc;
}

/* A window's biggest trades are, as a rule, among its trades of $1000 or more: those come
 * from the partial whale index and only they are sorted. A window holding fewer than `limit`
 * of them is sorted whole (no index orders trades by size: one would be written in random
 * order at every ingest, 0008_trade_hours.sql). */
#define TOP_TRADES_SQL(FLOOR)                                                                      \
	"SELECT " TRADE_COLS " FROM trades t LEFT JOIN markets m ON m.ticker = t.ticker"           \
	" WHERE " FLOOR "t.created_us >= ?1 ORDER BY t.notional_micros DESC, t.id DESC LIMIT ?2"
static const char SQL_TOP_TRADES[] = TOP_TRADES_SQL(WHALE_FLOOR);
static const char SQL_TOP_TRADES_ALL[] = TOP_TRADES_SQL("");
static const char SQL_BIG_TRADES[] = "SELECT count(*) FROM (SELECT 1 FROM trades t"
				     " WHERE " WHALE_FLOOR "t.created_us >= ?1 LIMIT ?2) b";

int kw_store_top_trades(struct kw_store *s, int64_t since_us, int64_t limit, kw_trade_fn fn,
			void *ctx)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_BIG_TRADES);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, since_us);
	kw_sql_bind_i64(st, 2, limit);
	if (kw_sql_step(st) != KW_ROW) {
		kw_sql_reset(st);
		return kw_store_fail(s, "counting big trades");
	}
	int enough = kw_sql_col_i64(st, 0) >= limit;
	kw_sql_reset(st);
	if (!(st = kw_store_stmt(s, enough ? SQL_TOP_TRADES : SQL_TOP_TRADES_ALL)))
		return -1;
	int rc = 0;
	kw_sql_bind_i64(st, 1, since_us);
	kw_sql_bind_i64(st, 2, limit);
	WALK(s, st, "listing top trades", struct kw_trade_row, trade_row, fn, ctx);
	kw_sql_reset(st);
	return rc;
}

#define WHALE_COUNTS_SQL(FLOOR)                                                                    \
	"SELECT ifnull(m.category, ''), count(*)"                                                  \
	"  FROM trades t LEFT JOIN markets m ON m.ticker = t.ticker"                               \
	" WHERE " FLOOR "t.created_us >= ?4 AND " WHALE_MIN " GROUP BY 1 ORDER BY 2 DESC, 1"

static const char SQL_WHALE_COUNTS[] = WHALE_COUNTS_SQL(WHALE_FLOOR);
static const char SQL_WHALE_COUNTS_LOW[] = WHALE_COUNTS_SQL("");

int kw_store_whale_counts(struct kw_store *s, int64_t since_us, const char *category_thresholds,
			  int64_t default_threshold_micros, kw_count_fn fn, void *ctx)
{
	int fl = floor_applies(0, category_thresholds, default_threshold_micros);
	struct kw_stmt *st = kw_store_stmt(s, fl ? SQL_WHALE_COUNTS : SQL_WHALE_COUNTS_LOW);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, 0);
	kw_sql_bind_text(st, 2, category_thresholds ? category_thresholds : "{}");
	kw_sql_bind_i64(st, 3, default_threshold_micros);
	kw_sql_bind_i64(st, 4, since_us);
	int rc = 0, step;
	while (rc == 0 && (step = kw_sql_step(st)) == KW_ROW)
		rc = fn(ctx, kw_store_col_text(st, 0), kw_sql_col_i64(st, 1));
	if (rc == 0 && step != KW_DONE)
		rc = kw_store_fail(s, "counting whale trades");
	kw_sql_reset(st);
	return rc;
}

static const char SQL_HOURLY[] = "SELECT " KW_SQL_TRADE_HOUR(
	"") ", ifnull(sum(notional_micros), 0) FROM trades WHERE " KW_SQL_TRADE_HOUR("")
	KW_SQL_HOURS_IN("?2", "9223372036854775807") " AND ticker = ?1 AND created_us >= ?2 GROUP "
						     "BY 1 ORDER BY 1";

int kw_store_hourly_notional(struct kw_store *s, const char *ticker, int64_t since_us,
			     kw_hour_fn fn, void *ctx)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_HOURLY);
	if (!st)
		return -1;
	kw_sql_bind_text(st, 1, ticker);
	kw_sql_bind_i64(st, 2, since_us);
	int rc = 0, step;
	while (rc == 0 && (step = kw_sql_step(st)) == KW_ROW)
		rc = fn(ctx, kw_sql_col_i64(st, 0), kw_sql_col_i64(st, 1));
	if (rc == 0 && step != KW_DONE)
		rc = kw_store_fail(s, "reading hourly premium");
	kw_sql_reset(st);
	return rc;
}

/* ---- rollups ------------------------------------------------------------------------------ */

static const char SQL_STATS_WINDOW[] =
	"SELECT as_of, cutoff_us / 1000000, markets_traded FROM stats_windows WHERE window_s = ?1";

int kw_store_stats_window(struct kw_store *s, int64_t window_s, int64_t *as_of, int64_t *since,
			  int64_t *markets_traded)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_STATS_WINDOW);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, window_s);
	int rc, step = kw_sql_step(st);
	if (step == KW_ROW) {
		*as_of = kw_sql_col_i64(st, 0);
		*since = kw_sql_col_i64(st, 1);
		*markets_traded = kw_sql_col_i64(st, 2);
		rc = 0;
	} else {
		rc = step == KW_DONE ? 1 : kw_store_fail(s, "reading a stats window");
	}
	kw_sql_reset(st);
	return rc;
}

#define STATS_MARKETS_SQL(WHERE, ORDER)                                                            \
	"SELECT x.ticker, m.title, m.category, x.trades, x.notional_micros, x.yes_micros,"         \
	" x.start_price_micros, x.last_price_micros FROM stats_markets x"                          \
	" LEFT JOIN markets m ON m.ticker = x.ticker WHERE x.window_s = ?1" WHERE                  \
	" ORDER BY " ORDER " LIMIT ?2"
#define STATS_CHANGE "x.last_price_micros - x.start_price_micros"
static const char *const stats_markets_sql[] = {
	[KW_STATS_ACTIVE] = STATS_MARKETS_SQL("", "x.notional_micros DESC, x.ticker"),
	[KW_STATS_GAINERS] =
		STATS_MARKETS_SQL(" AND " STATS_CHANGE " > 0", STATS_CHANGE " DESC, x.ticker"),
	[KW_STATS_LOSERS] =
		STATS_MARKETS_SQL(" AND " STATS_CHANGE " < 0", STATS_CHANGE ", x.ticker DESC"),
};

static void stats_market_row(struct kw_stmt *st, struct kw_stats_market_row *m)
{
	m->ticker = kw_store_col_text(st, 0);
	m->title = kw_store_col_text(st, 1);
	m->category = kw_store_col_text(st, 2);
	m->trades = kw_sql_col_i64(st, 3);
	m->notional_micros = kw_sql_col_i64(st, 4);
	m->yes_micros = kw_sql_col_i64(st, 5);
	m->start_price = kw_store_col_i64(st, 6);
	m->last_price = kw_sql_col_i64(st, 7);
}

int kw_store_stats_markets(struct kw_store *s, int64_t window_s, enum kw_stats_order order,
			   int64_t limit, kw_stats_market_fn fn, void *ctx)
{
	if ((int)order < 0 || (size_t)order >= KW_ARRAY_LEN(stats_markets_sql))
		return -1;
	struct kw_stmt *st = kw_store_stmt(s, stats_markets_sql[order]);
	if (!st)
		return -1;
	int rc = 0;
	kw_sql_bind_i64(st, 1, window_s);
	kw_sql_bind_i64(st, 2, limit);
	WALK(s, st, "reading stats markets", struct kw_stats_market_row, stats_market_row, fn, ctx);
	kw_sql_reset(st);
	return rc;
}

static const char SQL_STATS_TOP[] =
	"SELECT " TRADE_COLS " FROM stats_top_trades x JOIN trades t ON t.id = x.trade_rowid"
	" LEFT JOIN markets m ON m.ticker = t.ticker WHERE x.window_s = ?1"
	" ORDER BY x.notional_micros DESC, x.trade_rowid DESC LIMIT ?2";

int kw_store_stats_top_trades(struct kw_store *s, int64_t window_s, int64_t limit, kw_trade_fn fn,
			      void *ctx)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_STATS_TOP);
	if (!st)
		return -1;
	int rc = 0;
	kw_sql_bind_i64(st, 1, window_s);
	kw_sql_bind_i64(st, 2, limit);
	WALK(s, st, "reading top trades", struct kw_trade_row, trade_row, fn, ctx);
	kw_sql_reset(st);
	return rc;
}

static const char SQL_STATS_WHALES[] = "SELECT category, trades FROM stats_whales"
				       " WHERE window_s = ?1 ORDER BY 2 DESC, 1";

int kw_store_stats_whales(struct kw_store *s, int64_t window_s, kw_count_fn fn, void *ctx)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_STATS_WHALES);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, window_s);
	int rc = 0, step;
	while (rc == 0 && (step = kw_sql_step(st)) == KW_ROW)
		rc = fn(ctx, kw_store_col_text(st, 0), kw_sql_col_i64(st, 1));
	if (rc == 0 && step != KW_DONE)
		rc = kw_store_fail(s, "reading whale counts");
	kw_sql_reset(st);
	return rc;
}

static const char SQL_MARKET_HOURS[] = "SELECT hour, notional_micros FROM market_hours"
				       " WHERE ticker = ?1 AND hour >= ?2 ORDER BY hour";

int kw_store_market_hours(struct kw_store *s, const char *ticker, int64_t from_hour, kw_hour_fn fn,
			  void *ctx)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_MARKET_HOURS);
	if (!st)
		return -1;
	kw_sql_bind_text(st, 1, ticker);
	kw_sql_bind_i64(st, 2, from_hour);
	int rc = 0, step;
	while (rc == 0 && (step = kw_sql_step(st)) == KW_ROW)
		rc = fn(ctx, kw_sql_col_i64(st, 0), kw_sql_col_i64(st, 1));
	if (rc == 0 && step != KW_DONE)
		rc = kw_store_fail(s, "reading market hours");
	kw_sql_reset(st);
	return rc;
}

static const char SQL_LAST_FETCH[] =
	"SELECT ifnull(max(finished_at), 0) FROM fetch_runs WHERE outcome IN ('ok', 'partial')";

int kw_store_last_fetch(struct kw_store *s, int64_t *finished_at)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_LAST_FETCH);
	if (!st)
		return -1;
	int rc = 0;
	if (kw_sql_step(st) == KW_ROW)
		*finished_at = kw_sql_col_i64(st, 0);
	else
		rc = kw_store_fail(s, "reading the last fetch");
	kw_sql_reset(st);
	return rc;
}

/* ---- refresh requests ---------------------------------------------------------------------- */

static const char SQL_RUNNING[] =
	"SELECT id FROM fetch_runs WHERE outcome = 'running' AND started_at >= ?1"
	" ORDER BY id DESC LIMIT 1";
static const char SQL_PENDING[] =
	"SELECT id FROM refresh_requests WHERE run_id IS NULL AND requested_at >= ?1"
	" ORDER BY id LIMIT 1";
static const char SQL_REQUEST[] = "INSERT INTO refresh_requests (requested_at, force)"
				  " VALUES (?1, ?2) RETURNING id";

/* 1 and *id when st (bound) returns a row, 0 when none, -1 on error. */
static int first_id(struct kw_store *s, struct kw_stmt *st, int64_t *id)
{
	int step = kw_sql_step(st);
	int rc = step == KW_ROW ? 1 : step == KW_DONE ? 0 : kw_store_fail(s, "refresh lookup");
	if (rc == 1)
		*id = kw_sql_col_i64(st, 0);
	kw_sql_reset(st);
	return rc;
}

int kw_store_refresh_request(struct kw_store *s, int force, int64_t now, int64_t running_window_s,
			     int64_t *id)
{
	int rc = -1, found;
	if (kw_store_begin(s) < 0)
		return -1;
	struct kw_stmt *st = kw_store_stmt(s, SQL_RUNNING);
	if (!st)
		goto out;
	kw_sql_bind_i64(st, 1, now - running_window_s);
	if ((found = first_id(s, st, id)) != 0) {
		rc = found < 0 ? -1 : KW_REFRESH_RUNNING;
		goto out;
	}
	if (!(st = kw_store_stmt(s, SQL_PENDING)))
		goto out;
	kw_sql_bind_i64(st, 1, now - running_window_s);
	if ((found = first_id(s, st, id)) != 0) {
		rc = found < 0 ? -1 : KW_REFRESH_PENDING;
		goto out;
	}
	if (!(st = kw_store_stmt(s, SQL_REQUEST)))
		goto out;
	kw_sql_bind_i64(st, 1, now);
	kw_sql_bind_int(st, 2, force ? 1 : 0);
	int step = kw_sql_step(st);
	if (step == KW_ROW)
		*id = kw_sql_col_i64(st, 0);
	else
		kw_store_fail(s, "storing a refresh request");
	kw_sql_reset(st);
	if (step != KW_ROW)
		goto out;
	rc = KW_REFRESH_QUEUED;
out:
	if (rc >= 0 && kw_store_commit(s) == 0)
		return rc;
	kw_store_rollback(s);
	return -1;
}

/* ---- plans --------------------------------------------------------------------------------- */

int kw_store_api_plans(struct kw_store *s, kw_plan_fn fn, void *ctx)
{
	const struct {
		const char *name, *sql;
	} q[] = {
		{ "markets sort=volume_24h", market_sql[0][KW_MSORT_VOLUME_24H] },
		{ "markets sort=volume", market_sql[0][KW_MSORT_VOLUME] },
		{ "markets sort=open_interest", market_sql[0][KW_MSORT_OPEN_INTEREST] },
		{ "markets sort=price_change", market_sql[0][KW_MSORT_PRICE_CHANGE] },
		{ "markets sort=close_time", market_sql[0][KW_MSORT_CLOSE_TIME] },
		{ "by event sort=volume_24h", market_sql[1][KW_MSORT_VOLUME_24H] },
		{ "by event sort=close_time", market_sql[1][KW_MSORT_CLOSE_TIME] },
		{ "by series sort=volume", market_sql[2][KW_MSORT_VOLUME] },
		{ "whales", SQL_WHALES },
		{ "whales ticker", SQL_WHALES_TICKER },
		{ "whales below floor", SQL_WHALES_LOW },
		{ "whales below floor ticker", SQL_WHALES_LOW_TICKER },
		{ "alerts", SQL_ALERTS_DESC },
		{ "alerts since_id", SQL_ALERTS_ASC },
		{ "market trades", SQL_MARKET_TRADES },
		{ "market history", SQL_HISTORY },
		{ "market", SQL_MARKET_GET },
		{ "stats window", SQL_WINDOW },
		{ "top trades", SQL_TOP_TRADES },
		{ "market hourly", SQL_HOURLY },
		{ "stats active", stats_markets_sql[KW_STATS_ACTIVE] },
		{ "stats gainers", stats_markets_sql[KW_STATS_GAINERS] },
		{ "stats losers", stats_markets_sql[KW_STATS_LOSERS] },
		{ "stats top trades", SQL_STATS_TOP },
		{ "market hours", SQL_MARKET_HOURS },
		{ "legacy view", SQL_VIEW_LIST },
	};
	int rc = 0;
	for (size_t i = 0; i < KW_ARRAY_LEN(q) && rc == 0; i++) {
		struct kw_buf b;
		struct kw_stmt *st = NULL;
		/* SQLite's plan is one step a row, in its fourth column; PostgreSQL's one line a
		 * row, in its only column. */
		int pg = kw_store_is_pg(s), col = pg ? 0 : 3;
		kw_buf_init(&b, 0);
		if (kw_buf_puts(&b, pg ? "EXPLAIN " : "EXPLAIN QUERY PLAN ") < 0 ||
		    kw_buf_puts(&b, q[i].sql) < 0 ||
		    !(st = kw_conn_prepare(kw_store_conn(s), b.data))) {
			rc = kw_store_fail(s, "explaining a query");
		} else {
			int step;
			while (rc == 0 && (step = kw_sql_step(st)) == KW_ROW)
				rc = fn(ctx, q[i].name, kw_store_col_text(st, col));
			if (rc == 0 && step != KW_DONE)
				rc = kw_store_fail(s, "explaining a query");
		}
		kw_stmt_free(st);
		kw_buf_free(&b);
	}
	return rc;
}
