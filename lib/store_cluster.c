/*
 * store_cluster.c — the SQL behind store_cluster.h: kw-fetch's advisory run lock, the fetch
 * runs as every node sees them, and the API keys' revocation stamp.
 *
 * The run lock is a session-level advisory lock, so it needs a session that lives as long as
 * the run: a direct connection to PostgreSQL or a session-pooled one (through a transaction
 * pooler the lock would belong to whichever client the pooler handed the server connection
 * to next). Nothing else here keeps session state.
 */
#include "store_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

/* The advisory lock's key: "kwfetchr" read as a big-endian integer. Migrations use another. */
#define RUN_LOCK_KEY 7743770670217259122LL

struct kw_run_lock {
	struct kw_conn c;
	struct kw_stmt *take, *give;
};

struct kw_run_lock *kw_run_lock_open(const char *url, char *err, size_t errlen)
{
	struct kw_run_lock *l = kw_xcalloc(1, sizeof(*l));
	if (!kw_url_is_postgres(url)) {
		snprintf(err, errlen, "run lock: only a PostgreSQL database has one");
		goto fail;
	}
	if (kw_conn_open(&l->c, url, 0, err, errlen) < 0)
		goto fail;
	l->take = kw_conn_prepare(&l->c, "SELECT pg_try_advisory_lock(?1)");
	l->give = kw_conn_prepare(&l->c, "SELECT pg_advisory_unlock(?1)");
	if (!l->take || !l->give) {
		snprintf(err, errlen, "run lock: cannot prepare: %s", kw_conn_errmsg(&l->c));
		goto fail;
	}
	return l;
fail:
	kw_run_lock_close(l);
	return NULL;
}

/* The boolean one of the lock statements returned; -1 on error. */
static int lock_call(struct kw_run_lock *l, struct kw_stmt *st, const char *what)
{
	int rc = -1;
	kw_sql_bind_i64(st, 1, RUN_LOCK_KEY);
	if (kw_sql_step(st) == KW_ROW)
		rc = kw_sql_col_i64(st, 0) ? 1 : 0;
	else
		kw_error("run lock: %s failed: %s", what, kw_conn_errmsg(&l->c));
	kw_sql_reset(st);
	return rc;
}

int kw_run_lock_try(struct kw_run_lock *l)
{
	return lock_call(l, l->take, "taking the lock");
}

void kw_run_lock_release(struct kw_run_lock *l)
{
	if (l && lock_call(l, l->give, "releasing the lock") == 0)
		kw_warn("run lock: was no longer held at the end of the run (its connection was "
			"lost); another node may have run at the same time");
}

void kw_run_lock_close(struct kw_run_lock *l)
{
	if (!l)
		return;
	kw_stmt_free(l->take);
	kw_stmt_free(l->give);
	kw_conn_close(&l->c); /* the server drops the lock with the session */
	free(l);
}

/* ---- fetch runs --------------------------------------------------------------------------- */

static const char SQL_LAST_RUN[] = "SELECT id, started_at, finished_at, outcome, node FROM "
				   "fetch_runs ORDER BY id DESC LIMIT 1";
static const char SQL_LAST_FINISHED[] =
	"SELECT id, started_at, finished_at, outcome, node FROM fetch_runs"
	" WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT 1";

static int read_run(struct kw_store *s, const char *sql, struct kw_cluster_run *out)
{
	struct kw_stmt *st = kw_store_stmt(s, sql);
	if (!st)
		return -1;
	memset(out, 0, sizeof(*out));
	int rc = kw_sql_step(st), found = 0;
	if (rc == KW_ROW) {
		out->id = kw_sql_col_i64(st, 0);
		out->started_at = kw_sql_col_i64(st, 1);
		out->finished_at = kw_sql_col_i64(st, 2);
		snprintf(out->outcome, sizeof(out->outcome), "%s", kw_store_col_str(st, 3));
		snprintf(out->node, sizeof(out->node), "%s", kw_store_col_str(st, 4));
		found = 1;
	} else if (rc != KW_DONE) {
		found = kw_store_fail(s, "reading the fetch runs");
	}
	kw_sql_reset(st);
	return found;
}

