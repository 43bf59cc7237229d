/*
 * db.h — opening the SQLite store and bringing its schema up to date.
 *
 * One database file holds everything (markets, trades, alerts, keys, limiter state, runs).
 * kw_db_open() sets WAL mode, a busy timeout and foreign keys, then applies the migrations
 * compiled in from sql/ (ordered by their number, tracked in PRAGMA user_version) inside one
 * BEGIN IMMEDIATE transaction, so several processes starting at once apply each migration once.
 * A database newer than the binary, a corrupt file or an unwritable one is refused with a clear
 * message; it is never reset.
 *
 * All SQL lives behind lib/ (db.c, store*.c): programs call store functions, never sqlite3_*.
 */
#ifndef KW_DB_H
#define KW_DB_H

#include <sqlite3.h>

#include "util.h"

struct kw_migration {
	int version;
	const char *name;
	const char *sql;
};

/* Generated from sql/NNNN_*.sql at build time (build/gen/migrations.c), and PostgreSQL's
 * from sql/pg/NNNN_*.sql (build/gen/pg_migrations.c): the same numbering, so one schema
 * version names the same tables on both. */
extern const struct kw_migration kw_migrations[];
extern const int kw_migrations_count;
extern const struct kw_migration kw_pg_migrations[];
extern const int kw_pg_migrations_count;

/* How long a connection waits for another one's write lock before SQLITE_BUSY. */
#define KW_DB_BUSY_TIMEOUT_MS 5000

enum kw_db_flags {
	KW_DB_MIGRATE = 1,  /* apply pending migrations (otherwise only check the version) */
	KW_DB_READONLY = 2, /* open read-only: never writes, never migrates */
	/* Never run a WAL checkpoint on this connection (copying the log back into the file,
	 * with an fsync): kw-api's request connections leave that to connections off the
	 * request path (kw-fetch, the workers' write-behind threads, kw-ws). */
	KW_DB_NO_CHECKPOINT = 4,
};

/*
 * How a connection waits for another one's write lock: up to wait_ms (0: not at all),
 * trying again every millisecond. SQLite's own busy timeout sleeps ever longer between tries
 * (up to 100 ms), so a writer that commits in short steps with a short gap between them (as
 * kw-fetch does) would take the lock back each time before a waiter woke up.
 */
void kw_db_wait_for_lock(sqlite3 *db, int wait_ms);

/* Open (creating parent-less files only in an existing directory). NULL + err on failure. */
sqlite3 *kw_db_open(const char *path, int flags, char *err, size_t errlen) KW_WUR;
void kw_db_close(sqlite3 *db);

/* Schema version this binary was built with. */
int kw_db_schema_version(void);
/* Apply pending migrations; -1 with err on failure or if the database is newer. */
int kw_db_migrate(sqlite3 *db, char *err, size_t errlen) KW_WUR;

/* Run statements with no results (BEGIN/COMMIT/PRAGMA); -1 and a log line on error. */
int kw_db_exec(sqlite3 *db, const char *sql) KW_WUR;
/* Prepare once (SQLITE_PREPARE_PERSISTENT); NULL and a log line on error. */
sqlite3_stmt *kw_db_prepare(sqlite3 *db, const char *sql);

#endif
