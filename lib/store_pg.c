/*
 * store_pg.c — the PostgreSQL driver under the store (store_drv.h), on libpq.
 *
 * One kw_pgconn is one server connection, used from one thread. Statements are prepared
 * once per connection (PQprepare, named kwN) the first time they run, with the types of
 * their first bindings (integers as bigint, text left to the server to infer), and run with
 * PQexecPrepared in text format; a step walks the rows of the result the run returned.
 *
 * A connection the server dropped (a restart, a network cut) is reset on the next call: the
 * call in flight fails as "unavailable" (kw-api answers 503) and the next one reconnects and
 * prepares its statements again, so a restarted server is served again within one request.
 *
 * The SQL arrives in SQLite's spelling (lib/store*.c); kw_pg_translate turns ?N into $N,
 * LIKE into ILIKE (SQLite's LIKE ignores ASCII case) and drops the unary + that SQLite reads as
 * "not by this column's index"; the functions SQLite has and PostgreSQL lacks come from the
 * schema (sql/pg/).
 *
 * Migrations (sql/pg/NNNN_*.sql, numbered as SQLite's) are applied in one transaction under
 * an advisory lock, so several programs starting at once apply each once; the version is kept
 * in kw_schema_version. Nothing here needs more than the database owner's rights.
 *
 * Bulk loads (`kw-admin db copy`) use COPY FROM STDIN in text format: rows are escaped into
 * one buffer and handed to libpq in pieces of COPY_FLUSH bytes; one row may not pass
 * COPY_BUF_MAX.
 */
#include "store_drv.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

/* pg_advisory_xact_lock key for migrations: "kwmigrat" read as an integer. */
#define MIGRATE_LOCK_KEY "7742355573683937652"
#define INT8OID 20
#define TEXTOID 25
/* COPY data goes to libpq in pieces of about this size: large enough that the per-call cost
 * vanishes, small enough that the buffer stays small. */
#define COPY_FLUSH (64 * 1024)
/* The most one COPY buffer may hold (its last row included): a row past it is refused. */
#define COPY_BUF_MAX (64 * 1024 * 1024)

struct kw_pgconn {
	PGconn *conn;
	int epoch; /* advances on each reconnect: statements prepared before it are gone */
	const char *listen_sql; /* kw_pg_listen's LISTEN statement, NULL when not listening */
	int listen_epoch;	/* the epoch it was run in: a reconnect drops it */
	int notified;		/* a notification came since kw_pg_notified last said so */
	int next_id;
	int in_tx; /* a transaction was open when the server last answered */
	enum kw_dberr errkind;
	int64_t changes;
	char errmsg[512];
	struct kw_buf copy; /* rows of the COPY in progress not yet handed to libpq */
	int copy_ncols;	    /* its columns; 0 when no COPY is in progress */
};

struct kw_pgstmt {
	struct kw_pgconn *pc;
	char *sql; /* translated */
	char name[16];
	int nparams;
	int prepared_epoch; /* 0: not prepared on this connection yet */
	char **vals;	    /* per parameter: NULL, ibuf[i] or an owned copy */
	char (*ibuf)[24];
	unsigned char *owned;
	unsigned int *types; /* Oid of each parameter's first binding, 0 when not known */
	PGresult *res;
	int row, ntuples;
};

static void set_error(struct kw_pgconn *pc, enum kw_dberr kind, const char *msg)
{
	pc->errkind = kind;
	snprintf(pc->errmsg, sizeof(pc->errmsg), "%s", msg && *msg ? msg : "unknown error");
	/* libpq's messages end in a newline and may run over several lines: keep the first. */
	pc->errmsg[strcspn(pc->errmsg, "\n")] = '\0';
}

