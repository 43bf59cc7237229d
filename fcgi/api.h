/*
 * api.h — what the data routes (markets.c, whales.c, alerts.c, stats.c, legacy.c, refresh.c,
 * openapi.c) share: the v1 envelope, opaque cursors, JSON for store rows, CSV streaming, and
 * HTTP caching (ETag / If-None-Match -> 304, Cache-Control from CACHE_TTL).
 *
 * The v1 envelope is {data, has_more, next_cursor, meta:{generated_at, source_lag_s}}. Its ETag
 * is computed over data, has_more and next_cursor only, so the same data gives the same ETag
 * every second even though meta changes. Legacy replies do the same with their timestamp.
 *
 * Cursors are opaque to clients: base64url of "<kind>:<fields>"; a cursor from another list,
 * another sort or a damaged one is a 400 naming `cursor`.
 */
#ifndef KW_FCGI_API_H
#define KW_FCGI_API_H

#include <json-c/json.h>
#include <stdint.h>

#include "app.h"
#include "store_api.h"

/* Values for JSON: micro-dollars as dollars, hundredths as contracts, Unix time as RFC 3339;
 * KW_NULL gives JSON null. */
json_object *kw_api_usd(int64_t micros);
json_object *kw_api_contracts(int64_t centi);
json_object *kw_api_time(int64_t unix_s);
json_object *kw_api_time_us(int64_t unix_us);
json_object *kw_api_str(const char *s); /* NULL -> null */

/* "2026-01-31T12:00:00.123456Z" (no fraction when it is zero). */
void kw_api_fmt_time_us(char *buf, size_t len, int64_t unix_us);
/* A row as JSON text appended to b (the fast path of the big lists), or as a json-c tree
 * parsed from that same text. Emitters return -1 if b is full. */
int kw_api_market_emit(struct kw_buf *b, const struct kw_market_row *m) KW_WUR;
int kw_api_trade_emit(struct kw_buf *b, const struct kw_trade_row *t) KW_WUR;
json_object *kw_api_market_json(const struct kw_market_row *m);
json_object *kw_api_trade_json(const struct kw_trade_row *t);
/* The one alert shape (kw_alert_json); legacy adds the original's market_impact and
 * ticker_symbol. */
json_object *kw_api_alert_json(const struct kw_alert *a, int legacy);

/* Reply 200 with the v1 envelope (data ownership taken; next_cursor NULL = none). */
void kw_api_reply_list(struct kw_req *r, json_object *data, int has_more, const char *next_cursor);
/* The same with data already JSON text (data[0..len) is copied). */
void kw_api_reply_list_text(struct kw_req *r, const char *data, size_t len, int has_more,
			    const char *next_cursor);
/*
 * Reply cache for the v1 lists: a worker keeps its last few envelope replies (data part and
 * ETag, keyed by the exact request URI) and serves one again while the market-data generation
 * (store.h: only kw-fetch's runs, detection and kw-admin's rebuilds advance it; the limiter,
 * metrics, keys and security log never do) is the one it was built at and it is at most
 * max_age_s old (some answers depend on
 * the clock: 24 h sums, default time ranges; KW_API_CACHE_MAX_AGE_S bounds that drift, longer
 * windows may allow more). meta is always fresh. It never serves CSV. 1 when it replied;
 * handlers call it first.
 */
#define KW_API_CACHE_MAX_AGE_S 2
int kw_api_reply_cached(struct kw_req *r, int64_t max_age_s);
/* The same cache for a whole JSON document (the legacy routes): kw_api_reply_doc replies obj
 * (ownership taken) with an ETag over it and, when stamped, a "timestamp" member added after
 * the ETag was computed (so the tag stays the same while the data does); a hit replies the
 * stored text, stamped anew. A reply from the cache carries "X-Cache: hit", one that was
 * stored "X-Cache: miss". */
int kw_api_reply_doc_cached(struct kw_req *r, int64_t max_age_s);
void kw_api_reply_doc(struct kw_req *r, json_object *obj, int stamped);
/*
 * Expensive requests (a KW_ROUTE_HEAVY route the reply cache could not answer: market
 * history, the legacy analytics; any CSV export) take a slot of the cap shared by every worker (heavy.h: HEAVY_REQUESTS_MAX at once,
 * one per client: the API key, else the address) until its reply is sent. 0 to go on; -1
 * when every slot or the client's is taken and 503 {"error":{"code":"busy"}} with Retry-After
 * has been made. kw_api_reply_cached and kw_api_reply_doc_cached call it on a miss, and
 * kw_api_stream_csv before it starts.
 */
int kw_api_heavy_or_reply(struct kw_req *r) KW_WUR;
/* Set the ETag from obj's serialisation (obj is only read). */
void kw_api_set_etag(struct kw_req *r, json_object *obj);

/* Cursors: encode into buf (>= 256 bytes); decode returns 0, or -1 after replying 400. */
void kw_api_cursor_encode(char *buf, size_t len, const char *text);
int kw_api_cursor_decode_or_reply(struct kw_req *r, const char *prefix, char *out,
				  size_t outlen) KW_WUR;

/* 1 when the client asked for CSV (?format=csv or an Accept naming text/csv first). */
int kw_api_wants_csv(struct kw_req *r);
/* Append one text CSV field (RFC 4180 quoting; a cell starting with = + - @ tab or CR is
 * prefixed with ' so that a spreadsheet never runs it as a formula, as OWASP advises). */
int kw_csv_field(struct kw_buf *b, const char *s, int last) KW_WUR;
/* Append one numeric field as it is: s is our own formatting of a number, never outside text. */
int kw_csv_number(struct kw_buf *b, const char *s, int last) KW_WUR;
/* One CSV line of n <= 32 fields (NULL = empty); bit i of numeric marks field i a number. */
int kw_csv_row(struct kw_buf *b, const char *const *fields, size_t n, uint32_t numeric) KW_WUR;

/* POST /api/refresh's and /api/v1/refresh's declared body (refresh.c), for the handler and the OpenAPI document. */
extern const struct kw_body_field kw_body_refresh[];

/* CSV export: send the head and `header`, then ask next_page for pages of at most `limit`
 * rows (appended to b as CSV lines; *n rows, *more if more follow; it advances its own cursor)
 * and write each as it comes, until done or max_rows. HEAD gets the head only. */
#define KW_CSV_PAGE 500
#define KW_CSV_MAX_ROWS 100000
typedef int (*kw_csv_page_fn)(void *ctx, struct kw_buf *b, int64_t limit, int64_t *n, int *more);
void kw_api_stream_csv(struct kw_req *r, const char *header, int64_t max_rows,
		       kw_csv_page_fn next_page, void *ctx);

/* Called by kw_reply_send() for every reply: on a 200 GET/HEAD it adds an ETag (from the body
 * unless a handler set one) and Cache-Control (max-age=CACHE_TTL, unless one is set), and turns
 * the reply into 304 Not Modified when If-None-Match names that ETag. */
void kw_api_cache_apply(struct kw_req *r);

#endif
