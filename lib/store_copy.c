/*
 * store_copy.c — `kw-admin db copy`: a SQLite store copied whole into a new PostgreSQL
 * database (contract in store_copy.h).
 *
 * The source is read as one snapshot (one read transaction: WAL lets kw-fetch and the workers
 * keep writing past it). The target is written in one transaction, so a copy that fails or
 * does not verify leaves it as it was. The tables are the SQLite schema's (its own sqlite_*
 * tables aside), a table that others reference before them (fetch_runs before
 * refresh_requests); columns go by name, so their order in either schema does not matter.
 * Rows travel through the PostgreSQL driver's COPY FROM STDIN in text format, each value as
 * SQLite gives it: integers and text as they are, a REAL with all 17 digits, a BLOB as bytea's
 * \x hex.
 *
 * "Empty": a database no program has used holds exactly the rows its schema seeds (fetch_state's
 * activity cut-off, for one). This version's SQLite migrations, run on an in-memory database,
 * say how many rows each table holds then; a target table with any other count has been used,
 * and the copy is refused before anything is written. The seeded rows are replaced by the
 * source's, so the data generation and the cut-offs come along with everything else.
 *
 * Identity columns (the ids of trades, alerts, keys, runs ...) keep their values, which every
 * reference between tables and every client's since_id rely on; afterwards each identity
 * sequence is moved past its table's largest id, so new rows get fresh ones.
 *
 * security_events' trigger (keep the newest 10000: delete id <= NEW.id - 10000) fires for each
 * copied row and deletes nothing: SQLite's identical trigger already keeps every stored id above
 * max(id) - 10000, and no copied id exceeds that max. A source written around its trigger
 * would lose rows here; then its counts differ and the copy is rolled back, never committed
 * short. Disabling the trigger would need a lock on the table and is not needed.
 *
 * Verification: per table, count(*) in the source's snapshot against count(*) in the target
 * inside the copy's transaction. Only when every count agrees does the copy commit.
 *
 * Not here: copying from PostgreSQL or into a database already in use (merging would mean
 * renumbering every id and reference), and a live handover: rows written to the source after
 * its snapshot are not copied (stop the writers for the switch, docs/postgresql.md).
 */
#include "store_copy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* The source's tables, parents before the tables whose foreign keys name them (depth: the
 * longest chain of references above a table, bounded so a cycle cannot run away). */
static const char SQL_LITE_TABLES[] =
	"WITH RECURSIVE t(name) AS (SELECT name FROM sqlite_schema WHERE type = 'table'"
	"   AND substr(name, 1, 7) <> 'sqlite_'),"
	" d(name, depth) AS (SELECT name, 0 FROM t"
	"   UNION ALL SELECT t.name, d.depth + 1 FROM t, pragma_foreign_key_list(t.name) f, d"
	"    WHERE d.name = f.\"table\" AND d.depth < 64)"
	" SELECT name FROM d GROUP BY name ORDER BY max(depth), name";

static const char SQL_PG_IDENTITIES[] =
	"SELECT table_name, column_name FROM information_schema.columns"
	" WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY 1, 2";

/* Statements name tables and columns that come from the schemas' catalogues, never from
 * input; still, only plain names (what every migration uses) are spliced into SQL text. */
static int plain_name(const char *s)
{
	size_t n = strlen(s);
	if (!n || n >= sizeof(((struct kw_copy_count *)0)->table))
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

static int lite_count(sqlite3 *db, const char *table, int64_t *n, char *err, size_t errlen)
{
	char sql[128];
	sqlite3_stmt *st = NULL;
	int rc = -1;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "counting the rows of %s failed: %s", table,
			 sqlite3_errmsg(db));
		goto out;
	}
	*n = sqlite3_column_int64(st, 0);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static int pg_count(struct kw_conn *c, const char *table, int64_t *n, char *err, size_t errlen)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", table);
	struct kw_stmt *st = kw_conn_prepare(c, sql);
	int rc = -1;
	if (!st || kw_sql_step(st) != KW_ROW) {
		snprintf(err, errlen, "counting the rows of %s in the target failed: %s", table,
			 kw_conn_errmsg(c));
		goto out;
	}
	*n = kw_sql_col_i64(st, 0);
	rc = 0;
