/*
 * http.h — request-side helpers that do not depend on FastCGI: declared query parameters,
 * percent-decoding, and status reason phrases.
 *
 * Every route declares its parameters once (struct kw_param: name, type, range, max length).
 * kw_query_parse() checks the raw query string against that declaration: an unknown,
 * repeated, malformed, out-of-range, over-long, non-UTF-8 or control-character value is an
 * error whose message names the parameter (only if the name itself is clean) and never echoes
 * the value. A parsed struct kw_query owns its decoded strings; kw_query_free() releases them.
 */
#ifndef KW_HTTP_H
#define KW_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define KW_QUERY_MAX_LEN 2048 /* bytes of raw query string accepted */
#define KW_QUERY_MAX_PARAMS 16

enum kw_ptype {
	KW_P_STR,  /* text, 1..maxlen bytes after decoding */
	KW_P_INT,  /* integer in [min, max] */
	KW_P_BOOL, /* true|false|1|0 */
	KW_P_ENUM, /* one of choices "a|b|c"; index in .i */
	KW_P_TIME, /* RFC 3339 timestamp; Unix seconds in .i */
};

struct kw_param {
	const char *name;
	enum kw_ptype type;
	int64_t min, max;    /* KW_P_INT */
	size_t maxlen;	     /* KW_P_STR (0 = 128) */
	const char *choices; /* KW_P_ENUM */
	const char *help;    /* for the OpenAPI document */
};

struct kw_qval {
	const struct kw_param *decl;
	char *str; /* decoded value, owned */
	int64_t i; /* parsed INT/BOOL/ENUM/TIME */
};

struct kw_query {
	int n;
	struct kw_qval v[KW_QUERY_MAX_PARAMS];
};

/*
 * Parse qs (may be NULL or "") against decls (terminated by a {NULL} entry; NULL = no params
 * allowed). 0 on success; -1 with a client-safe message in err (and the offending parameter's
 * declared name in *bad_param, or NULL) otherwise. q is always safe to kw_query_free().
 */
int kw_query_parse(const char *qs, const struct kw_param *decls, struct kw_query *q,
		   const char **bad_param, char *err, size_t errlen) KW_WUR;
void kw_query_free(struct kw_query *q);
const struct kw_qval *kw_query_get(const struct kw_query *q, const char *name);
const char *kw_query_str(const struct kw_query *q, const char *name, const char *def);
int64_t kw_query_int(const struct kw_query *q, const char *name, int64_t def);

/* Decode %XX and '+' in s[0..n) into a new string; NULL if an escape is malformed. */
char *kw_percent_decode(const char *s, size_t n, size_t *outlen);

/* "OK", "Not Found", ...; "Unknown" for codes we never send. */
const char *kw_http_reason(int status);

#endif
