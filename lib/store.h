/*
 * store.h — the KalshiWhale store: the one place that knows SQL.
 *
 * A struct kw_store is one SQLite connection plus its prepared statements; each process (each
 * FastCGI worker, kw-fetch, kw-ws, kw-admin) owns exactly one and uses it from one thread.
 * Programs call kw_store_* functions; only lib/store*.c and lib/db.c hold SQL or call SQLite
 * (tools/check-store.sh enforces it), so a second backend can be added behind these functions.
 *
 * Statements are prepared once and cached by the address of their static SQL text
 * (kw_store_stmt in store_int.h, the store's private header), so every store*.c file can keep
 * its SQL next to the code that uses it.
 */
#ifndef KW_STORE_H
#define KW_STORE_H

#include <stdint.h>

#include "db.h"
#include "util.h"

struct kw_store;

/* Open the database at path (flags from enum kw_db_flags). NULL + err on failure. */
struct kw_store *kw_store_open(const char *path, int flags, char *err, size_t errlen) KW_WUR;
void kw_store_close(struct kw_store *s);
/* A second connection to s's database file (for reading beside s's writes), or NULL when it
 * has no file (in memory) or cannot be opened (logged). */
struct kw_store *kw_store_open_peer(struct kw_store *s);
/* 1 while s has a transaction open. */
int kw_store_in_transaction(struct kw_store *s);

/*
 * Whether this connection's writes wait for another connection's write lock (up to
 * KW_DB_BUSY_TIMEOUT_MS, the default) or give up at once with SQLITE_BUSY (wait = 0): kw-api
 * tries its writes on the request path without waiting and leaves what the database refused
 * to its write-behind thread. Reads never wait on a writer either way (WAL).
 */
void kw_store_wait_for_lock(struct kw_store *s, int wait);
/* 1 when the last statement on s failed because another connection held the lock. */
int kw_store_was_busy(struct kw_store *s);

/* Transactions; -1 (logged) on failure. BEGIN IMMEDIATE for writers. A market-data writer's
 * kw_store_commit also advances the data generation, in the same transaction. */
int kw_store_begin(struct kw_store *s) KW_WUR;
int kw_store_commit(struct kw_store *s) KW_WUR;
/* A commit that does not advance the data generation: a step of work in several
 * transactions whose last one commits with kw_store_commit (the stats rollups). */
int kw_store_commit_step(struct kw_store *s) KW_WUR;
void kw_store_rollback(struct kw_store *s);

/*
 * Savepoints: a part of the open transaction that is kept or undone whole. kw_store_release
 * keeps it (keep != 0) or first rolls it back, then ends it; 0 when done as asked, -1
 * (logged) on failure. Savepoints are named by this enum, never by input.
 */
enum kw_savepoint {
	KW_SAVEPOINT_PAGE,   /* kw-fetch: one stored page of a listing */
	KW_SAVEPOINT_DETECT, /* detection inside a caller's transaction */
};
int kw_store_savepoint(struct kw_store *s, enum kw_savepoint sp) KW_WUR;
int kw_store_release(struct kw_store *s, enum kw_savepoint sp, int keep);

/*
 * How long one of kw-fetch's write transactions may run before it commits and lets the other
 * writers in (kw-admin, kw-ws's report, the API workers' write-behind threads): long work is
 * cut into steps that end once this much time has passed, so that with the step's last piece
 * and the commit no other writer waits much longer than twice this (docs/database-locks.md).
 */
#define KW_STORE_WRITE_STEP_US 20000
/*
 * The same on PostgreSQL, where a step locks only the rows it writes and no other program
 * writes the rows of these steps (the rollups, market activity, alerts; kw-api's workers
 * write metrics, limits, keys and the security log, and readers never wait): nobody waits
 * for a step, and what a small one costs is its commit (a WAL flush) and, in the rollups,
 * writing each market's row again every step (a new row version and new index entries each
 * time: about 460,000 row versions for 200,000 new trades in 20 ms steps). For 200,000 new
 * trades the rollups took 24.5 s in 20 ms steps, about 10 s in 2 s steps and about 5 s in
 * 30 s steps (nearly one pass). What a longer step costs here: a stopped run loses at most
 * one step's work, and detection's alerts of a long backfill are committed (and pushed) a
 * step at a time. A replay's page batches keep KW_STORE_WRITE_STEP_US (fetch/pages.c).
 */
#define KW_PG_WRITE_STEP_US 30000000
/* The step length for s's backend: one of the two above (kw_conn_write_step_us). */
int64_t kw_store_write_step_us(struct kw_store *s);
/* A transaction that begins within this long of the same connection's last one waits out the
 * rest first, so that a waiting writer (trying every millisecond) gets its turn. */
#define KW_STORE_WRITE_GAP_US 2000
/* The longest transaction on s (kw_store_begin to its commit or rollback) since the last
 * call, in microseconds; resets it. */
int64_t kw_store_take_longest_write_us(struct kw_store *s);

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
 * and one primary-key lookup after any commit by another connection. On PostgreSQL it costs
 * nothing while no notification came (the connection listens for the writers' NOTIFY), one
 * lookup after one, and one at least every half second in case one was lost. -1 (logged) on
 * error.
 */
void kw_store_set_data_writer(struct kw_store *s, int on);
int kw_store_data_generation(struct kw_store *s, int64_t *gen) KW_WUR;
/* Read the figures /api/status shows. -1 (logged) if the database cannot answer. */
int kw_store_status(struct kw_store *s, struct kw_status *out) KW_WUR;

#endif
