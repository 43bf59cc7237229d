/*
 * req.c — the life of one request: reading what the web server sent (FastCGI params, or the
 * environment in CGI mode), the request id, the access-log line and the reset after it, and
 * the store a handler reads (reopened when it was unusable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "log.h"

const char *kw_req_param(struct kw_req *r, const char *name)
{
	if (r->app->cgi)
		return getenv(name);
	return FCGX_GetParam(name, r->fcgx.envp);
}

void kw_req_begin(struct kw_req *r)
{
	struct kw_thread *t = r->thr;
	r->t0_us = kw_mono_us();
	snprintf(r->id, sizeof(r->id), "%08x%08x", t->id_prefix, ++t->id_counter);
	r->method = kw_req_param(r, "REQUEST_METHOD");
	r->uri = kw_req_param(r, "REQUEST_URI");
	r->remote_addr = kw_req_param(r, "REMOTE_ADDR");
	if (!r->method)
		r->method = "";
	if (!r->remote_addr)
		r->remote_addr = "-";
	if (!r->uri) /* plain CGI servers may only set SCRIPT_NAME/PATH_INFO */
		r->uri = "";
	const char *qm = strchr(r->uri, '?');
	size_t plen = qm ? (size_t)(qm - r->uri) : strlen(r->uri);
	if (plen >= sizeof(r->path))
		plen = sizeof(r->path) - 1; /* longer paths match no route: 404 */
	memcpy(r->path, r->uri, plen);
	r->path[plen] = '\0';
	r->query = qm ? qm + 1 : "";
	if (!qm) {
		const char *qs = kw_req_param(r, "QUERY_STRING");
		r->query = qs ? qs : "";
	}
	const char *https = kw_req_param(r, "HTTPS");
	r->https = https && (!strcmp(https, "on") || !strcmp(https, "ON") || !strcmp(https, "1"));
	r->status = 0;
	r->replied = 0;
	r->content_type = NULL;
	r->body_read = 0;
	kw_buf_init(&r->headers, 0);
	kw_buf_init(&r->body, 0);
}

void kw_req_log(struct kw_req *r)
{
	/* The path is the client's text: log it bounded; log.c turns newlines into spaces. */
	kw_info("request id=%s method=%.16s path=%.200s status=%d dur_us=%lld bytes=%zu "
		"client=%.64s who=%.48s",
		r->id, r->method, r->path, r->status, (long long)(kw_mono_us() - r->t0_us),
		r->body.len, r->sec.client[0] ? r->sec.client : r->remote_addr,
		r->sec.who[0] ? r->sec.who : "-");
}

void kw_req_reset(struct kw_req *r)
{
	for (int i = 0; i < KW_MAX_PATH_ARGS; i++) {
		free(r->path_args[i]);
		r->path_args[i] = NULL;
	}
	kw_query_free(&r->q);
	if (r->thr && r->thr->heavy_state == 1)
		kw_heavy_leave(
			&r->thr->heavy); /* the expensive request, if this was one, is over */
	kw_buf_free(&r->headers);
	kw_buf_free(&r->body);
	r->route = NULL;
}

struct kw_store *kw_app_store_or_reply(struct kw_req *r)
{
	struct kw_thread *t = r->thr;
	if (!t->store && kw_mono_us() >= t->store_retry_at) {
		t->store = kw_store_open(r->app->cfg.db_target, KW_API_DB_FLAGS, t->store_err,
					 sizeof(t->store_err));
		if (!t->store) {
			kw_error("%s", t->store_err);
			t->store_retry_at = kw_mono_us() + KW_STORE_RETRY_US;
		}
	}
	if (!t->store)
		kw_reply_error_detail(r, 503, "database_unavailable", "the database is unavailable",
				      t->store_err);
	return t->store;
}
