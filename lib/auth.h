/*
 * auth.h — API keys and bearer tokens: generating, hashing and verifying them.
 *
 * API keys look like "kw_" + 43 base64url characters (256 random bits from getrandom(2)). The
 * "kw_" prefix makes a leaked key easy to recognise (secret scanners, logs). Only the SHA-256
 * of a key is stored; a key is shown once, when created. Its first KW_KEY_PREFIX_LEN
 * characters (the prefix) identify it in listings and logs.
 *
 * Bearer tokens are JWTs (RFC 7519) signed with HS256 (RFC 7518 section 3.2) and JWT_SECRET,
 * via libjwt. Verification accepts only alg HS256 (never "none", never another algorithm,
 * whatever the header says), and requires exp (in the future), iss and aud (equal to the
 * configured ones), a scope claim ("read" or "admin") and a sub; nbf and iat, when present,
 * must not be in the future; exp, nbf and iat must be JSON integers (a string or a fraction is
 * refused, not ignored); and the lifetime, exp - iat (or exp - now without iat), must not pass
 * the verifier's maximum (JWT_MAX_TTL_SECONDS). No leeway: issuer and verifier share one
 * host's clock. Minted tokens carry a random jti, by which `kw-admin token revoke` revokes
 * one; the revocation list itself is the caller's (kw-api), since it lives in the database.
 */
#ifndef KW_AUTH_H
#define KW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h" /* kw_key_is_wellformed, KW_KEY_MAX_LEN */
#include "util.h"

#define KW_KEY_LEN 46	     /* "kw_" + 43 */
#define KW_KEY_PREFIX_LEN 11 /* "kw_" + 8: shown and logged */
#define KW_TOKEN_MAX_LEN 4096
#define KW_JWT_MIN_SECRET 32
#define KW_API_KEY_MIN_LEN 32
#define KW_JWT_MAX_TTL_DEFAULT 86400 /* JWT_MAX_TTL_SECONDS' default: one day */
#define KW_TOKEN_JTI_LEN 22	     /* minted jti: 128 random bits, base64url */

enum kw_scope { KW_SCOPE_NONE = 0, KW_SCOPE_READ = 1, KW_SCOPE_ADMIN = 2 };

/* "read" / "admin" -> scope; KW_SCOPE_NONE otherwise. */
enum kw_scope kw_scope_parse(const char *s);
const char *kw_scope_name(enum kw_scope s);

/* SHA-256 of p[0..n) into out (32 bytes). Thread-safe. */
void kw_sha256(const void *p, size_t n, unsigned char out[32]);

/* A new key (KW_KEY_LEN + 1 bytes) from the OS random source; -1 if it fails. */
int kw_key_generate(char out[KW_KEY_LEN + 1]) KW_WUR;
/* Lowercase hex SHA-256 of key (65 bytes with the NUL). */
void kw_key_hash(const char *key, size_t len, char hex[65]);
/* The loggable prefix of key (at most KW_KEY_PREFIX_LEN characters, clean ASCII only). */
void kw_key_prefix(const char *key, char out[KW_KEY_PREFIX_LEN + 1]);

enum kw_token_result {
	KW_TOKEN_OK = 0,
	KW_TOKEN_MALFORMED, /* not a JWT, too long, bad base64/JSON */
	KW_TOKEN_BAD_ALG,   /* alg is not HS256 (none, HS512, RS256, ...) */
	KW_TOKEN_BAD_SIGNATURE,
	KW_TOKEN_EXPIRED,    /* exp missing or passed */
	KW_TOKEN_NOT_YET,    /* nbf in the future */
	KW_TOKEN_WRONG_ISS,  /* iss missing or different */
	KW_TOKEN_WRONG_AUD,  /* aud missing or different */
	KW_TOKEN_BAD_CLAIMS, /* scope, sub or jti invalid; exp, nbf or iat not an integer */
	KW_TOKEN_TOO_LONG,   /* lifetime past the maximum */
	KW_TOKEN_REVOKED,    /* its jti was revoked (decided by the caller) */
};

struct kw_token_claims {
	enum kw_scope scope;
	char sub[64];
	char jti[64]; /* "" when the token has none (it then cannot be revoked one by one) */
	int64_t exp;
};

/*
 * Verify token at now (Unix seconds), refusing lifetimes over max_ttl_s. KW_TOKEN_OK fills
 * *out. The secret must be at least KW_JWT_MIN_SECRET bytes (otherwise every token is refused
 * as a bad signature). kw_token_verify() is the same with KW_JWT_MAX_TTL_DEFAULT.
 */
enum kw_token_result kw_token_verify_ttl(const char *token, const char *secret, const char *issuer,
					 const char *audience, int64_t now, int64_t max_ttl_s,
					 struct kw_token_claims *out);
enum kw_token_result kw_token_verify(const char *token, const char *secret, const char *issuer,
				     const char *audience, int64_t now,
				     struct kw_token_claims *out);
/* A short, log-safe name for a result ("expired", "bad_alg", ...). */
const char *kw_token_result_name(enum kw_token_result r);

/*
 * Mint an HS256 token for scope valid ttl_s seconds from now, with a random sub
 * ("tok_" + 16 hex) and jti (KW_TOKEN_JTI_LEN base64url characters). Returns a new string
 * (free()) or NULL on failure.
 */
char *kw_token_mint(const char *secret, const char *issuer, const char *audience,
		    enum kw_scope scope, int64_t now, int64_t ttl_s);

#endif
