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

/* PostgreSQL checks its own pages as it reads them (and amcheck needs a superuser): here
 * every table of the schema is read whole, which fails on a damaged one. */
static const char SQL_PG_TABLES[] =
	"SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
	" AND table_type = 'BASE TABLE' ORDER BY 1";

static int pg_integrity(struct kw_store *s, char *res, size_t reslen, char *err, size_t errlen)
{
	struct kw_conn *c = kw_store_conn(s);
	struct kw_stmt *tables = kw_conn_prepare(c, SQL_PG_TABLES);
	int rc = -1, step, n = 0;
	if (!tables)
		goto fail;
	while ((step = kw_sql_step(tables)) == KW_ROW) {
		char sql[256];
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"",
			 kw_sql_col_text(tables, 0));
		struct kw_stmt *count = kw_conn_prepare(c, sql);
		int ok = count && kw_sql_step(count) == KW_ROW;
		kw_stmt_free(count);
		if (!ok)
			goto fail;
		n++;
	}
	if (step != KW_DONE)
		goto fail;
	snprintf(res, reslen, n ? "ok" : "no tables");
	rc = n > 0;
	goto out;
fail:
	snprintf(err, errlen, "%s", kw_conn_errmsg(c));
out:
	kw_stmt_free(tables);
	return rc;
}

int kw_store_integrity(struct kw_store *s, char *res, size_t reslen, char *err, size_t errlen)
{
	if (kw_store_is_pg(s))
		return pg_integrity(s, res, reslen, err, errlen);
	return integrity(kw_store_conn(s)->lite, res, reslen, err, errlen);
}

/* PostgreSQL: VACUUM (ANALYZE) of the store's own tables by name. The whole database would
 * include the system catalogs, which only a superuser may vacuum (a warning for each). */
static int pg_vacuum(struct kw_store *s)
{
	struct kw_conn *c = kw_store_conn(s);
	struct kw_stmt *tables = kw_conn_prepare(c, SQL_PG_TABLES);
	struct kw_buf sql;
	int rc = -1, step, n = 0;
	kw_buf_init(&sql, 0);
	if (!tables || kw_buf_puts(&sql, "VACUUM (ANALYZE) ") < 0)
		goto out;
	while ((step = kw_sql_step(tables)) == KW_ROW)
		if (kw_buf_printf(&sql, "%s\"%s\"", n++ ? ", " : "", kw_sql_col_text(tables, 0)) <
		    0)
			goto out;
	if (step != KW_DONE)
		goto out;
	kw_sql_reset(tables);
	rc = n ? kw_store_exec(s, sql.data) : 0;
out:
	kw_stmt_free(tables);
	kw_buf_free(&sql);
	return rc;
}

int kw_store_vacuum(struct kw_store *s, char *err, size_t errlen)
{
	if (kw_store_is_pg(s) ? pg_vacuum(s) == 0
			      : kw_store_exec(s, "VACUUM") == 0 &&
					kw_store_exec(s, "PRAGMA wal_checkpoint(TRUNCATE)") == 0)
		return 0;
	snprintf(err, errlen, "%s", kw_store_errmsg(s));
	return -1;
}

int kw_store_backup(struct kw_store *s, const char *path, char *res, size_t reslen, char *err,
		    size_t errlen)
{
	sqlite3 *out = NULL;
	sqlite3_backup *b = NULL;
	int rc = -1;
	if (kw_store_is_pg(s)) {
		snprintf(err, errlen,
			 "backups of a PostgreSQL database are made with pg_dump "
			 "(docs/postgresql.md)");
		return -1;
	}
	if (sqlite3_open_v2(path, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot create %s: %s", path,
			 out ? sqlite3_errmsg(out) : "out of memory");
		goto out;
	}
	b = sqlite3_backup_init(out, "main", kw_store_conn(s)->lite, "main");
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