static enum kw_dberr kind_of(struct kw_pgconn *pc, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (PQstatus(pc->conn) != CONNECTION_OK || !state)
		return KW_DBERR_UNAVAILABLE;
	if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03") ||
	    !strcmp(state, "57014"))
		return KW_DBERR_BUSY;
	if (!strncmp(state, "23", 2))
		return KW_DBERR_CONSTRAINT;
	if (!strncmp(state, "08", 2) || !strncmp(state, "53", 2) || !strncmp(state, "57P", 3))
		return KW_DBERR_UNAVAILABLE;
	if (!strcmp(state, "XX001") || !strcmp(state, "XX002"))
		return KW_DBERR_CORRUPT;
	return KW_DBERR_OTHER;
}

static void result_error(struct kw_pgconn *pc, const PGresult *res)
{
	set_error(pc, kind_of(pc, res), res ? PQresultErrorMessage(res) : PQerrorMessage(pc->conn));
}

/*
 * Notifications that arrived with a result are kept only as a flag. libpq queues every one it
 * reads, with any result, until PQnotifies takes it: a listening worker that serves only
 * requests that never ask (health checks, say) would otherwise hold each of kw-fetch's
 * commits in its memory for good.
 */
static void take_notifies(struct kw_pgconn *pc)
{
	PGnotify *nf;
	while ((nf = PQnotifies(pc->conn))) {
		PQfreemem(nf);
		pc->notified = 1;
	}
}

/* After each result: what the server last said of the transaction, kept for when it can no
 * longer say, and the notifications that came with it. */
static void note_tx(struct kw_pgconn *pc)
{
	if (PQstatus(pc->conn) != CONNECTION_OK)
		return;
	PGTransactionStatusType t = PQtransactionStatus(pc->conn);
	pc->in_tx = t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
	take_notifies(pc);
}

/*
 * A dropped connection is reset before the next call; 0 when usable. Not while the caller's
 * transaction was open on it: that transaction is gone, and its remaining statements must
 * fail until the caller rolls it back, rather than run on a new connection one by one.
 */
static int ensure_conn(struct kw_pgconn *pc)
{
	if (PQstatus(pc->conn) == CONNECTION_OK)
		return 0;
	if (pc->in_tx) {
		set_error(pc, KW_DBERR_UNAVAILABLE, "the connection was lost in a transaction");
		return -1;
	}
	PQreset(pc->conn);
	if (PQstatus(pc->conn) != CONNECTION_OK) {
		set_error(pc, KW_DBERR_UNAVAILABLE, PQerrorMessage(pc->conn));
		return -1;
	}
	pc->epoch++;
	kw_info("database: reconnected to PostgreSQL");
	return 0;
}

