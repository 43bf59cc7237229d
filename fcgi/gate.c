/*
 * gate.c — the request gate's core (see security.h): start-up checks, the client address,
 * credentials (X-API-Key, Authorization: Bearer), scopes, address blocks and security events.
 *
 * Credentials: an API key is hashed (SHA-256) and looked up by hash, then the stored hash is
 * compared again in constant time; API_KEY from the environment is compared the same way and
 * is an admin key (the original's setting, kept as a bootstrap). Keys are read from the
 * X-API-Key header only: a key in the query string is not a credential (and an undeclared
 * parameter besides). A key never reaches a log: only its prefix or id.
 *
 * Key lookups are cached per accept thread (KEY_CACHE_SLOTS, direct-mapped by hash), because a
 * database read per request costs about a third of the throughput of a cheap route. The cache
 * is exact for the supported path: kw-admin bumps the key generation in the shared limiter
 * table after every create/revoke/rotate, and a worker whose entry has an older generation
 * reads the database again, so a revocation is refused on the very next request by every
 * worker. An entry is also re-read after KEY_CACHE_TTL_S seconds, which bounds how long a
 * change made to api_keys by hand (sqlite3) can go unseen. Unknown keys are never cached.
 * Revoked bearer tokens (by jti, `kw-admin token revoke`) are checked the same way, through a
 * second cache with the same generation and lifetime.
 *
 * Every kind of credential failure (missing, malformed, unknown, revoked, expired, forged)
 * gets the same 401 body and WWW-Authenticate header; only the log line and the
 * security_events row say which it was. Failures with a credential presented also count
 * towards SUSPICIOUS_AUTH_FAILURES per address in 5 minutes (a GCRA bucket in the limiter
 * table); reaching it blocks the address for BLOCK_MINUTES (403 before anything else) and
 * raises a suspicious_activity event at error level, which is the alert an operator's log
 * monitoring picks up. On PostgreSQL the failure counts and blocks are rows of the cluster
 * limiter (limit.c, lib/store_gcra.h), mirrored into each host's table within a quarter of a
 * second: a block made by any node refuses the address on every node. Requests without any credential are not counted: a browser that
 * forgot its key is not an attack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "app.h"
#include "auth.h"
#include "log.h"
#include "monitoring.h"
#include "store_security.h"
#include "util.h"
#include "writer.h"

#define KEY_CACHE_SLOTS 64
#define KEY_CACHE_TTL_S 10

struct key_cache_slot {
	uint64_t generation;
	int64_t cached_at;
	struct kw_key_row row; /* row.key_sha256[0] == 0: empty */
};

/* A token's jti and whether it is revoked; unlike keys, both answers are cached: a jti only
 * gets here inside a token whose signature held. */
struct token_cache_slot {
	uint64_t generation;
	int64_t cached_at;
	int revoked;
	char jti[64]; /* "" = empty */
};

struct kw_key_cache {
	struct key_cache_slot slot[KEY_CACHE_SLOTS];
	struct token_cache_slot tok[KEY_CACHE_SLOTS];
};
#define UNAUTHORIZED_MSG                                                                           \
	"valid credentials are required: an X-API-Key header or an Authorization: Bearer token"

static void restore_limiter(struct kw_rl *rl, void *ctx)
{
	struct kw_store *store = ctx;
	if (!store) {
		kw_warn("ratelimit: database unavailable; limiter state starts empty");
		return;
	}
	if (kw_store_rl_restore(store, rl, kw_now_us()) == 0)
		kw_info("ratelimit: shared table created and restored from the database");
}

