/*
 * store.h — the KalshiWhale store: the one place that knows SQL.
 *
 * A struct kw_store is one SQLite connection plus its prepared statements; each process (each
 * FastCGI worker, kw-fetch, kw-ws) owns exactly one and uses it from one thread. Programs call
 * kw_store_* functions; only files under lib/ named store*.c contain SQL, so a second backend
 * can be added behind these functions later.
 *
 * Statements are prepared once and cached by the address of their static SQL text
 * (kw_store_stmt), so every store*.c file can keep its SQL next to the code that uses it.
 */
#ifndef KW_STORE_H
#define KW_STORE_H

#include <sqlite3.h>
#include <stdint.h>

#include "db.h"
#include "util.h"

struct kw_store;

/* Open the database at path (flags from enum kw_db_flags). NULL + err on failure. */
struct kw_store *kw_store_open(const char *path, int flags, char *err, size_t errlen) KW_WUR;
void kw_store_close(struct kw_store *s);
sqlite3 *kw_store_db(struct kw_store *s);

/*
 * The cached statement for sql (a string with static storage), reset and with its bindings
 * cleared; NULL (logged) if it cannot be prepared. The caller must sqlite3_reset() it when
 * done, since an unreset SELECT holds its read snapshot open.
 */
sqlite3_stmt *kw_store_stmt(struct kw_store *s, const char *sql);

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

/* Transactions; -1 (logged) on failure. BEGIN IMMEDIATE for writers. A market-data writer's
 * kw_store_commit also advances the data generation, in the same transaction. */
int kw_store_begin(struct kw_store *s) KW_WUR;
int kw_store_commit(struct kw_store *s) KW_WUR;
void kw_store_rollback(struct kw_store *s);

struct kw_status {
	int64_t total_markets;	/* open markets counted by the last successful fetch run */
	int64_t last_update;	/* finish time of the last successful fetch run, 0 if none */
	int64_t last_run_id;	/* 0 if none */
	int64_t ws_connections; /* from kw-ws's last report, 0 if stale or absent */
	int64_t ws_reported_at; /* 0 if kw-ws never reported */
};

/* SQLite's PRAGMA data_version: changes whenever another connection commits to the file
 * (kw-ws follows new rows with it). -1 (logged) on error. */
int kw_store_data_version(struct kw_store *s, int64_t *version) KW_WUR;
/*
 * The market-data generation: a counter that only market-data writers advance (kw-fetch's
 * runs, detection, kw-admin's rebuilds), once per transaction they commit. kw-api's reply
 * cache and ETags are keyed on it, so the limiter's, the metrics', the keys' and the
 * security log's writes (which change data_version) never expire a data reply. A process
 * calls kw_store_set_data_writer(s, 1) once if every transaction it commits on s writes
 * market data. kw_store_data_generation costs one PRAGMA (no I/O) while nobody committed,
 * and one primary-key lookup after any commit by another connection. -1 (logged) on error.
 */
void kw_store_set_data_writer(struct kw_store *s, int on);
int kw_store_data_generation(struct kw_store *s, int64_t *gen) KW_WUR;
/* The first column of the first row of sql (static storage, no parameters), as an integer;
 * -1 (logged) if it returns no row. */
int kw_store_scalar(struct kw_store *s, const char *sql, int64_t *out) KW_WUR;

/* Read the figures /api/status shows. -1 (logged) if the database cannot answer. */
int kw_store_status(struct kw_store *s, struct kw_status *out) KW_WUR;

#endif
