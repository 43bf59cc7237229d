/*
 * fetch.h — the pieces of kw-fetch shared between its files (not used outside fetch/).
 *
 *   client.c  where response bodies come from: Kalshi over HTTP (libcurl), or a --replay
 *             directory; and --record, which saves every body a live run fetched.
 *   run.c     one fetch run: catalog, markets, trades, order books, detection, retention,
 *             and the fetch_runs row that records how it went (its state: run.h).
 *   pages.c   the paginated listings: a reader thread one page ahead, pages stored whole.
 *   main.c    options, configuration, the single-instance lock, --once / --loop.
 *
 * Replay/record layout (one run per directory):
 *   DIR/manifest.json             {"recorded_at":"RFC 3339"}  (optional)
 *   DIR/<kind>/NNNN.json          list pages in request order: markets, trades, events, series
 *   DIR/<kind>/<TICKER>.json      per-object bodies: orderbook, event
 * A replay DIR with neither manifest.json nor markets/ is read as a set of runs: its subdirectories in
 * name order (run1/, run2/, ...).
 */
#ifndef KW_FETCH_H
#define KW_FETCH_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "store.h"
#include "util.h"

/* Exit statuses (documented in --help). */
#define KW_FETCH_EX_OK 0
#define KW_FETCH_EX_FAILED 1
#define KW_FETCH_EX_USAGE 2
#define KW_FETCH_EX_PARTIAL 3
#define KW_FETCH_EX_TEMPFAIL 75 /* EX_TEMPFAIL: Kalshi unreachable or unavailable */

#define KW_FETCH_MAX_BODY (32u << 20) /* hard cap on one response body */

enum kw_fetch_kind {
	KW_KIND_MARKETS,
	KW_KIND_TRADES,
	KW_KIND_EVENTS,
	KW_KIND_SERIES,
	KW_KIND_EVENT,
	KW_KIND_ORDERBOOK,
	KW_KIND_COUNT
};

enum kw_get {
	KW_GET_OK = 0,
	KW_GET_NOT_FOUND,   /* 404, or no such file in a replay: nothing more to read */
	KW_GET_FAILED,	    /* a bad answer (4xx, redirect, over the size cap) */
	KW_GET_UNAVAILABLE, /* unreachable, timeouts, 429/5xx after every retry */
	KW_GET_STOPPED,	    /* a stop signal arrived while waiting */
};

struct kw_client_opts {
	const char *base;	/* KALSHI_API_BASE, trailing slashes ignored */
	int64_t timeout_s;	/* total per request */
	int64_t max_rps;	/* requests started per second, at most */
	int64_t backoff_ms;	/* first retry delay; doubles, plus up to 50% jitter */
	int retries;		/* retries after the first attempt */
	size_t max_body;	/* response cap */
	const char *record_dir; /* NULL: do not record */
	const volatile sig_atomic_t *stop;
};

struct kw_client;

struct kw_client *kw_client_new(const struct kw_client_opts *o);
void kw_client_free(struct kw_client *c);
/* Start a run: page counters restart; replay_dir (NULL = live) is read for this run. When
 * recording, a new run directory is created under record_dir; -1 (logged) if it cannot be. */
int kw_client_begin_run(struct kw_client *c, const char *replay_dir, int64_t run_at) KW_WUR;
/*
 * GET path?query (path without the base, e.g. "/markets"; query may be NULL) into body.
 * kind and key (a ticker for per-object kinds, else NULL) name the file for replay and
 * record. Every failure is logged once with the endpoint, the status and Kalshi's error code.
 */
enum kw_get kw_client_get(struct kw_client *c, enum kw_fetch_kind kind, const char *path,
			  const char *query, const char *key, struct kw_buf *body);
/* While *cancel is non-zero (NULL: never), requests and their waits end as if stopped
 * (KW_GET_STOPPED). For a thread reading ahead whose consumer has given up. */
void kw_client_set_cancel(struct kw_client *c, const atomic_int *cancel);
/* HTTP errors (failed attempts, including retried ones) since kw_client_begin_run. */
int64_t kw_client_http_errors(const struct kw_client *c);
/* Percent-encode s for a query value or path segment into out (owned by caller). */
int kw_client_escape(const char *s, struct kw_buf *out) KW_WUR;

/* Interruptible sleep: returns early (1) when *stop becomes set. */
int kw_fetch_sleep_us(int64_t us, const volatile sig_atomic_t *stop);

struct kw_fetch_ctx {
	const struct kw_config *cfg;
	struct kw_store *store;
	struct kw_client *client;
	const volatile sig_atomic_t *stop;
	int replay_keep_time; /* replay: keep recorded times instead of shifting them to now */
	/* replay: the shift to apply when replay_shift_given, instead of "the last run is now".
	 * Trades are unique by (time, Kalshi id), so replaying a recording again under the same
	 * shift stores nothing twice, while a different shift stores its trades again. */
	int replay_shift_given;
	int64_t replay_shift_s;
};

/*
 * One run. replay_dir NULL = live. For a replay, shift_s is added to recorded times (so a
 * sample reads as recent). Returns a KW_FETCH_EX_* status.
 */
int kw_fetch_run(struct kw_fetch_ctx *ctx, const char *replay_dir, int64_t run_at, int64_t shift_s);

#endif
