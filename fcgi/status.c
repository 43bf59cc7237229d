/*
 * status.c — GET /api/status and GET /api/health.
 *
 * Status keeps the original app's fields (status, timestamp, last_update, active_connections,
 * total_markets, websocket_enabled) and adds version, uptime_s (plus `uptime`, which the
 * original's Next.js client reads), environment and a database check. Every number is read
 * from the store: zeros and nulls until kw-fetch and kw-ws have reported, never invented.
 */
#include <string.h>

#include "app.h"
#include "log.h"
#include "version.h"

/* How long a worker reuses what it read from the store: the figures change at most every
 * few seconds (kw-ws reports, fetch runs), health checks come every few seconds per balancer,
 * and a database that breaks is reported within this time. */
#define PROBE_TTL_US 1000000

/* Read the status figures, or reuse those read less than PROBE_TTL_US ago. */
static int probe(struct kw_thread *t, struct kw_store *store)
{
	int64_t now = kw_mono_us();
	if (t->probe_at_us && now - t->probe_at_us < PROBE_TTL_US)
		return t->probe_ok;
	memset(&t->probe, 0, sizeof(t->probe));
	t->probe_ok = kw_store_status(store, &t->probe) == 0;
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
