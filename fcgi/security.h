/*
 * security.h — kw-api's request gate: address blocks, CORS, authentication, scopes, rate
 * limits and security events, applied to every route from its flags (KW_ROUTE_PUBLIC,
 * KW_ROUTE_ADMIN) by kw_dispatch(), never by handlers.
 *
 * Per request, in this order (routes.c calls the first two, reply.c the last):
 *   kw_sec_before_route()  blocked address -> 403; CORS preflight (OPTIONS) -> 204/403
 *                          (a refused one charged to the address: 429),
 *                          before any credential; credentials checked (X-API-Key or
 *                          Authorization: Bearer); one unit taken from the caller's limiter
 *                          bucket (the key, the token's subject, or the client address when
 *                          anonymous or failed) -> 429; refused Origin -> 403; bad
 *                          credentials -> 401.
 *   kw_sec_route_or_reply() anonymous on a non-public route -> 401; admin route without admin
 *                          scope -> 403.
 *   kw_sec_reply_headers() Vary: Origin, CORS headers for an allowed origin, the rate-limit
 *                          headers, Cache-Control: no-store on authenticated and 429 replies.
 * A request refused by the limiter takes no quota; everything after the limiter (401, 403,
 * 404, 405, 400, handlers) was counted.
 *
 * Process state (struct kw_sec) is built once by kw_sec_init() from the configuration, after
 * main() applied kw_config_verdict() (lib/config.h); kw_sec_init() adds the one production check
 * that needs the database (store, NULL when it is unusable): an API key must exist. store also
 * refills the limiter's table when this call creates it.
 */
#ifndef KW_FCGI_SECURITY_H
#define KW_FCGI_SECURITY_H

#include <stdint.h>

#include "origins.h"
#include "proxy.h"
#include "ratelimit.h"

#define KW_CLIENT_ADDR_MAX KW_ADDR_MAX

struct kw_app;
struct kw_req;
struct kw_buf;

/* Per process, built by kw_sec_init() (gate.c); shared by gate.c, cors.c and limit.c, and by
 * the process's accept threads: read-only once built (the limiter table guards itself). */
struct kw_sec {
	struct kw_origins *origins;
	struct kw_proxies proxies;  /* TRUSTED_PROXIES */
	struct kw_rl *rl;	    /* NULL: limiter unavailable (requests are refused) */
	char env_key_sha256[65];    /* hash of API_KEY, "" if unset */
	int jwt_enabled;	    /* JWT_SECRET long enough */
	int64_t interval_us, burst; /* RATE_LIMIT_PER_MINUTE / RATE_LIMIT_BURST */
	char *test_clock_file;	    /* development only: KW_TEST_CLOCK_FILE */
	/* PostgreSQL: limits, failure counts and blocks live in the database, shared by every
	 * node (lib/store_gcra.h); the shared-memory table keeps the rest (key generation,
	 * throttles of node-local log lines). SQLite: the table is the whole limiter. */
	int cluster;
};

struct kw_req_sec {
	char client[KW_CLIENT_ADDR_MAX]; /* address used for limits, blocks and events */
	int scope;			 /* enum kw_scope: KW_SCOPE_NONE when anonymous */
	int64_t key_id;			 /* api_keys.id, 0 for API_KEY, tokens, anonymous */
	char who[48];			 /* "key:kw_AbCd1234", "env-key", "token:tok_..." */
	char bucket[96];		 /* limiter key */
	const char *origin;		 /* an allowed Origin to echo, or NULL */
	int rl_set;
	struct kw_rl_result rl;
};

/*
 * Build the process's security state. Returns 0, or -1 with one line in err (start-up
 * refusal, exit KW_EX_CONFIG): production without a key source, with * or null in
 * ALLOWED_ORIGINS, with a short JWT_SECRET; an API_KEY shorter than 32 characters anywhere; an
 * unparsable ALLOWED_ORIGINS or TRUSTED_PROXIES entry; the limiter table cannot be mapped.
 */
struct kw_store;
int kw_sec_init(struct kw_app *app, struct kw_store *store, char *err, size_t errlen);
void kw_sec_shutdown(struct kw_app *app);

/* 0 to continue; -1 when a reply has been made. */
int kw_sec_before_route(struct kw_req *r);
int kw_sec_route_or_reply(struct kw_req *r);
void kw_sec_reply_headers(struct kw_req *r, struct kw_buf *h);

/*
 * Record a security event: one JSON log line and a row in security_events (written without
 * waiting for the database: writer.h). detail is a short reason in our own words (never a
 * credential, never raw input).
 */
void kw_sec_event(struct kw_req *r, const char *type, const char *detail);

/* limit.c: the clock (Unix microseconds), shifted by the test clock when it is on. */
int64_t kw_sec_now_us(struct kw_app *app);
/* limit.c: take one unit from r->sec.bucket (interval/burst) into r->sec.rl; 0 allowed,
 * -1 refused (429 replied, rate_limit_exceeded logged once per window) or no limiter (503). */
int kw_sec_limit_or_reply(struct kw_req *r, int64_t interval_us, int64_t burst);
/* limit.c, cluster limiter only: copy the blocks in the database into this host's table (one
 * request of the host does it every quarter of a second), where kw_rl_blocked() finds them. */
void kw_sec_cluster_sync_blocks(struct kw_req *r);
/* limit.c, cluster limiter only: count a failed credential from r's client and block it when
 * the count reaches max_failures; 1 when this failure started the block, 0 if not, -1 when
 * the database could not count it (logged). */
int kw_sec_cluster_failure(struct kw_req *r, int64_t max_failures, int64_t block_us);
/* The 403 for a blocked client address. */
void kw_sec_reply_blocked(struct kw_req *r);
void kw_sec_rl_headers(struct kw_req *r, struct kw_buf *h);
/* cors.c */
/* Sets r->sec.origin to the configured entry an Origin matches; 1 if an Origin was sent and
 * refused, else 0. */
int kw_cors_check(struct kw_req *r);
/* The cors_origin_denied event for a refused origin (throttled per client address). */
void kw_cors_deny_event(struct kw_req *r, const char *why);
/* An OPTIONS preflight: 1 if it was one and has been answered (204 or 403), else 0. */
int kw_cors_preflight(struct kw_req *r, int refused);
void kw_cors_headers(struct kw_req *r, struct kw_buf *h);

#endif
