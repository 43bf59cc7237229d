/*
 * app.h — kw-api's process state (struct kw_app), its per-request state (struct kw_req), the
 * route table's shape and the reply helpers every handler uses.
 *
 * Ownership: one struct kw_app per worker process, built in main() and never freed before
 * exit; it is shared by the process's accept threads, which only read it after start-up
 * except through what guards itself (the limiter table, the writer's tables, mon under
 * mon_mu). One struct kw_thread per accept thread (KW_THREADS of them; one in a CGI process)
 * holds everything a request may change: the database connection, the caches, the request
 * id counter; no other thread touches it. One struct kw_req per thread, reused for each
 * request it accepts: everything a handler allocates for the reply hangs off it and is
 * released by kw_req_reset() after FCGX_Finish_r(), in one place.
 * Handlers reply exactly once, through kw_reply_*; kw_reply_error* write the one error shape
 * {"error":{"code","message"},"request_id"}.
 */
#ifndef KW_APP_H
#define KW_APP_H

#include <fcgiapp.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdint.h>

#include "config.h"
#include "heavy.h"
#include "http.h"
#include "jsonbody.h"
#include "security.h"
#include "store.h"
#include "store_cluster.h"
#include "util.h"

#define KW_MAX_PATH_ARGS 2
#define KW_MAX_PATH_LEN 512

struct kw_app {
	struct kw_config cfg;
	int64_t started_at; /* wall clock, seconds */
	int cgi;	    /* running as a plain CGI program (one request) */
	struct kw_sec *sec; /* security.h: origins, proxies, limiter; owned */
	struct kw_mon *mon; /* monitoring.h: GeoIP, error reports; owned, made before the threads */
	/* Held around the monitoring hooks (kw_mon_request_done, kw_mon_idle): their one-entry
	 * GeoIP cache and the error-report queue are the process's, not a thread's. */
	pthread_mutex_t mon_mu;
	struct kw_writer *writer; /* writer.h: every database write, off the request path */
};

/* One accept thread's own state (see the top of this file): built by kw_thread_init(), its
 * store opened by the caller or on first use, released by kw_thread_close(). */
struct kw_thread {
	struct kw_app *app;
	int index; /* 0..KW_THREADS-1; thread 0 also makes the writer's fallback passes */
	struct kw_store *store; /* NULL while the database is unusable */
	int64_t store_retry_at; /* monotonic us: next attempt to reopen it */
	char store_err[256];	/* why it is unusable (DEBUG detail only) */
	uint32_t id_prefix; /* random per thread: request ids differ across threads and workers */
	uint32_t id_counter;
	struct kw_api_cache *api_cache; /* cache.c: recent v1 replies, built on first use */
	struct kw_key_cache *keys; /* gate.c: recent key and token lookups, built on first use */
	/* cache.c kw_api_heavy_or_reply: this thread's hold on the shared cap on expensive
	 * requests; opened on first use (heavy_state 0), 1 open, -1 unusable (requests then run
	 * uncapped, logged once). Its own lock file descriptor: the slots are locks of an open
	 * file description (heavy.h), so two threads never share one. */
	int heavy_state;
	struct kw_heavy heavy;
	/* status.c: the store figures behind /api/status and /api/health, reused for up to a
	 * second so that a load balancer's polling costs no database round trip per request. */
	int64_t probe_at_us; /* monotonic; 0 = never */
	int probe_ok;
	struct kw_status probe;
	int probe_run_found; /* 1 when probe_run holds the newest fetch run */
	struct kw_cluster_run probe_run;
};

void kw_thread_init(struct kw_thread *t, struct kw_app *app, int index);
/* Close the store and free the caches; t can be initialised again. */
void kw_thread_close(struct kw_thread *t);

struct kw_route;
struct kw_api_cache;
struct kw_key_cache;

