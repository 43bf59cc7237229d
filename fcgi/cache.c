/*
 * cache.c — HTTP caching and the v1 envelope (contract in cache.h): ETags, If-None-Match
 * -> 304, Cache-Control, and each worker's reply cache keyed on the market-data generation.
 *
 * Caching follows RFC 9110 section 13.1.2 (If-None-Match: a list of entity tags or *, compared
 * weakly) and RFC 9111 (Cache-Control max-age). ETags are the first 128 bits of SHA-256 of the
 * representation, so equal data gives equal tags across workers and restarts.
 */
#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "api.h"
#include "jsonw.h"

/* ---- ETag ---------------------------------------------------------------------------------- */

static void etag_of(const char *s, size_t n, char out[40])
{
	unsigned char md[32];
	kw_sha256(s, n, md);
	out[0] = '"';
	kw_hex(md, 16, out + 1);
	out[33] = '"';
	out[34] = '\0';
}

static int has_header(struct kw_req *r, const char *name)
{
	size_t n = strlen(name);
	const char *h = r->headers.data;
	while (h && *h) {
		if (!strncasecmp(h, name, n) && h[n] == ':')
			return 1;
		h = strstr(h, "\r\n");
		h = h ? h + 2 : NULL;
	}
	return 0;
}

void kw_api_set_etag(struct kw_req *r, json_object *obj)
{
	char tag[40];
	size_t len = 0;
	const char *s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
	etag_of(s ? s : "", s ? len : 0, tag);
	if (tag[0] && !has_header(r, "ETag"))
		kw_reply_header(r, "ETag", tag);
}

/* The ETag value a handler or this file set, copied into out ("" if none). */
static void current_etag(struct kw_req *r, char *out, size_t len)
{
	const char *h = r->headers.data;
	out[0] = '\0';
	while (h && *h) {
		if (!strncasecmp(h, "ETag: ", 6)) {
			const char *e = strstr(h, "\r\n");
			size_t n = e ? (size_t)(e - h - 6) : strlen(h + 6);
			if (n < len) {
				memcpy(out, h + 6, n);
				out[n] = '\0';
			}
			return;
		}
		h = strstr(h, "\r\n");
		h = h ? h + 2 : NULL;
	}
}

/* RFC 9110 13.1.2: weak comparison against each listed tag; "*" matches any. */
static int none_match(const char *header, const char *tag)
{
	const char *p = header;
	size_t tl = strlen(tag);
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (!strncmp(p, "W/", 2))
			p += 2;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *te = e;
		while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		if ((size_t)(te - p) == tl && !memcmp(p, tag, tl))
			return 1;
		p = e;
	}
	return 0;
}