int kw_sec_init(struct kw_app *app, struct kw_store *store, char *err, size_t errlen)
{
	const struct kw_config *c = &app->cfg;
	int prod = c->environment == KW_ENV_PRODUCTION;
	struct kw_sec *sec = kw_xcalloc(1, sizeof(*sec));
	app->sec = sec;

	/* main() applied kw_config_verdict(): what is left needs the database or builds state. */
	size_t klen = strlen(c->api_key);
	if (klen)
		kw_key_hash(c->api_key, klen, sec->env_key_sha256);

	size_t slen = strlen(c->jwt_secret);
	sec->jwt_enabled = slen >= KW_JWT_MIN_SECRET;
	if (slen && !sec->jwt_enabled)
		kw_warn("config: JWT_SECRET is shorter than %d bytes: bearer tokens are refused",
			KW_JWT_MIN_SECRET);

	int wild = 0;
	sec->origins = kw_origins_parse(c->allowed_origins, &wild, err, errlen);
	if (!sec->origins)
		return -1;
	if (wild)
		kw_warn("config: ALLOWED_ORIGINS: * and null are never allowed; entries ignored");
	if (kw_proxies_parse(&sec->proxies, c->trusted_proxies, err, errlen) < 0)
		return -1;

	if (prod && !klen) {
		int64_t n = store ? kw_store_key_count_active(store) : -1;
		if (n <= 0) {
			snprintf(err, errlen,
				 "config: no API key in production: set API_KEY or create one with "
				 "`kw-admin key create --name NAME`%s",
				 n < 0 ? " (the database could not be read)" : "");
			return -1;
		}
	}

	sec->burst = c->rate_limit_burst;
	sec->interval_us = 60LL * 1000000 / c->rate_limit_per_minute;
	const char *tc = getenv("KW_TEST_CLOCK_FILE");
	if (tc && *tc && !prod) {
		sec->test_clock_file = kw_xstrdup(tc);
		kw_warn("KW_TEST_CLOCK_FILE is set: the clock is shifted for tests (development "
			"only; never set it in production)");
	}

	char *path = kw_rl_path(c->database_path);
	struct stat st;
	uint64_t owner = stat(c->database_path, &st) == 0
				 ? ((uint64_t)st.st_dev << 40) ^ (uint64_t)st.st_ino
				 : 0;
	sec->rl = kw_rl_open(path, owner, restore_limiter, store, err, errlen);
	free(path);
	if (!sec->rl)
		return -1;
	/* RATE_LIMIT_SCOPE=node: one node on PostgreSQL keeps its limits in this host's table, as
	 * on SQLite, without a statement per request (docs/cluster.md). */
	sec->cluster =
		kw_url_is_postgres(c->db_target) && c->rate_limit_scope == KW_RL_SCOPE_CLUSTER;
	return 0;
}

void kw_sec_shutdown(struct kw_app *app)
{
	struct kw_sec *sec = app->sec;
	if (!sec)
		return;
	kw_rl_close(sec->rl); /* the writer (writer.h), stopped first, made the last copy */
	kw_origins_free(sec->origins);
	free(sec->test_clock_file);
	free(sec);
	app->sec = NULL;
}

/* REMOTE_ADDR, or behind trusted proxies the client they name (proxy.h). 0, or -1 after a
 * 400 for an X-Forwarded-For that a trusted proxy could not have written. */
static int client_address(struct kw_req *r)
{
	const struct kw_proxies *p = &r->app->sec->proxies;
	const char *peer = r->remote_addr;
	int trusted = p->n && kw_proxies_contains(p, peer, strlen(peer));
	const char *xff = trusted ? kw_req_param(r, "HTTP_X_FORWARDED_FOR") : NULL;
	if (kw_client_address(p, peer, trusted, xff, r->sec.client) != KW_FWD_MALFORMED)
		return 0;
	kw_warn("request from %s: X-Forwarded-For is not a list of addresses; refused",
		r->sec.client);
	kw_reply_error(r, 400, "bad_forwarded_for",
		       "the X-Forwarded-For header is not a list of IP addresses");
	return -1;
}

