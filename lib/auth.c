/*
 * auth.c — API keys and HS256 bearer tokens (contract in auth.h).
 *
 * libjwt 1.10 verifies the signature with the algorithm the token's header names, so the
 * algorithm is checked here twice: before decoding (the header is read by hand, so that "none"
 * or an unknown algorithm never reaches the library with a key) and after (jwt_get_alg). The
 * claims are validated here, not by libjwt, so that the rules are exactly those in auth.h.
 */
/* The low-level SHA-256 functions (see kw_sha256) are deprecated in OpenSSL 3. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "auth.h"

#include <errno.h>
#include <json-c/json.h>
#include <jwt.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kw_scope kw_scope_parse(const char *s)
{
	if (s && !strcmp(s, "read"))
		return KW_SCOPE_READ;
	if (s && !strcmp(s, "admin"))
		return KW_SCOPE_ADMIN;
	return KW_SCOPE_NONE;
}

const char *kw_scope_name(enum kw_scope s)
{
	switch (s) {
	case KW_SCOPE_READ: return "read";
	case KW_SCOPE_ADMIN: return "admin";
	default: return "none";
	}
}

int kw_key_generate(char out[KW_KEY_LEN + 1])
{
	unsigned char raw[32];
	if (kw_random_bytes(raw, sizeof(raw)) < 0)
		return -1;
	memcpy(out, "kw_", 3);
	kw_b64url_encode(raw, sizeof(raw), out + 3, KW_KEY_LEN + 1 - 3);
	memset(raw, 0, sizeof(raw));
	return 0;
}

/*
 * SHA-256 through OpenSSL's low-level SHA256_Init/Update/Final rather than EVP: EVP first
 * fetches the algorithm from a provider (OpenSSL 3's one-shot SHA256() and EVP_sha256() do that
 * on every call, a locked table search that showed as 8% of a worker's CPU), and bringing the
 * provider machinery into a worker costs ~1 MB of its resident set (measured: RssFile 3.7 ->
 * 2.7 MB for one digest). These functions are deprecated in OpenSSL 3 in favour of EVP but are
 * kept throughout 3.x; every SHA-256 in the hot path goes through this one function, so a
 * switch back is one place.
 */
void kw_sha256(const void *p, size_t n, unsigned char out[32])
{
	SHA256_CTX c;
	SHA256_Init(&c);
	SHA256_Update(&c, p, n);
	SHA256_Final(out, &c);
}