void kw_api_cache_apply(struct kw_req *r)
{
	if (r->status != 200 || (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")))
		return;
	char tag[64];
	current_etag(r, tag, sizeof(tag));
	if (!tag[0]) {
		char t[40];
		etag_of(r->body.data ? r->body.data : "", r->body.len, t);
		if (!t[0])
			return;
		kw_reply_header(r, "ETag", t);
		kw_strlcpy(tag, t, sizeof(tag));
	}
	/* An answer to a key or token is never stored by a cache (the security checklist's
	 * rule); a client revalidates it with If-None-Match, which answers 304 below. A public
	 * answer (openapi.json, health) may be kept CACHE_TTL seconds. */
	if (!has_header(r, "Cache-Control")) {
		char cc[64];
		if (r->sec.scope != KW_SCOPE_NONE)
			kw_strlcpy(cc, "no-store", sizeof(cc));
		else
			snprintf(cc, sizeof(cc), "max-age=%lld",
				 (long long)r->app->cfg.cache_ttl_s);
		kw_reply_header(r, "Cache-Control", cc);
	}
	const char *inm = kw_req_param(r, "HTTP_IF_NONE_MATCH");
	if (inm && strlen(inm) <= 4096 && none_match(inm, tag)) {
		r->status = 304;
		kw_buf_reset(&r->body);
	}
}

/* ---- envelope ------------------------------------------------------------------------------ */

/* ---- reply cache --------------------------------------------------------------------------- */

#define CACHE_SLOTS 16
#define CACHE_KEY_MAX 512
#define CACHE_ENTRY_MAX (128 * 1024) /* 16 x 128 KiB bounds the cache at 2 MiB a worker */

struct cache_entry {
	char key[CACHE_KEY_MAX];
	int64_t version, stored_at, used;
	char *data; /* the envelope's data member, JSON text */
	size_t len;
	int has_more;
	char *next_cursor;
	char etag[40];	    /* of the stored reply */
	int64_t last_fetch; /* for source_lag_s; changes only with the generation */
	int doc;	    /* a legacy document (kw_api_reply_doc), not a v1 envelope */
	int stamped;	    /* doc: "timestamp" is added to it on every reply */
};

/* What a reply was built with, so that a cache hit need not recompute it. */
struct list_facts {
	char etag[40];
	int64_t last_fetch; /* -1: not known yet */
};

struct kw_api_cache {
	struct cache_entry e[CACHE_SLOTS];
	int64_t tick;
	char armed[sizeof(((struct kw_req *)0)->id)]; /* request that asked: only it may store */
};

void kw_api_cache_free(struct kw_api_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < CACHE_SLOTS; i++) {
		free(c->e[i].data);
		free(c->e[i].next_cursor);
	}
	free(c);
}

/* The cache key (the URI as sent) for a cacheable request, or NULL. */
static const char *cache_key(struct kw_req *r)
{
	if ((strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) || kw_api_wants_csv(r) ||
	    strlen(r->uri) >= CACHE_KEY_MAX)
		return NULL;
	return r->uri;
}

/* Only market-data writers advance it (store.h), so the limiter's write-behind, the metrics
 * flush and key or security writes leave every cached reply valid. */
static int data_generation(struct kw_req *r, int64_t *v)
{
	return r->thr->store ? kw_store_data_generation(r->thr->store, v) : -1;
}

/* The slot for key: the one holding it, else the least recently used. */
static struct cache_entry *cache_slot(struct kw_api_cache *c, const char *key)
{
	struct cache_entry *victim = &c->e[0];
	for (int i = 0; i < CACHE_SLOTS; i++) {
		if (!strcmp(c->e[i].key, key))
			return &c->e[i];
		if (c->e[i].used < victim->used)
			victim = &c->e[i];
	}
	return victim;
}

/* 1 when this request may store its reply: it asked the cache first and missed. */
static int may_store(struct kw_req *r, const char *key, size_t len, int64_t *v)
{
	struct kw_api_cache *c = r->thr->api_cache;
	return key && c && !strcmp(c->armed, r->id) && len <= CACHE_ENTRY_MAX &&
	       data_generation(r, v) == 0;
}

static void cache_fill(struct kw_api_cache *c, struct cache_entry *e, const char *key,
		       const char *data, size_t len, int64_t v)
{
	free(e->data);
	free(e->next_cursor);
	memset(e, 0, sizeof(*e));
	kw_strlcpy(e->key, key, sizeof(e->key));
	e->data = kw_xmalloc(len + 1);
	memcpy(e->data, data, len);
	e->data[len] = '\0';
	e->len = len;
	e->version = v;
	e->stored_at = kw_mono_us();
	e->used = ++c->tick;
}

/* The fresh entry for this request, or NULL (and this request armed to store its reply). */
static struct cache_entry *cache_lookup(struct kw_req *r, const char *key, int64_t max_age_s,
					int doc)
{
	int64_t v;
	if (!r->thr->api_cache)
		r->thr->api_cache = kw_xcalloc(1, sizeof(struct kw_api_cache));
	struct kw_api_cache *c = r->thr->api_cache;
	kw_strlcpy(c->armed, r->id, sizeof(c->armed)); /* a miss: this request may store */
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct cache_entry *e = &c->e[i];
		if (!e->data || strcmp(e->key, key))
			continue;
		if (e->doc != doc || kw_mono_us() - e->stored_at > max_age_s * 1000000 ||
		    data_generation(r, &v) < 0 || v != e->version)
			return NULL;
		e->used = ++c->tick;
		kw_reply_header(r, "X-Cache", "hit");
		return e;
	}
	return NULL;
}