void kw_sec_event(struct kw_req *r, const char *type, const char *detail)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "event", json_object_new_string("security"));
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "client", json_object_new_string(r->sec.client));
	if (r->sec.who[0])
		json_object_object_add(o, "who", json_object_new_string(r->sec.who));
	if (r->sec.key_id)
		json_object_object_add(o, "key_id", json_object_new_int64(r->sec.key_id));
	json_object_object_add(o, "detail", json_object_new_string(detail ? detail : ""));
	json_object_object_add(o, "method",
			       json_object_new_string_len(r->method, (int)strnlen(r->method, 16)));
	json_object_object_add(o, "path",
			       json_object_new_string_len(r->path, (int)strnlen(r->path, 200)));
	json_object_object_add(o, "request_id", json_object_new_string(r->id));
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	kw_log_json(strcmp(type, "suspicious_activity") ? KW_LOG_WARNING : KW_LOG_ERROR,
		    s ? s : "{}");
	json_object_put(o);
	struct kw_worker_row row = { .kind = KW_WROW_EVENT,
				     .at = kw_sec_now_us(r->app) / 1000000,
				     .key_id = r->sec.key_id };
	kw_strlcpy(row.type, type, sizeof(row.type));
	kw_strlcpy(row.client, r->sec.client, sizeof(row.client));
	kw_strlcpy(row.detail, detail ? detail : "", sizeof(row.detail));
	kw_strlcpy(row.request_id, r->id, sizeof(row.request_id));
	kw_writer_row(r->app, r->thr->store, &row);
	kw_mon_security_event(r->app, type);
}

static void reply_unauthorized(struct kw_req *r)
{
	kw_reply_header(r, "WWW-Authenticate", "Bearer realm=\"kalshiwhale\"");
	kw_reply_error(r, 401, "unauthorized", UNAUTHORIZED_MSG);
}

/* A failure with a credential presented: count it, maybe block the address. */
static void count_failure(struct kw_req *r)
{
	struct kw_app *app = r->app;
	int64_t n = app->cfg.suspicious_auth_failures;
	int64_t now = kw_sec_now_us(app);
	int64_t block_us = app->cfg.block_minutes * 60 * 1000000, until = now + block_us;
	int started = app->sec->cluster
			      ? kw_sec_cluster_failure(r, n, block_us)
			      : kw_rl_count_failure(app->sec->rl, r->sec.client, now, n, block_us);
	if (started < 0)
		kw_warn("request id=%s: the failed authentication from %s could not be counted "
			"(database unavailable)",
			r->id, r->sec.client);
	if (started <= 0)
		return;
	char detail[128];
	snprintf(detail, sizeof(detail),
		 "%lld failed authentications within 5 minutes: address blocked for %lld minutes",
		 (long long)n, (long long)app->cfg.block_minutes);
	kw_sec_event(r, "suspicious_activity", detail);
	struct kw_worker_row row = { .kind = KW_WROW_BLOCK,
				     .at = now / 1000000,
				     .until = until / 1000000,
				     .type = "auth_failures" };
	kw_strlcpy(row.client, r->sec.client, sizeof(row.client));
	kw_writer_row(app, r->thr->store, &row); /* for operators: the limiter table enforces it */
}

enum cred { CRED_NONE, CRED_OK, CRED_BAD, CRED_UNAVAILABLE };

/* This thread's cache of key and token lookups, made on first use (freed with the thread). */
static struct kw_key_cache *key_cache(struct kw_req *r)
{
	if (!r->thr->keys)
		r->thr->keys = kw_xcalloc(1, sizeof(*r->thr->keys));
	return r->thr->keys;
}

