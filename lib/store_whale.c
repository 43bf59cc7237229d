/*
 * store_whale.c — SQL for whale detection (contract in store_whale.h).
 *
 * Every query is a range on an index (plans, SQLite 3.40, checked by tests/unit/test_whale.c):
 *   candidates      SEARCH t USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)
 *   buckets         SEARCH trades USING INTEGER PRIMARY KEY; USE TEMP B-TREE FOR GROUP BY
 *   notional sum    SEARCH trades USING INDEX trades_ticker_time_notional (ticker=? AND created_us>?..)
 *   price snapshots SEARCH market_snapshots USING INDEX market_snapshots_time (taken_at>?)
 *   price range     SEARCH market_snapshots USING PRIMARY KEY (ticker=? AND taken_at>? ...)
 *   book snapshots  SEARCH orderbook_snapshots USING INDEX orderbook_snapshots_time
 *   previous book   SEARCH orderbook_snapshots USING PRIMARY KEY (ticker=? AND taken_at<?)
 *   cooldown        SEARCH alerts USING COVERING INDEX alerts_cooldown (ticker=? AND type=? ..)
 * So a run costs in proportion to what arrived since the previous one, not to the table sizes.
 */
#include "store_whale.h"

#include <string.h>

#include "log.h"
#include "store_int.h"

int kw_store_detect_begin(struct kw_store *s, int *own)
{
	*own = !kw_store_in_transaction(s);
	return *own ? kw_store_begin(s) : kw_store_savepoint(s, KW_SAVEPOINT_DETECT);
}

int kw_store_detect_end(struct kw_store *s, int own, int ok)
{
	if (own) {
		if (ok && kw_store_commit(s) == 0)
			return 0;
		kw_store_rollback(s);
		return -1;
	}
	return kw_store_release(s, KW_SAVEPOINT_DETECT, ok) == 0 && ok ? 0 : -1;
}

static const char SQL_STATE[] =
	"SELECT ifnull((SELECT last_trade_id FROM detect_state WHERE id = 1), 0),"
	"       ifnull((SELECT last_snapshot_at FROM detect_state WHERE id = 1), 0),"
	"       ifnull((SELECT last_book_at FROM detect_state WHERE id = 1), 0),"
	"       ifnull((SELECT max(id) FROM trades), 0),"
	"       ifnull((SELECT max(taken_at) FROM market_snapshots), 0),"
	"       ifnull((SELECT max(taken_at) FROM orderbook_snapshots), 0),"
	"       NOT EXISTS (SELECT 1 FROM detect_state WHERE id = 1)";

int kw_store_detect_state(struct kw_store *s, struct kw_detect_state *out)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_STATE);
	if (!st)
		return -1;
	int rc = -1;
	if (kw_sql_step(st) != KW_ROW) {
		kw_store_fail(s, "reading detect_state");
		goto out;
	}
	out->last_trade_id = kw_sql_col_i64(st, 0);
	out->last_snapshot_at = kw_sql_col_i64(st, 1);
	out->last_book_at = kw_sql_col_i64(st, 2);
	out->max_trade_id = kw_sql_col_i64(st, 3);
	out->max_snapshot_at = kw_sql_col_i64(st, 4);
	out->max_book_at = kw_sql_col_i64(st, 5);
	out->fresh = kw_sql_col_int(st, 6);
	rc = 0;
out:
	kw_sql_reset(st);
	return rc;
}

static const char SQL_FIRST_SINCE[] =
	"SELECT ifnull((SELECT min(id) FROM trades WHERE created_us >= ?1),"
	"              (SELECT ifnull(max(id), 0) + 1 FROM trades))";

int kw_store_first_trade_since(struct kw_store *s, int64_t since_us, int64_t *id)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_FIRST_SINCE);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, since_us);
	int rc = 0;
	if (kw_sql_step(st) == KW_ROW)
		*id = kw_sql_col_i64(st, 0);
	else
		rc = kw_store_fail(s, "finding the first recent trade");
	kw_sql_reset(st);
	return rc;
}