static void cache_store(struct kw_req *r, const char *data, size_t len, int has_more,
			const char *next_cursor, const struct list_facts *facts)
{
	const char *key = cache_key(r);
	int64_t v;
	if (!may_store(r, key, len, &v))
		return;
	struct kw_api_cache *c = r->thr->api_cache;
	struct cache_entry *e = cache_slot(c, key);
	cache_fill(c, e, key, data, len, v);
	e->has_more = has_more;
	e->next_cursor = next_cursor ? kw_xstrdup(next_cursor) : NULL;
	kw_strlcpy(e->etag, facts->etag, sizeof(e->etag));
	e->last_fetch = facts->last_fetch;
	kw_reply_header(r, "X-Cache", "miss");
}

static void reply_list_text(struct kw_req *r, const char *data, size_t len, int has_more,
			    const char *next_cursor, struct list_facts *facts);

/* A miss on a heavy route must take a slot before the handler computes the reply. */
static int miss_or_busy(struct kw_req *r)
{
	return r->route && (r->route->flags & KW_ROUTE_HEAVY) && kw_api_heavy_or_reply(r) < 0;
}

int kw_api_heavy_or_reply(struct kw_req *r)
{
	struct kw_app *app = r->app;
	struct kw_thread *t = r->thr;
	if (t->heavy_state == 0) {
		char path[4200];
		kw_heavy_init(&t->heavy);
		snprintf(path, sizeof(path), "%s-heavy.lock", app->cfg.database_path);
		t->heavy_state = kw_heavy_open(&t->heavy, path) == 0 ? 1 : -1;
	}
	if (t->heavy_state < 0)
		return 0; /* logged when opening: serving uncapped beats refusing every export */
	/* Per key when a stored key asks (its holder may use many addresses), else per
	 * address (the shared API_KEY, tokens, anonymous). */
	const char *client = r->sec.key_id > 0 ? r->sec.who : r->sec.client;
	int got = kw_heavy_enter(&t->heavy, app->cfg.heavy_requests_max, client);
	if (got != 0)
		return 0;
	kw_reply_header(r, "Retry-After", "2");
	kw_reply_error(r, 503, "busy",
		       "too many expensive requests at once: retry after Retry-After seconds");
	return -1;
}

int kw_api_reply_cached(struct kw_req *r, int64_t max_age_s)
{
	const char *key = cache_key(r);
	struct cache_entry *e = key ? cache_lookup(r, key, max_age_s, 0) : NULL;
	if (!e)
		return miss_or_busy(r);
	struct list_facts facts;
	kw_strlcpy(facts.etag, e->etag, sizeof(facts.etag));
	facts.last_fetch = e->last_fetch;
	reply_list_text(r, e->data, e->len, e->has_more, e->next_cursor, &facts);
	return 1;
}

struct kw_store *kw_api_read_store_or_reply(struct kw_req *r, int64_t max_age_s, int by_accept)
{
	struct kw_store *s = kw_app_store_or_reply(r);
	if (!s)
		return NULL;
	if (by_accept)
		kw_reply_header(r, "Vary", "Accept"); /* JSON or CSV by Accept */
	if (kw_api_reply_cached(r, max_age_s))
		return NULL;
	return s;
}

/* A document's reply: text (a JSON object) as the body, with ",\"timestamp\":NOW" before its
 * closing brace when stamped; the ETag was computed without the timestamp. */
static void reply_doc_text(struct kw_req *r, const char *text, size_t len, int stamped,
			   const char *etag)
{
	struct kw_buf *b = &r->body;
	int err = 0;
	kw_buf_reset(b);
	if (stamped && len >= 2 && text[len - 1] == '}') {
		char ts[32];
		kw_fmt_rfc3339(kw_now_s(), ts, sizeof(ts));
		err |= kw_buf_append(b, text, len - 1) < 0;
		err |= kw_buf_printf(b, "%s\"timestamp\":\"%s\"}", len > 2 ? "," : "", ts) < 0;
	} else {
		err |= kw_buf_append(b, text, len) < 0;
	}
	if (err) {
		kw_reply_error(r, 500, "internal_error", "the reply could not be formatted");
		return;
	}
	if (etag[0] && !has_header(r, "ETag"))
		kw_reply_header(r, "ETag", etag);
	r->status = 200;
	r->content_type = "application/json";
	r->replied = 1;
}

