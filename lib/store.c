/*
 * store.c — the store object, its statement cache and the status queries (see store.h).
 *
 * The cache is a small array searched by pointer: a process uses a few dozen distinct
 * statements, so a linear scan of pointers is cheaper than hashing the SQL text.
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store_cluster.h" /* KW_STORE_DATA_NOTIFY */

#define STMT_CACHE_MAX 128
/* kw-ws reports every few seconds; an older report means it is not running. */
#define WS_STALE_S 30

struct kw_store {
	struct kw_conn c;
	char *target; /* what it was opened from, for kw_store_open_peer */
	int64_t write_began_us, longest_write_us; /* kw_store_begin .. commit/rollback */
	int64_t write_ended_us;			  /* monotonic: the last commit or rollback */
	int data_writer; /* kw_store_set_data_writer: commits advance the data generation */
	/* kw_store_data_generation's memo: the generation read when data_version was gen_dv
	 * (SQLite), or at gen_read_ms while listening for KW_STORE_DATA_NOTIFY (PostgreSQL). */
	int gen_known;
	int64_t gen_dv, gen;
	int gen_listening;
	int64_t gen_read_ms, gen_listen_ms; /* monotonic: the last read, the last LISTEN tried */
	struct kw_store_deferred deferred[KW_STORE_DEFER_SLOTS];
	int flushing; /* inside a deferred flush: its own statements must not flush again */
	int nstmt;
	struct {
		const char *sql;
		struct kw_stmt *st;
	} stmt[STMT_CACHE_MAX];
};

struct kw_store *kw_store_open(const char *path, int flags, char *err, size_t errlen)
{
	struct kw_store *s = kw_xcalloc(1, sizeof(*s));
	if (kw_conn_open(&s->c, path, flags, err, errlen) < 0) {
		free(s);
		return NULL;
	}
	s->target = kw_xstrdup(path);
	return s;
}

void kw_store_close(struct kw_store *s)
{
	if (!s)
		return;
	for (int i = 0; i < KW_STORE_DEFER_SLOTS; i++)
		if (s->deferred[i].free)
			s->deferred[i].free(s->deferred[i].ctx);
	for (int i = 0; i < s->nstmt; i++)
		kw_stmt_free(s->stmt[i].st);
	kw_conn_close(&s->c);
	free(s->target);
	free(s);
}

struct kw_store *kw_store_open_peer(struct kw_store *s)
{
	char err[256];
	if (!s->target || !*s->target || !strcmp(s->target, ":memory:"))
		return NULL;
	struct kw_store *peer = kw_store_open(s->target, 0, err, sizeof(err));
	if (!peer)
		kw_warn("%s", err);
	return peer;
}

int kw_store_in_transaction(struct kw_store *s)
{
	return kw_conn_in_transaction(&s->c);
}

struct kw_conn *kw_store_conn(struct kw_store *s)
{
	return &s->c;
}

void kw_store_defer(struct kw_store *s, enum kw_store_defer_slot slot,
		    const struct kw_store_deferred *d)
{
	if (!s->deferred[slot].flush)
		s->deferred[slot] = *d;
}

void *kw_store_deferred_ctx(struct kw_store *s, enum kw_store_defer_slot slot)
{
	return s->deferred[slot].ctx;
}

int kw_store_flush(struct kw_store *s)
{
	int rc = 0;
	if (s->flushing)
		return 0;
	s->flushing = 1;
	for (int i = 0; i < KW_STORE_DEFER_SLOTS && rc == 0; i++)
		if (s->deferred[i].flush)
			rc = s->deferred[i].flush(s, s->deferred[i].ctx);
	s->flushing = 0;
	return rc;
}

/* Drop what every slot holds: it belonged to a transaction or savepoint rolled back. */
static void deferred_drop(struct kw_store *s)
{
	int was_flushing = s->flushing;
	s->flushing = 1; /* nothing of it may reach the database now */
	for (int i = 0; i < KW_STORE_DEFER_SLOTS; i++)
		if (s->deferred[i].flush)
			(void)s->deferred[i].flush(NULL, s->deferred[i].ctx);
	s->flushing = was_flushing;
}