static const char SQL_STATE_SAVE[] =
	"INSERT INTO detect_state (id, last_trade_id, last_snapshot_at, last_book_at, updated_at)"
	" VALUES (1, ?1, ?2, ?3, ?4)"
	" ON CONFLICT(id) DO UPDATE SET last_trade_id = max(detect_state.last_trade_id, "
	"excluded.last_trade_id),"
	"   last_snapshot_at = max(detect_state.last_snapshot_at, excluded.last_snapshot_at),"
	"   last_book_at = max(detect_state.last_book_at, excluded.last_book_at),"
	"   updated_at = excluded.updated_at";

int kw_store_detect_save(struct kw_store *s, const struct kw_detect_state *d, int64_t now)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_STATE_SAVE);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, d->last_trade_id);
	kw_sql_bind_i64(st, 2, d->last_snapshot_at);
	kw_sql_bind_i64(st, 3, d->last_book_at);
	kw_sql_bind_i64(st, 4, now);
	int rc = kw_sql_step(st) == KW_DONE ? 0 : kw_store_fail(s, "saving detect_state");
	kw_sql_reset(st);
	return rc;
}

static const char SQL_CANDIDATES[] =
	"SELECT t.id, t.trade_id, t.ticker, t.taker_side, m.category, m.series_ticker,"
	"       t.created_us, t.count_centi, t.yes_price_micros, t.no_price_micros,"
	"       t.notional_micros"
	"  FROM trades t LEFT JOIN markets m ON m.ticker = t.ticker"
	" WHERE t.id > ?1 AND t.id <= ?2 AND t.notional_micros >= ?3"
	" ORDER BY t.id";

int kw_store_whale_candidates(struct kw_store *s, int64_t after_id, int64_t upto_id,
			      int64_t min_micros, kw_trade_candidate_fn fn, void *ctx)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_CANDIDATES);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, after_id);
	kw_sql_bind_i64(st, 2, upto_id);
	kw_sql_bind_i64(st, 3, min_micros);
	int rc = 0, step;
	while (rc == 0 && (step = kw_sql_step(st)) == KW_ROW) {
		struct kw_trade_candidate t = {
			.id = kw_sql_col_i64(st, 0),
			.trade_id = kw_store_col_text(st, 1),
			.ticker = kw_store_col_text(st, 2),
			.taker_side = kw_store_col_text(st, 3),
			.category = kw_store_col_text(st, 4),
			.series = kw_store_col_text(st, 5),
			.created_us = kw_sql_col_i64(st, 6),
			.count_centi = kw_sql_col_i64(st, 7),
			.yes_price_micros = kw_sql_col_i64(st, 8),
			.no_price_micros = kw_sql_col_i64(st, 9),
			.notional_micros = kw_sql_col_i64(st, 10),
		};
		rc = fn(ctx, &t);
	}
	if (rc == 0 && step != KW_DONE)
		rc = kw_store_fail(s, "reading whale candidates");
	kw_sql_reset(st);
	return rc;
}

static const char SQL_BUCKETS[] =
	"SELECT ticker, bucket, newest,"
	" CASE WHEN bucket = max(bucket) OVER (PARTITION BY ticker)"
	" THEN max(newest) OVER (PARTITION BY ticker) ELSE 0 END"
	" FROM (SELECT ticker, created_us / ?3 AS bucket, max(created_us) AS newest"
	"  FROM trades WHERE id > ?1 AND id <= ?2 GROUP BY ticker, bucket) n"
	" ORDER BY ticker, bucket";

int kw_store_trade_buckets(struct kw_store *s, int64_t after_id, int64_t upto_id, int64_t bucket_us,
			   kw_bucket_fn fn, void *ctx)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_BUCKETS);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, after_id);
	kw_sql_bind_i64(st, 2, upto_id);
	kw_sql_bind_i64(st, 3, bucket_us);
	int rc = 0, step;
	while (rc == 0 && (step = kw_sql_step(st)) == KW_ROW) {
		struct kw_trade_bucket b = {
			.ticker = kw_store_col_text(st, 0),
			.bucket = kw_sql_col_i64(st, 1),
			.newest_us = kw_sql_col_i64(st, 2),
			.market_newest_us = kw_sql_col_i64(st, 3),
		};
		rc = fn(ctx, &b);
	}
	if (rc == 0 && step != KW_DONE)
		rc = kw_store_fail(s, "reading trade buckets");
	kw_sql_reset(st);
	return rc;
}

