/*
 * reply.c — every byte kw-api sends goes through here: status line, the security headers that
 * every response carries (errors included), and the one JSON error shape.
 *
 * Headers and body are assembled in memory and written with one call, so a reply is never
 * half-sent because a handler failed midway. A client that went away makes the write fail;
 * that is logged at debug level and the worker carries on.
 */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "cache.h"
#include "log.h"

void kw_reply_header(struct kw_req *r, const char *name, const char *value)
{
	/* Header values we set are our own strings; refuse CR/LF anyway (response splitting). */
	if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) {
		kw_error("reply: refused a header with CR/LF (%s)", name);
		return;
	}
	if (kw_buf_printf(&r->headers, "%s: %s\r\n", name, value) < 0)
		kw_error("reply: header buffer full");
}

void kw_reply_json(struct kw_req *r, int status, json_object *obj)
{
	size_t len = 0;
	const char *s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
	r->status = status;
	r->content_type = "application/json";
	kw_buf_reset(&r->body);
	if (!s || kw_buf_append(&r->body, s, len) < 0 || kw_buf_puts(&r->body, "\n") < 0) {
		kw_error("reply: cannot serialise response");
		r->status = 500;
		kw_buf_reset(&r->body);
	}
	json_object_put(obj);
	r->replied = 1;
}

void kw_reply_error_detail(struct kw_req *r, int status, const char *code, const char *message,
			   const char *detail)
{
	json_object *root = json_object_new_object();
	json_object *err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	if (detail && r->app->cfg.debug && r->app->cfg.environment == KW_ENV_DEVELOPMENT)
		json_object_object_add(err, "detail", json_object_new_string(detail));
	json_object_object_add(root, "error", err);
	json_object_object_add(root, "request_id", json_object_new_string(r->id));
	kw_reply_json(r, status, root);
}

void kw_reply_error(struct kw_req *r, int status, const char *code, const char *message)
{
	kw_reply_error_detail(r, status, code, message, NULL);
}

static int put(struct kw_req *r, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	if (r->app->cgi)
		return fwrite(s, 1, n, stdout) == n ? 0 : -1;
	return FCGX_PutStr(s, (int)n, r->fcgx.out) == (int)n ? 0 : -1;
}

/* Status line and headers; Content-Length only when the body is complete (not streamed). */
static int build_head(struct kw_req *r, struct kw_buf *h, int streamed)
{
	int ok = kw_buf_printf(h, "Status: %d %s\r\n", r->status, kw_http_reason(r->status)) == 0;
	if (r->content_type && r->status != 204 && r->status != 304) {
		ok &= kw_buf_printf(h, "Content-Type: %s%s\r\n", r->content_type,
				    strncmp(r->content_type, "application/json", 16)
					    ? ""
					    : "; charset=utf-8") == 0;
		if (!streamed)
			ok &= kw_buf_printf(h, "Content-Length: %zu\r\n", r->body.len) == 0;
	}
	ok &= kw_buf_puts(h,
			  "X-Content-Type-Options: nosniff\r\n"
			  "X-Frame-Options: DENY\r\n"
			  "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
			  "Referrer-Policy: no-referrer\r\n"
			  "Cross-Origin-Resource-Policy: same-origin\r\n"
			  "X-XSS-Protection: 0\r\n") == 0;
	if (r->https)
		ok &= kw_buf_puts(h, "Strict-Transport-Security: max-age=31536000; "
				     "includeSubDomains\r\n") == 0;
	ok &= kw_buf_printf(h, "X-Request-Id: %s\r\n", r->id) == 0;
	kw_sec_reply_headers(r, h); /* Vary, CORS, rate limits, Cache-Control */
	if (r->headers.len)
		ok &= kw_buf_append(h, r->headers.data, r->headers.len) == 0;
	ok &= kw_buf_puts(h, "\r\n") == 0;
	return ok;
}

void kw_reply_send(struct kw_req *r)
{
	struct kw_buf h;
	if (r->replied == KW_REPLIED_STREAMED)
		return; /* kw_reply_stream_begin() sent the head; the body went out as written */
	/* The expensive part is over: free its slot before the client can see the reply and
	 * send its next request (which another worker may take at once). */
	if (r->thr->heavy_state == 1)
		kw_heavy_leave(&r->thr->heavy);
	kw_buf_init(&h, 0);
	if (!r->replied)
		kw_reply_error(r, 500, "internal_error",
			       "the server could not answer this request");
	kw_api_cache_apply(r); /* ETag, Cache-Control, If-None-Match -> 304 */
	int ok = build_head(r, &h, 0);
	int head_only = !strcmp(r->method, "HEAD") || r->status == 204 || r->status == 304;
	if (!ok || put(r, h.data, h.len) < 0 ||
	    (!head_only && put(r, r->body.data, r->body.len) < 0))
		kw_debug("reply: client went away before the reply was sent (id=%s)", r->id);
	kw_buf_free(&h);
}

int kw_reply_stream_begin(struct kw_req *r, int status, const char *content_type)
{
	struct kw_buf h;
	kw_buf_init(&h, 0);
	r->status = status;
	r->content_type = content_type;
	r->replied = KW_REPLIED_STREAMED;
	kw_buf_reset(&r->body);
	int ok = build_head(r, &h, 1);
	int rc = ok && put(r, h.data, h.len) == 0 ? 0 : -1;
	kw_buf_free(&h);
	return rc;
}

int kw_reply_stream_write(struct kw_req *r, const char *data, size_t len)
{
	if (!strcmp(r->method, "HEAD"))
		return 0;
	return put(r, data, len);
}