struct kw_stmt *kw_store_stmt(struct kw_store *s, const char *sql)
{
	if (kw_store_flush(s) < 0)
		return NULL;
	for (int i = 0; i < s->nstmt; i++) {
		if (s->stmt[i].sql == sql) {
			kw_sql_reset(s->stmt[i].st);
			kw_sql_clear_bindings(s->stmt[i].st);
			return s->stmt[i].st;
		}
	}
	struct kw_stmt *st = kw_conn_prepare(&s->c, sql);
	if (!st)
		return NULL;
	if (s->nstmt == STMT_CACHE_MAX) {
		/* More distinct statements than we ever use: a bug, but keep serving uncached. */
		kw_error("store: statement cache full; finalising the oldest");
		kw_stmt_free(s->stmt[0].st);
		memmove(&s->stmt[0], &s->stmt[1], sizeof(s->stmt[0]) * (STMT_CACHE_MAX - 1));
		s->nstmt--;
	}
	s->stmt[s->nstmt].sql = sql;
	s->stmt[s->nstmt].st = st;
	s->nstmt++;
	return st;
}

void kw_store_wait_for_lock(struct kw_store *s, int wait)
{
	kw_conn_wait_for_lock(&s->c, wait ? KW_DB_BUSY_TIMEOUT_MS : 0);
}

int kw_store_was_busy(struct kw_store *s)
{
	return kw_conn_errkind(&s->c) == KW_DBERR_BUSY;
}

static void write_ended(struct kw_store *s)
{
	if (!s->write_began_us)
		return;
	int64_t held = kw_mono_us() - s->write_began_us;
	if (held > s->longest_write_us)
		s->longest_write_us = held;
	s->write_began_us = 0;
	s->write_ended_us = kw_mono_us();
}

int64_t kw_store_write_step_us(struct kw_store *s)
{
	return kw_conn_write_step_us(&s->c);
}

int64_t kw_store_take_longest_write_us(struct kw_store *s)
{
	int64_t us = s->longest_write_us;
	s->longest_write_us = 0;
	return us;
}

static void sleep_us(int64_t us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) < 0)
		;
}

static int begin(struct kw_store *s, int quiet)
{
	/* Back to back, a writer would take the lock again before any waiting one tried (each
	 * tries every millisecond: kw_db_wait_for_lock); leave it a gap. PostgreSQL locks rows,
	 * not the database: no gap is needed there. */
	int64_t since = kw_mono_us() - s->write_ended_us;
	if (!s->c.pg && s->write_ended_us && since < KW_STORE_WRITE_GAP_US)
		sleep_us(KW_STORE_WRITE_GAP_US - since);
	if (kw_conn_begin(&s->c, quiet) < 0)
		return -1;
	s->write_began_us = kw_mono_us();
	return 0;
}

int kw_store_begin(struct kw_store *s)
{
	return begin(s, 0);
}

int kw_store_begin_quiet(struct kw_store *s)
{
	return begin(s, 1);
}

/* The market-data generation: fetch_state 'data_generation', a counter that every
 * commit of a market-data writer advances inside its own transaction, so a reader that sees
 * the new data sees the new generation too. */
static const char SQL_GEN_BUMP[] =
	"INSERT INTO fetch_state (name, value) VALUES ('data_generation', 1)"
	" ON CONFLICT (name) DO UPDATE SET value = fetch_state.value + 1";
static const char SQL_GEN_GET[] =
	"SELECT ifnull((SELECT value FROM fetch_state WHERE name = 'data_generation'), 0)";

void kw_store_set_data_writer(struct kw_store *s, int on)
{
	s->data_writer = on;
}

int kw_store_commit(struct kw_store *s)
{
	if (kw_store_flush(s) < 0)
		return -1;
	if (s->data_writer && kw_conn_in_transaction(&s->c) &&
	    kw_conn_exec(&s->c, SQL_GEN_BUMP) < 0)
		return -1;
	/* PostgreSQL delivers this at the commit, to every node's kw-ws (store_cluster.h). */
	if (s->data_writer && s->c.pg && kw_conn_in_transaction(&s->c) &&
	    kw_conn_exec(&s->c, KW_STORE_DATA_NOTIFY) < 0)
		return -1;
	if (kw_conn_exec(&s->c, "COMMIT") < 0)
		return -1;
	write_ended(s);
	return 0;
}