/* Detection asks for windows of 15 minutes and of a day (SURGE_WINDOW_MIN is at most 1440):
 * their hours are bound as a list (HOUR_SLOTS, padded with the last hour), which costs SQLite
 * far less per call than the generated list (a backfill makes a million calls). A longer
 * range, which no detection window makes, still gets the right sum from the generated one. */
#define HOUR_SLOTS 26
#define NOTIONAL_SUM(HOURS)                                                                        \
	"SELECT ifnull(sum(notional_micros), 0), count(notional_micros) FROM trades "              \
	"WHERE " KW_SQL_TRADE_HOUR("") HOURS                                                       \
		" AND ticker = ?1 AND created_us >= ?2 AND created_us < ?3"
static const char SQL_NOTIONAL_SUM[] =
	NOTIONAL_SUM(" IN (?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
		     "?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)");
static const char SQL_NOTIONAL_SUM_LONG[] = NOTIONAL_SUM(KW_SQL_HOURS_IN("?2", "?3 - 1"));
/* The common case, a surge bucket inside one hour: a plain equality, no list to build. */
static const char SQL_NOTIONAL_SUM_HOUR[] = NOTIONAL_SUM(" = ?4");

int kw_store_notional_sum(struct kw_store *s, const char *ticker, int64_t from_us, int64_t to_us,
			  int64_t *sum_micros, int64_t *count)
{
	int64_t first = from_us / 3600000000, last = (to_us - 1) / 3600000000;
	int one = to_us > from_us && first == last;
	int listed = !one && to_us > from_us && last - first < HOUR_SLOTS;
	struct kw_stmt *st = kw_store_stmt(s, one      ? SQL_NOTIONAL_SUM_HOUR
					      : listed ? SQL_NOTIONAL_SUM
						       : SQL_NOTIONAL_SUM_LONG);
	if (!st)
		return -1;
	kw_sql_bind_text_static(st, 1, ticker);
	kw_sql_bind_i64(st, 2, from_us);
	kw_sql_bind_i64(st, 3, to_us);
	if (one)
		kw_sql_bind_i64(st, 4, first);
	for (int i = 0; listed && i < HOUR_SLOTS; i++)
		kw_sql_bind_i64(st, 4 + i, first + i <= last ? first + i : last);
	int rc = -1;
	if (kw_sql_step(st) != KW_ROW) {
		kw_store_fail(s, "summing notional");
		goto out;
	}
	*sum_micros = kw_sql_col_i64(st, 0);
	*count = kw_sql_col_i64(st, 1);
	rc = 0;
out:
	kw_sql_reset(st);
	return rc;
}

/* Both ranges (?4, ?5) and (?6, ?7) over the trades of their union [?2, ?3). */
#define IN_RANGE(F, T)                                                                             \
	"CASE WHEN created_us >= " F " AND created_us < " T " THEN notional_micros END"
#define SUM_IN(F, T) "ifnull(sum(" IN_RANGE(F, T) "), 0), count(" IN_RANGE(F, T) ")"
#define SUMS_SELECT "SELECT " SUM_IN("?4", "?5") ", " SUM_IN("?6", "?7") " FROM trades "
#define NOTIONAL_SUMS(HOURS)                                                                       \
	SUMS_SELECT "WHERE " KW_SQL_TRADE_HOUR("") HOURS                                           \
		" AND ticker = ?1 AND created_us >= ?2 AND created_us < ?3"
static const char SQL_NOTIONAL_SUMS[] =
	NOTIONAL_SUMS(" IN (?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, "
		      "?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33)");
static const char SQL_NOTIONAL_SUMS_LONG[] = NOTIONAL_SUMS(KW_SQL_HOURS_IN("?2", "?3 - 1"));

