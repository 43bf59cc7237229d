/*
 * status.c — GET /api/status and GET /api/health.
 *
 * Status keeps the original app's fields (status, timestamp, last_update, active_connections,
 * total_markets, websocket_enabled) and adds version, uptime_s (plus `uptime`, which the
 * original's Next.js client reads), environment, a database check, this node's name and the
 * fetcher's newest run with the node that ran it (several nodes may share one PostgreSQL
 * database). Every number is read from the store: zeros and nulls until kw-fetch and kw-ws
 * have reported, never invented.
 *
 * Health is what a load balancer polls: 200 while this node's worker can query the database,
 * 503 when it cannot (a SQLite file that cannot be read, a PostgreSQL server this node cannot
 * reach), so the balancer sends no traffic to a node that could only answer 503.
 */
#include <string.h>

#include "app.h"
#include "log.h"
#include "store_cluster.h"
#include "version.h"

/* How long a worker reuses what it read from the store: the figures change at most every
 * few seconds (kw-ws reports, fetch runs), health checks come every few seconds per balancer,
 * and a database that breaks is reported within this time. */
#define PROBE_TTL_US 1000000
/* A node whose kw-ws has not reported for this long (it reports every 2 s) counts no clients,
 * as a stale ws_stats row does. */
#define WS_NODE_STALE_S 30

/* Read the status figures, or reuse those read less than PROBE_TTL_US ago. */
static int probe(struct kw_thread *t, struct kw_store *store)
{
	int64_t now = kw_mono_us();
	if (t->probe_at_us && now - t->probe_at_us < PROBE_TTL_US)
		return t->probe_ok;
	memset(&t->probe, 0, sizeof(t->probe));
	t->probe_ok = kw_store_status(store, &t->probe) == 0;
	t->probe_run_found = 0;
	if (t->probe_ok) {
		int found = kw_store_cluster_last_run(store, &t->probe_run);
		int64_t clients = 0, nodes = 0;
		t->probe_ok =
			found >= 0 && kw_store_ws_connections(store, kw_now_s() - WS_NODE_STALE_S,
							      &clients, &nodes) == 0;
		t->probe_run_found = found == 1;
		/* Several nodes (ws_nodes has rows): every node's clients, not the last reporter's. */
		if (nodes > 0)
			t->probe.ws_connections = clients;
	}
	t->probe_at_us = now;
	return t->probe_ok;
}

static json_object *time_or_null(int64_t t)
{
	char buf[32];
	if (!t)
		return NULL;
	kw_fmt_rfc3339(t, buf, sizeof(buf));
	return json_object_new_string(buf);
}

void kw_handle_status(struct kw_req *r)
{
	struct kw_app *app = r->app;
	struct kw_store *store = kw_app_store_or_reply(r);
	if (!store)
		return;
	int db_ok = probe(r->thr, store);
	const struct kw_status st = r->thr->probe;
	int64_t now = kw_now_s();
	char ts[32];
	kw_fmt_rfc3339(now, ts, sizeof(ts));

	json_object *o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string(db_ok ? "running" : "degraded"));
	json_object_object_add(o, "timestamp", json_object_new_string(ts));
	json_object_object_add(o, "last_update", time_or_null(st.last_update));
	json_object_object_add(o, "active_connections", json_object_new_int64(st.ws_connections));
	json_object_object_add(o, "total_markets", json_object_new_int64(st.total_markets));
	json_object_object_add(o, "websocket_enabled", json_object_new_boolean(1));
	json_object_object_add(o, "version", json_object_new_string(KW_VERSION));
	json_object_object_add(o, "uptime_s", json_object_new_int64(now - app->started_at));
	json_object_object_add(o, "uptime", json_object_new_int64(now - app->started_at));
	json_object_object_add(o, "environment",
			       json_object_new_string(app->cfg.environment == KW_ENV_PRODUCTION
							      ? "production"
							      : "development"));
	json_object *db = json_object_new_object();
	json_object_object_add(db, "status", json_object_new_string(db_ok ? "ok" : "error"));
	json_object_object_add(db, "schema_version", json_object_new_int(kw_db_schema_version()));
	json_object_object_add(o, "database", db);
	json_object_object_add(o, "node", json_object_new_string(app->cfg.node_name));
	json_object *fetcher = json_object_new_object(), *run = NULL;
	if (r->thr->probe_run_found) {
		const struct kw_cluster_run *lr = &r->thr->probe_run;
		run = json_object_new_object();
		json_object_object_add(run, "id", json_object_new_int64(lr->id));
		json_object_object_add(run, "node",
				       lr->node[0] ? json_object_new_string(lr->node) : NULL);
		json_object_object_add(run, "outcome", json_object_new_string(lr->outcome));
		json_object_object_add(run, "started_at", time_or_null(lr->started_at));
		json_object_object_add(run, "finished_at", time_or_null(lr->finished_at));
	}
	json_object_object_add(fetcher, "last_run", run);
	json_object_object_add(o, "fetcher", fetcher);
	kw_reply_json(r, db_ok ? 200 : 503, o);
}

void kw_handle_health(struct kw_req *r)
{
	struct kw_store *store = kw_app_store_or_reply(r);
	if (!store)
		return;
	int ok = probe(r->thr, store);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string(ok ? "ok" : "unavailable"));
	kw_reply_json(r, ok ? 200 : 503, o);
}