static enum cred check_key(struct kw_req *r, const char *key, const char **reason, int64_t *rate)
{
	struct kw_sec *sec = r->app->sec;
	char hash[65], prefix[KW_KEY_PREFIX_LEN + 1];
	if (!kw_key_is_wellformed(key)) {
		*reason = "key_malformed";
		return CRED_BAD;
	}
	kw_key_prefix(key, prefix);
	kw_key_hash(key, strlen(key), hash);
	if (sec->env_key_sha256[0] && kw_ct_equal(hash, sec->env_key_sha256, 64)) {
		r->sec.scope = KW_SCOPE_ADMIN;
		snprintf(r->sec.who, sizeof(r->sec.who), "env-key");
		snprintf(r->sec.bucket, sizeof(r->sec.bucket), "k:env");
		return CRED_OK;
	}
	snprintf(r->sec.who, sizeof(r->sec.who), "key:%s", prefix);
	struct kw_store *store = kw_app_store_or_reply(r); /* reopened if it was down */
	if (!store)
		return CRED_UNAVAILABLE; /* 503 already replied */
	struct kw_key_row k;
	int64_t now = kw_sec_now_us(r->app) / 1000000;
	uint64_t gen = kw_rl_keys_generation(sec->rl);
	char first[3] = { hash[0], hash[1], '\0' };
	struct key_cache_slot *c = &key_cache(r)->slot[strtoul(first, NULL, 16) % KEY_CACHE_SLOTS];
	int found;
	if (c->row.key_sha256[0] && c->generation == gen && now >= c->cached_at &&
	    now - c->cached_at < KEY_CACHE_TTL_S && kw_ct_equal(hash, c->row.key_sha256, 64)) {
		k = c->row;
		found = 1;
	} else {
		found = kw_store_key_find(store, hash, &k);
		if (found < 0)
			return CRED_UNAVAILABLE;
		if (found) {
			c->row = k;
			c->generation = gen;
			c->cached_at = now;
		}
	}
	if (!found || !kw_ct_equal(hash, k.key_sha256, 64)) {
		*reason = "key_unknown";
		return CRED_BAD;
	}
	r->sec.key_id = k.id;
	if (k.revoked_at) {
		*reason = "key_revoked";
		return CRED_BAD;
	}
	r->sec.scope = k.scope;
	*rate = k.rate_per_minute;
	snprintf(r->sec.bucket, sizeof(r->sec.bucket), "k:%lld", (long long)k.id);
	if (k.last_used_at <= now - 60) {
		struct kw_worker_row row = { .kind = KW_WROW_KEY_USE, .at = now, .key_id = k.id };
		kw_writer_row(r->app, store, &row);
		if (!strcmp(c->row.key_sha256, k.key_sha256))
			c->row.last_used_at = now;
	}
	return CRED_OK;
}

/* 1 if the token with this jti is revoked, 0 if not, -1 when the database cannot say (503
 * replied). */
static int token_revoked(struct kw_req *r, const char *jti)
{
	struct kw_sec *sec = r->app->sec;
	int64_t now = kw_sec_now_us(r->app) / 1000000;
	uint64_t gen = kw_rl_keys_generation(sec->rl);
	uint64_t h = kw_fnv1a_str(KW_FNV1A_INIT, jti); /* the jti is random already */
	struct token_cache_slot *c = &key_cache(r)->tok[h % KEY_CACHE_SLOTS];
	if (c->jti[0] && c->generation == gen && now >= c->cached_at &&
	    now - c->cached_at < KEY_CACHE_TTL_S && !strcmp(c->jti, jti))
		return c->revoked;
	struct kw_store *store = kw_app_store_or_reply(r);
	if (!store)
		return -1;
	int revoked = kw_store_token_revoked(store, jti);
	if (revoked < 0)
		return -1;
	kw_strlcpy(c->jti, jti, sizeof(c->jti));
	c->generation = gen;
	c->cached_at = now;
	c->revoked = revoked;
	return revoked;
}

static enum cred check_bearer(struct kw_req *r, const char *auth, const char **reason)
{
	struct kw_sec *sec = r->app->sec;
	if (strncasecmp(auth, "Bearer ", 7)) {
		*reason = "authorization_not_bearer";
		return CRED_BAD;
	}
	const char *tok = auth + 7;
	while (*tok == ' ')
		tok++;
	snprintf(r->sec.who, sizeof(r->sec.who), "token");
	if (!sec->jwt_enabled) {
		*reason = "tokens_disabled";
		return CRED_BAD;
	}
	struct kw_token_claims cl;
	enum kw_token_result tr = kw_token_verify_ttl(
		tok, r->app->cfg.jwt_secret, r->app->cfg.jwt_issuer, r->app->cfg.jwt_audience,
		kw_sec_now_us(r->app) / 1000000, r->app->cfg.jwt_max_ttl_s, &cl);
	if (tr != KW_TOKEN_OK) {
		*reason = kw_token_result_name(tr);
		return CRED_BAD;
	}
	snprintf(r->sec.who, sizeof(r->sec.who), "token:%.40s", cl.sub);
	if (cl.jti[0]) {
		int revoked = token_revoked(r, cl.jti);
		if (revoked < 0)
			return CRED_UNAVAILABLE;
		if (revoked) {
			*reason = kw_token_result_name(KW_TOKEN_REVOKED);
			return CRED_BAD;
		}
	}
	r->sec.scope = cl.scope;
	snprintf(r->sec.bucket, sizeof(r->sec.bucket), "t:%.80s", cl.sub);
	return CRED_OK;
}