int kw_store_notional_sums(struct kw_store *s, const char *ticker, const int64_t from_us[2],
			   const int64_t to_us[2], int64_t sum_micros[2], int64_t count[2])
{
	int64_t lo = from_us[0] < from_us[1] ? from_us[0] : from_us[1];
	int64_t hi = to_us[0] > to_us[1] ? to_us[0] : to_us[1];
	int64_t first = lo / 3600000000, last = (hi - 1) / 3600000000;
	int listed = hi > lo && last - first < HOUR_SLOTS;
	struct kw_stmt *st = kw_store_stmt(s, listed ? SQL_NOTIONAL_SUMS : SQL_NOTIONAL_SUMS_LONG);
	if (!st)
		return -1;
	kw_sql_bind_text_static(st, 1, ticker);
	kw_sql_bind_i64(st, 2, lo);
	kw_sql_bind_i64(st, 3, hi);
	for (int i = 0; i < 2; i++) {
		kw_sql_bind_i64(st, 4 + 2 * i, from_us[i]);
		kw_sql_bind_i64(st, 5 + 2 * i, to_us[i]);
	}
	for (int i = 0; listed && i < HOUR_SLOTS; i++)
		kw_sql_bind_i64(st, 8 + i, first + i <= last ? first + i : last);
	int rc = -1;
	if (kw_sql_step(st) != KW_ROW) {
		kw_store_fail(s, "summing notional");
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		sum_micros[i] = kw_sql_col_i64(st, 2 * i);
		count[i] = kw_sql_col_i64(st, 2 * i + 1);
	}
	rc = 0;
out:
	kw_sql_reset(st);
	return rc;
}

/*
 * PostgreSQL: the asks as arrays in order (?1 tickers, ?2 and ?3 the start and end of the
 * union of an ask's two ranges, ?4..?7 the ranges' ends), each summed by its own aggregate
 * (LATERAL) over one walk of trades_hour_ticker with the hours of the union listed, as
 * kw_store_notional_sums walks it; that plan holds whatever the tables' statistics say (also
 * on a table loaded a moment ago and never analyzed). As a plain join of the asks' hours the
 * planner hashed all of trades instead, and a join with generated hours walked trades_dedup's
 * time range for every ask. 1,000 asks cost well under the server's jit_above_cost.
 */
#define PG_IN(F, T)                                                                                \
	"CASE WHEN t.created_us >= " F " AND t.created_us < " T " THEN t.notional_micros END"
#define PG_SUM_IN(F, T) "coalesce(sum(" PG_IN(F, T) "), 0), count(" PG_IN(F, T) ")"
#define PG_HOURS                                                                                   \
	KW_SQL_TRADE_HOUR("t.")                                                                    \
	" = ANY (ARRAY(SELECT generate_series(v.lo / 3600000000,"                                  \
	" (v.hi - 1) / 3600000000)))"
static const char SQL_NOTIONAL_SUMS_MANY_PG[] =
	"SELECT x.* FROM unnest(?1::text[], ?2::bigint[], ?3::bigint[], ?4::bigint[],"
	" ?5::bigint[], ?6::bigint[], ?7::bigint[]) WITH ORDINALITY"
	"  AS v(ticker, lo, hi, f0, t0, f1, t1, ask)"
	" CROSS JOIN LATERAL (SELECT " PG_SUM_IN("v.f0", "v.t0") ", " PG_SUM_IN(
		"v.f1", "v.t1") "  FROM trades t WHERE " PG_HOURS " AND t.ticker = v.ticker"
				"   AND t.created_us >= v.lo AND t.created_us < v.hi) x"
				" ORDER BY v.ask";
#define PG_ARRAYS 7
/* The longest union of an ask's ranges sent in the arrays: detection's are a day and a
 * bucket; a longer one is asked on its own. */
#define PG_SPAN_MAX_US (8LL * 86400 * 1000000)

static int ask_one(struct kw_store *s, struct kw_sum_ask *a)
{
	if (a->from_us[1] < a->to_us[1])
		return kw_store_notional_sums(s, a->ticker, a->from_us, a->to_us, a->sum_micros,
					      a->count);
	a->sum_micros[1] = a->count[1] = 0;
	return kw_store_notional_sum(s, a->ticker, a->from_us[0], a->to_us[0], &a->sum_micros[0],
				     &a->count[0]);
}

/* Appends v to an array literal as a quoted element (backslash and double quote escaped). */
static int array_text(struct kw_buf *b, const char *v)
{
	if (kw_buf_puts(b, b->len > 1 ? ",\"" : "\"") < 0)
		return -1;
	for (const char *c = v; *c; c++) {
		if ((*c == '"' || *c == '\\') && kw_buf_append(b, "\\", 1) < 0)
			return -1;
		if (kw_buf_append(b, c, 1) < 0)
			return -1;
	}
	return kw_buf_puts(b, "\"");
}

/* One statement for the asks in sent[0..nsent) (each fits: see sums_many_pg). An empty second
 * range is given as the first's start, which sums nothing and leaves the union the first. */
