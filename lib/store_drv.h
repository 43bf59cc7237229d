/*
 * store_drv.h — the driver layer under the store: one database connection and its prepared
 * statements, on SQLite (lib/db.c) or PostgreSQL (lib/store_pg.c).
 *
 * The store's queries (lib/store*.c) are written once against these calls. A statement is
 * prepared from SQL text in SQLite's spelling with numbered parameters (?1, ?2 ...); the
 * PostgreSQL driver rewrites what differs when it prepares it (kw_pg_translate: $N
 * placeholders, LIKE as ILIKE) and the PostgreSQL schema supplies the few SQLite functions the
 * queries use (sql/pg/0017_schema.sql). Those two places hold the dialect; a query that cannot
 * be written portably chooses its text with kw_conn_is_pg(). How a backend locks decides
 * kw_conn_begin's statement and how long a step of a long write runs
 * (kw_conn_write_step_us).
 *
 * Calls mirror SQLite's C interface (bind, step, column, reset), so a query reads the same on
 * either backend: kw_sql_step() returns KW_ROW for each row, KW_DONE at the end, anything else
 * on an error, whose kind and message the connection keeps.
 */
#ifndef KW_STORE_DRV_H
#define KW_STORE_DRV_H

#include <sqlite3.h>
#include <stdint.h>

#include "util.h"

#define KW_ROW SQLITE_ROW
#define KW_DONE SQLITE_DONE
#define KW_SQL_ERROR SQLITE_ERROR

/* What went wrong, as callers act on it. */
enum kw_dberr {
	KW_DBERR_NONE,
	KW_DBERR_BUSY,	      /* another connection holds a lock: try again later */
	KW_DBERR_CONSTRAINT,  /* the data broke a constraint: the input's fault */
	KW_DBERR_UNAVAILABLE, /* the database cannot be reached or opened now */
	KW_DBERR_CORRUPT,     /* the stored data is damaged */
	KW_DBERR_OTHER,
};

struct kw_pgconn;
struct kw_pgstmt;

/* One connection: exactly one of the two pointers is set. */
struct kw_conn {
	sqlite3 *lite;
	struct kw_pgconn *pg;
};

/* One prepared statement of a connection: exactly one of the two pointers is set. */
struct kw_stmt {
	sqlite3_stmt *lite;
	struct kw_pgstmt *pg;
};

/* Open the database target names (a SQLite path or a PostgreSQL URL; flags from enum
 * kw_db_flags in db.h) into c. -1 with err on failure. */
int kw_conn_open(struct kw_conn *c, const char *target, int flags, char *err, size_t errlen) KW_WUR;
void kw_conn_close(struct kw_conn *c);
static inline int kw_conn_is_pg(const struct kw_conn *c)
{
	return c->pg != NULL;
}
/* Run statements that return no rows (no parameters); -1 and a log line on error. */
int kw_conn_exec(struct kw_conn *c, const char *sql) KW_WUR;
/* The same, without the log line (the caller expects it may fail). */
int kw_conn_exec_quiet(struct kw_conn *c, const char *sql);
/* Prepare sql (the driver keeps its own copy); NULL and a log line on error. PostgreSQL
 * prepares at the statement's first step (with its first bindings' types): an error in the
 * SQL shows there. */
struct kw_stmt *kw_conn_prepare(struct kw_conn *c, const char *sql);
void kw_stmt_free(struct kw_stmt *st);
/* The last error on c: its message and its kind. */
const char *kw_conn_errmsg(struct kw_conn *c);
enum kw_dberr kw_conn_errkind(struct kw_conn *c);
/* Rows changed by the last INSERT, UPDATE or DELETE stepped on c. */
int64_t kw_conn_changes(struct kw_conn *c);
/* 1 while c has a transaction open. */
int kw_conn_in_transaction(struct kw_conn *c);
/* Begin a write transaction (SQLite: BEGIN IMMEDIATE). -1 on failure, logged unless quiet. */
int kw_conn_begin(struct kw_conn *c, int quiet);
/* How long one step of a long write runs before it commits (store.h: KW_STORE_WRITE_STEP_US
 * on SQLite, KW_PG_WRITE_STEP_US on PostgreSQL). */
int64_t kw_conn_write_step_us(const struct kw_conn *c);
/* How long writes wait for another connection's lock (SQLite); 0: not at all. */
void kw_conn_wait_for_lock(struct kw_conn *c, int wait_ms);

/* The PostgreSQL driver (lib/store_pg.c): its connection calls, behind the kw_conn_* above. */
struct kw_pgconn *kw_pg_open(const char *url, int flags, char *err, size_t errlen);
void kw_pg_close(struct kw_pgconn *pc);
int kw_pg_exec(struct kw_pgconn *pc, const char *sql, int quiet);
struct kw_pgstmt *kw_pg_prepare(struct kw_pgconn *pc, const char *sql);
void kw_pg_stmt_free(struct kw_pgstmt *p);
const char *kw_pg_errmsg(struct kw_pgconn *pc);
enum kw_dberr kw_pg_errkind(struct kw_pgconn *pc);
int64_t kw_pg_changes(struct kw_pgconn *pc);
int kw_pg_in_transaction(struct kw_pgconn *pc);
/* LISTEN with listen_sql (static storage: "LISTEN channel"), again after every reconnect. */
int kw_pg_listen(struct kw_pgconn *pc, const char *listen_sql);
/* 1 if a notification arrived since the last call (or some may have been missed: a reset
 * connection), 0 if none, -1 when not listening. Never waits. */