int kw_api_reply_doc_cached(struct kw_req *r, int64_t max_age_s)
{
	const char *key = cache_key(r);
	struct cache_entry *e = key ? cache_lookup(r, key, max_age_s, 1) : NULL;
	if (!e)
		return miss_or_busy(r);
	reply_doc_text(r, e->data, e->len, e->stamped, e->etag);
	return 1;
}

void kw_api_reply_doc(struct kw_req *r, json_object *obj, int stamped)
{
	size_t len = 0;
	char etag[40];
	int64_t v;
	const char *s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
	if (!s) {
		json_object_put(obj);
		kw_reply_error(r, 500, "internal_error", "the reply could not be formatted");
		return;
	}
	etag_of(s, len, etag);
	reply_doc_text(r, s, len, stamped, etag);
	const char *key = cache_key(r);
	if (r->status == 200 && may_store(r, key, len, &v)) {
		struct kw_api_cache *c = r->thr->api_cache;
		struct cache_entry *e = cache_slot(c, key);
		cache_fill(c, e, key, s, len, v);
		e->doc = 1;
		e->stamped = stamped;
		kw_strlcpy(e->etag, etag, sizeof(e->etag));
		kw_reply_header(r, "X-Cache", "miss");
	}
	json_object_put(obj);
}

void kw_api_reply_list_text(struct kw_req *r, const char *data, size_t len, int has_more,
			    const char *next_cursor)
{
	struct list_facts facts = { .etag = "", .last_fetch = -1 };
	reply_list_text(r, data, len, has_more, next_cursor, &facts);
	if (r->status == 200)
		cache_store(r, data, len, has_more, next_cursor, &facts);
}

static void reply_list_text(struct kw_req *r, const char *data, size_t len, int has_more,
			    const char *next_cursor, struct list_facts *facts)
{
	struct kw_buf *b = &r->body;
	struct jw w = { .b = b, .first = 1 };
	int64_t now = kw_now_s();
	kw_buf_reset(b);
	jw_raw(&w, "{", 1);
	jw_key(&w, "data");
	jw_raw(&w, data, len);
	jw_key(&w, "has_more");
	jw_raw(&w, has_more ? "true" : "false", has_more ? 4 : 5);
	jw_key(&w, "next_cursor");
	jw_str(&w, next_cursor);
	/* The ETag covers everything but meta, which changes every second. */
	if (!facts->etag[0])
		etag_of(b->data ? b->data : "", b->len, facts->etag);
	if (facts->etag[0] && !has_header(r, "ETag"))
		kw_reply_header(r, "ETag", facts->etag);
	jw_key(&w, "meta");
	w.first = 1;
	jw_raw(&w, "{", 1);
	jw_key(&w, "generated_at");
	jw_time(&w, now);
	jw_key(&w, "source_lag_s");
	if (facts->last_fetch < 0 &&
	    (!r->thr->store || kw_store_last_fetch(r->thr->store, &facts->last_fetch) < 0))
		facts->last_fetch = 0;
	if (facts->last_fetch > 0)
		jw_dec(&w, now - facts->last_fetch, 0);
	else
		jw_raw(&w, "null", 4); /* never fetched: no lag to report */
	jw_raw(&w, "}}\n", 3);
	if (w.err) {
		kw_reply_error(r, 500, "internal_error", "the reply could not be formatted");
		return;
	}
	r->status = 200;
	r->content_type = "application/json";
	r->replied = 1;
}

void kw_api_reply_list(struct kw_req *r, json_object *data, int has_more, const char *next_cursor)
{
	size_t len = 0;
	const char *s = json_object_to_json_string_length(data, JSON_C_TO_STRING_PLAIN, &len);
	if (!s) {
		json_object_put(data);
		kw_reply_error(r, 500, "internal_error", "the reply could not be formatted");
		return;
	}
	kw_api_reply_list_text(r, s, len, has_more, next_cursor);
	json_object_put(data);
}
