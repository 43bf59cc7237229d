/*
 * store_fetch.c — kw-fetch's SQL (contract in store_fetch.h).
 *
 * Data model reminders (sql/0001_init.sql, sql/0002_fetch.sql): money in micro-dollars, counts
 * in hundredths, values Kalshi did not send are NULL (KW_KALSHI_NONE binds as NULL). Markets
 * are upserted (the newest listing wins, first_seen_at and category are kept); trades are
 * insert-or-ignore on (created_us, trade_id), which is unique exactly when trade_id is (a
 * trade's time never changes; sql/0007_ingest.sql) and, unlike trade_id alone, is inserted in
 * time order; snapshots are keyed (ticker, taken_at), so re-running a run at the same second
 * replaces rather than duplicates. Categories are never parsed from tickers: they come from
 * the series through the event (docs/KALSHI.md §5), with a legacy market `category` as the
 * fallback.
 */
#include "store_fetch.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

void kw_strlist_free(struct kw_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Run a one-column text query into an owned list. */
static int collect(struct kw_store *s, struct kw_stmt *st, struct kw_strlist *out, const char *what)
{
	int rc;
	size_t cap = 0;
	out->v = NULL;
	out->n = 0;
	while ((rc = kw_sql_step(st)) == KW_ROW) {
		const char *t = kw_sql_col_text(st, 0);
		if (!t)
			continue;
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			out->v = kw_xrealloc(out->v, cap * sizeof(*out->v));
		}
		out->v[out->n++] = kw_xstrdup(t);
	}
	kw_sql_reset(st);
	if (rc != KW_DONE) {
		kw_error("store: %s failed: %s", what, kw_store_errmsg(s));
		kw_strlist_free(out);
		return -1;
	}
	return 0;
}

int kw_store_fetch_tune(struct kw_store *s)
{
	/* Index pages for trade_id and the time indexes stay cached across pages; 16 MiB keeps
	 * kw-fetch well inside its 64 MiB budget. No mmap for the writer: mapped pages of a
	 * large database count as resident and would grow with it, the page cache does not. */
	return kw_store_pragma(s, "PRAGMA cache_size = -16384; PRAGMA mmap_size = 0");
}

/* ---- runs and refresh requests ------------------------------------------------------------ */

/* We hold the fetch lock, so any row still 'running' belongs to a process that died. */
static const char SQL_RUN_STALE[] =
	"UPDATE fetch_runs SET outcome = 'failed', finished_at = ?1,"
	" error = 'interrupted: the fetcher stopped before finishing this run'"
	" WHERE outcome = 'running'";
static const char SQL_RUN_BEGIN[] = "INSERT INTO fetch_runs (started_at) VALUES (?1) RETURNING id";

int kw_store_fetch_run_begin(struct kw_store *s, int64_t started_at, int64_t *run_id)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_RUN_STALE);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, started_at);
	if (kw_store_step_done(s, st, "marking stale runs") < 0)
		return -1;
	if (!(st = kw_store_stmt(s, SQL_RUN_BEGIN)))
		return -1;
	kw_sql_bind_i64(st, 1, started_at);
	int step = kw_sql_step(st);
	if (step == KW_ROW)
		*run_id = kw_sql_col_i64(st, 0);
	else
		kw_store_fail(s, "starting a run");
	kw_sql_reset(st);
	return step == KW_ROW ? 0 : -1;
}

static const char SQL_RUN_FINISH[] =
	"UPDATE fetch_runs SET finished_at = ?2, outcome = ?3, pages = ?4, markets = ?5,"
	" trades = ?6, orderbooks = ?7, http_errors = ?8, skipped = ?9, open_markets = ?10,"
	" skip_reasons = ?11, error = ?12 WHERE id = ?1";

int kw_store_fetch_run_finish(struct kw_store *s, int64_t run_id, const struct kw_fetch_run_row *r)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_RUN_FINISH);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, run_id);
	kw_sql_bind_i64(st, 2, r->finished_at);
	kw_store_bind_text_static(st, 3, r->outcome);
	kw_sql_bind_i64(st, 4, r->pages);
	kw_sql_bind_i64(st, 5, r->markets);
	kw_sql_bind_i64(st, 6, r->trades);
	kw_sql_bind_i64(st, 7, r->orderbooks);
	kw_sql_bind_i64(st, 8, r->http_errors);
	kw_sql_bind_i64(st, 9, r->skipped);
	if (r->open_markets < 0)
		kw_sql_bind_null(st, 10);
	else
		kw_sql_bind_i64(st, 10, r->open_markets);
	kw_store_bind_text_static(st, 11, r->skip_reasons_json ? r->skip_reasons_json : "{}");
	kw_store_bind_text_static(st, 12, r->error);
	/* In a transaction of its own, so that a market-data writer's commit marks it. */
	if (kw_store_begin(s) < 0)
		return -1;
	if (kw_store_step_done(s, st, "finishing a run") < 0 || kw_store_commit(s) < 0) {
		kw_store_rollback(s);
		return -1;
	}
	return 0;
}

static const char SQL_REFRESH_FORCE[] =
	"SELECT count(*), coalesce(max(force), 0) FROM refresh_requests WHERE run_id IS NULL";
static const char SQL_REFRESH_CLAIM[] =
	"UPDATE refresh_requests SET run_id = ?1 WHERE run_id IS NULL";

int kw_store_fetch_claim_refresh(struct kw_store *s, int64_t run_id, int *claimed, int *force)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_REFRESH_FORCE);
	if (!st)
		return -1;
	if (kw_sql_step(st) != KW_ROW) {
		kw_error("store: reading refresh requests failed: %s", kw_store_errmsg(s));
		kw_sql_reset(st);
		return -1;
	}
	*claimed = kw_sql_col_int(st, 0);
	*force = kw_sql_col_int(st, 1) != 0;
	kw_sql_reset(st);
	if (!*claimed)
		return 0;
	if (!(st = kw_store_stmt(s, SQL_REFRESH_CLAIM)))
		return -1;
	kw_sql_bind_i64(st, 1, run_id);
	return kw_store_step_done(s, st, "claiming refresh requests");
}

static const char SQL_REFRESH_PENDING[] =
	"SELECT EXISTS (SELECT 1 FROM refresh_requests WHERE run_id IS NULL)";

int kw_store_fetch_refresh_pending(struct kw_store *s)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_REFRESH_PENDING);
	if (!st)
		return -1;
	int rc = kw_sql_step(st);
	int pending = rc == KW_ROW ? kw_sql_col_int(st, 0) : -1;
	kw_sql_reset(st);
	if (pending < 0)
		kw_error("store: reading refresh requests failed: %s", kw_store_errmsg(s));
	return pending;
}

/* ---- fetch_state -------------------------------------------------------------------------- */

static const char SQL_STATE_GET[] = "SELECT value FROM fetch_state WHERE name = ?1";
static const char SQL_STATE_SET[] = "INSERT INTO fetch_state (name, value) VALUES (?1, ?2)"
				    " ON CONFLICT (name) DO UPDATE SET value = excluded.value";