int kw_store_commit_step(struct kw_store *s)
{
	if (kw_store_flush(s) < 0)
		return -1;
	if (kw_conn_exec(&s->c, "COMMIT") < 0)
		return -1;
	write_ended(s);
	return 0;
}

int kw_store_commit_quiet(struct kw_store *s)
{
	if (kw_conn_exec_quiet(&s->c, "COMMIT") < 0)
		return -1;
	write_ended(s);
	return 0;
}

void kw_store_rollback(struct kw_store *s)
{
	deferred_drop(s);
	if (kw_conn_in_transaction(&s->c))
		(void)kw_conn_exec_quiet(&s->c, "ROLLBACK");
	write_ended(s);
}

static const struct {
	const char *begin, *release, *undo;
} SAVEPOINTS[] = {
	[KW_SAVEPOINT_PAGE] = { "SAVEPOINT kw_page", "RELEASE kw_page", "ROLLBACK TO kw_page" },
	[KW_SAVEPOINT_DETECT] = { "SAVEPOINT kw_detect", "RELEASE kw_detect",
				  "ROLLBACK TO kw_detect" },
};

int kw_store_savepoint(struct kw_store *s, enum kw_savepoint sp)
{
	if (kw_store_flush(s) < 0)
		return -1;
	return kw_conn_exec(&s->c, SAVEPOINTS[sp].begin);
}

int kw_store_release(struct kw_store *s, enum kw_savepoint sp, int keep)
{
	/* Rows put off belong to the savepoint: stored before it is kept, dropped with it. */
	int rc = keep ? kw_store_flush(s) : 0;
	if (!keep)
		deferred_drop(s);
	/* Released even when the rollback failed, so the savepoint never outlives its user. */
	if (!keep && kw_conn_exec(&s->c, SAVEPOINTS[sp].undo) < 0)
		rc = -1;
	if (kw_conn_exec(&s->c, SAVEPOINTS[sp].release) < 0)
		rc = -1;
	return rc;
}

int kw_store_fail(struct kw_store *s, const char *what)
{
	kw_error("store: %s failed: %s", what, kw_conn_errmsg(&s->c));
	return -1;
}

int kw_store_step_done(struct kw_store *s, struct kw_stmt *st, const char *what)
{
	int rc = kw_sql_step(st);
	kw_sql_reset(st);
	return rc == KW_DONE ? 0 : kw_store_fail(s, what);
}

int kw_store_walk(struct kw_store *s, struct kw_stmt *st, int (*row)(struct kw_stmt *st, void *ctx),
		  void *ctx, const char *what)
{
	int rc;
	while ((rc = kw_sql_step(st)) == KW_ROW)
		if (row(st, ctx))
			break;
	/* Read the message before the reset, which may replace it. */
	int out = rc == KW_ROW || rc == KW_DONE ? 0 : kw_store_fail(s, what);
	kw_sql_reset(st);
	return out;
}

static const char SQL_STATUS[] =
	"SELECT (SELECT open_markets FROM fetch_runs WHERE outcome IN ('ok', 'partial')"
	"         ORDER BY finished_at DESC LIMIT 1),"
	"       (SELECT max(finished_at) FROM fetch_runs WHERE outcome IN ('ok', 'partial')),"
	"       (SELECT max(id) FROM fetch_runs),"
	"       (SELECT connections FROM ws_stats WHERE id = 1),"
	"       (SELECT updated_at FROM ws_stats WHERE id = 1)";