out:
	kw_stmt_free(st);
	return rc;
}

/* The source's tables into rep, in copy order; this first read starts the snapshot. */
static int list_tables(sqlite3 *db, struct kw_copy_report *rep, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, step, cap = 0;
	if (sqlite3_prepare_v2(db, SQL_LITE_TABLES, -1, &st, NULL) != SQLITE_OK)
		goto fail;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (!name || !plain_name(name)) {
			snprintf(err, errlen, "table \"%s\" has a name db copy does not handle",
				 name ? name : "");
			goto out;
		}
		if (rep->ntables == cap) {
			cap = cap ? cap * 2 : 64;
			rep->tables = kw_xrealloc(rep->tables, (size_t)cap * sizeof(*rep->tables));
		}
		struct kw_copy_count *t = &rep->tables[rep->ntables++];
		kw_strlcpy(t->table, name, sizeof(t->table));
		t->source_rows = t->target_rows = -1;
	}
	if (step != SQLITE_DONE)
		goto fail;
	if (!rep->ntables) {
		snprintf(err, errlen, "the source database has no tables");
		goto out;
	}
	rc = 0;
	goto out;
fail:
	snprintf(err, errlen, "reading the source's tables failed: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	return rc;
}

/* How many rows each of rep's tables holds in a new database of this schema version. */
static int seed_counts(const struct kw_copy_report *rep, int64_t *seeded, char *err, size_t errlen)
{
	sqlite3 *mem = NULL;
	int rc = -1;
	if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open an in-memory database: %s",
			 mem ? sqlite3_errmsg(mem) : "out of memory");
		goto out;
	}
	/* The migrations as kw_db_migrate applies them, without its log lines: this database is
	 * a yardstick, not one the operator should hear about. */
	for (int i = 0; i < kw_migrations_count; i++) {
		if (sqlite3_exec(mem, kw_migrations[i].sql, NULL, NULL, NULL) != SQLITE_OK) {
			snprintf(err, errlen, "cannot build a new schema in memory (%s): %s",
				 kw_migrations[i].name, sqlite3_errmsg(mem));
			goto out;
		}
	}
	for (int i = 0; i < rep->ntables; i++)
		if (lite_count(mem, rep->tables[i].table, &seeded[i], err, errlen) < 0)
			goto out;
	rc = 0;
out:
	sqlite3_close(mem);
	return rc;
}

/* "COPY "table" ("a", "b", ...) FROM STDIN" for st's columns, into b. */
static int copy_statement(sqlite3_stmt *st, const char *table, struct kw_buf *b, char *err,
			  size_t errlen)
{
	int ncols = sqlite3_column_count(st);
	if (kw_buf_printf(b, "COPY \"%s\" (", table) < 0)
		goto fail;
	for (int i = 0; i < ncols; i++) {
		const char *col = sqlite3_column_name(st, i);
		if (!col || !plain_name(col)) {
			snprintf(err, errlen,
				 "column \"%s\" of %s has a name db copy does not "
				 "handle",
				 col ? col : "", table);
			return -1;
		}
		if (kw_buf_printf(b, "%s\"%s\"", i ? ", " : "", col) < 0)
			goto fail;
	}
	if (kw_buf_puts(b, ") FROM STDIN") == 0)
		return 0;
fail:
	snprintf(err, errlen, "the COPY statement for %s is too long", table);
	return -1;
}

static const char HEX[] = "0123456789abcdef";