int kw_store_fetch_state_get(struct kw_store *s, const char *name, int64_t *value)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_STATE_GET);
	if (!st)
		return -1;
	kw_store_bind_text_static(st, 1, name);
	int rc = kw_sql_step(st), found = 0;
	if (rc == KW_ROW) {
		*value = kw_sql_col_i64(st, 0);
		found = 1;
	} else if (rc != KW_DONE) {
		kw_error("store: reading %s failed: %s", name, kw_store_errmsg(s));
		found = -1;
	}
	kw_sql_reset(st);
	return found;
}

int kw_store_fetch_state_set(struct kw_store *s, const char *name, int64_t value)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_STATE_SET);
	if (!st)
		return -1;
	kw_store_bind_text_static(st, 1, name);
	kw_sql_bind_i64(st, 2, value);
	return kw_store_step_done(s, st, "saving fetch state");
}

/* ---- ingest ------------------------------------------------------------------------------- */

/*
 * "As it was": what the upsert would leave, were it run. A stored category is kept, a new one
 * only fills a NULL, and series_ticker stays while the event does. Same parameters as
 * SQL_MARKET. Never NULL: the columns compared with = are NOT NULL and bound non-NULL.
 */
#define MARKET_SAME_AS_BOUND                                                                       \
	"markets.event_ticker = ?2 AND (markets.category IS NOT NULL OR CAST(?3 AS TEXT) IS NULL)" \
	" AND markets.title = ?4 AND markets.yes_sub_title = ?5 AND markets.no_sub_title = ?6"     \
	" AND markets.market_type = ?7 AND markets.status = ?8"                                    \
	" AND markets.open_at IS NOT DISTINCT FROM ?9"                                             \
	" AND markets.close_at IS NOT DISTINCT FROM ?10"                                           \
	" AND markets.yes_bid_micros IS NOT DISTINCT FROM ?11"                                     \
	" AND markets.yes_ask_micros IS NOT DISTINCT FROM ?12"                                     \
	" AND markets.no_bid_micros IS NOT DISTINCT FROM ?13"                                      \
	" AND markets.no_ask_micros IS NOT DISTINCT FROM ?14"                                      \
	" AND markets.last_price_micros IS NOT DISTINCT FROM ?15"                                  \
	" AND markets.previous_price_micros IS NOT DISTINCT FROM ?16"                              \
	" AND markets.yes_bid_size_centi IS NOT DISTINCT FROM ?17"                                 \
	" AND markets.yes_ask_size_centi IS NOT DISTINCT FROM ?18"                                 \
	" AND markets.volume_centi IS NOT DISTINCT FROM ?19"                                       \
	" AND markets.volume_24h_centi IS NOT DISTINCT FROM ?20"                                   \
	" AND markets.open_interest_centi IS NOT DISTINCT FROM ?21"

/* The 21 columns a listing sets, in bind_market's order (?1..?21). */
#define MARKET_COLUMNS                                                                             \
	"ticker, event_ticker, category, title, yes_sub_title, no_sub_title, market_type,"         \
	" status, open_at, close_at, yes_bid_micros, yes_ask_micros, no_bid_micros,"               \
	" no_ask_micros, last_price_micros, previous_price_micros, yes_bid_size_centi,"            \
	" yes_ask_size_centi, volume_centi, volume_24h_centi, open_interest_centi"
#define MARKET_NCOLS 21

#define MARKET_UPSERT_SET                                                                          \
	" ON CONFLICT (ticker) DO UPDATE SET event_ticker = excluded.event_ticker,"                \
	" series_ticker = CASE WHEN markets.event_ticker = excluded.event_ticker"                  \
	"                 THEN markets.series_ticker END,"                                         \
	" category = coalesce(markets.category, excluded.category),"                               \
	" title = excluded.title, yes_sub_title = excluded.yes_sub_title,"                         \
	" no_sub_title = excluded.no_sub_title, market_type = excluded.market_type,"               \
	" status = excluded.status, open_at = excluded.open_at, close_at = excluded.close_at,"     \
	" yes_bid_micros = excluded.yes_bid_micros, yes_ask_micros = excluded.yes_ask_micros,"     \
	" no_bid_micros = excluded.no_bid_micros, no_ask_micros = excluded.no_ask_micros,"         \
	" last_price_micros = excluded.last_price_micros,"                                         \
	" previous_price_micros = excluded.previous_price_micros,"                                 \
	" yes_bid_size_centi = excluded.yes_bid_size_centi,"                                       \
	" yes_ask_size_centi = excluded.yes_ask_size_centi, volume_centi = excluded.volume_centi," \
	" volume_24h_centi = excluded.volume_24h_centi,"                                           \
	" open_interest_centi = excluded.open_interest_centi, updated_at = excluded.updated_at"

#define SQL_MARKET_UPSERT                                                                          \
	"INSERT INTO markets (" MARKET_COLUMNS ", first_seen_at, updated_at)"                      \
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"          \
	" ?17, ?18, ?19, ?20, ?21, ?22, ?22)" MARKET_UPSERT_SET                                    \
	" WHERE NOT (" MARKET_SAME_AS_BOUND ")"
static const char SQL_MARKET[] = SQL_MARKET_UPSERT;

#define SNAPSHOT_CONFLICT                                                                          \
	"ON CONFLICT (ticker, taken_at) DO UPDATE SET run_id = excluded.run_id,"                   \
	" yes_bid_micros = excluded.yes_bid_micros, yes_ask_micros = excluded.yes_ask_micros,"     \
	" last_price_micros = excluded.last_price_micros, volume_centi = excluded.volume_centi,"   \
	" volume_24h_centi = excluded.volume_24h_centi,"                                           \
	" open_interest_centi = excluded.open_interest_centi,"                                     \
	" yes_bid_size_centi = excluded.yes_bid_size_centi,"                                       \
	" yes_ask_size_centi = excluded.yes_ask_size_centi"
static const char SQL_SNAPSHOT[] =
	"INSERT INTO market_snapshots (ticker, taken_at, run_id, yes_bid_micros,"
	" yes_ask_micros, last_price_micros, volume_centi, volume_24h_centi, open_interest_centi,"
	" yes_bid_size_centi, yes_ask_size_centi)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) " SNAPSHOT_CONFLICT;

/*
 * A market listed again as it was (the common case, run after run) only gets its updated_at
 * moved: no indexed column is in the SET list, so SQLite leaves the table's indexes alone,
 * where the upsert deletes and re-inserts an entry in each. The upsert itself skips such a
 * row (its WHERE), so whichever statement runs first, the other runs only when the first
 * changed nothing, and the row ends the same.
 */
static const char SQL_MARKET_SAME[] =
	"UPDATE markets SET updated_at = ?22 WHERE ticker = ?1 AND " MARKET_SAME_AS_BOUND;

/* Bind m's MARKET_COLUMNS at first .. first + 20, the ticker as the text ticker; the other
 * texts copied when copy (they outlive the caller's record in a batch), else bound in place
 * until the statement runs. ticker is always bound in place. */
