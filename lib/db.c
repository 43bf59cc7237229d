/*
 * db.c — open, configure and migrate the SQLite store (contract in db.h).
 *
 * SQLite 3.40 (Debian 12). busy_timeout covers lock waits between processes; journal_mode=WAL
 * lets readers (the API workers) run while kw-fetch writes. synchronous=NORMAL is the WAL
 * setting SQLite recommends: a power cut may lose the last transactions but never corrupts.
 */
#include "db.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define BUSY_TIMEOUT_MS KW_DB_BUSY_TIMEOUT_MS

int kw_db_schema_version(void)
{
	return kw_migrations_count ? kw_migrations[kw_migrations_count - 1].version : 0;
}

int kw_db_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		kw_error("sqlite: %s (running %.60s)", msg ? msg : sqlite3_errmsg(db), sql);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

sqlite3_stmt *kw_db_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		kw_error("sqlite: prepare failed: %s (%.80s)", sqlite3_errmsg(db), sql);
		return NULL;
	}
	return st;
}

static int user_version(sqlite3 *db, int *v)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	*v = sqlite3_column_int(st, 0);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int kw_db_migrate(sqlite3 *db, char *err, size_t errlen)
{
	int have = 0, want = kw_db_schema_version();
	char *msg = NULL;
	int in_tx = 0, rc = -1;

	/* Up to date (every start but the first after an upgrade): a read, no write lock, so
	 * that a worker starting while kw-fetch writes does not queue behind it. */
	if (user_version(db, &have) == 0 && have == want)
		return 0;
	/* IMMEDIATE takes the write lock first, so concurrent starters queue behind the busy
	 * timeout and then see the version the winner wrote. */
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "database: cannot lock for migration: %s",
			 msg ? msg : sqlite3_errmsg(db));
		goto out;
	}
	in_tx = 1;
	if (user_version(db, &have) < 0) {
		snprintf(err, errlen, "database: cannot read schema version: %s",
			 sqlite3_errmsg(db));
		goto out;
	}
	if (have > want) {
		snprintf(err, errlen,
			 "database: schema version %d is newer than this program's %d; upgrade "
			 "KalshiWhale or restore a matching backup",
			 have, want);
		goto out;
	}
	for (int i = 0; i < kw_migrations_count; i++) {
		const struct kw_migration *m = &kw_migrations[i];
		if (m->version <= have)
			continue;
		if (sqlite3_exec(db, m->sql, NULL, NULL, &msg) != SQLITE_OK) {
			snprintf(err, errlen, "database: migration %s failed: %s", m->name,
				 msg ? msg : sqlite3_errmsg(db));
			goto out;
		}
		char pragma[64];
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", m->version);
		if (sqlite3_exec(db, pragma, NULL, NULL, &msg) != SQLITE_OK) {
			snprintf(err, errlen, "database: cannot record migration %s: %s", m->name,
				 msg ? msg : sqlite3_errmsg(db));
			goto out;
		}
		kw_info("database: applied migration %s", m->name);
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "database: cannot commit migrations: %s",
			 msg ? msg : sqlite3_errmsg(db));
		goto out;
	}
	in_tx = 0;
	rc = 0;
out:
	if (in_tx)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_free(msg);
	return rc;
}

/*
 * Switching a new file to WAL needs an exclusive lock, and SQLite does not run the busy
 * handler for it: when several processes create the database at once, the losers get
 * SQLITE_BUSY at once. Retry for as long as the busy timeout; a WAL file stays WAL, so
 * later opens only read the mode.
 */
static int set_wal(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int64_t deadline = kw_mono_us() + (int64_t)BUSY_TIMEOUT_MS * 1000;
	for (;;) {
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		int is_wal = rc == SQLITE_ROW &&
			     !sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal");
		sqlite3_finalize(st);
		if (is_wal)
			break;
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) {
			snprintf(err, errlen, "database: cannot set up %s (is it writable?): %s",
				 path, sqlite3_errmsg(db));
			return -1;
		}
		if (kw_mono_us() > deadline) {
			snprintf(err, errlen, "database: %s stayed locked for %d ms", path,
				 BUSY_TIMEOUT_MS);
			return -1;
		}
		sqlite3_sleep(10);
	}
	/* mmap: page reads become memory reads instead of a pread(2) per query on the hot path. */
	if (kw_db_exec(db, "PRAGMA synchronous=NORMAL; PRAGMA mmap_size=268435456") < 0) {
		snprintf(err, errlen, "database: cannot set up %s", path);
		return -1;
	}
	return 0;
}

