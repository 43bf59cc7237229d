/*
 * store_admin.c — the SQL behind `kw-admin db check|vacuum|backup` (contract in
 * store_admin.h).
 *
 * The backup uses SQLite's online backup API in one step (-1 pages): one read snapshot of the
 * source, which WAL mode lets kw-fetch and the workers keep writing past.
 */
#include "store_admin.h"

#include <stdio.h>
#include <string.h>

#include "store_int.h"

static int integrity(sqlite3 *db, char *res, size_t reslen, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		goto out;
	}
	const char *t = (const char *)sqlite3_column_text(st, 0);
	snprintf(res, reslen, "%s", t ? t : "?");
	rc = t && !strcmp(t, "ok");
out:
	sqlite3_finalize(st);
	return rc;
}

int kw_store_integrity(struct kw_store *s, char *res, size_t reslen, char *err, size_t errlen)
{
	return integrity(kw_store_db(s), res, reslen, err, errlen);
}

int kw_store_vacuum(struct kw_store *s, char *err, size_t errlen)
{
	sqlite3 *db = kw_store_db(s);
	if (kw_db_exec(db, "VACUUM") == 0 && kw_db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)") == 0)
		return 0;
	snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	return -1;
}

int kw_store_backup(struct kw_store *s, const char *path, char *res, size_t reslen, char *err,
		    size_t errlen)
{
	sqlite3 *out = NULL;
	sqlite3_backup *b = NULL;
	int rc = -1;
	if (sqlite3_open_v2(path, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot create %s: %s", path,
			 out ? sqlite3_errmsg(out) : "out of memory");
		goto out;
	}
	b = sqlite3_backup_init(out, "main", kw_store_db(s), "main");
	if (!b) {
		snprintf(err, errlen, "backup failed to start: %s", sqlite3_errmsg(out));
		goto out;
	}
	int step = sqlite3_backup_step(b, -1);
	if (step != SQLITE_DONE) {
		snprintf(err, errlen, "backup failed: %s", sqlite3_errstr(step));
		goto out;
	}
	step = sqlite3_backup_finish(b);
	b = NULL;
	if (step != SQLITE_OK) {
		snprintf(err, errlen, "backup failed to finish: %s", sqlite3_errstr(step));
		goto out;
	}
	char why[256];
	rc = integrity(out, res, reslen, why, sizeof(why));
	if (rc < 0)
		snprintf(err, errlen, "integrity check of backup failed: %s", why);
out:
	if (b)
		sqlite3_backup_finish(b);
	sqlite3_close(out);
	return rc;
}