void kw_key_hash(const char *key, size_t len, char hex[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	kw_sha256(key, len, md);
	kw_hex(md, sizeof(md), hex);
}

void kw_key_prefix(const char *key, char out[KW_KEY_PREFIX_LEN + 1])
{
	size_t i = 0;
	for (; i < KW_KEY_PREFIX_LEN && key[i]; i++)
		out[i] = (key[i] > 0x20 && key[i] < 0x7f) ? key[i] : '?';
	out[i] = '\0';
}

/* Decode a base64url segment (no padding) into a new NUL-terminated buffer; NULL if bad. */
static char *b64url_decode(const char *s, size_t n)
{
	size_t cap = n * 3 / 4 + 4;
	char *out = kw_xmalloc(cap);
	if (kw_b64url_decode(s, n, out, cap, NULL) < 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* The token's header: 1 if it names alg HS256, 0 another algorithm, -1 not a JSON object. */
static int header_alg_is_hs256(const char *token, size_t hlen)
{
	int rc = -1;
	char *json = b64url_decode(token, hlen);
	json_object *h = json ? json_tokener_parse(json) : NULL;
	json_object *alg = NULL;
	if (h && json_object_is_type(h, json_type_object)) {
		rc = json_object_object_get_ex(h, "alg", &alg) &&
		     json_object_is_type(alg, json_type_string) &&
		     !strcmp(json_object_get_string(alg), "HS256");
	}
	json_object_put(h);
	free(json);
	return rc;
}

/*
 * A NumericDate claim (exp, nbf, iat): 0 absent, 1 present and a JSON integer (*out), -1
 * present and anything else. A string or a fraction is refused rather than ignored: a check
 * that skips a claim it cannot read would accept a token its issuer meant to limit.
 */
static int claim_time(jwt_t *jwt, const char *name, int64_t *out)
{
	char *text = jwt_get_grants_json(jwt, name);
	if (!text)
		return 0;
	int rc = -1;
	json_object *v = json_tokener_parse(text);
	if (v && json_object_is_type(v, json_type_int)) {
		errno = 0;
		*out = json_object_get_int64(v);
		rc = errno ? -1 : 1;
	}
	json_object_put(v);
	free(text);
	return rc;
}

static int aud_matches(jwt_t *jwt, const char *audience)
{
	const char *aud = jwt_get_grant(jwt, "aud");
	if (aud)
		return !strcmp(aud, audience);
	/* RFC 7519 4.1.3: aud may be an array; one element must match. */
	char *arr = jwt_get_grants_json(jwt, "aud");
	int ok = 0;
	json_object *a = arr ? json_tokener_parse(arr) : NULL;
	if (a && json_object_is_type(a, json_type_array)) {
		size_t n = json_object_array_length(a);
		for (size_t i = 0; i < n && !ok; i++) {
			json_object *e = json_object_array_get_idx(a, i);
			ok = json_object_is_type(e, json_type_string) &&
			     !strcmp(json_object_get_string(e), audience);
		}
	}
	json_object_put(a);
	free(arr);
	return ok;
}

enum kw_token_result kw_token_verify(const char *token, const char *secret, const char *issuer,
				     const char *audience, int64_t now, struct kw_token_claims *out)
{
	return kw_token_verify_ttl(token, secret, issuer, audience, now, KW_JWT_MAX_TTL_DEFAULT,
				   out);
}

/* Before any cryptography: three base64url parts, an HS256 header, a signature, a secret
 * long enough. KW_TOKEN_OK when jwt_decode may look at it. */
static enum kw_token_result token_shape(const char *token, const char *secret)
{
	size_t len = token ? strnlen(token, KW_TOKEN_MAX_LEN + 1) : 0;
	if (len == 0 || len > KW_TOKEN_MAX_LEN)
		return KW_TOKEN_MALFORMED;
	const char *dot1 = memchr(token, '.', len);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
		return KW_TOKEN_MALFORMED;
	for (size_t i = 0; i < len; i++)
		if (token[i] != '.' && kw_b64url_value(token[i]) < 0)
			return KW_TOKEN_MALFORMED;
	int hs256 = header_alg_is_hs256(token, (size_t)(dot1 - token));
	if (hs256 < 0)
		return KW_TOKEN_MALFORMED;
	if (!hs256)
		return KW_TOKEN_BAD_ALG;
	if (dot2 + 1 == token + len)
		return KW_TOKEN_BAD_SIGNATURE; /* an unsigned token is never accepted */
	if ((secret ? strlen(secret) : 0) < KW_JWT_MIN_SECRET)
		return KW_TOKEN_BAD_SIGNATURE;
	return KW_TOKEN_OK;
}

/* exp, nbf and iat against now and the longest lifetime; *exp set when KW_TOKEN_OK. */
static enum kw_token_result token_times(jwt_t *jwt, int64_t now, int64_t max_ttl_s,
					int64_t *exp_out)
{
	int64_t exp = 0, nbf = 0, iat = 0;
	int has_exp = claim_time(jwt, "exp", &exp), has_nbf = claim_time(jwt, "nbf", &nbf),
	    has_iat = claim_time(jwt, "iat", &iat);
	if (has_exp < 0 || has_nbf < 0 || has_iat < 0)
		return KW_TOKEN_BAD_CLAIMS;
	if (!has_exp || exp <= now)
		return KW_TOKEN_EXPIRED;
	if ((has_nbf && nbf > now) || (has_iat && iat > now))
		return KW_TOKEN_NOT_YET;
	/* The lifetime is measured from iat when given, else from now: either way a token never
	 * outlives max_ttl_s from the moment it is seen. */
	if (exp - (has_iat ? iat : now) > max_ttl_s)
		return KW_TOKEN_TOO_LONG;
	*exp_out = exp;
	return KW_TOKEN_OK;
}

/* iss, aud, scope, sub and jti; out filled (but exp) when KW_TOKEN_OK. */
static enum kw_token_result token_claims(jwt_t *jwt, const char *issuer, const char *audience,
					 struct kw_token_claims *out)
{
	const char *iss = jwt_get_grant(jwt, "iss");
	if (!iss || strcmp(iss, issuer))
		return KW_TOKEN_WRONG_ISS;
	if (!aud_matches(jwt, audience))
		return KW_TOKEN_WRONG_AUD;
	const char *scope = jwt_get_grant(jwt, "scope");
	const char *sub = jwt_get_grant(jwt, "sub");
	enum kw_scope sc = kw_scope_parse(scope);
	if (sc == KW_SCOPE_NONE || !sub || !*sub || strlen(sub) >= sizeof(out->sub) ||
	    !kw_text_is_clean(sub, strlen(sub)))
		return KW_TOKEN_BAD_CLAIMS;
	const char *jti = jwt_get_grant(jwt, "jti");
	if (jti &&
	    (!*jti || strlen(jti) >= sizeof(out->jti) || !kw_text_is_clean(jti, strlen(jti))))
		return KW_TOKEN_BAD_CLAIMS;
	out->scope = sc;
	kw_strlcpy(out->sub, sub, sizeof(out->sub));
	kw_strlcpy(out->jti, jti ? jti : "", sizeof(out->jti));
	return KW_TOKEN_OK;
}

enum kw_token_result kw_token_verify_ttl(const char *token, const char *secret, const char *issuer,
					 const char *audience, int64_t now, int64_t max_ttl_s,
					 struct kw_token_claims *out)
{
	jwt_t *jwt = NULL;
	int64_t exp = 0;
	struct kw_token_claims claims;
	enum kw_token_result res = token_shape(token, secret);
	if (res != KW_TOKEN_OK)
		return res;
	if (jwt_decode(&jwt, token, (const unsigned char *)secret, (int)strlen(secret)) != 0 ||
	    !jwt) {
		res = KW_TOKEN_BAD_SIGNATURE;
		goto out;
	}
	if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
		res = KW_TOKEN_BAD_ALG;
		goto out;
	}
	res = token_times(jwt, now, max_ttl_s, &exp);
	if (res == KW_TOKEN_OK)
		res = token_claims(jwt, issuer, audience, &claims);
	if (res == KW_TOKEN_OK) {
		claims.exp = exp;
		*out = claims;
	}
out:
	jwt_free(jwt);
	return res;
}

const char *kw_token_result_name(enum kw_token_result r)
{
	switch (r) {
	case KW_TOKEN_OK: return "ok";
	case KW_TOKEN_MALFORMED: return "token_malformed";
	case KW_TOKEN_BAD_ALG: return "token_bad_alg";
	case KW_TOKEN_BAD_SIGNATURE: return "token_bad_signature";
	case KW_TOKEN_EXPIRED: return "token_expired";
	case KW_TOKEN_NOT_YET: return "token_not_yet_valid";
	case KW_TOKEN_WRONG_ISS: return "token_wrong_issuer";
	case KW_TOKEN_WRONG_AUD: return "token_wrong_audience";
	case KW_TOKEN_BAD_CLAIMS: return "token_bad_claims";
	case KW_TOKEN_TOO_LONG: return "token_lifetime_too_long";
	case KW_TOKEN_REVOKED: return "token_revoked";
	}
	return "token_invalid";
}

char *kw_token_mint(const char *secret, const char *issuer, const char *audience,
		    enum kw_scope scope, int64_t now, int64_t ttl_s)
{
	jwt_t *jwt = NULL;
	char *out = NULL;
	unsigned char rnd[8], jrnd[16];
	char sub[32], jti[KW_TOKEN_JTI_LEN + 1];
	if (!secret || strlen(secret) < KW_JWT_MIN_SECRET || scope == KW_SCOPE_NONE || ttl_s < 1 ||
	    kw_random_bytes(rnd, sizeof(rnd)) < 0 || kw_random_bytes(jrnd, sizeof(jrnd)) < 0)
		return NULL;
	snprintf(sub, sizeof(sub), "tok_%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
		 rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	kw_b64url_encode(jrnd, sizeof(jrnd), jti, sizeof(jti));
	if (jwt_new(&jwt) != 0)
		return NULL;
	if (jwt_add_grant(jwt, "iss", issuer) || jwt_add_grant(jwt, "aud", audience) ||
	    jwt_add_grant(jwt, "sub", sub) || jwt_add_grant(jwt, "jti", jti) ||
	    jwt_add_grant(jwt, "scope", kw_scope_name(scope)) ||
	    jwt_add_grant_int(jwt, "iat", (long)now) || jwt_add_grant_int(jwt, "nbf", (long)now) ||
	    jwt_add_grant_int(jwt, "exp", (long)(now + ttl_s)) ||
	    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)))
		goto out;
	out = jwt_encode_str(jwt); /* malloc'd by libjwt 1.10: the caller free()s it */
out:
	jwt_free(jwt);
	return out;
}
