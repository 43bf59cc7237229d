/*
 * origins.h — the ALLOWED_ORIGINS list and exact origin matching (RFC 6454 section 6.1 form).
 *
 * An origin is scheme "://" host [":" port] with scheme http or https, a DNS name, IPv4 or
 * bracketed IPv6 host, and nothing after (no path, query, userinfo or trailing slash). Both the
 * configured entries and the request's Origin are normalised the same way (lower-case scheme
 * and host, the scheme's default port dropped) and then compared whole, so
 * "https://app.example.com" matches itself and "https://APP.example.com:443", but never
 * "http://app.example.com", "https://app.example.com:8443" or "https://evil-app.example.com".
 * There are no wildcards: "*" and "null" are never allowed (kw-api refuses to start with them in
 * production and ignores them in development).
 */
#ifndef KW_ORIGINS_H
#define KW_ORIGINS_H

#include <stddef.h>

#include "util.h"

#define KW_ORIGIN_MAX 256

struct kw_origins;

/*
 * Parse a comma-separated list (spaces around entries allowed; empty = allow none). Entries
 * "*" and "null" are counted in *wildcards and left out. NULL + err if an entry is malformed.
 */
struct kw_origins *kw_origins_parse(const char *list, int *wildcards, char *err, size_t errlen);
void kw_origins_free(struct kw_origins *o);
int kw_origins_count(const struct kw_origins *o);

/* Normalise one origin into out (KW_ORIGIN_MAX bytes); -1 if it is not a valid origin. */
int kw_origin_normalize(const char *origin, size_t len, char *out) KW_WUR;
/* The list's (normalised) entry that origin (as sent, not necessarily NUL-free or valid)
 * matches, owned by o; NULL if none. */
const char *kw_origins_find(const struct kw_origins *o, const char *origin, size_t len);
/* 1 if origin (as sent, not necessarily NUL-free or valid) is on the list. */
int kw_origins_match(const struct kw_origins *o, const char *origin, size_t len);

#endif