struct kw_req {
	struct kw_app *app;
	struct kw_thread *thr; /* the accept thread serving it */
	FCGX_Request fcgx;
	/* From the web server; borrowed, valid until FCGX_Finish_r. */
	const char *method;
	const char *uri;   /* REQUEST_URI as sent */
	const char *query; /* after '?', or "" */
	const char *remote_addr;
	char path[KW_MAX_PATH_LEN];	   /* REQUEST_URI before '?' */
	char *path_args[KW_MAX_PATH_ARGS]; /* decoded {segments}, owned */
	char id[17];
	int https;
	int64_t t0_us;
	const struct kw_route *route;
	struct kw_query q;
	/* Reply under construction. */
	int status;
	int replied;
	struct kw_buf headers; /* extra "Name: value\r\n" lines */
	struct kw_buf body;
	const char *content_type;
	int64_t body_read;     /* request body bytes consumed (body.c) */
	struct kw_req_sec sec; /* security.h: who is asking, what the limiter said */
};

typedef void (*kw_handler_fn)(struct kw_req *r);

enum kw_route_flags {
	KW_ROUTE_PUBLIC = 1, /* no credentials needed (health) */
	KW_ROUTE_ADMIN = 2,  /* needs a key or token with admin scope */
	KW_ROUTE_HEAVY = 4,  /* a reply the cache lacks can cost many ms: capped (heavy.h) */
	/* The handler itself asks for admin scope unless the client address is allowed
	 * (/metrics): documented as optional credentials with 401 and 403. */
	KW_ROUTE_SELF_GATED = 8,
	/* A 503 may carry the success shape (status, health: the database check failed). */
	KW_ROUTE_503_SAME_SHAPE = 16,
	KW_ROUTE_MAY_CONFLICT = 32, /* 409 while a fetch run is going (refresh) */
};

/* How the success body relates to the route's `reply` component (fcgi/schema.c). */
enum kw_reply_shape {
	KW_REPLY_BODY, /* the body is the component (NULL: any JSON object) */
	KW_REPLY_ITEM, /* the v1 envelope, data = the component */
	KW_REPLY_LIST, /* the v1 envelope, data = an array of the component */
	KW_REPLY_TEXT, /* not JSON: `reply` is the media type */
};

struct kw_route {
	const char *method;
	const char *pattern; /* "/api/v1/markets/{ticker}": {x} matches one segment */
	kw_handler_fn handler;
	const struct kw_param *params; /* declared query parameters, {NULL}-terminated or NULL */
	int flags;
	const char *summary;
	/* The answer, for the OpenAPI document and the tests that check answers against it. */
	int ok_status;
	enum kw_reply_shape shape;
	const char *reply;
	const char *csv_columns;	  /* "a,b,c" of the text/csv alternative, or NULL */
	const struct kw_body_field *body; /* declared JSON request body, or NULL */
};

/* routes.c */
extern const struct kw_route kw_routes[];
extern const int kw_routes_count;
void kw_dispatch(struct kw_req *r);

/* req.c */
const char *kw_req_param(struct kw_req *r, const char *name);
void kw_req_begin(struct kw_req *r);
void kw_req_reset(struct kw_req *r);
void kw_req_log(struct kw_req *r);

/* body.c: read and strictly validate a POST body against decl (see jsonbody.h). 0 with *out
 * owned by the caller (an empty object when there is no body); -1 when the error reply (400,
 * 413 or 415) has been made. */
int kw_req_json_body_or_reply(struct kw_req *r, const struct kw_body_field *decl,
			      json_object **out) KW_WUR;
/* body.c, CGI mode only: read and drop what is left of the request body (at most a few times
 * MAX_BODY_BYTES), so that the program never exits with unread input: Apache's mod_cgid hands
 * the CGI its connection socket as stdin, and closing a socket with unread bytes resets it,
 * which loses the reply. */
void kw_req_drain_body(struct kw_req *r);
/* Beyond KW_DRAIN_FACTOR times MAX_BODY_BYTES, a request body is not worth reading only to drop
 * it (CGI: the connection may be reset, which is what an oversized upload gets anyway; a kept
 * FastCGI connection is closed instead: accept.c). */
#define KW_DRAIN_FACTOR 16

/* reply.c */
void kw_reply_header(struct kw_req *r, const char *name, const char *value);
/* Serialise obj (ownership taken) as the body. */
void kw_reply_json(struct kw_req *r, int status, json_object *obj);
void kw_reply_error(struct kw_req *r, int status, const char *code, const char *message);
/* The same, plus a `detail` field (internals: SQL or library messages) only when DEBUG=true in
 * development; production bodies never carry it (DEBUG=true is refused there at start). */