char *kw_pg_translate(const char *sql)
{
	size_t n = strlen(sql);
	/* A bare "?" may become "$NNNNN" (parameters stop at 65535), six bytes for one; ILIKE
	 * grows LIKE by one. Six times the length is more than either needs. */
	char *out = kw_xmalloc(n * 6 + 1), *o = out;
	int highest = 0;
	for (const char *p = sql; *p;) {
		if (*p == '\'' || *p == '"') {
			char q = *p;
			*o++ = *p++;
			while (*p) {
				if (*p == q && p[1] == q) {
					*o++ = *p++;
					*o++ = *p++;
				} else if (*p == q) {
					break;
				} else {
					*o++ = *p++;
				}
			}
			if (*p)
				*o++ = *p++;
		} else if (*p == '?') {
			int num = 0;
			p++;
			while (*p >= '0' && *p <= '9' && num < 10000)
				num = num * 10 + (*p++ - '0');
			if (!num)
				num = highest + 1;
			if (num > highest)
				highest = num;
			o += snprintf(o, 8, "$%d", num);
		} else if (*p == '+' && p > sql && strchr(" (,", p[-1]) &&
			   ((p[1] >= 'a' && p[1] <= 'z') || p[1] == '_')) {
			/* SQLite's unary + on a column keeps its planner off that column's
			 * index; PostgreSQL has no + for text and needs no such hint. */
			p++;
		} else if (!strncmp(p, "LIKE", 4) && (p == sql || p[-1] == ' ') &&
			   (p[4] == ' ' || p[4] == '\0')) {
			memcpy(o, "ILIKE", 5);
			o += 5;
			p += 4;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

static int count_params(const char *pgsql)
{
	int highest = 0;
	for (const char *p = pgsql; (p = strchr(p, '$'));) {
		int num = 0;
		p++;
		while (*p >= '0' && *p <= '9' && num < 10000)
			num = num * 10 + (*p++ - '0');
		if (num > highest)
			highest = num;
	}
	return highest;
}

/* ---- connection ---------------------------------------------------------------------------- */

/* kw_schema_version's one row, or 0 when the table is absent; -1 on error. */
static int schema_version(struct kw_pgconn *pc, int *v)
{
	PGresult *r = PQexec(pc->conn, "SELECT CASE WHEN to_regclass('kw_schema_version') IS NULL"
				       " THEN 0 END");
	int rc = -1;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		result_error(pc, r);
		goto out;
	}
	*v = 0;
	if (!PQgetisnull(r, 0, 0)) {
		rc = 0;
		goto out;
	}
	PQclear(r);
	r = PQexec(pc->conn, "SELECT coalesce(max(version), 0) FROM kw_schema_version");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		result_error(pc, r);
		goto out;
	}
	*v = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
	rc = 0;
out:
	PQclear(r);
	return rc;
}

static int exec_ok(struct kw_pgconn *pc, const char *sql)
{
	PGresult *r = PQexec(pc->conn, sql);
	ExecStatusType st = PQresultStatus(r);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		result_error(pc, r);
	PQclear(r);
	note_tx(pc);
	return ok ? 0 : -1;
}

static int migrate(struct kw_pgconn *pc, char *err, size_t errlen)
{
	int have = 0, want = kw_db_schema_version(), rc = -1;
	if (schema_version(pc, &have) == 0 && have == want)
		return 0;
	if (!kw_pg_migrations_count) {
		snprintf(err, errlen, "database: this build has no PostgreSQL schema");
		return -1;
	}
	if (exec_ok(pc, "BEGIN") < 0 ||
	    exec_ok(pc, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")") < 0 ||
	    exec_ok(pc, "CREATE TABLE IF NOT EXISTS kw_schema_version (version BIGINT NOT NULL,"
			" name TEXT NOT NULL, applied_at BIGINT NOT NULL)") < 0 ||
	    schema_version(pc, &have) < 0) {
		snprintf(err, errlen, "database: cannot lock for migration: %s", pc->errmsg);
		goto out;
	}
	if (have > want) {
		snprintf(err, errlen,
			 "database: schema version %d is newer than this program's %d; upgrade "
			 "KalshiWhale or restore a matching backup",
			 have, want);
		goto out;
	}
	for (int i = 0; i < kw_pg_migrations_count; i++) {
		const struct kw_migration *m = &kw_pg_migrations[i];
		if (m->version <= have)
			continue;
		char rec[256];
		snprintf(rec, sizeof(rec),
			 "INSERT INTO kw_schema_version VALUES (%d, '%s',"
			 " extract(epoch FROM now())::bigint)",
			 m->version, m->name);
		if (exec_ok(pc, m->sql) < 0 || exec_ok(pc, rec) < 0) {
			snprintf(err, errlen, "database: migration %s failed: %s", m->name,
				 pc->errmsg);
			goto out;
		}
		kw_info("database: applied migration %s", m->name);
	}
	if (exec_ok(pc, "COMMIT") < 0) {
		snprintf(err, errlen, "database: cannot commit migrations: %s", pc->errmsg);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0 && PQtransactionStatus(pc->conn) != PQTRANS_IDLE)
		(void)exec_ok(pc, "ROLLBACK");
	return rc;
}

/* The server's notices ("relation already exists, skipping") go to the debug log, not to
 * stderr, where libpq writes them by default. */
static void notice(void *arg, const char *message)
{
	(void)arg;
	kw_debug("postgresql: %.*s", (int)strcspn(message, "\n"), message);
}

struct kw_pgconn *kw_pg_open(const char *url, int flags, char *err, size_t errlen)
{
	/* Keywords before dbname are defaults the URL may override. */
	const char *const keys[] = { "connect_timeout", "application_name", "client_encoding",
				     "dbname", NULL };
	const char *const vals[] = { "5", "kalshiwhale", "UTF8", url, NULL };
	struct kw_pgconn *pc = kw_xcalloc(1, sizeof(*pc));
	char masked[512];
	kw_url_masked(url, masked, sizeof(masked));
	pc->conn = PQconnectdbParams(keys, vals, 1);
	pc->epoch = 1;
	if (pc->conn)
		PQsetNoticeProcessor(pc->conn, notice, NULL);
	if (!pc->conn || PQstatus(pc->conn) != CONNECTION_OK) {
		snprintf(err, errlen, "database: cannot connect to %s: %s", masked,
			 pc->conn ? PQerrorMessage(pc->conn) : "out of memory");
		err[strcspn(err, "\n")] = '\0';
		goto fail;
	}
	/* Times and ids are integers everywhere; nothing here depends on the session's time
	 * zone or date style, so no SET is needed (and none would survive a transaction
	 * pooler). */
	if (flags & KW_DB_MIGRATE) {
		if (migrate(pc, err, errlen) < 0)
			goto fail;
	} else {
		int have = 0;
		if (schema_version(pc, &have) < 0) {
			snprintf(err, errlen, "database: cannot read schema version of %s: %s",
				 masked, pc->errmsg);
			goto fail;
		}
		if (have != kw_db_schema_version()) {
			snprintf(err, errlen,
				 "database: %s has schema version %d, this program needs %d (run "
				 "`kw-admin db migrate`)",
				 masked, have, kw_db_schema_version());
			goto fail;
		}
	}
	return pc;
fail:
	kw_pg_close(pc);
	return NULL;
}

void kw_pg_close(struct kw_pgconn *pc)
{
	if (!pc)
		return;
	PQfinish(pc->conn);
	kw_buf_free(&pc->copy);
	free(pc);
}

int kw_pg_exec(struct kw_pgconn *pc, const char *sql, int quiet)
{
	/* A rollback of a transaction the server already dropped with the connection: done. */
	if (PQstatus(pc->conn) != CONNECTION_OK && pc->in_tx && !strcmp(sql, "ROLLBACK")) {
		pc->in_tx = 0;
		return 0;
	}
	if (ensure_conn(pc) < 0)
		goto fail;
	if (exec_ok(pc, sql) == 0)
		return 0;
fail:
	if (!quiet)
		kw_error("postgresql: %s (running %.60s)", pc->errmsg, sql);
	return -1;
}

const char *kw_pg_errmsg(struct kw_pgconn *pc)
{
	return pc->errmsg;
}

enum kw_dberr kw_pg_errkind(struct kw_pgconn *pc)
{
	return pc->errkind;
}

int64_t kw_pg_changes(struct kw_pgconn *pc)
{
	return pc->changes;
}

int kw_pg_in_transaction(struct kw_pgconn *pc)
{
	note_tx(pc);
	return pc->in_tx;
}

/* ---- notifications ------------------------------------------------------------------------- */

int kw_pg_listen(struct kw_pgconn *pc, const char *listen_sql)
{
	pc->listen_sql = listen_sql;
	pc->listen_epoch = 0;
	if (kw_pg_exec(pc, listen_sql, 0) < 0)
		return -1;
	pc->listen_epoch = pc->epoch;
	return 0;
}

/*
 * Notifications are read by PQconsumeInput (which reads only what the socket already holds:
 * libpq keeps its socket non-blocking) and with every other result on the connection, which
 * note_tx keeps as a flag. A connection that was reset since the LISTEN missed whatever was
 * sent meanwhile: it listens again and reports "notified", so the caller looks for itself.
 */
int kw_pg_notified(struct kw_pgconn *pc)
{
	if (!pc->listen_sql)
		return -1;
	if (PQstatus(pc->conn) != CONNECTION_OK)
		return 1; /* the caller's next query reconnects; then we listen again */
	if (pc->listen_epoch != pc->epoch) {
		if (kw_pg_exec(pc, pc->listen_sql, 1) == 0)
			pc->listen_epoch = pc->epoch;
		pc->notified = 0;
		return 1;
	}
	if (!PQconsumeInput(pc->conn))
		return 1;
	take_notifies(pc);
	int n = pc->notified;
	pc->notified = 0;
	return n;
}

/* ---- statements ---------------------------------------------------------------------------- */

struct kw_pgstmt *kw_pg_prepare(struct kw_pgconn *pc, const char *sql)
{
	struct kw_pgstmt *p = kw_xcalloc(1, sizeof(*p));
	p->pc = pc;
	p->sql = kw_pg_translate(sql);
	p->nparams = count_params(p->sql);
	snprintf(p->name, sizeof(p->name), "kw%d", ++pc->next_id);
	if (p->nparams) {
		p->vals = kw_xcalloc((size_t)p->nparams, sizeof(*p->vals));
		p->ibuf = kw_xcalloc((size_t)p->nparams, sizeof(*p->ibuf));
		p->owned = kw_xcalloc((size_t)p->nparams, sizeof(*p->owned));
		p->types = kw_xcalloc((size_t)p->nparams, sizeof(*p->types));
	}
	return p;
}

static void drop_value(struct kw_pgstmt *p, int k)
{
	if (p->owned[k])
		free(p->vals[k]);
	p->owned[k] = 0;
	p->vals[k] = NULL;
}

void kw_pg_clear_bindings(struct kw_pgstmt *p)
{
	for (int k = 0; k < p->nparams; k++)
		drop_value(p, k);
}

void kw_pg_stmt_free(struct kw_pgstmt *p)
{
	if (!p)
		return;
	PQclear(p->res);
	if (p->nparams)
		kw_pg_clear_bindings(p);
	/* The server's prepared statement goes with its connection. */
	free(p->vals);
	free(p->ibuf);
	free(p->owned);
	free(p->types);
	free(p->sql);
	free(p);
}

static int slot(struct kw_pgstmt *p, int i)
{
	if (i < 1 || i > p->nparams)
		return -1;
	drop_value(p, i - 1);
	return i - 1;
}

int kw_pg_bind_i64(struct kw_pgstmt *p, int i, int64_t v)
{
	int k = slot(p, i);
	if (k < 0)
		return KW_SQL_ERROR;
	snprintf(p->ibuf[k], sizeof(p->ibuf[k]), "%lld", (long long)v);
	p->vals[k] = p->ibuf[k];
	if (!p->prepared_epoch && !p->types[k])
		p->types[k] = INT8OID;
	return 0;
}

int kw_pg_bind_text(struct kw_pgstmt *p, int i, const char *v)
{
	int k = slot(p, i);
	if (k < 0)
		return KW_SQL_ERROR;
	p->vals[k] = kw_xstrdup(v);
	p->owned[k] = 1;
	return 0;
}

int kw_pg_bind_text_static(struct kw_pgstmt *p, int i, const char *v)
{
	int k = slot(p, i);
	if (k < 0)
		return KW_SQL_ERROR;
	p->vals[k] = (char *)v; /* not owned: drop_value() leaves it alone */
	return 0;
}

int kw_pg_bind_null(struct kw_pgstmt *p, int i)
{
	return slot(p, i) < 0 ? KW_SQL_ERROR : 0;
}

/* One PQprepare; inside a transaction under a savepoint, since a failed statement would
 * otherwise abort the caller's transaction. 0 when prepared. */
static int prepare_once(struct kw_pgstmt *p)
{
	struct kw_pgconn *pc = p->pc;
	int in_tx = PQtransactionStatus(pc->conn) == PQTRANS_INTRANS;
	if (in_tx && exec_ok(pc, "SAVEPOINT kw_prepare") < 0)
		return -1;
	PGresult *r = PQprepare(pc->conn, p->name, p->sql, p->nparams, p->types);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		result_error(pc, r);
	PQclear(r);
	if (in_tx) {
		char keep[sizeof(pc->errmsg)];
		memcpy(keep, pc->errmsg, sizeof(keep));
		if (!ok)
			(void)exec_ok(pc, "ROLLBACK TO SAVEPOINT kw_prepare");
		if (exec_ok(pc, "RELEASE SAVEPOINT kw_prepare") < 0)
			ok = 0;
		else
			memcpy(pc->errmsg, keep, sizeof(keep));
	}
	return ok ? 0 : -1;
}

/*
 * Prepare p on its connection as it is now. A parameter the server cannot type from its uses
 * alone (`?1 IS NULL` and nothing else, bound NULL the first time) is declared text and the
 * statement tried again, one such parameter at a time.
 */
static int prepare(struct kw_pgstmt *p)
{
	struct kw_pgconn *pc = p->pc;
	for (int attempt = 0; attempt <= p->nparams; attempt++) {
		if (prepare_once(p) == 0) {
			p->prepared_epoch = pc->epoch;
			return 0;
		}
		const char *m = strstr(pc->errmsg, "could not determine data type of parameter $");
		long k = m ? strtol(m + strlen("could not determine data type of parameter $"),
				    NULL, 10)
			   : 0;
		if (k < 1 || k > p->nparams || p->types[k - 1])
			break;
		p->types[k - 1] = TEXTOID;
	}
	kw_error("postgresql: prepare failed: %s (%.80s)", pc->errmsg, p->sql);
	return -1;
}

int kw_pg_step(struct kw_pgstmt *p)
{
	struct kw_pgconn *pc = p->pc;
	if (!p->res) {
		if (ensure_conn(pc) < 0)
			return KW_SQL_ERROR;
		if (p->prepared_epoch != pc->epoch && prepare(p) < 0)
			return KW_SQL_ERROR;
		p->res = PQexecPrepared(pc->conn, p->name, p->nparams, (const char *const *)p->vals,
					NULL, NULL, 0);
		ExecStatusType st = PQresultStatus(p->res);
		note_tx(pc);
		if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
			result_error(pc, p->res);
			kw_debug("postgresql: %s (%.80s)", pc->errmsg, p->sql);
			PQclear(p->res);
			p->res = NULL;
			return KW_SQL_ERROR;
		}
		pc->errkind = KW_DBERR_NONE;
		const char *n = PQcmdTuples(p->res);
		pc->changes = n && *n ? strtoll(n, NULL, 10) : 0;
		p->ntuples = st == PGRES_TUPLES_OK ? PQntuples(p->res) : 0;
		p->row = -1;
	}
	if (p->row < p->ntuples)
		p->row++;
	return p->row < p->ntuples ? KW_ROW : KW_DONE;
}

