/*
 * body.c — reading a POST body for a handler: kw_req_json_body_or_reply(); in CGI mode,
 * kw_req_drain_body() drops what no handler read.
 *
 * Rules, in order: no body at all (CONTENT_LENGTH absent or 0) is an empty object, so a POST
 * with only defaults needs no body; a body must be declared application/json (415 otherwise);
 * CONTENT_LENGTH above MAX_BODY_BYTES is refused with 413 before a single byte is read; exactly
 * CONTENT_LENGTH bytes are then read (a short read is a 400); the bytes are checked by
 * kw_json_body_parse() (lib/jsonbody.c): strict syntax, depth limit, no duplicate keys, only
 * declared fields of the declared types. Every refusal is logged as a validation_failed
 * security event. The web server has already de-chunked the body and set CONTENT_LENGTH
 * (lighttpd and Apache both do for FastCGI), so a body without a length is not accepted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "log.h"

/* "application/json", optionally with "; charset=utf-8" (any case, optional spaces). */
static int is_json_type(const char *ct)
{
	if (!ct || strncasecmp(ct, "application/json", 16))
		return 0;
	const char *p = ct + 16;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return 1;
	if (*p++ != ';')
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "charset=", 8))
		return 0;
	p += 8;
	if (!strcasecmp(p, "utf-8") || !strcasecmp(p, "\"utf-8\""))
		return 1;
	return 0;
}

static int read_exact(struct kw_req *r, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		int k;
		if (r->app->cgi)
			k = (int)fread(buf + got, 1, n - got, stdin);
		else
			k = FCGX_GetStr(buf + got, (int)(n - got), r->fcgx.in);
		if (k <= 0)
			return -1;
		got += (size_t)k;
		r->body_read += k;
	}
	return 0;
}

void kw_req_drain_body(struct kw_req *r)
{
	const char *cl = kw_req_param(r, "CONTENT_LENGTH");
	int64_t len = 0;
	if (!r->app->cgi || !cl || kw_parse_i64(cl, 0, INT64_MAX, &len) < 0)
		return;
	if (len - r->body_read > KW_DRAIN_FACTOR * r->app->cfg.max_body_bytes)
		return;
	char chunk[4096];
	while (r->body_read < len) {
		int64_t want = len - r->body_read;
		size_t n =
			fread(chunk, 1,
			      want < (int64_t)sizeof(chunk) ? (size_t)want : sizeof(chunk), stdin);
		if (n == 0)
			return; /* EOF or an error: nothing more to drop */
		r->body_read += (int64_t)n;
	}
}

static void refuse(struct kw_req *r, int status, const char *code, const char *message)
{
	kw_sec_event(r, "validation_failed", message);
	kw_reply_error(r, status, code, message);
}

int kw_req_json_body_or_reply(struct kw_req *r, const struct kw_body_field *decl, json_object **out)
{
	int rc = -1;
	char *buf = NULL;
	*out = NULL;
	const char *cl = kw_req_param(r, "CONTENT_LENGTH");
	int64_t len = 0;
	if (cl && *cl && kw_parse_i64(cl, 0, INT64_MAX, &len) < 0) {
		refuse(r, 400, "invalid_body", "Content-Length is malformed");
		goto out;
	}
	if (len == 0) {
		*out = json_object_new_object();
		return 0;
	}
	if (!is_json_type(kw_req_param(r, "CONTENT_TYPE"))) {
		refuse(r, 415, "unsupported_media_type", "request body must be application/json");
		goto out;
	}
	if (len > r->app->cfg.max_body_bytes) {
		char msg[96];
		snprintf(msg, sizeof(msg), "request body is larger than %lld bytes",
			 (long long)r->app->cfg.max_body_bytes);
		refuse(r, 413, "body_too_large", msg);
		goto out;
	}
	buf = kw_xmalloc((size_t)len + 1);
	if (read_exact(r, buf, (size_t)len) < 0) {
		refuse(r, 400, "invalid_body", "request body is shorter than its Content-Length");
		goto out;
	}
	buf[len] = '\0';
	char err[160];
	if (kw_json_body_parse(buf, (size_t)len, decl, out, err, sizeof(err)) < 0) {
		refuse(r, 400, "invalid_body", err);
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}