static void bind_market(struct kw_stmt *st, int first, const struct kw_kalshi_market *m,
			const char *ticker, int copy)
{
	const char *text[] = { ticker,		 m->event_ticker, m->legacy_category, m->title,
			       m->yes_sub_title, m->no_sub_title, m->market_type,     m->status };
	const int64_t num[] = { m->open_at,	 m->close_at,	  m->yes_bid,	 m->yes_ask,
				m->no_bid,	 m->no_ask,	  m->last_price, m->previous_price,
				m->yes_bid_size, m->yes_ask_size, m->volume,	 m->volume_24h,
				m->open_interest };
	_Static_assert(KW_ARRAY_LEN(text) + KW_ARRAY_LEN(num) == MARKET_NCOLS, "MARKET_COLUMNS");
	int i = first;
	for (size_t k = 0; k < KW_ARRAY_LEN(text); k++, i++) {
		if (copy && k)
			kw_sql_bind_text(st, i, text[k]);
		else
			kw_store_bind_text_static(st, i, text[k]);
	}
	for (size_t k = 0; k < KW_ARRAY_LEN(num); k++, i++)
		kw_store_bind_i64(st, i, num[k]);
}

/* Run st (SQL_MARKET or SQL_MARKET_SAME, bound alike); *changed = rows it wrote. */
static int market_step(struct kw_store *s, const char *sql, const struct kw_kalshi_market *m,
		       int64_t taken_at, int *changed)
{
	struct kw_stmt *st = kw_store_stmt(s, sql);
	if (!st)
		return -1;
	bind_market(st, 1, m, m->ticker, 0);
	kw_sql_bind_i64(st, 22, taken_at);
	if (kw_store_step_done(s, st, "storing a market") < 0)
		return -1;
	*changed = kw_store_changes(s) > 0;
	return 0;
}

/*
 * PostgreSQL: a round trip per market capped ingest near 6,000 markets a second, so markets
 * go KW_STORE_MARKET_BATCH at a time in one statement that does for each what the SQLite path
 * does one statement at a time. `v` holds the batch (?1 the run's time, ?2 the run, then
 * MARKET_NCOLS parameters a row; a short batch's unused rows have a NULL ticker and are left
 * out); `pre` judges each row against the market as stored before the statement, with the
 * test of MARKET_SAME_AS_BOUND (its = on NOT NULL columns bound non-NULL is IS NOT DISTINCT
 * FROM); a new or changed market is upserted as SQL_MARKET upserts it, and from the upsert's
 * RETURNING gets its two rollup marks (as kw_store_rollup_dirty marks them) and its snapshot
 * (as SQL_SNAPSHOT); one listed as it was only has updated_at moved (SQL_MARKET_SAME). A
 * ticker is in a batch at most once (ON CONFLICT DO UPDATE may not touch a row twice, and the
 * second listing is judged against the first): a repeat flushes the batch first. The store
 * flushes the batch before any other statement (kw_store_defer), so no query misses a market.
 * The stored markets are looked up one index probe per row (LATERAL ... OFFSET 0, = ANY):
 * the plan is made once, early in a first run, when markets is nearly empty, and a join
 * planned then hashed a scan of the whole table into every later batch.
 */
#define MARKET_TEXT_COLS 8 /* MARKET_COLUMNS' text columns come first, then bigints */
#define MARKET_PARAM(row, col) (3 + (row)*MARKET_NCOLS + (col))

static const char SQL_MARKETS_PRE[] =
	"),"
	" pre AS (SELECT v.*, m.ticker IS NOT NULL"
	"   AND (m.category IS NOT NULL OR v.category IS NULL)"
	"   AND (m.event_ticker, m.title, m.yes_sub_title, m.no_sub_title, m.market_type,"
	"        m.status, m.open_at, m.close_at, m.yes_bid_micros, m.yes_ask_micros,"
	"        m.no_bid_micros, m.no_ask_micros, m.last_price_micros, m.previous_price_micros,"
	"        m.yes_bid_size_centi, m.yes_ask_size_centi, m.volume_centi, m.volume_24h_centi,"
	"        m.open_interest_centi)"
	"   IS NOT DISTINCT FROM (v.event_ticker, v.title, v.yes_sub_title, v.no_sub_title,"
	"        v.market_type, v.status, v.open_at, v.close_at, v.yes_bid_micros,"
	"        v.yes_ask_micros, v.no_bid_micros, v.no_ask_micros, v.last_price_micros,"
	"        v.previous_price_micros, v.yes_bid_size_centi, v.yes_ask_size_centi,"
	"        v.volume_centi, v.volume_24h_centi, v.open_interest_centi) AS as_it_was"
	"  FROM v LEFT JOIN LATERAL (SELECT * FROM markets WHERE markets.ticker = v.ticker"
	"   OFFSET 0) m ON true WHERE v.ticker IS NOT NULL),"
	" up AS (INSERT INTO markets (" MARKET_COLUMNS ", first_seen_at, updated_at)"
	"  SELECT " MARKET_COLUMNS ", ?1, ?1 FROM pre WHERE NOT as_it_was" MARKET_UPSERT_SET
	"  RETURNING ticker),"
	" same AS (UPDATE markets SET updated_at = ?1"
	"  WHERE ticker = ANY (ARRAY (SELECT ticker FROM pre WHERE as_it_was))),"
	" marks AS (INSERT INTO rollup_dirty (kind, ticker)"
	"  SELECT kinds.k, up.ticker FROM up, (VALUES (1), (2)) AS kinds (k)"
	"  ON CONFLICT DO NOTHING)"
	" INSERT INTO market_snapshots (ticker, taken_at, run_id, yes_bid_micros,"
	" yes_ask_micros, last_price_micros, volume_centi, volume_24h_centi, open_interest_centi,"
	" yes_bid_size_centi, yes_ask_size_centi)"
	" SELECT pre.ticker, ?1, ?2, pre.yes_bid_micros, pre.yes_ask_micros,"
	" pre.last_price_micros, pre.volume_centi, pre.volume_24h_centi, pre.open_interest_centi,"
	" pre.yes_bid_size_centi, pre.yes_ask_size_centi FROM pre JOIN up ON up.ticker = pre.ticker"
	" " SNAPSHOT_CONFLICT;

/*
 * A batch statement's rows: "(?a, ?b, ...), (...)", rows of cols parameters numbered from
 * first on. With text_cols >= 0 the first row's parameters are cast, its first text_cols
 * columns to TEXT and the rest to BIGINT: a VALUES list takes each column's type from its
 * first row, whatever the other rows' first bindings were (a NULL has none).
 */
static int values_rows(struct kw_buf *sql, int rows, int cols, int first, int text_cols)
{
	for (int row = 0; row < rows; row++) {
		if (kw_buf_puts(sql, row ? ", (" : "(") < 0)
			return -1;
		for (int col = 0; col < cols; col++) {
			int n = first + row * cols + col, cast = !row && text_cols >= 0;
			if (kw_buf_printf(sql, "%s%s?%d%s", col ? ", " : "", cast ? "CAST(" : "", n,
					  !cast		    ? ""
					  : col < text_cols ? " AS TEXT)"
							    : " AS BIGINT)") < 0)
				return -1;
		}
		if (kw_buf_puts(sql, ")") < 0)
			return -1;
	}
	return 0;
}

struct market_batch {
	struct kw_stmt *st; /* the batch statement; owned */
	int n;
	int64_t taken_at, run_id; /* ?1 and ?2: one run's, flushed on a change */
	/* The batch's tickers, owned; bound in place, so freed only after the statement's reset. */
	char *ticker[KW_STORE_MARKET_BATCH];
};