int kw_sec_before_route(struct kw_req *r)
{
	struct kw_app *app = r->app;
	struct kw_sec *sec = app->sec;
	memset(&r->sec, 0, sizeof(r->sec));
	if (!sec || !sec->rl) {
		kw_strlcpy(r->sec.client, r->remote_addr, sizeof(r->sec.client));
		kw_reply_error(r, 503, "unavailable", "the service is not ready");
		return -1;
	}
	if (client_address(r) < 0)
		return -1;
	if (sec->cluster)
		kw_sec_cluster_sync_blocks(r);
	if (kw_rl_blocked(sec->rl, r->sec.client, kw_sec_now_us(app))) {
		kw_sec_reply_blocked(r);
		return -1;
	}
	int origin_refused = kw_cors_check(r);
	if (kw_cors_preflight(r, origin_refused))
		return -1;

	const char *key = kw_req_param(r, "HTTP_X_API_KEY");
	const char *authz = kw_req_param(r, "HTTP_AUTHORIZATION");
	const char *reason = NULL;
	int64_t rate = 0;
	enum cred cred = CRED_NONE;
	if (key)
		cred = check_key(r, key, &reason, &rate);
	else if (authz)
		cred = check_bearer(r, authz, &reason);
	if (cred == CRED_UNAVAILABLE) {
		if (!r->replied)
			kw_reply_error(r, 503, "database_unavailable",
				       "the database is unavailable");
		return -1;
	}
	if (cred != CRED_OK) {
		r->sec.scope = KW_SCOPE_NONE;
		snprintf(r->sec.bucket, sizeof(r->sec.bucket), "a:%s", r->sec.client);
	}
	int64_t interval = sec->interval_us, burst = sec->burst;
	if (rate > 0) {
		interval = 60LL * 1000000 / rate;
		burst = rate;
	}
	if (kw_sec_limit_or_reply(r, interval, burst) < 0)
		return -1;
	if (origin_refused) {
		kw_cors_deny_event(r, "request from an origin not on ALLOWED_ORIGINS");
		kw_reply_error(r, 403, "origin_not_allowed", "this origin is not allowed");
		return -1;
	}
	if (cred == CRED_BAD) {
		kw_sec_event(r, "auth_failed", reason);
		count_failure(r);
		reply_unauthorized(r);
		return -1;
	}
	return 0;
}

int kw_sec_route_or_reply(struct kw_req *r)
{
	const struct kw_route *rt = r->route;
	if (rt->flags & KW_ROUTE_PUBLIC)
		return 0;
	if (r->sec.scope == KW_SCOPE_NONE) {
		kw_sec_event(r, "auth_failed", "missing");
		reply_unauthorized(r);
		return -1;
	}
	if ((rt->flags & KW_ROUTE_ADMIN) && r->sec.scope < KW_SCOPE_ADMIN) {
		kw_sec_event(r, "forbidden_scope", "admin scope required");
		kw_reply_error(r, 403, "forbidden", "this endpoint needs a key with admin scope");
		return -1;
	}
	return 0;
}

void kw_sec_reply_headers(struct kw_req *r, struct kw_buf *h)
{
	int ok = kw_buf_puts(h, "Vary: Origin\r\n") == 0;
	kw_cors_headers(r, h);
	kw_sec_rl_headers(r, h);
	if ((r->sec.scope != KW_SCOPE_NONE || r->status == 429 || r->status == 401) &&
	    !strstr(r->headers.data ? r->headers.data : "", "Cache-Control:"))
		ok &= kw_buf_puts(h, "Cache-Control: no-store\r\n") == 0;
	if (!ok)
		kw_error("reply: header buffer full");
}