int kw_store_cluster_last_run(struct kw_store *s, struct kw_cluster_run *out)
{
	return read_run(s, SQL_LAST_RUN, out);
}

int kw_store_cluster_last_finished(struct kw_store *s, struct kw_cluster_run *out)
{
	return read_run(s, SQL_LAST_FINISHED, out);
}

static const char SQL_MARK_RUN[] = "UPDATE fetch_runs SET node = ?2 WHERE id = ?1";

int kw_store_cluster_mark_run(struct kw_store *s, int64_t run_id, const char *node)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_MARK_RUN);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, run_id);
	kw_sql_bind_text(st, 2, node);
	return kw_store_step_done(s, st, "naming the run's node");
}

/* ---- new data ----------------------------------------------------------------------------- */

int kw_store_data_listen(struct kw_store *s)
{
	struct kw_conn *c = kw_store_conn(s);
	if (!kw_conn_is_pg(c))
		return 0;
	return kw_pg_listen(c->pg, "LISTEN kw_data") < 0 ? -1 : 1;
}

int kw_store_data_notified(struct kw_store *s)
{
	struct kw_conn *c = kw_store_conn(s);
	return kw_conn_is_pg(c) ? kw_pg_notified(c->pg) : -1;
}

/* ---- WebSocket clients per node ----------------------------------------------------------- */

static const char SQL_WS_NODE[] =
	"INSERT INTO ws_nodes (node, connections, updated_at) VALUES (?1, ?2, ?3)"
	" ON CONFLICT (node) DO UPDATE SET connections = excluded.connections,"
	"   updated_at = excluded.updated_at";

int kw_store_ws_node_write(struct kw_store *s, const char *node, int64_t connections, int64_t now_s)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_WS_NODE);
	if (!st)
		return -1;
	kw_sql_bind_text(st, 1, node);
	kw_sql_bind_i64(st, 2, connections);
	kw_sql_bind_i64(st, 3, now_s);
	int rc = kw_sql_step(st) == KW_DONE ? 0 : -1;
	if (rc < 0 && !kw_store_was_busy(s))
		kw_error("store: ws_nodes write failed: %s", kw_store_errmsg(s));
	kw_sql_reset(st);
	return rc;
}

static const char SQL_WS_SUM[] =
	"SELECT coalesce(sum(connections), 0), count(*) FROM ws_nodes WHERE updated_at >= ?1";

int kw_store_ws_connections(struct kw_store *s, int64_t since_s, int64_t *clients, int64_t *nodes)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_WS_SUM);
	if (!st)
		return -1;
	int rc = 0;
	kw_sql_bind_i64(st, 1, since_s);
	if (kw_sql_step(st) == KW_ROW) {
		*clients = kw_sql_col_i64(st, 0);
		*nodes = kw_sql_col_i64(st, 1);
	} else {
		rc = kw_store_fail(s, "adding up the nodes' WebSocket clients");
	}
	kw_sql_reset(st);
	return rc;
}

/* ---- API keys ----------------------------------------------------------------------------- */

static const char SQL_KEYS_STAMP[] =
	"SELECT count(*), count(revoked_at), coalesce(max(revoked_at), 0) FROM api_keys";

int kw_store_keys_stamp(struct kw_store *s, struct kw_keys_stamp *out)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_KEYS_STAMP);
	if (!st)
		return -1;
	int rc = -1;
	if (kw_sql_step(st) == KW_ROW) {
		out->keys = kw_sql_col_i64(st, 0);
		out->revoked = kw_sql_col_i64(st, 1);
		out->last_revoked_at = kw_sql_col_i64(st, 2);
		rc = 0;
	} else {
		rc = kw_store_fail(s, "reading the API keys' stamp");
	}
	kw_sql_reset(st);
	return rc;
}