/* Whether ticker t is in the batch already: a scan of at most KW_STORE_MARKET_BATCH short
 * strings, nothing next to the statement the batch becomes. */
static int market_in_batch(const struct market_batch *mb, const char *t)
{
	for (int i = 0; i < mb->n; i++)
		if (!strcmp(mb->ticker[i], t))
			return 1;
	return 0;
}

static void market_batch_clear(struct market_batch *mb)
{
	for (int i = 0; i < mb->n; i++) {
		free(mb->ticker[i]);
		mb->ticker[i] = NULL;
	}
	mb->n = 0;
}

static int market_batch_flush(struct kw_store *s, void *ctx)
{
	struct market_batch *mb = ctx;
	int rc = 0;
	if (!mb->n)
		return 0;
	if (s) { /* else dropped with its savepoint or transaction */
		for (int row = mb->n; row < KW_STORE_MARKET_BATCH; row++)
			kw_sql_bind_null(mb->st, MARKET_PARAM(row, 0));
		kw_sql_bind_i64(mb->st, 1, mb->taken_at);
		kw_sql_bind_i64(mb->st, 2, mb->run_id);
		if (kw_sql_step(mb->st) != KW_DONE)
			rc = kw_store_fail(s, "storing markets");
	}
	kw_sql_reset(mb->st);
	market_batch_clear(mb);
	return rc;
}

static void market_batch_free(void *ctx)
{
	struct market_batch *mb = ctx;
	market_batch_clear(mb);
	kw_stmt_free(mb->st);
	free(mb);
}

static struct market_batch *market_batch(struct kw_store *s)
{
	struct market_batch *mb = kw_store_deferred_ctx(s, KW_STORE_DEFER_MARKETS);
	if (mb)
		return mb;
	struct kw_buf sql;
	kw_buf_init(&sql, 0);
	int bad = kw_buf_puts(&sql, "WITH v (" MARKET_COLUMNS ") AS (VALUES ") < 0 ||
		  values_rows(&sql, KW_STORE_MARKET_BATCH, MARKET_NCOLS, MARKET_PARAM(0, 0),
			      MARKET_TEXT_COLS) < 0 ||
		  kw_buf_puts(&sql, SQL_MARKETS_PRE) < 0;
	struct kw_stmt *st = bad ? NULL : kw_conn_prepare(kw_store_conn(s), sql.data);
	kw_buf_free(&sql);
	if (!st)
		return NULL;
	mb = kw_xcalloc(1, sizeof(*mb));
	mb->st = st;
	kw_store_defer(s, KW_STORE_DEFER_MARKETS,
		       &(struct kw_store_deferred){
			       .flush = market_batch_flush, .free = market_batch_free, .ctx = mb });
	return mb;
}

static int market_batch_add(struct kw_store *s, const struct kw_kalshi_market *m, int64_t taken_at,
			    int64_t run_id)
{
	struct market_batch *mb = market_batch(s);
	if (!mb)
		return -1;
	if (mb->n &&
	    (mb->taken_at != taken_at || mb->run_id != run_id || market_in_batch(mb, m->ticker)))
		if (kw_store_flush(s) < 0)
			return -1;
	mb->taken_at = taken_at;
	mb->run_id = run_id;
	mb->ticker[mb->n] = kw_xstrdup(m->ticker);
	bind_market(mb->st, MARKET_PARAM(mb->n, 0), m, mb->ticker[mb->n], 1);
	if (++mb->n == KW_STORE_MARKET_BATCH)
		return kw_store_flush(s);
	return 0;
}

int kw_store_fetch_market(struct kw_store *s, const struct kw_kalshi_market *m, int64_t taken_at,
			  int64_t run_id, int *listed_as_it_was)
{
	if (kw_store_is_pg(s))
		return market_batch_add(s, m, taken_at, run_id);
	/* Try first what the previous market turned out to need: the cheap update when markets
	 * come back unchanged (run after run), the upsert when they are new or moving (a first
	 * run), so either way one statement per market usually does. */
	const char *first = *listed_as_it_was ? SQL_MARKET_SAME : SQL_MARKET;
	const char *second = *listed_as_it_was ? SQL_MARKET : SQL_MARKET_SAME;
	int changed = 0;
	struct kw_stmt *st;
	if (market_step(s, first, m, taken_at, &changed) < 0)
		return -1;
	if (changed) {
		*listed_as_it_was = first == SQL_MARKET_SAME;
	} else {
		if (market_step(s, second, m, taken_at, &changed) < 0)
			return -1;
		*listed_as_it_was = second == SQL_MARKET_SAME;
	}
	/* Unchanged: its last snapshot still holds. Snapshots are written only when something
	 * changed, so the table grows with Kalshi's activity, not with markets x runs: at 50,000
	 * markets and a run a minute, a row per market and run made 72M rows a day, and each run
	 * wrote into every market's stretch of the (ticker, taken_at) key, about a page per
	 * market. Measured with 5M rows (100 runs): 50,000 unchanged markets took 2.4-2.8 s a
	 * run, 0.8 s without those writes, and the gap grows with the table. A series is a step
	 * function, each point holding until the next (kw_store_price_range_after reads the one in
	 * force). */
	if (*listed_as_it_was)
		return 0;
	if (kw_store_rollup_dirty(s, KW_DIRTY_MARKET | KW_DIRTY_SNAPSHOT, m->ticker) < 0 ||
	    !(st = kw_store_stmt(s, SQL_SNAPSHOT)))
		return -1;
	kw_store_bind_text_static(st, 1, m->ticker);
	kw_sql_bind_i64(st, 2, taken_at);
	kw_sql_bind_i64(st, 3, run_id);
	kw_store_bind_i64(st, 4, m->yes_bid);
	kw_store_bind_i64(st, 5, m->yes_ask);
	kw_store_bind_i64(st, 6, m->last_price);
	kw_store_bind_i64(st, 7, m->volume);
	kw_store_bind_i64(st, 8, m->volume_24h);
	kw_store_bind_i64(st, 9, m->open_interest);
	kw_store_bind_i64(st, 10, m->yes_bid_size);
	kw_store_bind_i64(st, 11, m->yes_ask_size);
	return kw_store_step_done(s, st, "storing a market snapshot");
}

static const char SQL_TRADE[] =
	"INSERT INTO trades (trade_id, ticker, created_us, count_centi, yes_price_micros,"
	" no_price_micros, taker_side, notional_micros, is_block)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
	" ON CONFLICT (created_us, trade_id) DO NOTHING";

/*
 * PostgreSQL: a round trip per trade would cap ingest at a few thousand trades a second, so
 * trades go KW_STORE_TRADE_BATCH at a time in one INSERT of as many rows (bound as they
 * arrive). A short batch is padded with copies of its last row, which ON CONFLICT DO NOTHING
 * skips, so one prepared statement serves every batch. The store flushes it before any other
 * statement (kw_store_defer), so no query ever misses a buffered trade.
 */
struct trade_batch {
	struct kw_stmt *st; /* SQL_TRADE with KW_STORE_TRADE_BATCH rows; owned */
	int n;
	int64_t inserted; /* new trades stored by flushed batches, not yet taken */
	char *last[2];	  /* the last row's trade_id and ticker, to pad a short batch */
	int64_t last_i[6];
	int last_side; /* -1: NULL */
};