static int pg_sums(struct kw_store *s, struct kw_buf arr[PG_ARRAYS], struct kw_sum_ask **sent,
		   size_t nsent)
{
	for (int k = 0; k < PG_ARRAYS; k++) {
		kw_buf_reset(&arr[k]);
		if (kw_buf_puts(&arr[k], "{") < 0)
			return -1;
	}
	for (size_t i = 0; i < nsent; i++) {
		const struct kw_sum_ask *a = sent[i];
		int two = a->from_us[1] < a->to_us[1];
		int64_t f1 = two ? a->from_us[1] : a->from_us[0], t1 = two ? a->to_us[1] : f1;
		int64_t v[6] = { f1 < a->from_us[0] ? f1 : a->from_us[0],
				 t1 > a->to_us[0] ? t1 : a->to_us[0],
				 a->from_us[0],
				 a->to_us[0],
				 f1,
				 t1 };
		if (array_text(&arr[0], a->ticker) < 0)
			return -1;
		for (int k = 0; k < 6; k++)
			if (kw_buf_printf(&arr[k + 1], "%s%lld", i ? "," : "", (long long)v[k]) < 0)
				return -1;
	}
	for (int k = 0; k < PG_ARRAYS; k++)
		if (kw_buf_puts(&arr[k], "}") < 0)
			return -1;
	struct kw_stmt *st = kw_store_stmt(s, SQL_NOTIONAL_SUMS_MANY_PG);
	if (!st)
		return -1;
	for (int k = 0; k < PG_ARRAYS; k++)
		kw_sql_bind_text_static(st, k + 1, arr[k].data);
	size_t got = 0;
	int step;
	while ((step = kw_sql_step(st)) == KW_ROW && got < nsent) {
		for (int r = 0; r < 2; r++) {
			sent[got]->sum_micros[r] = kw_sql_col_i64(st, 2 * r);
			sent[got]->count[r] = kw_sql_col_i64(st, 2 * r + 1);
		}
		got++;
	}
	kw_sql_reset(st);
	if (step != KW_DONE || got != nsent)
		return kw_store_fail(s, "summing notional");
	return 0;
}

static int sums_many_pg(struct kw_store *s, struct kw_sum_ask *asks, size_t n)
{
	struct kw_buf arr[PG_ARRAYS];
	struct kw_sum_ask *sent[KW_SUMS_BATCH];
	size_t nsent = 0;
	int rc = -1;
	for (int k = 0; k < PG_ARRAYS; k++)
		kw_buf_init(&arr[k], 0);
	for (size_t i = 0; i < n; i++) {
		struct kw_sum_ask *a = &asks[i];
		int two = a->from_us[1] < a->to_us[1];
		int64_t lo = two && a->from_us[1] < a->from_us[0] ? a->from_us[1] : a->from_us[0];
		int64_t hi = two && a->to_us[1] > a->to_us[0] ? a->to_us[1] : a->to_us[0];
		if (lo < 0 || hi <= lo || hi - lo > PG_SPAN_MAX_US) {
			if (ask_one(s, a) < 0)
				goto out;
			continue;
		}
		sent[nsent++] = a;
		if (nsent == KW_SUMS_BATCH) {
			if (pg_sums(s, arr, sent, nsent) < 0)
				goto out;
			nsent = 0;
		}
	}
	if (nsent && pg_sums(s, arr, sent, nsent) < 0)
		goto out;
	rc = 0;
out:
	for (int k = 0; k < PG_ARRAYS; k++)
		kw_buf_free(&arr[k]);
	return rc;
}

int kw_store_notional_sums_many(struct kw_store *s, struct kw_sum_ask *asks, size_t n)
{
	if (kw_store_is_pg(s))
		return sums_many_pg(s, asks, n);
	for (size_t i = 0; i < n; i++)
		if (ask_one(s, &asks[i]) < 0)
			return -1;
	return 0;
}

/* Only snapshots whose price differs from the market's previous snapshot: an unchanged price
 * cannot move further from the window's extremes than the previous snapshot did (the window
 * only loses old points), so skipping it never skips a flip. kw-fetch snapshots every open
 * market each run; this keeps a run's cost to one index probe per snapshot. */