int kw_pg_notified(struct kw_pgconn *pc);

/* Its statement calls; use the kw_sql_* below. */
int kw_pg_bind_i64(struct kw_pgstmt *p, int i, int64_t v);
int kw_pg_bind_text(struct kw_pgstmt *p, int i, const char *v);
/* Without a copy: v must outlive the statement's next step (as SQLITE_STATIC). */
int kw_pg_bind_text_static(struct kw_pgstmt *p, int i, const char *v);
int kw_pg_bind_null(struct kw_pgstmt *p, int i);
int kw_pg_step(struct kw_pgstmt *p);
void kw_pg_reset(struct kw_pgstmt *p);
void kw_pg_clear_bindings(struct kw_pgstmt *p);
int kw_pg_col_null(struct kw_pgstmt *p, int i);
int64_t kw_pg_col_i64(struct kw_pgstmt *p, int i);
const char *kw_pg_col_text(struct kw_pgstmt *p, int i);
/* The SQL text as PostgreSQL reads it (placeholders and LIKE); caller frees. */
char *kw_pg_translate(const char *sql);

/*
 * COPY ... FROM STDIN, the PostgreSQL driver's bulk path (`kw-admin db copy`). begin runs sql,
 * a COPY statement in text format naming ncols columns, and expects the server to ask for
 * data; row sends one row of ncols values (NULL is SQL NULL), escaped for the text format and
 * buffered; end sends the rest and finishes the COPY, setting *rows to the rows the server
 * stored, or, when failure is not NULL, cancels it with that message (the server then fails
 * the statement and with it the caller's transaction). 0 ok, -1 with the connection's error
 * set. Between begin and end no other statement can run on the connection.
 */
int kw_pg_copy_begin(struct kw_pgconn *pc, const char *sql, int ncols) KW_WUR;
int kw_pg_copy_row(struct kw_pgconn *pc, const char *const *vals) KW_WUR;
int kw_pg_copy_end(struct kw_pgconn *pc, const char *failure, int64_t *rows);
/* Append v to b as COPY's text format spells a column: backslash, newline, carriage return
 * and tab as \\, \n, \r and \t, NULL as \N. -1 when b's cap is reached. */
int kw_pg_copy_escape(struct kw_buf *b, const char *v) KW_WUR;

static inline int kw_sql_bind_i64(struct kw_stmt *st, int i, int64_t v)
{
	return st->pg ? kw_pg_bind_i64(st->pg, i, v) : sqlite3_bind_int64(st->lite, i, v);
}

static inline int kw_sql_bind_int(struct kw_stmt *st, int i, int v)
{
	return kw_sql_bind_i64(st, i, v);
}

/* Binds a copy of v (NULL binds NULL). */
static inline int kw_sql_bind_text(struct kw_stmt *st, int i, const char *v)
{
	if (st->pg)
		return v ? kw_pg_bind_text(st->pg, i, v) : kw_pg_bind_null(st->pg, i);
	return v ? sqlite3_bind_text(st->lite, i, v, -1, SQLITE_TRANSIENT)
		 : sqlite3_bind_null(st->lite, i);
}

/* Binds v without a copy: v must outlive the next reset. */
static inline int kw_sql_bind_text_static(struct kw_stmt *st, int i, const char *v)
{
	if (st->pg)
		return v ? kw_pg_bind_text_static(st->pg, i, v) : kw_pg_bind_null(st->pg, i);
	return v ? sqlite3_bind_text(st->lite, i, v, -1, SQLITE_STATIC)
		 : sqlite3_bind_null(st->lite, i);
}

static inline int kw_sql_bind_null(struct kw_stmt *st, int i)
{
	return st->pg ? kw_pg_bind_null(st->pg, i) : sqlite3_bind_null(st->lite, i);
}

static inline int kw_sql_step(struct kw_stmt *st)
{
	return st->pg ? kw_pg_step(st->pg) : sqlite3_step(st->lite);
}

static inline void kw_sql_reset(struct kw_stmt *st)
{
	if (st->pg)
		kw_pg_reset(st->pg);
	else
		sqlite3_reset(st->lite);
}

static inline void kw_sql_clear_bindings(struct kw_stmt *st)
{
	if (st->pg)
		kw_pg_clear_bindings(st->pg);
	else
		sqlite3_clear_bindings(st->lite);
}

static inline int kw_sql_col_null(struct kw_stmt *st, int i)
{
	return st->pg ? kw_pg_col_null(st->pg, i) : sqlite3_column_type(st->lite, i) == SQLITE_NULL;
}

/* Column i as an integer; 0 when it is NULL. A PostgreSQL boolean reads as 0 or 1. */
static inline int64_t kw_sql_col_i64(struct kw_stmt *st, int i)
{
	return st->pg ? kw_pg_col_i64(st->pg, i) : sqlite3_column_int64(st->lite, i);
}

static inline int kw_sql_col_int(struct kw_stmt *st, int i)
{
	return (int)kw_sql_col_i64(st, i);
}

/* Column i as text, NULL when it is NULL; valid until the next step or reset. */
static inline const char *kw_sql_col_text(struct kw_stmt *st, int i)
{
	return st->pg ? kw_pg_col_text(st->pg, i) : (const char *)sqlite3_column_text(st->lite, i);
}

#endif