static void batch_bind(struct kw_stmt *st, int row, char *const text[2], const int64_t v[6],
		       int side)
{
	int b = row * 9;
	kw_sql_bind_text(st, b + 1, text[0]);
	kw_sql_bind_text(st, b + 2, text[1]);
	kw_sql_bind_i64(st, b + 3, v[0]);
	kw_sql_bind_i64(st, b + 4, v[1]);
	kw_sql_bind_i64(st, b + 5, v[2]);
	kw_sql_bind_i64(st, b + 6, v[3]);
	if (side < 0)
		kw_sql_bind_null(st, b + 7);
	else
		kw_sql_bind_text(st, b + 7, side ? "yes" : "no");
	if (v[4] == INT64_MIN)
		kw_sql_bind_null(st, b + 8);
	else
		kw_sql_bind_i64(st, b + 8, v[4]);
	kw_sql_bind_i64(st, b + 9, v[5]);
}

static int batch_flush(struct kw_store *s, void *ctx)
{
	struct trade_batch *tb = ctx;
	int rc = 0;
	if (!tb->n)
		return 0;
	if (!s) { /* dropped with its savepoint or transaction */
		tb->n = 0;
		tb->inserted = 0;
		return 0;
	}
	for (int row = tb->n; row < KW_STORE_TRADE_BATCH; row++)
		batch_bind(tb->st, row, tb->last, tb->last_i, tb->last_side);
	if (kw_sql_step(tb->st) == KW_DONE)
		tb->inserted += kw_store_changes(s);
	else
		rc = kw_store_fail(s, "storing trades");
	kw_sql_reset(tb->st);
	tb->n = 0;
	return rc;
}

static void batch_free(void *ctx)
{
	struct trade_batch *tb = ctx;
	kw_stmt_free(tb->st);
	for (int i = 0; i < 2; i++)
		free(tb->last[i]);
	free(tb);
}

static struct trade_batch *trade_batch(struct kw_store *s)
{
	struct trade_batch *tb = kw_store_deferred_ctx(s, KW_STORE_DEFER_TRADES);
	if (tb)
		return tb;
	struct kw_buf sql;
	kw_buf_init(&sql, 0);
	int bad = kw_buf_puts(&sql, "INSERT INTO trades (trade_id, ticker, created_us, count_centi,"
				    " yes_price_micros, no_price_micros, taker_side,"
				    " notional_micros, is_block) VALUES ") < 0 ||
		  values_rows(&sql, KW_STORE_TRADE_BATCH, 9, 1, -1) < 0 ||
		  kw_buf_puts(&sql, " ON CONFLICT (created_us, trade_id) DO NOTHING") < 0;
	struct kw_stmt *st = bad ? NULL : kw_conn_prepare(kw_store_conn(s), sql.data);
	kw_buf_free(&sql);
	if (!st)
		return NULL;
	tb = kw_xcalloc(1, sizeof(*tb));
	tb->st = st;
	kw_store_defer(
		s, KW_STORE_DEFER_TRADES,
		&(struct kw_store_deferred){ .flush = batch_flush, .free = batch_free, .ctx = tb });
	return tb;
}

static int trade_batch_add(struct kw_store *s, const struct kw_kalshi_trade *t, int64_t shift_us)
{
	struct trade_batch *tb = trade_batch(s);
	if (!tb)
		return -1;
	const char *text[2] = { t->trade_id, t->ticker };
	for (int i = 0; i < 2; i++) {
		free(tb->last[i]);
		tb->last[i] = text[i] ? kw_xstrdup(text[i]) : NULL;
	}
	int64_t v[6] = { t->created_us + shift_us,
			 t->count_centi,
			 t->yes_price,
			 t->no_price,
			 t->notional,
			 t->is_block };
	memcpy(tb->last_i, v, sizeof(v));
	tb->last_side = t->taker_yes < 0 ? -1 : t->taker_yes != 0;
	batch_bind(tb->st, tb->n, tb->last, tb->last_i, tb->last_side);
	if (++tb->n == KW_STORE_TRADE_BATCH)
		return kw_store_flush(s);
	return 0;
}

int kw_store_fetch_trades_flush(struct kw_store *s, int64_t *inserted)
{
	struct trade_batch *tb =
		kw_store_is_pg(s) ? kw_store_deferred_ctx(s, KW_STORE_DEFER_TRADES) : NULL;
	if (!tb)
		return 0;
	if (kw_store_flush(s) < 0)
		return -1;
	*inserted += tb->inserted;
	tb->inserted = 0;
	return 0;
}

int kw_store_fetch_trade(struct kw_store *s, const struct kw_kalshi_trade *t, int64_t shift_us,
			 int *inserted)
{
	if (kw_store_is_pg(s)) {
		*inserted = 0;
		return trade_batch_add(s, t, shift_us);
	}
	struct kw_stmt *st = kw_store_stmt(s, SQL_TRADE);
	if (!st)
		return -1;
	kw_store_bind_text_static(st, 1, t->trade_id);
	kw_store_bind_text_static(st, 2, t->ticker);
	kw_sql_bind_i64(st, 3, t->created_us + shift_us);
	kw_sql_bind_i64(st, 4, t->count_centi);
	kw_sql_bind_i64(st, 5, t->yes_price);
	kw_sql_bind_i64(st, 6, t->no_price);
	/* A trade Kalshi sent without a taker side is stored (it happened: it counts in volume
	 * and trade counts) with no side and no premium. */
	if (t->taker_yes < 0)
		kw_sql_bind_null(st, 7);
	else
		kw_store_bind_text_static(st, 7, t->taker_yes ? "yes" : "no");
	kw_store_bind_i64(st, 8, t->notional);
	kw_sql_bind_int(st, 9, t->is_block);
	if (kw_store_step_done(s, st, "storing a trade") < 0)
		return -1;
	*inserted = kw_store_changes(s) > 0;
	return 0;
}

static const char SQL_BOOK[] =
	"INSERT INTO orderbook_snapshots (ticker, taken_at, run_id, yes_depth_centi,"
	" no_depth_centi, yes_levels, no_levels, best_yes_bid_micros, best_no_bid_micros)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
	" ON CONFLICT (ticker, taken_at) DO UPDATE SET run_id = excluded.run_id,"
	" yes_depth_centi = excluded.yes_depth_centi, no_depth_centi = excluded.no_depth_centi,"
	" yes_levels = excluded.yes_levels, no_levels = excluded.no_levels,"
	" best_yes_bid_micros = excluded.best_yes_bid_micros,"
	" best_no_bid_micros = excluded.best_no_bid_micros";

int kw_store_fetch_book(struct kw_store *s, const char *ticker, int64_t taken_at, int64_t run_id,
			const struct kw_kalshi_book *b)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_BOOK);
	if (!st)
		return -1;
	kw_store_bind_text_static(st, 1, ticker);
	kw_sql_bind_i64(st, 2, taken_at);
	kw_sql_bind_i64(st, 3, run_id);
	kw_sql_bind_i64(st, 4, b->yes_depth);
	kw_sql_bind_i64(st, 5, b->no_depth);
	kw_sql_bind_int(st, 6, b->yes_levels);
	kw_sql_bind_int(st, 7, b->no_levels);
	kw_store_bind_i64(st, 8, b->best_yes_bid);
	kw_store_bind_i64(st, 9, b->best_no_bid);
	return kw_store_step_done(s, st, "storing an order book");
}

