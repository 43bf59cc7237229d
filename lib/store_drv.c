/*
 * store_drv.c — the driver layer's connection calls (store_drv.h): each goes to SQLite here,
 * through lib/db.c's open and migrations, or to the PostgreSQL driver in lib/store_pg.c.
 */
#include "store_drv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "store.h" /* the step lengths */

int kw_conn_open(struct kw_conn *c, const char *target, int flags, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (kw_url_is_postgres(target))
		c->pg = kw_pg_open(target, flags, err, errlen);
	else
		c->lite = kw_db_open(target, flags, err, errlen);
	return c->pg || c->lite ? 0 : -1;
}

void kw_conn_close(struct kw_conn *c)
{
	if (c->pg)
		kw_pg_close(c->pg);
	else if (c->lite)
		kw_db_close(c->lite);
	memset(c, 0, sizeof(*c));
}

int kw_conn_exec(struct kw_conn *c, const char *sql)
{
	return c->pg ? kw_pg_exec(c->pg, sql, 0) : kw_db_exec(c->lite, sql);
}

int kw_conn_exec_quiet(struct kw_conn *c, const char *sql)
{
	if (c->pg)
		return kw_pg_exec(c->pg, sql, 1);
	return sqlite3_exec(c->lite, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

struct kw_stmt *kw_conn_prepare(struct kw_conn *c, const char *sql)
{
	struct kw_stmt st = { 0 };
	if (c->pg)
		st.pg = kw_pg_prepare(c->pg, sql);
	else
		st.lite = kw_db_prepare(c->lite, sql);
	if (!st.pg && !st.lite)
		return NULL;
	struct kw_stmt *out = kw_xmalloc(sizeof(*out));
	*out = st;
	return out;
}

void kw_stmt_free(struct kw_stmt *st)
{
	if (!st)
		return;
	if (st->pg)
		kw_pg_stmt_free(st->pg);
	else
		sqlite3_finalize(st->lite);
	free(st);
}

const char *kw_conn_errmsg(struct kw_conn *c)
{
	return c->pg ? kw_pg_errmsg(c->pg) : sqlite3_errmsg(c->lite);
}

enum kw_dberr kw_conn_errkind(struct kw_conn *c)
{
	if (c->pg)
		return kw_pg_errkind(c->pg);
	switch (sqlite3_errcode(c->lite) & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE: return KW_DBERR_NONE;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return KW_DBERR_BUSY;
	case SQLITE_CONSTRAINT: return KW_DBERR_CONSTRAINT;
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_FULL: return KW_DBERR_UNAVAILABLE;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB: return KW_DBERR_CORRUPT;
	default: return KW_DBERR_OTHER;
	}
}

int64_t kw_conn_changes(struct kw_conn *c)
{
	return c->pg ? kw_pg_changes(c->pg) : sqlite3_changes(c->lite);
}

int kw_conn_in_transaction(struct kw_conn *c)
{
	return c->pg ? kw_pg_in_transaction(c->pg) : !sqlite3_get_autocommit(c->lite);
}

int kw_conn_begin(struct kw_conn *c, int quiet)
{
	/* SQLite: take the write lock now, so a transaction never fails halfway on a lock
	 * another writer took after it began. PostgreSQL locks rows as they are written. */
	const char *sql = c->pg ? "BEGIN" : "BEGIN IMMEDIATE";
	return quiet ? kw_conn_exec_quiet(c, sql) : kw_conn_exec(c, sql);
}

int64_t kw_conn_write_step_us(const struct kw_conn *c)
{
	/* SQLite: every other writer waits for the whole step (one lock on the file).
	 * PostgreSQL: the steps write rows no other program writes (the rollups, market
	 * activity, alerts), so nobody waits for them, and a small step only costs: each
	 * commit is a WAL flush, and each step updates the same rollup rows again, a new row
	 * version and index entries each time (store.h). */
	return c->pg ? KW_PG_WRITE_STEP_US : KW_STORE_WRITE_STEP_US;
}

void kw_conn_wait_for_lock(struct kw_conn *c, int wait_ms)
{
	if (c->lite)
		kw_db_wait_for_lock(c->lite, wait_ms);
}