static const char SQL_PRICES_SINCE[] =
	"SELECT n.ticker, n.taken_at, n.last_price_micros FROM market_snapshots n"
	" WHERE n.taken_at > ?1 AND n.last_price_micros IS NOT NULL"
	"   AND n.last_price_micros IS DISTINCT FROM (SELECT p.last_price_micros FROM "
	"market_snapshots p"
	"        WHERE p.ticker = n.ticker AND p.taken_at < n.taken_at"
	"        ORDER BY p.taken_at DESC LIMIT 1)"
	" ORDER BY n.taken_at, n.ticker";

int kw_store_price_snapshots_since(struct kw_store *s, int64_t since, kw_price_fn fn, void *ctx)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_PRICES_SINCE);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, since);
	int rc = 0, step;
	while (rc == 0 && (step = kw_sql_step(st)) == KW_ROW)
		rc = fn(ctx, kw_store_col_text(st, 0), kw_sql_col_i64(st, 1),
			kw_sql_col_i64(st, 2));
	if (rc == 0 && step != KW_DONE)
		rc = kw_store_fail(s, "reading market snapshots");
	kw_sql_reset(st);
	return rc;
}

/* The prices in force during [start, ?3), start the later of ?2 and the end of ticker's last
 * alert of type ?4 before ?3: the snapshots taken in it, and the one in force at its start (the
 * newest at or before start), since kw-fetch writes a snapshot only when the market changed and
 * a price set before the window holds into it. One statement: the alert lookup and the range
 * were a round trip each on PostgreSQL, per snapshot. */
static const char SQL_PRICE_RANGE_AFTER[] =
	"WITH f AS (SELECT max(?2, ifnull(max(window_end), 0)) AS s FROM alerts"
	"  WHERE ticker = ?1 AND type = ?4 AND window_end < ?3)"
	" SELECT min(p), max(p), count(p) FROM"
	" (SELECT last_price_micros AS p FROM market_snapshots"
	"   WHERE ticker = ?1 AND taken_at >= (SELECT s FROM f) AND taken_at < ?3"
	"  UNION ALL"
	"  SELECT * FROM (SELECT last_price_micros FROM market_snapshots"
	"   WHERE ticker = ?1 AND taken_at <= (SELECT s FROM f) ORDER BY taken_at DESC LIMIT 1) l) "
	"r";

int kw_store_price_range_after(struct kw_store *s, const char *ticker, const char *type,
			       int64_t from, int64_t to, int64_t *lo, int64_t *hi, int64_t *n)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_PRICE_RANGE_AFTER);
	if (!st)
		return -1;
	kw_sql_bind_text_static(st, 1, ticker);
	kw_sql_bind_i64(st, 2, from);
	kw_sql_bind_i64(st, 3, to);
	kw_sql_bind_text_static(st, 4, type);
	int rc = -1;
	if (kw_sql_step(st) != KW_ROW) {
		kw_store_fail(s, "reading a price range");
		goto out;
	}
	*lo = kw_sql_col_i64(st, 0);
	*hi = kw_sql_col_i64(st, 1);
	*n = kw_sql_col_i64(st, 2);
	rc = 0;
out:
	kw_sql_reset(st);
	return rc;
}

/* PostgreSQL: SQL_PRICE_RANGE_AFTER for each ask of the arrays (?1 tickers, ?2 and ?3 the
 * windows' ends, ?4 the alert type), in order, each by its own subqueries (LATERAL) on
 * alerts_cooldown and market_snapshots' key, as the one-ask statement reads them. */
static const char SQL_PRICE_RANGES_AFTER_PG[] =
	"SELECT x.* FROM unnest(?1::text[], ?2::bigint[], ?3::bigint[]) WITH ORDINALITY"
	"  AS v(ticker, f, t, ask)"
	" CROSS JOIN LATERAL (SELECT greatest(v.f, coalesce(max(window_end), 0)) AS s FROM alerts"
	"  WHERE ticker = v.ticker AND type = ?4 AND window_end < v.t) a"
	" CROSS JOIN LATERAL (SELECT min(p), max(p), count(p) FROM"
	"  (SELECT last_price_micros AS p FROM market_snapshots"
	"    WHERE ticker = v.ticker AND taken_at >= a.s AND taken_at < v.t"
	"   UNION ALL"
	"   SELECT * FROM (SELECT last_price_micros FROM market_snapshots"
	"    WHERE ticker = v.ticker AND taken_at <= a.s ORDER BY taken_at DESC LIMIT 1) l) r) x"
	" ORDER BY v.ask";

