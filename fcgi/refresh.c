/*
 * refresh.c — POST /api/refresh (admin scope): ask kw-fetch to run soon.
 *
 * The worker never fetches: it stores a refresh_requests row, which kw-fetch's loop claims
 * (fetch/), and answers 202 with the request id. 409 when a run is already going (a fetch_runs
 * row still 'running' that started recently) or a request is still waiting to be claimed, so
 * repeated clicks cannot queue a pile of runs. The body is {"force_update": bool} or nothing;
 * anything else is refused by the strict body reader (fcgi/body.c). The 202 keeps the
 * original's fields (success, message, count, timestamp).
 */
#include <stdio.h>

#include "api.h"
#include "log.h"

const struct kw_body_field kw_body_refresh[] = {
	{ "force_update", KW_BODY_BOOL, 0, 0, 0, 0 },
	{ NULL, KW_BODY_BOOL, 0, 0, 0, 0 },
};

void kw_handle_refresh(struct kw_req *r)
{
	json_object *body = NULL, *force = NULL;
	struct kw_store *s = kw_app_store_or_reply(r);
	if (!s || kw_req_json_body_or_reply(r, kw_body_refresh, &body) < 0)
		return;
	int force_update = json_object_object_get_ex(body, "force_update", &force) &&
			   json_object_get_boolean(force);
	json_object_put(body);
	int64_t now = kw_now_s(), id = 0;
	/* A run that started longer ago than this and still says 'running' died: not "going". */
	int64_t window = r->app->cfg.update_interval_s * 3;
	if (window < 600)
		window = 600;
	int rc = kw_store_refresh_request(s, force_update, now, window, &id);
	char msg[128], ts[32];
	switch (rc) {
	case KW_REFRESH_RUNNING:
		snprintf(msg, sizeof(msg), "a fetch run is already going (run %lld)",
			 (long long)id);
		kw_reply_error(r, 409, "refresh_in_progress", msg);
		return;
	case KW_REFRESH_PENDING:
		snprintf(msg, sizeof(msg),
			 "a refresh is already waiting for kw-fetch (request %lld)", (long long)id);
		kw_reply_error(r, 409, "refresh_in_progress", msg);
		return;
	case KW_REFRESH_QUEUED: break;
	default:
		kw_reply_error(r, 503, "database_unavailable", "the database could not answer");
		return;
	}
	kw_info("refresh: request %lld queued (force_update=%d) by %s", (long long)id, force_update,
		r->sec.who);
	kw_fmt_rfc3339(now, ts, sizeof(ts));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "status", json_object_new_string("queued"));
	json_object_object_add(o, "message",
			       json_object_new_string("refresh requested; kw-fetch will run soon"));
	json_object_object_add(o, "request_id", json_object_new_int64(id));
	json_object_object_add(o, "force_update", json_object_new_boolean(force_update));
	json_object_object_add(o, "count", json_object_new_int(0));
	json_object_object_add(o, "timestamp", json_object_new_string(ts));
	kw_reply_header(r, "Cache-Control", "no-store");
	kw_reply_json(r, 202, o);
}