/*
 * The database holds key hashes and client addresses: never readable by other users. A new
 * file gets that from the umask every program sets (027); a file left world-readable by an
 * older release is tightened here, with its -wal and -shm, when this user owns it (SQLite
 * gives new -wal/-shm files the database's mode).
 */
static void keep_private(const char *path)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	size_t n = strlen(path);
	char *p = kw_xmalloc(n + sizeof("-wal"));
	for (size_t i = 0; i < KW_ARRAY_LEN(suffix); i++) {
		struct stat st;
		memcpy(p, path, n);
		memcpy(p + n, suffix[i], strlen(suffix[i]) + 1);
		if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
		    !(st.st_mode & S_IRWXO))
			continue;
		if (chmod(p, st.st_mode & 07770) < 0)
			kw_warn("database: %s is readable by other users and cannot be changed: %s",
				p, strerror(errno));
		else
			kw_info("database: %s was readable by other users; now it is not", p);
	}
	free(p);
}

/* SQLite calls this after each failed try; tries counts them. Returning 0 gives up. */
static int busy_poll(void *arg, int tries)
{
	int wait_ms = (int)(intptr_t)arg;
	if (tries >= wait_ms)
		return 0;
	sqlite3_sleep(1);
	return 1;
}

void kw_db_wait_for_lock(sqlite3 *db, int wait_ms)
{
	sqlite3_busy_handler(db, wait_ms > 0 ? busy_poll : NULL, (void *)(intptr_t)wait_ms);
}

sqlite3 *kw_db_open(const char *path, int flags, char *err, size_t errlen)
{
	static int configured;
	sqlite3 *db = NULL;
	char *msg = NULL;
	/* Memory statistics take a global mutex around every allocation SQLite makes, and
	 * nothing here reads them. Only possible before SQLite initialises, which the first
	 * open does; every program opens its first database before it starts a thread. */
	if (!configured) {
		configured = 1;
		(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	}
	int oflags = (flags & KW_DB_READONLY) ? SQLITE_OPEN_READONLY
					      : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	oflags |= SQLITE_OPEN_NOMUTEX; /* one connection per thread, by design */

	if (sqlite3_open_v2(path, &db, oflags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "database: cannot open %s: %s", path,
			 db ? sqlite3_errmsg(db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(db, 1);
	kw_db_wait_for_lock(db, BUSY_TIMEOUT_MS);
	if (!(flags & KW_DB_READONLY))
		keep_private(path);
	/* The first statement that reads the file is where a corrupt or foreign file shows. */
	if (sqlite3_exec(db, "PRAGMA foreign_keys=ON; PRAGMA schema_version", NULL, NULL, &msg) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "database: %s is not a usable SQLite database: %s", path,
			 msg ? msg : sqlite3_errmsg(db));
		goto fail;
	}
	/* A new file gets 8 KiB pages (SQLite's default is 4): half as many pages to split,
	 * balance and log per row, which kw-fetch's trade ingest measured at 10-25% of its
	 * SQLite time (bench/bench-fetch.sh floor). Only an empty file can take it; an
	 * existing one keeps its page size. */
	if (!(flags & KW_DB_READONLY) && kw_db_exec(db, "PRAGMA page_size=8192") < 0) {
		snprintf(err, errlen, "database: cannot set up %s", path);
		goto fail;
	}
	if (!(flags & KW_DB_READONLY) && set_wal(db, path, err, errlen) < 0)
		goto fail;
	if ((flags & KW_DB_NO_CHECKPOINT) && kw_db_exec(db, "PRAGMA wal_autocheckpoint=0") < 0) {
		snprintf(err, errlen, "database: cannot set up %s", path);
		goto fail;
	}
	if (flags & KW_DB_MIGRATE) {
		if (kw_db_migrate(db, err, errlen) < 0)
			goto fail;
	} else {
		int have = 0;
		if (user_version(db, &have) < 0) {
			snprintf(err, errlen, "database: cannot read schema version of %s: %s",
				 path, sqlite3_errmsg(db));
			goto fail;
		}
		if (have != kw_db_schema_version()) {
			snprintf(err, errlen,
				 "database: %s has schema version %d, this program needs %d (run "
				 "`kw-admin db migrate`)",
				 path, have, kw_db_schema_version());
			goto fail;
		}
	}
	return db;
fail:
	sqlite3_free(msg);
	sqlite3_close_v2(db);
	return NULL;
}

void kw_db_close(sqlite3 *db)
{
	sqlite3_close_v2(db);
}