static int ranges_pg(struct kw_store *s, const char *type, struct kw_range_ask *asks, size_t n)
{
	struct kw_buf arr[3];
	int rc = -1, step;
	for (int k = 0; k < 3; k++) {
		kw_buf_init(&arr[k], 0);
		if (kw_buf_puts(&arr[k], "{") < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (array_text(&arr[0], asks[i].ticker) < 0 ||
		    kw_buf_printf(&arr[1], "%s%lld", i ? "," : "", (long long)asks[i].from) < 0 ||
		    kw_buf_printf(&arr[2], "%s%lld", i ? "," : "", (long long)asks[i].to) < 0)
			goto out;
	}
	for (int k = 0; k < 3; k++)
		if (kw_buf_puts(&arr[k], "}") < 0)
			goto out;
	struct kw_stmt *st = kw_store_stmt(s, SQL_PRICE_RANGES_AFTER_PG);
	if (!st)
		goto out;
	for (int k = 0; k < 3; k++)
		kw_sql_bind_text_static(st, k + 1, arr[k].data);
	kw_sql_bind_text_static(st, 4, type);
	size_t got = 0;
	while ((step = kw_sql_step(st)) == KW_ROW && got < n) {
		asks[got].lo = kw_sql_col_i64(st, 0);
		asks[got].hi = kw_sql_col_i64(st, 1);
		asks[got].n = kw_sql_col_i64(st, 2);
		got++;
	}
	kw_sql_reset(st);
	if (step != KW_DONE || got != n) {
		kw_store_fail(s, "reading price ranges");
		goto out;
	}
	rc = 0;
out:
	for (int k = 0; k < 3; k++)
		kw_buf_free(&arr[k]);
	return rc;
}

int kw_store_price_ranges_after(struct kw_store *s, const char *type, struct kw_range_ask *asks,
				size_t n)
{
	if (kw_store_is_pg(s))
		return n ? ranges_pg(s, type, asks, n) : 0;
	for (size_t i = 0; i < n; i++)
		if (kw_store_price_range_after(s, asks[i].ticker, type, asks[i].from, asks[i].to,
					       &asks[i].lo, &asks[i].hi, &asks[i].n) < 0)
			return -1;
	return 0;
}

static const char SQL_BOOKS_SINCE[] =
	"SELECT ticker, taken_at, yes_depth_centi, no_depth_centi FROM orderbook_snapshots"
	" WHERE taken_at > ?1 ORDER BY taken_at, ticker";

int kw_store_book_snapshots_since(struct kw_store *s, int64_t since, kw_book_fn fn, void *ctx)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_BOOKS_SINCE);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, since);
	int rc = 0, step;
	while (rc == 0 && (step = kw_sql_step(st)) == KW_ROW) {
		struct kw_book_point b = {
			.taken_at = kw_sql_col_i64(st, 1),
			.yes_depth_centi = kw_sql_col_i64(st, 2),
			.no_depth_centi = kw_sql_col_i64(st, 3),
		};
		rc = fn(ctx, kw_store_col_text(st, 0), &b);
	}
	if (rc == 0 && step != KW_DONE)
		rc = kw_store_fail(s, "reading order-book snapshots");
	kw_sql_reset(st);
	return rc;
}

static const char SQL_BOOK_PREV[] =
	"SELECT taken_at, yes_depth_centi, no_depth_centi FROM orderbook_snapshots"
	" WHERE ticker = ?1 AND taken_at < ?2 ORDER BY taken_at DESC LIMIT 1";

int kw_store_book_previous(struct kw_store *s, const char *ticker, int64_t before,
			   struct kw_book_point *out)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_BOOK_PREV);
	if (!st)
		return -1;
	kw_sql_bind_text_static(st, 1, ticker);
	kw_sql_bind_i64(st, 2, before);
	int rc, step = kw_sql_step(st);
	if (step == KW_ROW) {
		out->taken_at = kw_sql_col_i64(st, 0);
		out->yes_depth_centi = kw_sql_col_i64(st, 1);
		out->no_depth_centi = kw_sql_col_i64(st, 2);
		rc = 0;
	} else if (step == KW_DONE) {
		rc = 1;
	} else {
		rc = kw_store_fail(s, "reading the previous order book");
	}
	kw_sql_reset(st);
	return rc;
}