int kw_store_status(struct kw_store *s, struct kw_status *out)
{
	int rc = -1;
	struct kw_stmt *st = kw_store_stmt(s, SQL_STATUS);
	if (!st)
		return -1;
	int step = kw_sql_step(st);
	if (step != KW_ROW) {
		kw_error("store: status query failed: %s", kw_conn_errmsg(&s->c));
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->total_markets = kw_sql_col_i64(st, 0);
	out->last_update = kw_sql_col_i64(st, 1);
	out->last_run_id = kw_sql_col_i64(st, 2);
	out->ws_reported_at = kw_sql_col_i64(st, 4);
	if (out->ws_reported_at && kw_now_s() - out->ws_reported_at <= WS_STALE_S)
		out->ws_connections = kw_sql_col_i64(st, 3);
	rc = 0;
out:
	kw_sql_reset(st);
	return rc;
}

static const char SQL_DATA_VERSION[] = "PRAGMA data_version";

int kw_store_scalar(struct kw_store *s, const char *sql, int64_t *out)
{
	struct kw_stmt *st = kw_store_stmt(s, sql);
	if (!st)
		return -1;
	int rc = 0;
	if (kw_sql_step(st) == KW_ROW) {
		*out = kw_sql_col_i64(st, 0);
	} else {
		kw_error("store: %.60s failed: %s", sql, kw_conn_errmsg(&s->c));
		rc = -1;
	}
	kw_sql_reset(st);
	return rc;
}

/* PostgreSQL has no per-database commit counter that a reader sees at once. What kw-ws
 * follows only grows: new alerts, trades and runs get higher ids, and kw-fetch's commits
 * advance the data generation; their sum changes when any of them does. Four index lookups. */
static const char SQL_PG_DATA_VERSION[] =
	"SELECT (SELECT coalesce(max(id), 0) FROM alerts) + (SELECT coalesce(max(id), 0) FROM "
	"trades)"
	" + (SELECT coalesce(max(id), 0) FROM fetch_runs)"
	" + (SELECT coalesce(max(finished_at), 0) FROM fetch_runs)"
	" + coalesce((SELECT value FROM fetch_state WHERE name = 'data_generation'), 0)";

static const char SQL_TRADES_MAX_ID[] = "SELECT coalesce(max(id), 0) FROM trades";

int kw_store_trades_max_id(struct kw_store *s, int64_t *id)
{
	return kw_store_scalar(s, SQL_TRADES_MAX_ID, id);
}

int kw_store_data_version(struct kw_store *s, int64_t *version)
{
	if (s->c.pg)
		return kw_store_scalar(s, SQL_PG_DATA_VERSION, version);
	return kw_store_scalar(s, SQL_DATA_VERSION, version);
}

/*
 * PostgreSQL has no data_version to read locally, and asking the server is a round trip per
 * request. But every commit that advances the generation also sends KW_STORE_DATA_NOTIFY
 * (kw_store_commit), which the server delivers at the commit to every listening connection.
 * So the connection listens, and reads the generation again only when a notification (or a
 * reconnect, which may have lost one) came in, or GEN_FALLBACK_MS after its last read in case
 * one was lost anyway (a transaction pooler keeps no LISTEN). Between them a cached reply is
 * served without asking the database anything. A listener's server process sends the
 * notification as soon as the commit is done; the reply that could still miss it is one whose
 * request arrived in those few microseconds, and it is no older than what the request would
 * have read an instant earlier.
 */
#define GEN_FALLBACK_MS 500

static int gen_read(struct kw_store *s)
{
	s->gen_known = kw_store_scalar(s, SQL_GEN_GET, &s->gen) == 0;
	return s->gen_known ? 0 : -1;
}

static int pg_generation(struct kw_store *s, int64_t *gen)
{
	int64_t now_ms = kw_mono_us() / 1000;
	/* Listen before reading, so a commit after the read is always notified. A LISTEN that
	 * failed is tried again only after a fallback period, not on every request. */
	if (!s->gen_listening &&
	    (!s->gen_listen_ms || now_ms - s->gen_listen_ms >= GEN_FALLBACK_MS)) {
		s->gen_listen_ms = now_ms;
		s->gen_listening = kw_store_data_listen(s) == 1;
		s->gen_known = 0;
	}
	int notified = s->gen_listening ? kw_store_data_notified(s) != 0 : 1;
	if (s->gen_known && !notified && now_ms - s->gen_read_ms < GEN_FALLBACK_MS) {
		*gen = s->gen;
		return 0;
	}
	if (gen_read(s) < 0)
		return -1;
	s->gen_read_ms = now_ms;
	*gen = s->gen;
	return 0;
}

int kw_store_data_generation(struct kw_store *s, int64_t *gen)
{
	int64_t dv;
	if (s->c.pg)
		return pg_generation(s, gen);
	if (kw_store_data_version(s, &dv) < 0)
		return -1;
	/* data_version is read first: a commit between the two reads is seen as a change of
	 * data_version next time, and the generation is read again then. */
	if (!s->gen_known || dv != s->gen_dv) {
		if (gen_read(s) < 0)
			return -1;
		s->gen_dv = dv;
	}
	*gen = s->gen;
	return 0;
}
