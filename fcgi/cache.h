/*
 * cache.h — HTTP caching for kw-api's replies (cache.c): the v1 envelope with its ETag, each
 * accept thread's reply cache, If-None-Match -> 304 and Cache-Control. reply.c calls
 * kw_api_cache_apply on every reply; the data routes call the rest (through api.h).
 */
#ifndef KW_FCGI_CACHE_H
#define KW_FCGI_CACHE_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"

/* Reply 200 with the v1 envelope (data ownership taken; next_cursor NULL = none). */
void kw_api_reply_list(struct kw_req *r, json_object *data, int has_more, const char *next_cursor);
/* The same with data already JSON text (data[0..len) is copied). */
void kw_api_reply_list_text(struct kw_req *r, const char *data, size_t len, int has_more,
			    const char *next_cursor);
/*
 * Reply cache for the v1 lists: each accept thread keeps its last few envelope replies (data part and
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
/* What a cacheable read does first: the store (kw_app_store_or_reply), then the cache as
 * above. The store, or NULL when the reply is already made. by_accept: the answer differs by
 * Accept (JSON or CSV), which Vary says before a cached copy is served. */
struct kw_store *kw_api_read_store_or_reply(struct kw_req *r, int64_t max_age_s, int by_accept);
/* Free a thread's reply cache (struct kw_thread.api_cache; NULL is fine). */
void kw_api_cache_free(struct kw_api_cache *c);
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

/* Called by kw_reply_send() for every reply: on a 200 GET/HEAD it adds an ETag (from the body
 * unless a handler set one) and Cache-Control (max-age=CACHE_TTL, unless one is set), and turns
 * the reply into 304 Not Modified when If-None-Match names that ETag. */
void kw_api_cache_apply(struct kw_req *r);

#endif