static const char SQL_NO_SIDE[] = "SELECT count(*) FROM trades"
				  " WHERE id > ?1 AND id <= ?2 AND taker_side IS NULL";

int kw_store_trades_without_side(struct kw_store *s, int64_t after_id, int64_t upto_id, int64_t *n)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_NO_SIDE);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, after_id);
	kw_sql_bind_i64(st, 2, upto_id);
	int rc = 0;
	if (kw_sql_step(st) == KW_ROW)
		*n = kw_sql_col_i64(st, 0);
	else
		rc = kw_store_fail(s, "counting trades without a taker side");
	kw_sql_reset(st);
	return rc;
}

static const char SQL_BOOK_RUN_BEFORE[] =
	"SELECT ifnull(max(taken_at), 0) FROM orderbook_snapshots WHERE taken_at < ?1";

int kw_store_book_run_before(struct kw_store *s, int64_t before, int64_t *out)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_BOOK_RUN_BEFORE);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, before);
	int rc = 0;
	if (kw_sql_step(st) == KW_ROW)
		*out = kw_sql_col_i64(st, 0);
	else
		rc = kw_store_fail(s, "finding the previous order-book run");
	kw_sql_reset(st);
	return rc;
}

static const char SQL_KEY_EXISTS[] = "SELECT 1 FROM alerts WHERE alert_key = ?1";

int kw_store_alert_key_exists(struct kw_store *s, const char *key)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_KEY_EXISTS);
	if (!st)
		return -1;
	kw_sql_bind_text_static(st, 1, key);
	int step = kw_sql_step(st);
	int rc = step == KW_ROW ? 1 : step == KW_DONE ? 0 : kw_store_fail(s, "alert lookup");
	kw_sql_reset(st);
	return rc;
}

static const char SQL_COOLING[] = "SELECT 1 FROM alerts WHERE ticker = ?1 AND type = ?2"
				  "   AND window_end > ?3 - ?4 AND window_end <= ?3"
				  "   AND ifnull(strength, 9223372036854775807) >= ?5 LIMIT 1";

int kw_store_alert_cooling(struct kw_store *s, const char *ticker, const char *type, int64_t t,
			   int64_t cooldown_s, int64_t strength)
{
	if (cooldown_s <= 0)
		return 0;
	struct kw_stmt *st = kw_store_stmt(s, SQL_COOLING);
	if (!st)
		return -1;
	kw_sql_bind_text_static(st, 1, ticker);
	kw_sql_bind_text_static(st, 2, type);
	kw_sql_bind_i64(st, 3, t);
	kw_sql_bind_i64(st, 4, cooldown_s);
	kw_sql_bind_i64(st, 5, strength);
	int step = kw_sql_step(st);
	int rc = step == KW_ROW ? 1 : step == KW_DONE ? 0 : kw_store_fail(s, "cooldown lookup");
	kw_sql_reset(st);
	return rc;
}

static const char SQL_ALERT_INSERT[] =
	"INSERT INTO alerts (alert_key, type, ticker, severity, confidence, description, data,"
	"                    created_at, window_end, strength)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(alert_key) DO NOTHING";

int kw_store_alert_insert(struct kw_store *s, const struct kw_alert_new *a)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_ALERT_INSERT);
	if (!st)
		return -1;
	kw_sql_bind_text_static(st, 1, a->alert_key);
	kw_sql_bind_text_static(st, 2, a->type);
	kw_sql_bind_text_static(st, 3, a->ticker);
	kw_sql_bind_text_static(st, 4, a->severity);
	kw_sql_bind_int(st, 5, a->confidence);
	kw_sql_bind_text_static(st, 6, a->description);
	kw_sql_bind_text_static(st, 7, a->data);
	kw_sql_bind_i64(st, 8, a->created_at);
	kw_sql_bind_i64(st, 9, a->window_end);
	kw_sql_bind_i64(st, 10, a->strength);
	int rc = kw_sql_step(st) == KW_DONE ? (kw_store_changes(s) > 0)
					    : kw_store_fail(s, "storing an alert");
	kw_sql_reset(st);
	return rc;
}