static const char SQL_EVENT[] =
	"INSERT INTO events (event_ticker, series_ticker, title, sub_title, category, fetched_at)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (event_ticker) DO UPDATE SET"
	" series_ticker = excluded.series_ticker, title = excluded.title,"
	" sub_title = excluded.sub_title, category = excluded.category,"
	" fetched_at = excluded.fetched_at";

int kw_store_fetch_event(struct kw_store *s, const struct kw_kalshi_event *e, int64_t fetched_at)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_EVENT);
	if (!st)
		return -1;
	kw_store_bind_text_static(st, 1, e->event_ticker);
	kw_store_bind_text_static(st, 2, e->series_ticker);
	kw_store_bind_text_static(st, 3, e->title);
	kw_store_bind_text_static(st, 4, e->sub_title);
	kw_store_bind_text_static(st, 5, e->category);
	kw_sql_bind_i64(st, 6, fetched_at);
	return kw_store_step_done(s, st, "storing an event");
}

static const char SQL_SERIES[] =
	"INSERT INTO series (ticker, title, category, frequency, fetched_at)"
	" VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (ticker) DO UPDATE SET title = excluded.title,"
	" category = excluded.category, frequency = excluded.frequency,"
	" fetched_at = excluded.fetched_at";

int kw_store_fetch_series(struct kw_store *s, const struct kw_kalshi_series *x, int64_t fetched_at)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_SERIES);
	if (!st)
		return -1;
	kw_store_bind_text_static(st, 1, x->ticker);
	kw_store_bind_text_static(st, 2, x->title);
	kw_store_bind_text_static(st, 3, x->category);
	kw_store_bind_text_static(st, 4, x->frequency);
	kw_sql_bind_i64(st, 5, fetched_at);
	return kw_store_step_done(s, st, "storing a series");
}

/* ---- derived updates ---------------------------------------------------------------------- */

/* The series' category wins; the event's (deprecated) one, then the market's legacy one, are
 * fallbacks. Only rows that would change are written. */
static const char SQL_LINK[] =
	"UPDATE markets SET series_ticker = x.series_ticker,"
	" category = coalesce(x.category, markets.category)"
	" FROM (SELECT e.event_ticker, e.series_ticker,"
	"        coalesce(nullif(s.category, ''), nullif(e.category, '')) AS category"
	"       FROM events e LEFT JOIN series s ON s.ticker = e.series_ticker) AS x"
	" WHERE markets.event_ticker = x.event_ticker"
	"   AND (markets.series_ticker IS DISTINCT FROM x.series_ticker"
	"        OR (x.category IS NOT NULL AND markets.category IS DISTINCT FROM x.category))"
	" RETURNING markets.ticker";

/* Step an UPDATE ... RETURNING ticker to its end, noting each market it changed for the
 * rollups (SQLite makes every change at the first step and hands back the rows after, so the
 * notes are written between steps); *n = the rows. */
static int step_marking(struct kw_store *s, struct kw_stmt *st, const char *what, int64_t *n)
{
	int step, rc = -1;
	*n = 0;
	while ((step = kw_sql_step(st)) == KW_ROW) {
		const char *ticker = kw_store_col_text(st, 0);
		if (ticker && kw_store_rollup_dirty(s, KW_DIRTY_MARKET, ticker) < 0)
			goto out;
		(*n)++;
	}
	if (step != KW_DONE) {
		kw_store_fail(s, what);
		goto out;
	}
	rc = 0;
out:
	kw_sql_reset(st);
	return rc;
}

int kw_store_fetch_link_categories(struct kw_store *s, int64_t *changed)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_LINK);
	if (!st)
		return -1;
	return step_marking(s, st, "linking market categories", changed);
}

static const char SQL_CLOSE_UNSEEN[] =
	"UPDATE markets SET status = 'closed' WHERE status IN ('active', 'open')"
	" AND updated_at < ?1 RETURNING ticker";

int kw_store_fetch_close_unseen(struct kw_store *s, int64_t run_at, int64_t *closed)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_CLOSE_UNSEEN);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, run_at);
	return step_marking(s, st, "closing unlisted markets", closed);
}

static const char SQL_COUNT_OPEN[] =
	"SELECT count(*) FROM markets WHERE status IN ('active', 'open') AND updated_at >= ?1";

int kw_store_fetch_count_open(struct kw_store *s, int64_t run_at, int64_t *n)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_COUNT_OPEN);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, run_at);
	int rc = kw_sql_step(st);
	if (rc == KW_ROW)
		*n = kw_sql_col_i64(st, 0);
	kw_sql_reset(st);
	if (rc != KW_ROW) {
		kw_error("store: counting open markets failed: %s", kw_store_errmsg(s));
		return -1;
	}
	return 0;
}

static const char SQL_UNKNOWN_EVENTS[] =
	"SELECT DISTINCT m.event_ticker FROM markets m"
	" WHERE m.status IN ('active', 'open') AND m.series_ticker IS NULL"
	"   AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_ticker = m.event_ticker)"
	" LIMIT ?1";

int kw_store_fetch_unknown_events(struct kw_store *s, int64_t max, struct kw_strlist *out)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_UNKNOWN_EVENTS);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, max);
	return collect(s, st, out, "listing unknown events");
}

static const char SQL_UNKNOWN_SERIES[] =
	"SELECT DISTINCT e.series_ticker FROM events e"
	" WHERE NOT EXISTS (SELECT 1 FROM series s WHERE s.ticker = e.series_ticker) LIMIT ?1";

int kw_store_fetch_unknown_series(struct kw_store *s, int64_t max, struct kw_strlist *out)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_UNKNOWN_SERIES);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, max);
	return collect(s, st, out, "listing unknown series");
}

static const char SQL_WATCH_TOP[] = "SELECT ticker FROM markets WHERE status IN ('active', 'open')"
				    " AND volume_24h_centi IS NOT NULL ORDER BY volume_24h_centi "
				    "DESC NULLS LAST, ticker LIMIT ?1";
/*
 * Markets with recent whale trades: a range over the recent trades only. Left to itself,
 * SQLite satisfies GROUP BY ticker by walking all of trades_ticker_time_notional (every trade
 * ever stored: 50 ms of every run at a million trades); `+` keeps the grouping off that index.
 * At or above the $1000 floor of the partial index trades_whale, the range is along it.
 */
/* A whale trade by its market category's threshold (WHALE_MIN_NOTIONAL_BY_CATEGORY, ?4,
 * else the default ?5), as detection judges it; ?1 is the smallest threshold. */
#define WATCH_WHALES_SQL(FLOOR)                                                                    \
	"SELECT t.ticker FROM trades t LEFT JOIN markets m ON m.ticker = t.ticker"                 \
	" WHERE " FLOOR "t.created_us >= ?2 AND +t.notional_micros >= ?1"                          \
	"   AND +t.notional_micros >= CASE WHEN m.category IS NULL OR instr(m.category, '\"') > 0" \
	"     THEN ?5 ELSE ifnull(json_extract(?4, '$.\"' || lower(m.category) || '\"'), ?5) END"  \
	" GROUP BY +t.ticker ORDER BY max(t.notional_micros) DESC, t.ticker LIMIT ?3"