/* Column i of st's row as COPY's text takes it (NULL for NULL); valid until the next step. */
static const char *column_value(sqlite3_stmt *st, int i, char num[32], struct kw_buf *hex)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL: return NULL;
	case SQLITE_FLOAT:
		/* SQLite's own text for a REAL keeps 15 digits; 17 give the same double back. */
		snprintf(num, 32, "%.17g", sqlite3_column_double(st, i));
		return num;
	case SQLITE_BLOB: {
		const unsigned char *p = sqlite3_column_blob(st, i);
		int n = sqlite3_column_bytes(st, i);
		kw_buf_reset(hex);
		if (kw_buf_append(hex, "\\x", 2) < 0)
			return NULL;
		for (int k = 0; k < n; k++) {
			const char pair[2] = { HEX[p[k] >> 4], HEX[p[k] & 15] };
			if (kw_buf_append(hex, pair, 2) < 0)
				return NULL;
		}
		return hex->data;
	}
	default: return (const char *)sqlite3_column_text(st, i);
	}
}

/* Every row of table from the source into the target, through one COPY. */
static int copy_table(sqlite3 *db, struct kw_pgconn *pg, const char *table, char *err,
		      size_t errlen)
{
	char sql[128];
	sqlite3_stmt *st = NULL;
	struct kw_buf copy_sql;
	const char **vals = NULL;
	char(*num)[32] = NULL;
	struct kw_buf *hex = NULL;
	int ncols = 0, step, rc = -1, copying = 0;
	int64_t stored;
	kw_buf_init(&copy_sql, 0);
	snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "reading %s failed: %s", table, sqlite3_errmsg(db));
		goto out;
	}
	ncols = sqlite3_column_count(st);
	if (copy_statement(st, table, &copy_sql, err, errlen) < 0)
		goto out;
	vals = kw_xcalloc((size_t)ncols, sizeof(*vals));
	num = kw_xcalloc((size_t)ncols, sizeof(*num));
	hex = kw_xcalloc((size_t)ncols, sizeof(*hex));
	for (int i = 0; i < ncols; i++)
		kw_buf_init(&hex[i], 0);
	if (kw_pg_copy_begin(pg, copy_sql.data, ncols) < 0) {
		snprintf(err, errlen, "copying %s failed: %s", table, kw_pg_errmsg(pg));
		goto out;
	}
	copying = 1;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < ncols; i++)
			vals[i] = column_value(st, i, num[i], &hex[i]);
		if (kw_pg_copy_row(pg, vals) < 0) {
			snprintf(err, errlen, "copying %s failed: %s", table, kw_pg_errmsg(pg));
			goto out;
		}
	}
	if (step != SQLITE_DONE) {
		snprintf(err, errlen, "reading %s failed: %s", table, sqlite3_errmsg(db));
		goto out;
	}
	copying = 0;
	if (kw_pg_copy_end(pg, NULL, &stored) < 0) {
		snprintf(err, errlen, "copying %s failed: %s", table, kw_pg_errmsg(pg));
		goto out;
	}
	rc = 0;
out:
	/* A COPY left open would hold the connection: cancel it (the transaction fails too). */
	if (copying)
		(void)kw_pg_copy_end(pg, "db copy stopped", &stored);
	for (int i = 0; hex && i < ncols; i++)
		kw_buf_free(&hex[i]);
	free(hex);
	free(num);
	free(vals);
	kw_buf_free(&copy_sql);
	sqlite3_finalize(st);
	return rc;
}

/* Move each identity sequence past its table's largest id: the next row gets max(id) + 1. */
static int move_sequences(struct kw_conn *c, char *err, size_t errlen)
{
	struct kw_stmt *ids = kw_conn_prepare(c, SQL_PG_IDENTITIES);
	int rc = -1, step;
	if (!ids)
		goto fail;
	while ((step = kw_sql_step(ids)) == KW_ROW) {
		const char *table = kw_sql_col_text(ids, 0), *col = kw_sql_col_text(ids, 1);
		char sql[512];
		if (!table || !col || !plain_name(table) || !plain_name(col)) {
			snprintf(err, errlen,
				 "an identity column has a name db copy does not handle");
			goto out;
		}
		snprintf(sql, sizeof(sql),
			 "SELECT setval(pg_get_serial_sequence('\"%s\"', '%s'),"
			 " coalesce(max(\"%s\"), 0) + 1, false) FROM \"%s\"",
			 table, col, col, table);
		struct kw_stmt *set = kw_conn_prepare(c, sql);
		int ok = set && kw_sql_step(set) == KW_ROW;
		kw_stmt_free(set);
		if (!ok)
			goto fail;
	}
	if (step != KW_DONE)
		goto fail;
	rc = 0;
	goto out;
fail:
	snprintf(err, errlen, "moving the id sequences failed: %s", kw_conn_errmsg(c));
out:
	kw_stmt_free(ids);
	return rc;
}

