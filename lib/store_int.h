/*
 * store_int.h — what the store's own files share; nothing outside lib/store*.c includes it
 * (unit tests aside, which build their fixtures with it).
 *
 * The connection (a driver connection: store_drv.h), the statement cache and the few helpers
 * every query repeats: step a statement that returns no rows, walk the rows of one that does,
 * read a column that may be NULL, bind a value that may be absent. The kw_store_* functions
 * that programs call (store.h and store_*.h) hold no database type in their contracts.
 *
 * tools/check-store.sh fails the build's format check when SQL text or a sqlite3_ call turns
 * up outside lib/store*.c and lib/db.c.
 */
#ifndef KW_STORE_INT_H
#define KW_STORE_INT_H

#include <stdint.h>

#include "db.h"
#include "store.h"
#include "store_drv.h"
#include "util.h"

struct kw_conn *kw_store_conn(struct kw_store *s);

/*
 * The cached statement for sql (a string with static storage), reset and with its bindings
 * cleared; NULL (logged) if it cannot be prepared. The caller must kw_sql_reset() it when
 * done, since an unreset SELECT holds its read snapshot (or its result) open.
 */
struct kw_stmt *kw_store_stmt(struct kw_store *s, const char *sql);

/* The first column of the first row of sql (static storage, no parameters), as an integer;
 * -1 (logged) if it returns no row. */
int kw_store_scalar(struct kw_store *s, const char *sql, int64_t *out) KW_WUR;

/* The highest trade id stored, 0 when none (the rollups and market activity count from it). */
int kw_store_trades_max_id(struct kw_store *s, int64_t *id) KW_WUR;

/* Log "store: WHAT failed: <the database's message>" and return -1, for `return
 * kw_store_fail(..)`. */
int kw_store_fail(struct kw_store *s, const char *what);

/* Step a statement that returns no rows, then reset it; -1 (logged as WHAT) unless it ran
 * to the end. */
int kw_store_step_done(struct kw_store *s, struct kw_stmt *st, const char *what);

/* Step st to its end, handing each row to row() until that returns nonzero, then reset it;
 * -1 (logged as WHAT) on a database error, 0 otherwise (also when row() stopped the walk). */
int kw_store_walk(struct kw_store *s, struct kw_stmt *st, int (*row)(struct kw_stmt *st, void *ctx),
		  void *ctx, const char *what);

/* Run statements without parameters or rows; -1 (logged) on error. */
static inline int kw_store_exec(struct kw_store *s, const char *sql)
{
	return kw_conn_exec(kw_store_conn(s), sql);
}

/*
 * Work a store function put off: rows buffered for one multi-row statement (kw-fetch's markets
 * and trades on PostgreSQL, where a statement costs a round trip), one slot per kind. s runs
 * every slot's flush(s, ctx), in slot order, before any other statement, before a commit and
 * around savepoints, so nothing ever reads around a buffer; flush(NULL, ctx) drops what is
 * buffered and its count (a rollback). free(ctx) runs when s closes. kw_store_defer() keeps
 * the first work set in a slot.
 */
enum kw_store_defer_slot { KW_STORE_DEFER_MARKETS, KW_STORE_DEFER_TRADES, KW_STORE_DEFER_SLOTS };
struct kw_store_deferred {
	int (*flush)(struct kw_store *s, void *ctx);
	void (*free)(void *ctx);
	void *ctx;
};
void kw_store_defer(struct kw_store *s, enum kw_store_defer_slot slot,
		    const struct kw_store_deferred *d);
/* The ctx of the work deferred in slot, NULL when none was set. */
void *kw_store_deferred_ctx(struct kw_store *s, enum kw_store_defer_slot slot);
/* Run every slot's deferred work now; -1 (logged by the flush) at the first failure. */
int kw_store_flush(struct kw_store *s);

/* SQLite's PRAGMAs tune one connection's file access; PostgreSQL's server is tuned in its own
 * configuration, so there they are no-ops. -1 (logged) on error. */
static inline int kw_store_pragma(struct kw_store *s, const char *sql)
{
	return kw_conn_is_pg(kw_store_conn(s)) ? 0 : kw_store_exec(s, sql);
}

/* The last error's message; rows changed by the last write. */
static inline const char *kw_store_errmsg(struct kw_store *s)
{
	return kw_conn_errmsg(kw_store_conn(s));
}

