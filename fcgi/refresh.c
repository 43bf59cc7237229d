/*
 * refresh.c — ask kw-fetch to run soon (admin scope), in two dialects:
 *
 *   POST /api/v1/refresh  202 {success, status:"queued", message, request_id, force_update,
 *                         count, timestamp}; 409 while a run is going (a fetch_runs row still
 *                         'running' that started recently) or a request is still waiting to be
 *                         claimed, so repeated clicks cannot queue a pile of runs.
 *   POST /api/refresh     the original app's answer, which its clients check for: always 200
 *                         {success, message, count, timestamp}, whether a run was queued or
 *                         one is already going or waiting (the message says which); count is
 *                         the open markets the last successful run stored (total_markets of
 *                         /api/status), since the original answered with what it had fetched.
 *
 * The worker never fetches: it stores a refresh_requests row, which kw-fetch's loop claims
 * (fetch/). Both take the body {"force_update": bool}, or none at all (the defaults; fcgi/body.c
 * treats a missing body as {}); anything else is refused by the strict body reader. A database
 * that cannot answer is a 503 in both dialects.
 */
#include <stdio.h>

#include "api.h"
#include "log.h"

const struct kw_body_field kw_body_refresh[] = {
	{ "force_update", KW_BODY_BOOL, 0, 0, 0, 0 },
	{ NULL, KW_BODY_BOOL, 0, 0, 0, 0 },
};

struct refresh_ask {
	int rc; /* enum kw_refresh_result */
	int64_t id, now;
	int force_update;
	char message[128];
};

/* Read the body and store the request; 0 and *ask filled, or -1 after replying (400, 413,
 * 415, 503). */
static int ask_or_reply(struct kw_req *r, struct kw_store *s, struct refresh_ask *ask)
{
	json_object *body = NULL, *force = NULL;
	if (kw_req_json_body_or_reply(r, kw_body_refresh, &body) < 0)
		return -1;
	ask->force_update = json_object_object_get_ex(body, "force_update", &force) &&
			    json_object_get_boolean(force);
	json_object_put(body);
	ask->now = kw_now_s();
	/* A run that started longer ago than this and still says 'running' died: not "going". */
	int64_t window = r->app->cfg.update_interval_s * 3;
	if (window < 600)
		window = 600;
	ask->rc = kw_store_refresh_request(s, ask->force_update, ask->now, window, &ask->id);
	switch (ask->rc) {
	case KW_REFRESH_RUNNING:
		snprintf(ask->message, sizeof(ask->message),
			 "a fetch run is already going (run %lld)", (long long)ask->id);
		return 0;
	case KW_REFRESH_PENDING:
		snprintf(ask->message, sizeof(ask->message),
			 "a refresh is already waiting for kw-fetch (request %lld)",
			 (long long)ask->id);
		return 0;
	case KW_REFRESH_QUEUED:
		snprintf(ask->message, sizeof(ask->message),
			 "refresh requested; kw-fetch will run soon (request %lld)",
			 (long long)ask->id);
		kw_info("refresh: request %lld queued (force_update=%d) by %s", (long long)ask->id,
			ask->force_update, r->sec.who);
		return 0;
	default:
		kw_reply_error(r, 503, "database_unavailable", "the database could not answer");
		return -1;
	}
}

/* {success, message, count, timestamp}: the fields both dialects share. */
static json_object *answer_new(const struct refresh_ask *ask, int64_t count)
{
	char ts[32];
	kw_fmt_rfc3339(ask->now, ts, sizeof(ts));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "message", json_object_new_string(ask->message));
	json_object_object_add(o, "count", json_object_new_int64(count));
	json_object_object_add(o, "timestamp", json_object_new_string(ts));
	return o;
}

void kw_handle_v1_refresh(struct kw_req *r)
{
	struct refresh_ask ask = { 0 };
	struct kw_store *s = kw_app_store_or_reply(r);
	if (!s || ask_or_reply(r, s, &ask) < 0)
		return;
	if (ask.rc != KW_REFRESH_QUEUED) {
		kw_reply_error(r, 409, "refresh_in_progress", ask.message);
		return;
	}
	json_object *o = answer_new(&ask, 0);
	json_object_object_add(o, "status", json_object_new_string("queued"));
	json_object_object_add(o, "request_id", json_object_new_int64(ask.id));
	json_object_object_add(o, "force_update", json_object_new_boolean(ask.force_update));
	kw_reply_header(r, "Cache-Control", "no-store");
	kw_reply_json(r, 202, o);
}

void kw_handle_refresh(struct kw_req *r)
{
	struct refresh_ask ask = { 0 };
	struct kw_status st;
	struct kw_store *s = kw_app_store_or_reply(r);
	if (!s || ask_or_reply(r, s, &ask) < 0)
		return;
	if (kw_store_status(s, &st) < 0) {
		kw_reply_error(r, 503, "database_unavailable", "the database could not answer");
		return;
	}
	kw_reply_header(r, "Cache-Control", "no-store");
	kw_reply_json(r, 200, answer_new(&ask, st.total_markets));
}