static const char SQL_WATCH_WHALES[] = WATCH_WHALES_SQL("t.notional_micros >= 1000000000 AND ");
static const char SQL_WATCH_WHALES_LOW[] = WATCH_WHALES_SQL("");
#define WATCH_WHALE_FLOOR_MICROS 1000000000 /* trades_whale's condition (0005_api.sql) */

static int strlist_has(const struct kw_strlist *l, size_t n, const char *t)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l->v[i], t))
			return 1;
	return 0;
}

int kw_store_fetch_watchlist(struct kw_store *s, int64_t top, int64_t whale_micros,
			     const char *categories_json, int64_t default_micros, int64_t since_us,
			     int64_t extra, struct kw_strlist *out)
{
	struct kw_strlist whales = { 0 };
	struct kw_stmt *st = kw_store_stmt(s, SQL_WATCH_TOP);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, top);
	if (collect(s, st, out, "listing the order-book watch list") < 0)
		return -1;
	if (!(st = kw_store_stmt(s, whale_micros >= WATCH_WHALE_FLOOR_MICROS
					    ? SQL_WATCH_WHALES
					    : SQL_WATCH_WHALES_LOW)))
		goto fail;
	kw_sql_bind_i64(st, 1, whale_micros);
	kw_sql_bind_i64(st, 2, since_us);
	kw_sql_bind_i64(st, 3, extra);
	kw_sql_bind_text(st, 4, categories_json ? categories_json : "{}");
	kw_sql_bind_i64(st, 5, default_micros);
	if (collect(s, st, &whales, "listing whale markets") < 0)
		goto fail;
	size_t top_n = out->n;
	for (size_t i = 0; i < whales.n; i++) {
		if (strlist_has(out, top_n, whales.v[i]))
			continue;
		out->v = kw_xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
		out->v[out->n++] = whales.v[i];
		whales.v[i] = NULL;
	}
	kw_strlist_free(&whales);
	return 0;
fail:
	kw_strlist_free(&whales);
	kw_strlist_free(out);
	return -1;
}

/* ---- market activity ---------------------------------------------------------------------- */

/*
 * market_activity holds, per market, the sum and count of exactly the trades with
 * id <= 'activity_upto_id' and created_us >= 'activity_cutoff_us' (fetch_state). A run moves
 * both ends: trades that left the 24 hours are subtracted, trades stored since are added,
 * each as grouped statements, each in a transaction with the state it reaches. Markets whose count
 * reaches zero are dropped, so the table stays as small as the set of active markets.
 */
#define ACTIVITY_UPSERT                                                                            \
	" ON CONFLICT (ticker) DO UPDATE SET"                                                      \
	" usd_24h_micros = market_activity.usd_24h_micros + excluded.usd_24h_micros,"              \
	" trades_24h = market_activity.trades_24h + excluded.trades_24h"

/* ?4 = 1 adds, -1 subtracts the trades with created_us in [?1, ?2) and id in (?3, ?5]. Two
 * spellings of one statement, so that SQLite walks the narrow side: the window's edge (a few
 * minutes of trades, through trades_dedup) or the trades stored since (a rowid range). */
#define ACTIVITY_MOVE(TIME, ID)                                                                    \
	"INSERT INTO market_activity (ticker, usd_24h_micros, trades_24h)"                         \
	" SELECT ticker, ?4 * ifnull(sum(notional_micros), 0), ?4 * count(*) FROM trades"          \
	"  WHERE " TIME "created_us >= ?1 AND " TIME "created_us < ?2"                             \
	"    AND " ID "id > ?3 AND " ID "id <= ?5 GROUP BY ticker" ACTIVITY_UPSERT
static const char SQL_ACTIVITY_EDGE[] = ACTIVITY_MOVE("", "+");
static const char SQL_ACTIVITY_NEW[] = ACTIVITY_MOVE("+", "");
static const char SQL_ACTIVITY_PRUNE[] = "DELETE FROM market_activity WHERE trades_24h <= 0";
static const char SQL_ACTIVITY_CLEAR[] = "DELETE FROM market_activity";
static const char STATE_ACT_CUTOFF[] = "activity_cutoff_us";
static const char STATE_ACT_UPTO[] = "activity_upto_id";

static int activity_move(struct kw_store *s, int64_t from_us, int64_t to_us, int64_t after_id,
			 int64_t upto_id, int sign, int by_id)
{
	if (from_us >= to_us || after_id >= upto_id)
		return 0;
	struct kw_stmt *st = kw_store_stmt(s, by_id ? SQL_ACTIVITY_NEW : SQL_ACTIVITY_EDGE);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, from_us);
	kw_sql_bind_i64(st, 2, to_us);
	kw_sql_bind_i64(st, 3, after_id);
	kw_sql_bind_int(st, 4, sign);
	kw_sql_bind_i64(st, 5, upto_id);
	return kw_store_step_done(s, st, "updating market activity");
}

/* The next step's size from how long the last one took, aiming at step_us (the backend's
 * step length: kw_store_write_step_us). */
static int64_t next_step(int64_t size, int64_t took_us, int64_t step_us, int64_t lo, int64_t hi)
{
	size = took_us > 0 ? size * step_us / took_us : size * 4;
	return size < lo ? lo : size > hi ? hi : size;
}

#define ACT_FIRST_IDS 20000
#define ACT_FIRST_SLICE_US (600LL * 1000000)

/*
 * In steps, each one transaction that keeps the invariant above (so a reader, or a run
 * stopped between two steps, sees whole trades counted): the window's old edge is subtracted
 * a slice of time at a time, moving activity_cutoff_us with it, then the trades stored since
 * are added a range of ids at a time, moving activity_upto_id. Steps are sized to run about
 * the backend's step length (kw_store_write_step_us): after a backfill of a million trades,
 * other writers wait for one step, not for the whole count.
 */
