/*
 * store_int.h — what the store's own files share; nothing outside lib/store*.c includes it
 * (unit tests aside, which build their fixtures with it).
 *
 * The SQLite connection, the statement cache and the few helpers every query repeats: step a
 * statement that returns no rows, walk the rows of one that does, read a column that may be
 * NULL, bind a value that may be absent. The kw_store_* functions that programs call (store.h
 * and store_*.h) hold no SQLite type in their contracts, so a second backend can implement
 * them behind the same headers; these helpers are what it replaces.
 *
 * tools/check-store.sh fails the build's format check when SQL text or a sqlite3_ call turns
 * up outside lib/store*.c and lib/db.c.
 */
#ifndef KW_STORE_INT_H
#define KW_STORE_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "db.h"
#include "store.h"
#include "util.h"

sqlite3 *kw_store_db(struct kw_store *s);

/*
 * The cached statement for sql (a string with static storage), reset and with its bindings
 * cleared; NULL (logged) if it cannot be prepared. The caller must sqlite3_reset() it when
 * done, since an unreset SELECT holds its read snapshot open.
 */
sqlite3_stmt *kw_store_stmt(struct kw_store *s, const char *sql);

/* The first column of the first row of sql (static storage, no parameters), as an integer;
 * -1 (logged) if it returns no row. */
int kw_store_scalar(struct kw_store *s, const char *sql, int64_t *out) KW_WUR;

/* Log "store: WHAT failed: <SQLite's message>" and return -1, for `return kw_store_fail(..)`. */
int kw_store_fail(struct kw_store *s, const char *what);

/* Step a statement that returns no rows, then reset it; -1 (logged as WHAT) unless it ran
 * to the end. */
int kw_store_step_done(struct kw_store *s, sqlite3_stmt *st, const char *what);

/* Step st to its end, handing each row to row() until that returns nonzero, then reset it;
 * -1 (logged as WHAT) on a database error, 0 otherwise (also when row() stopped the walk). */
int kw_store_walk(struct kw_store *s, sqlite3_stmt *st, int (*row)(sqlite3_stmt *st, void *ctx),
		  void *ctx, const char *what);

/* Note that a market's inputs to the rollups changed (sql/0017_rollup_dirty.sql): every
 * store function that writes a markets column a start price or a legacy view reads, or a
 * market snapshot, calls it for that market in the same transaction. kinds: one or both. */
#define KW_DIRTY_MARKET 1
#define KW_DIRTY_SNAPSHOT 2
int kw_store_rollup_dirty(struct kw_store *s, int kinds, const char *ticker) KW_WUR;

/* Column i as text, NULL when it is NULL. Valid until the next step or reset of st. */
static inline const char *kw_store_col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* Column i as text, "" when it is NULL. Valid until the next step or reset of st. */
static inline const char *kw_store_col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? (const char *)t : "";
}

/* Column i as an integer, INT64_MIN (KW_NULL, KW_KALSHI_NONE) when it is NULL. */
static inline int64_t kw_store_col_i64(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(st, i);
}

/* Bind v, or NULL when v is NULL; SQLite copies v. */
static inline int kw_store_bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

/* Bind v, or NULL when v is NULL, without a copy: v must outlive the statement's next reset. */
static inline int kw_store_bind_text_static(sqlite3_stmt *st, int i, const char *v)
{
	return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* Bind v, or NULL when v is INT64_MIN (KW_NULL, KW_KALSHI_NONE). */
static inline int kw_store_bind_i64(sqlite3_stmt *st, int i, int64_t v)
{
	return v == INT64_MIN ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, v);
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
	"(" N " IS NULL OR lower(m.category) = 'crypto' OR EXISTS (SELECT 1 FROM json_each(" N     \
	") p WHERE substr(m.series_ticker, 1, length(p.value)) = p.value))"

#endif
