/*
 * db.c — `kw-admin db ...`: database upkeep an operator runs while the stack keeps serving.
 *
 *   migrate        create the database or apply pending migrations
 *   check          PRAGMA integrity_check + schema version; exit 1 unless both are right
 *   vacuum         rebuild the file to return free pages, then truncate the WAL
 *   activity       recount market_activity (the markets' 24-hour trade totals) and the stats
 *                  rollups (store_rollup.h) from the stored trades; kw-fetch keeps them
 *                  current itself, this is for trades written by other means (an import, a
 *                  test's data set), changed thresholds or a suspected drift
 *   backup FILE    an online, consistent copy (SQLite backup API, one read snapshot: WAL lets
 *                  kw-fetch and the workers keep writing meanwhile), written to FILE.tmp,
 *                  checked, then renamed into place so FILE is never half-written
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "db.h"
#include "log.h"
#include "store.h"
#include "store_fetch.h"
#include "whale.h"

static int integrity_ok(sqlite3 *db, const char *what)
{
	sqlite3_stmt *st = NULL;
	int ok = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		const char *res = (const char *)sqlite3_column_text(st, 0);
		printf("%s integrity: %s\n", what, res ? res : "?");
		ok = res && !strcmp(res, "ok");
	} else {
		fprintf(stderr, "kw-admin: integrity check of %s failed: %s\n", what,
			sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	return ok;
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int backup(sqlite3 *src, const char *dest)
{
	char tmp[4096];
	sqlite3 *out = NULL;
	sqlite3_backup *b = NULL;
	int rc = 1;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", dest) >= (int)sizeof(tmp)) {
		fprintf(stderr, "kw-admin: backup path too long\n");
		return 2;
	}
	unlink(tmp);
	if (sqlite3_open_v2(tmp, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "kw-admin: cannot create %s: %s\n", tmp,
			out ? sqlite3_errmsg(out) : "out of memory");
		goto out;
	}
	b = sqlite3_backup_init(out, "main", src, "main");
	if (!b) {
		fprintf(stderr, "kw-admin: backup failed to start: %s\n", sqlite3_errmsg(out));
		goto out;
	}
	int step = sqlite3_backup_step(b, -1);
	if (step != SQLITE_DONE) {
		fprintf(stderr, "kw-admin: backup failed: %s\n", sqlite3_errstr(step));
		goto out;
	}
	sqlite3_backup_finish(b);
	b = NULL;
	if (!integrity_ok(out, "backup"))
		goto out;
	sqlite3_close(out);
	out = NULL;
	if (rename(tmp, dest) < 0) {
		fprintf(stderr, "kw-admin: cannot move %s to %s: %s\n", tmp, dest, strerror(errno));
		goto out;
	}
	printf("backup written to %s (%lld bytes)\n", dest, file_size(dest));
	rc = 0;
out:
	if (b)
		sqlite3_backup_finish(b);
	if (out)
		sqlite3_close(out);
	if (rc)
		unlink(tmp);
	return rc;
}

int kw_admin_db(struct kw_config *cfg, int argc, char **argv)
{
	char err[512];
	int rc = 1;
	const char *sub = argc > 0 ? argv[0] : "";
	int migrate = !strcmp(sub, "migrate");
	if (!((migrate || !strcmp(sub, "check") || !strcmp(sub, "vacuum") ||
	       !strcmp(sub, "activity")) &&
	      argc == 1) &&
	    !(!strcmp(sub, "backup") && argc == 2)) {
		fprintf(stderr, "kw-admin: usage: db migrate|check|vacuum|activity|backup FILE\n");
		return 2;
	}
	struct kw_store *s =
		kw_store_open(cfg->database_path, migrate ? KW_DB_MIGRATE : 0, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "kw-admin: %s\n", err);
		return 1;
	}
	sqlite3 *db = kw_store_db(s);
	kw_store_set_data_writer(s, 1); /* a recount changes what kw-api's caches hold */
	if (migrate) {
		printf("database %s is at schema version %d\n", cfg->database_path,
		       kw_db_schema_version());
		rc = 0;
	} else if (!strcmp(sub, "check")) {
		rc = integrity_ok(db, "database") ? 0 : 1;
		printf("schema version: %d\n", kw_db_schema_version());
	} else if (!strcmp(sub, "vacuum")) {
		long long before = file_size(cfg->database_path);
		if (kw_db_exec(db, "VACUUM") == 0 &&
		    kw_db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)") == 0) {
			printf("vacuumed %s: %lld -> %lld bytes\n", cfg->database_path, before,
			       file_size(cfg->database_path));
			rc = 0;
		} else {
			fprintf(stderr, "kw-admin: vacuum failed: %s\n", sqlite3_errmsg(db));
		}
	} else if (!strcmp(sub, "activity")) {
		int64_t now = kw_now_s();
		if (kw_store_fetch_activity(s, now, 1) == 0 &&
		    kw_whale_rollups(s, cfg, now, 1) == 0) {
			printf("market activity and stats rollups recounted from the stored "
			       "trades\n");
			rc = 0;
		} else {
			fprintf(stderr, "kw-admin: recounting market activity failed\n");
		}
	} else {
		rc = backup(db, argv[1]);
	}
	kw_store_close(s);
	return rc;
}
