/*
 * cors.c — CORS for kw-api (Fetch standard, "CORS protocol"): exact origins only.
 *
 * An Origin is allowed only when it is on ALLOWED_ORIGINS (origins.h: exact scheme, host and
 * port). The server's "own" origin is not derived from the Host header: any hostname an
 * attacker points at this server (DNS rebinding) would then count as own. A deployment lists
 * its own origin (`make run` does) because browsers send Origin on same-origin POSTs too. An
 * allowed origin gets Access-Control-Allow-Origin with the configured entry, normalised —
 * never "*" and never the raw header — and the rate-limit headers exposed;
 * Access-Control-Allow-Credentials only with CORS_ALLOW_CREDENTIALS=true.
 *
 * A refused origin gets no CORS headers at all. We also refuse the request itself with 403
 * (origin_not_allowed) rather than serve it and rely on the browser to hide the answer: a
 * cross-site page must not be able to make a logged-in browser perform a POST either, and
 * clients that are not browsers do not send Origin. A request without Origin is not CORS.
 * Every refusal, preflight or not, is a cors_origin_denied security event, at most one per
 * client address a minute (kw_cors_deny_event).
 *
 * Preflights (OPTIONS with Origin and Access-Control-Request-Method) are answered here, before
 * authentication (browsers never send credentials on a preflight): 204 with the allowed
 * methods, headers and max-age, or 403 for a refused origin, another method, or a header
 * outside the allowed list. A refused preflight takes one request from the address's limiter
 * bucket (429 when it is empty); an allowed one is free, as the browser's own step.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "log.h"

#define ALLOW_METHODS "GET, POST, OPTIONS"
#define ALLOW_HEADERS "Content-Type, Authorization, X-API-Key"
#define MAX_AGE_S "600"
#define EXPOSE_HEADERS                                                                             \
	"RateLimit-Policy, RateLimit, X-RateLimit-Limit, X-RateLimit-Remaining, "                  \
	"X-RateLimit-Reset, Retry-After, X-Request-Id"

int kw_cors_check(struct kw_req *r)
{
	const char *origin = kw_req_param(r, "HTTP_ORIGIN");
	if (!origin)
		return 0;
	r->sec.origin = kw_origins_find(r->app->sec->origins, origin, strlen(origin));
	return r->sec.origin == NULL;
}

/* 1 if every comma-separated name in list is one of ALLOW_HEADERS (any case). */
static int headers_allowed(const char *list)
{
	static const char *const allowed[] = { "content-type", "authorization", "x-api-key" };
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t n = strcspn(p, ", \t");
		if (!n)
			break;
		int ok = 0;
		for (size_t i = 0; i < KW_ARRAY_LEN(allowed) && !ok; i++)
			ok = strlen(allowed[i]) == n && !strncasecmp(allowed[i], p, n);
		if (!ok)
			return 0;
		p += n;
	}
	return 1;
}

void kw_cors_deny_event(struct kw_req *r, const char *why)
{
	/* Throttled per address: a page looping over refused requests must not turn each into a
	 * log line and a database row. */
	char key[KW_CLIENT_ADDR_MAX + 4];
	int64_t now = kw_sec_now_us(r->app);
	snprintf(key, sizeof(key), "c:%s", r->sec.client);
	if (kw_rl_raise(r->app->sec->rl, key, now + 60LL * 1000000) < now)
		kw_sec_event(r, "cors_origin_denied", why);
}

static void deny_preflight(struct kw_req *r, const char *why)
{
	/* A refused preflight costs the address a request, like any refused request: free ones
	 * were a way to create limiter state without spending quota. */
	struct kw_sec *sec = r->app->sec;
	snprintf(r->sec.bucket, sizeof(r->sec.bucket), "a:%s", r->sec.client);
	if (kw_sec_limit_or_reply(r, sec->interval_us, sec->burst) < 0)
		return; /* 429 replied */
	kw_cors_deny_event(r, why);
	kw_reply_error(r, 403, "preflight_refused", "this cross-origin request is not allowed");
}

int kw_cors_preflight(struct kw_req *r, int refused)
{
	if (strcmp(r->method, "OPTIONS"))
		return 0;
	const char *origin = kw_req_param(r, "HTTP_ORIGIN");
	const char *method = kw_req_param(r, "HTTP_ACCESS_CONTROL_REQUEST_METHOD");
	if (!origin || !method)
		return 0; /* not a preflight: routed like any request (405 with Allow) */
	if (refused) {
		deny_preflight(r, "preflight from an origin not on ALLOWED_ORIGINS");
		return 1;
	}
	if (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "HEAD")) {
		r->sec.origin = NULL; /* a refused preflight carries no CORS headers */
		deny_preflight(r, "preflight for a method that is not allowed");
		return 1;
	}
	const char *hdrs = kw_req_param(r, "HTTP_ACCESS_CONTROL_REQUEST_HEADERS");
	if (hdrs && !headers_allowed(hdrs)) {
		r->sec.origin = NULL;
		deny_preflight(r, "preflight for a header that is not allowed");
		return 1;
	}
	kw_reply_header(r, "Access-Control-Allow-Methods", ALLOW_METHODS);
	kw_reply_header(r, "Access-Control-Allow-Headers", ALLOW_HEADERS);
	kw_reply_header(r, "Access-Control-Max-Age", MAX_AGE_S);
	r->status = 204;
	r->content_type = NULL;
	r->replied = 1;
	return 1;
}

void kw_cors_headers(struct kw_req *r, struct kw_buf *h)
{
	const char *o = r->sec.origin;
	if (!o)
		return;
	int ok = kw_buf_printf(h, "Access-Control-Allow-Origin: %s\r\n", o) == 0;
	ok &= kw_buf_puts(h, "Access-Control-Expose-Headers: " EXPOSE_HEADERS "\r\n") == 0;
	if (r->app->cfg.cors_allow_credentials)
		ok &= kw_buf_puts(h, "Access-Control-Allow-Credentials: true\r\n") == 0;
	if (!ok)
		kw_error("reply: header buffer full");
}