enum kw_copy_result kw_store_copy_to(struct kw_store *src, const char *url,
				     struct kw_copy_report *rep, char *err, size_t errlen)
{
	enum kw_copy_result res = KW_COPY_FAILED;
	struct kw_conn *from = kw_store_conn(src);
	struct kw_store *dst = NULL;
	struct kw_conn *to = NULL;
	int64_t *seeded = NULL;
	int reading = 0, matched = 1;
	memset(rep, 0, sizeof(*rep));
	if (!from->lite || !kw_url_is_postgres(url)) {
		snprintf(err, errlen, "db copy copies a SQLite database into a PostgreSQL one");
		return KW_COPY_FAILED;
	}
	dst = kw_store_open(url, KW_DB_MIGRATE, err, errlen);
	if (!dst)
		goto out;
	to = kw_store_conn(dst);
	if (kw_conn_exec(from, "BEGIN") < 0) {
		snprintf(err, errlen, "cannot start reading the source: %s", kw_conn_errmsg(from));
		goto out;
	}
	reading = 1;
	if (list_tables(from->lite, rep, err, errlen) < 0)
		goto out;
	seeded = kw_xcalloc((size_t)rep->ntables, sizeof(*seeded));
	if (seed_counts(rep, seeded, err, errlen) < 0)
		goto out;
	if (kw_store_begin(dst) < 0) {
		snprintf(err, errlen, "cannot begin writing the target: %s", kw_conn_errmsg(to));
		goto out;
	}
	for (int i = 0; i < rep->ntables; i++) {
		int64_t have;
		if (pg_count(to, rep->tables[i].table, &have, err, errlen) < 0)
			goto out;
		if (have != seeded[i]) {
			snprintf(err, errlen,
				 "the target database is in use: table %s holds %lld rows; db copy "
				 "fills only a new database",
				 rep->tables[i].table, (long long)have);
			res = KW_COPY_REFUSED;
			goto out;
		}
	}
	for (int i = 0; i < rep->ntables; i++) {
		struct kw_copy_count *t = &rep->tables[i];
		char sql[128];
		snprintf(sql, sizeof(sql), "DELETE FROM \"%s\"", t->table);
		if (seeded[i] && kw_conn_exec(to, sql) < 0) {
			snprintf(err, errlen, "emptying %s failed: %s", t->table,
				 kw_conn_errmsg(to));
			goto out;
		}
		if (lite_count(from->lite, t->table, &t->source_rows, err, errlen) < 0 ||
		    copy_table(from->lite, to->pg, t->table, err, errlen) < 0)
			goto out;
	}
	if (move_sequences(to, err, errlen) < 0)
		goto out;
	for (int i = 0; i < rep->ntables; i++) {
		struct kw_copy_count *t = &rep->tables[i];
		if (pg_count(to, t->table, &t->target_rows, err, errlen) < 0)
			goto out;
		matched &= t->target_rows == t->source_rows;
	}
	if (!matched) {
		res = KW_COPY_MISMATCH;
		goto out;
	}
	if (kw_store_commit(dst) < 0) {
		snprintf(err, errlen, "committing the copy failed: %s", kw_conn_errmsg(to));
		goto out;
	}
	res = KW_COPY_DONE;
out:
	if (dst)
		kw_store_rollback(dst); /* nothing open after a commit */
	if (reading)
		(void)kw_conn_exec_quiet(from, "ROLLBACK"); /* the read's end */
	kw_store_close(dst);
	free(seeded);
	return res;
}

void kw_copy_report_free(struct kw_copy_report *rep)
{
	free(rep->tables);
	rep->tables = NULL;
	rep->ntables = 0;
}