void kw_pg_reset(struct kw_pgstmt *p)
{
	PQclear(p->res);
	p->res = NULL;
}

static int have_cell(const struct kw_pgstmt *p, int i)
{
	return p->res && p->row >= 0 && p->row < p->ntuples && i >= 0 && i < PQnfields(p->res);
}

int kw_pg_col_null(struct kw_pgstmt *p, int i)
{
	return !have_cell(p, i) || PQgetisnull(p->res, p->row, i);
}

int64_t kw_pg_col_i64(struct kw_pgstmt *p, int i)
{
	if (kw_pg_col_null(p, i))
		return 0;
	const char *v = PQgetvalue(p->res, p->row, i);
	if (!strcmp(v, "t"))
		return 1;
	if (!strcmp(v, "f"))
		return 0;
	return strtoll(v, NULL, 10);
}

const char *kw_pg_col_text(struct kw_pgstmt *p, int i)
{
	return kw_pg_col_null(p, i) ? NULL : PQgetvalue(p->res, p->row, i);
}

/* ---- COPY FROM STDIN ----------------------------------------------------------------------- */

int kw_pg_copy_escape(struct kw_buf *b, const char *v)
{
	if (!v)
		return kw_buf_append(b, "\\N", 2);
	const char *run = v; /* the bytes since the last one that needed escaping */
	for (const char *p = v; *p; p++) {
		char esc;
		switch (*p) {
		case '\\': esc = '\\'; break;
		case '\n': esc = 'n'; break;
		case '\r': esc = 'r'; break;
		case '\t': esc = 't'; break;
		default: continue;
		}
		const char pair[2] = { '\\', esc };
		if (kw_buf_append(b, run, (size_t)(p - run)) < 0 || kw_buf_append(b, pair, 2) < 0)
			return -1;
		run = p + 1;
	}
	return kw_buf_puts(b, run);
}