static inline int64_t kw_store_changes(struct kw_store *s)
{
	return kw_conn_changes(kw_store_conn(s));
}

static inline int kw_store_is_pg(struct kw_store *s)
{
	return kw_conn_is_pg(kw_store_conn(s));
}

/* A write transaction that may meet a busy database without logging it (the caller reports
 * busy as an answer: kw_store_was_busy). -1 on failure. */
int kw_store_begin_quiet(struct kw_store *s);
int kw_store_commit_quiet(struct kw_store *s);

/* Note that a market's inputs to the rollups changed (sql/0017_rollup_dirty.sql): every
 * store function that writes a markets column a start price or a legacy view reads, or a
 * market snapshot, calls it for that market in the same transaction. kinds: one or both. */
#define KW_DIRTY_MARKET 1
#define KW_DIRTY_SNAPSHOT 2
int kw_store_rollup_dirty(struct kw_store *s, int kinds, const char *ticker) KW_WUR;

/* Column i as text, NULL when it is NULL. Valid until the next step or reset of st. */
static inline const char *kw_store_col_text(struct kw_stmt *st, int i)
{
	return kw_sql_col_text(st, i);
}

/* Column i as text, "" when it is NULL. Valid until the next step or reset of st. */
static inline const char *kw_store_col_str(struct kw_stmt *st, int i)
{
	const char *t = kw_sql_col_text(st, i);
	return t ? t : "";
}

/* Column i as an integer, INT64_MIN (KW_NULL, KW_KALSHI_NONE) when it is NULL. */
static inline int64_t kw_store_col_i64(struct kw_stmt *st, int i)
{
	return kw_sql_col_null(st, i) ? INT64_MIN : kw_sql_col_i64(st, i);
}

/* Bind v, or NULL when v is NULL; the driver copies v. */
static inline int kw_store_bind_text(struct kw_stmt *st, int i, const char *v)
{
	return kw_sql_bind_text(st, i, v);
}

/* Bind v, or NULL when v is NULL, without a copy: v must outlive the statement's next reset. */
static inline int kw_store_bind_text_static(struct kw_stmt *st, int i, const char *v)
{
	return kw_sql_bind_text_static(st, i, v);
}

/* Bind v, or NULL when v is INT64_MIN (KW_NULL, KW_KALSHI_NONE). */
static inline int kw_store_bind_i64(struct kw_stmt *st, int i, int64_t v)
{
	return v == INT64_MIN ? kw_sql_bind_null(st, i) : kw_sql_bind_i64(st, i, v);
}

/*
 * Per-market trade queries go through trades_hour_ticker (sql/0008_trade_hours.sql), keyed by
 * the trade's hour first. KW_SQL_TRADE_HOUR(t) is that key, spelled as the index spells it
 * (SQLite uses an index on an expression only for the same expression); KW_SQL_HOURS_IN
 * lists the hours from FROM_US to TO_US (SQL expressions in microseconds, inclusive), clamped
 * to the stored trades so an open range costs at most the retention's hours, one index seek
 * each: `KW_SQL_TRADE_HOUR("t.") KW_SQL_HOURS_IN("?2", "?3") " AND t.ticker = ?1"`.
 */
#define KW_SQL_TRADE_HOUR(T) T "created_us / 3600000000"
#define KW_SQL_HOURS_IN(FROM_US, TO_US)                                                            \
	" IN (WITH RECURSIVE kw_h(x) AS (SELECT max(" FROM_US ","                                  \
	" ifnull((SELECT min(created_us) FROM trades), 0)) / 3600000000"                           \
	" UNION ALL SELECT x + 1 FROM kw_h WHERE x < min(" TO_US ","                               \
	" ifnull((SELECT max(created_us) FROM trades), 0)) / 3600000000) SELECT x FROM kw_h)"

/* The legacy routes' crypto view of market m, with N a JSON array of series prefixes
 * (CRYPTO_SERIES_PREFIXES) or NULL for every market: the Crypto category, or a series ticker
 * starting with a prefix (never a substring match). */
#define KW_SQL_CRYPTO_VIEW(N)                                                                      \
	"(CAST(" N                                                                                 \
	" AS TEXT) IS NULL OR lower(m.category) = 'crypto' OR EXISTS (SELECT 1 FROM json_each(" N  \
	") p WHERE substr(m.series_ticker, 1, length(p.value)) = p.value))"

#endif