int kw_store_fetch_activity(struct kw_store *s, int64_t now_s, int rebuild)
{
	int64_t step_us = kw_store_write_step_us(s);
	int64_t cutoff = (now_s - 86400) * 1000000, old_cutoff = 0, old_upto = 0, upto = 0;
	if (kw_store_begin(s) < 0)
		return -1;
	int have_cutoff = kw_store_fetch_state_get(s, STATE_ACT_CUTOFF, &old_cutoff);
	int have_upto = kw_store_fetch_state_get(s, STATE_ACT_UPTO, &old_upto);
	if (have_cutoff < 0 || have_upto < 0 || kw_store_trades_max_id(s, &upto) < 0)
		goto fail;
	if (rebuild || !have_cutoff || !have_upto || old_upto > upto) {
		/* No state (or trades were removed under it): count from scratch, from id 0. */
		old_cutoff = cutoff;
		old_upto = 0;
		if (kw_store_exec(s, SQL_ACTIVITY_CLEAR) < 0 ||
		    kw_store_fetch_state_set(s, STATE_ACT_CUTOFF, cutoff) < 0 ||
		    kw_store_fetch_state_set(s, STATE_ACT_UPTO, 0) < 0)
			goto fail;
	} else if (cutoff < old_cutoff) {
		/* The clock went back: the window grows at its old edge (rare; one step). */
		if (activity_move(s, cutoff, old_cutoff, 0, old_upto, 1, 0) < 0 ||
		    kw_store_fetch_state_set(s, STATE_ACT_CUTOFF, cutoff) < 0)
			goto fail;
		old_cutoff = cutoff;
	}
	if (kw_store_commit(s) < 0)
		goto fail;

	int64_t slice = ACT_FIRST_SLICE_US, ids = ACT_FIRST_IDS;
	while (old_cutoff < cutoff) { /* trades that left the 24 hours */
		int64_t t0 = kw_mono_us();
		int64_t to = cutoff - old_cutoff > slice ? old_cutoff + slice : cutoff;
		if (kw_store_begin(s) < 0)
			return -1;
		if (activity_move(s, old_cutoff, to, 0, old_upto, -1, 0) < 0 ||
		    kw_store_fetch_state_set(s, STATE_ACT_CUTOFF, to) < 0 || kw_store_commit(s) < 0)
			goto fail;
		old_cutoff = to;
		slice = next_step(slice, kw_mono_us() - t0, step_us, 1000000, 86400LL * 1000000);
	}
	while (old_upto < upto) { /* trades stored since */
		int64_t t0 = kw_mono_us();
		int64_t to = upto - old_upto > ids ? old_upto + ids : upto;
		if (kw_store_begin(s) < 0)
			return -1;
		if (activity_move(s, cutoff, INT64_MAX, old_upto, to, 1, 1) < 0 ||
		    kw_store_fetch_state_set(s, STATE_ACT_UPTO, to) < 0 || kw_store_commit(s) < 0)
			goto fail;
		old_upto = to;
		ids = next_step(ids, kw_mono_us() - t0, step_us, 1000, 10000000);
	}
	if (kw_store_begin(s) < 0)
		return -1;
	if (kw_store_exec(s, SQL_ACTIVITY_PRUNE) < 0 || kw_store_commit(s) < 0)
		goto fail;
	return 0;
fail:
	kw_store_rollback(s);
	return -1;
}

/* ---- retention ---------------------------------------------------------------------------- */

/* The trade with the highest id stays, whatever its age: SQLite gives a new row max(id) + 1,
 * so deleting it would hand its id to the next trade, and kw-ws, detection and
 * market_activity, which follow trades by id, would never see that one. */
static const char SQL_PRUNE_TRADES[] =
	"DELETE FROM trades WHERE id IN"
	" (SELECT id FROM trades WHERE created_us < ?1 AND id < (SELECT max(id) FROM trades)"
	"  ORDER BY created_us LIMIT ?2)";
static const char SQL_PRUNE_SNAPSHOTS[] =
	"DELETE FROM market_snapshots WHERE (ticker, taken_at) IN"
	" (SELECT ticker, taken_at FROM market_snapshots WHERE taken_at < ?1"
	"  ORDER BY taken_at LIMIT ?2)";
/* Every market with a snapshot the batch may delete: its start prices may move (a superset
 * of the batch, which only costs the rollups a few extra reads). */
static const char SQL_PRUNE_SNAPSHOTS_MARK[] =
	"INSERT INTO rollup_dirty (kind, ticker)"
	" SELECT DISTINCT 2, ticker FROM market_snapshots WHERE taken_at < ?1"
	" ON CONFLICT DO NOTHING";
static const char SQL_PRUNE_BOOKS[] =
	"DELETE FROM orderbook_snapshots WHERE (ticker, taken_at) IN"
	" (SELECT ticker, taken_at FROM orderbook_snapshots WHERE taken_at < ?1"
	"  ORDER BY taken_at LIMIT ?2)";

/* The run journal too, with the refresh requests that point at old runs (foreign key). */
static const char SQL_PRUNE_REQUESTS[] =
	"DELETE FROM refresh_requests WHERE id IN (SELECT r.id FROM refresh_requests r"
	" JOIN fetch_runs f ON f.id = r.run_id WHERE f.started_at < ?1 LIMIT ?2)";
static const char SQL_PRUNE_RUNS[] =
	"DELETE FROM fetch_runs WHERE id IN (SELECT id FROM fetch_runs WHERE started_at < ?1"
	" AND outcome <> 'running' AND NOT EXISTS (SELECT 1 FROM refresh_requests r"
	"  WHERE r.run_id = fetch_runs.id) ORDER BY id LIMIT ?2)";

static const char SQL_STATS_CUTOFF[] = "SELECT ifnull(min(cutoff_us), 0) FROM stats_windows";

int kw_store_fetch_prune(struct kw_store *s, int64_t cutoff_s, int batch, int max_batches,
			 int64_t *deleted)
{
	static const char *const sqls[] = { SQL_PRUNE_TRADES, SQL_PRUNE_SNAPSHOTS, SQL_PRUNE_BOOKS,
					    SQL_PRUNE_REQUESTS, SQL_PRUNE_RUNS };
	int64_t act_cutoff;
	*deleted = 0;
	/* A trade still counted in market_activity stays until the activity window has moved
	 * past it: the next update subtracts it by reading it (RETENTION_DAYS = 1 could
	 * otherwise prune a few seconds of trades the window still holds). */
	int have = kw_store_fetch_state_get(s, STATE_ACT_CUTOFF, &act_cutoff);
	if (have < 0)
		return -1;
	/* The same for the stats windows (store_rollup.c), which subtract what leaves them. */
	int64_t stats_cutoff = 0;
	if (kw_store_scalar(s, SQL_STATS_CUTOFF, &stats_cutoff) < 0)
		return -1;
	if (stats_cutoff > 0 && (!have || stats_cutoff < act_cutoff)) {
		act_cutoff = stats_cutoff;
		have = 1;
	}
	for (size_t k = 0; k < KW_ARRAY_LEN(sqls); k++) {
		int64_t cutoff = k == 0 ? cutoff_s * 1000000 : cutoff_s;
		if (k == 0 && have && act_cutoff < cutoff)
			cutoff = act_cutoff;
		for (int b = 0; b < max_batches; b++) {
			struct kw_stmt *st = kw_store_stmt(s, sqls[k]);
			if (!st)
				return -1;
			kw_sql_bind_i64(st, 1, cutoff);
			kw_sql_bind_int(st, 2, batch);
			/* Small transactions: readers and the API never wait long behind pruning. */
			if (kw_store_begin(s) < 0)
				return -1;
			struct kw_stmt *mark = sqls[k] == SQL_PRUNE_SNAPSHOTS
						       ? kw_store_stmt(s, SQL_PRUNE_SNAPSHOTS_MARK)
						       : NULL;
			if (mark)
				kw_sql_bind_i64(mark, 1, cutoff);
			if ((sqls[k] == SQL_PRUNE_SNAPSHOTS &&
			     (!mark ||
			      kw_store_step_done(s, mark, "noting pruned snapshots") < 0)) ||
			    kw_store_step_done(s, st, "pruning old rows") < 0) {
				kw_store_rollback(s);
				return -1;
			}
			int n = kw_store_changes(s);
			if (kw_store_commit(s) < 0) {
				kw_store_rollback(s);
				return -1;
			}
			*deleted += n;
			if (n < batch)
				break;
		}
	}
	return 0;
}