void kw_reply_error_detail(struct kw_req *r, int status, const char *code, const char *message,
			   const char *detail);
/* Write the status line, headers and body to the web server. */
void kw_reply_send(struct kw_req *r);
/* Streaming (CSV exports): send the head now, without Content-Length, then the body in pieces;
 * kw_reply_send() then sends nothing. -1 when the client went away (stop writing). */
#define KW_REPLIED_STREAMED 2
int kw_reply_stream_begin(struct kw_req *r, int status, const char *content_type) KW_WUR;
int kw_reply_stream_write(struct kw_req *r, const char *data, size_t len) KW_WUR;

/* Handlers (one file per resource). */
void kw_handle_status(struct kw_req *r);
void kw_handle_health(struct kw_req *r);
void kw_handle_ws_ticket(struct kw_req *r); /* ws_ticket.c */
/* The data API (markets.c, whales.c, alerts.c, stats.c, legacy.c, refresh.c, openapi.c) and
 * the query parameters each declares. */
void kw_handle_v1_markets(struct kw_req *r);
void kw_handle_v1_market(struct kw_req *r);
void kw_handle_v1_market_history(struct kw_req *r);
void kw_handle_v1_whales(struct kw_req *r);
void kw_handle_v1_alerts(struct kw_req *r);
void kw_handle_v1_stats(struct kw_req *r);
void kw_handle_legacy_markets(struct kw_req *r);
void kw_handle_legacy_top_markets(struct kw_req *r);
void kw_handle_legacy_top5(struct kw_req *r);
void kw_handle_legacy_whale_alerts(struct kw_req *r);
void kw_handle_legacy_whale_analytics(struct kw_req *r);
void kw_handle_refresh(struct kw_req *r);    /* POST /api/refresh, the original's answer */
void kw_handle_v1_refresh(struct kw_req *r); /* POST /api/v1/refresh: 202 or 409 */
void kw_handle_openapi(struct kw_req *r);
extern const struct kw_param kw_params_v1_markets[];
extern const struct kw_param kw_params_v1_history[];
extern const struct kw_param kw_params_v1_whales[];
extern const struct kw_param kw_params_v1_alerts[];
extern const struct kw_param kw_params_v1_stats[];
extern const struct kw_param kw_params_legacy_markets[];
extern const struct kw_param kw_params_legacy_view[];
extern const struct kw_param kw_params_legacy_alerts[];

/* accept.c: one request, from the parameters to the access-log line (FastCGI and CGI). */
void kw_serve_one(struct kw_req *r);
/* accept.c: serve the FastCGI socket listen_fd with app->cfg.threads accept threads until
 * SIGTERM or SIGINT, the reload policy (RELOAD) or a failed accept; then stop between
 * requests, write what the writer holds and release everything. first is thread 0's state,
 * its store already opened (taken over: closed here). Returns the exit status. */
int kw_serve_threads(struct kw_app *app, struct kw_thread *first, int listen_fd);

/* prefork.c: run `workers` processes on the listening socket. Returns KW_PREFORK_CHILD in each
 * worker (which then serves); in the supervising parent it returns only when stopping, with
 * the exit status. */
#define KW_PREFORK_CHILD (-1)
int kw_prefork(int workers);

/* reload.c: RELOAD=true — exit between requests when the binary or settings file changes. */
struct kw_reload_file {
	char path[4096];
	uint64_t ino;
	int64_t mtime_ns;
};
struct kw_reload {
	int enabled;
	int64_t next_check_us;
	struct kw_reload_file exe, env;
};
void kw_reload_init(struct kw_reload *w, int enabled);
/* 1 when a watched file changed since kw_reload_init (checked at most once a second). */
int kw_reload_due(struct kw_reload *w);

/* req.c: the store, reopened if it was unusable (at most every KW_STORE_RETRY_US); NULL (and
 * a 503 already sent) if still unusable. */
#define KW_STORE_RETRY_US (5 * 1000000)
/* The request path's connection: it migrates if needed, and never checkpoints. */
#define KW_API_DB_FLAGS (KW_DB_MIGRATE | KW_DB_NO_CHECKPOINT)
struct kw_store *kw_app_store_or_reply(struct kw_req *r);

#endif