int kw_pg_copy_begin(struct kw_pgconn *pc, const char *sql, int ncols)
{
	PGresult *r = PQexec(pc->conn, sql);
	int ok = PQresultStatus(r) == PGRES_COPY_IN;
	if (!ok)
		result_error(pc, r);
	PQclear(r);
	if (!ok)
		return -1;
	kw_buf_free(&pc->copy);
	kw_buf_init(&pc->copy, COPY_BUF_MAX);
	pc->copy_ncols = ncols;
	return 0;
}

static int copy_flush(struct kw_pgconn *pc)
{
	if (!pc->copy.len)
		return 0;
	if (pc->copy.len > INT32_MAX ||
	    PQputCopyData(pc->conn, pc->copy.data, (int)pc->copy.len) != 1) {
		set_error(pc, KW_DBERR_UNAVAILABLE, PQerrorMessage(pc->conn));
		return -1;
	}
	kw_buf_reset(&pc->copy);
	return 0;
}

int kw_pg_copy_row(struct kw_pgconn *pc, const char *const *vals)
{
	struct kw_buf *b = &pc->copy;
	for (int i = 0; i < pc->copy_ncols; i++) {
		if ((i && kw_buf_append(b, "\t", 1) < 0) || kw_pg_copy_escape(b, vals[i]) < 0) {
			set_error(pc, KW_DBERR_OTHER, "a row is too large to copy");
			return -1;
		}
	}
	if (kw_buf_append(b, "\n", 1) < 0) {
		set_error(pc, KW_DBERR_OTHER, "a row is too large to copy");
		return -1;
	}
	return b->len >= COPY_FLUSH ? copy_flush(pc) : 0;
}

int kw_pg_copy_end(struct kw_pgconn *pc, const char *failure, int64_t *rows)
{
	int rc = -1;
	*rows = 0;
	if (!failure && copy_flush(pc) < 0)
		failure = pc->errmsg;
	if (PQputCopyEnd(pc->conn, failure) != 1) {
		set_error(pc, KW_DBERR_UNAVAILABLE, PQerrorMessage(pc->conn));
		goto out;
	}
	/* The COPY's own result, then NULL; a cancelled COPY ends in an error result. */
	PGresult *r;
	int ok = 0;
	while ((r = PQgetResult(pc->conn))) {
		if (PQresultStatus(r) == PGRES_COMMAND_OK) {
			ok = 1;
			*rows = strtoll(PQcmdTuples(r), NULL, 10);
		} else {
			ok = 0;
			result_error(pc, r);
		}
		PQclear(r);
	}
	if (ok && !failure)
		rc = 0;
	else if (failure && failure != pc->errmsg)
		set_error(pc, KW_DBERR_OTHER, failure);
out:
	kw_buf_free(&pc->copy);
	pc->copy_ncols = 0;
	return rc;
}
