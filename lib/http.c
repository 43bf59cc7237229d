/*
 * http.c — query-string parsing against declared parameters, and reason phrases (http.h).
 *
 * Follows RFC 3986 percent-encoding and the application/x-www-form-urlencoded convention of
 * '+' for space. What it deliberately does not do: accept repeated parameters as lists (a
 * repeat is an error: ambiguous input is refused, not guessed), or accept parameters nobody
 * declared (a typo like `limt=5` must not silently fall back to the default).
 */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"

char *kw_percent_decode(const char *s, size_t n, size_t *outlen)
{
	char *out = kw_xmalloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = i + 2 < n ? kw_hex_value(s[i + 1]) : -1;
			int lo = i + 2 < n ? kw_hex_value(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (s[i] == '+') {
			out[o++] = ' ';
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return out;
}

static int parse_value(const struct kw_param *d, struct kw_qval *v, char *err, size_t errlen)
{
	size_t len = strlen(v->str);
	size_t maxlen = d->maxlen ? d->maxlen : 128;
	switch (d->type) {
	case KW_P_STR:
		if (len == 0 || len > maxlen) {
			snprintf(err, errlen, "parameter '%s' must be 1 to %zu characters", d->name,
				 maxlen);
			return -1;
		}
		return 0;
	case KW_P_INT:
		if (kw_parse_i64(v->str, d->min, d->max, &v->i) < 0) {
			snprintf(err, errlen, "parameter '%s' must be an integer from %lld to %lld",
				 d->name, (long long)d->min, (long long)d->max);
			return -1;
		}
		return 0;
	case KW_P_BOOL:
		if (!strcmp(v->str, "true") || !strcmp(v->str, "1"))
			v->i = 1;
		else if (!strcmp(v->str, "false") || !strcmp(v->str, "0"))
			v->i = 0;
		else {
			snprintf(err, errlen, "parameter '%s' must be true or false", d->name);
			return -1;
		}
		return 0;
	case KW_P_ENUM: {
		int64_t idx = 0;
		for (const char *p = d->choices; p && *p; idx++) {
			const char *bar = strchr(p, '|');
			size_t n = bar ? (size_t)(bar - p) : strlen(p);
			if (n == len && !memcmp(p, v->str, n)) {
				v->i = idx;
				return 0;
			}
			p = bar ? bar + 1 : NULL;
		}
		snprintf(err, errlen, "parameter '%s' must be one of %s", d->name, d->choices);
		return -1;
	}
	case KW_P_TIME:
		if (len > 40 || kw_parse_rfc3339(v->str, &v->i, NULL) < 0) {
			snprintf(err, errlen,
				 "parameter '%s' must be an RFC 3339 time such as "
				 "2026-01-31T12:00:00Z",
				 d->name);
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "parameter '%s' is invalid", d->name);
	return -1;
}

int kw_query_parse(const char *qs, const struct kw_param *decls, struct kw_query *q,
		   const char **bad_param, char *err, size_t errlen)
{
	memset(q, 0, sizeof(*q));
	*bad_param = NULL;
	if (!qs || !*qs)
		return 0;
	size_t total = strlen(qs);
	if (total > KW_QUERY_MAX_LEN) {
		snprintf(err, errlen, "query string is longer than %d bytes", KW_QUERY_MAX_LEN);
		return -1;
	}
	const char *p = qs, *end = qs + total;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *seg_end = amp ? amp : end;
		if (seg_end == p) { /* empty segment: "a=1&&b=2" */
			p = seg_end + 1;
			continue;
		}
		const char *eq = memchr(p, '=', (size_t)(seg_end - p));
		const char *kend = eq ? eq : seg_end;
		size_t klen;
		char *key = kw_percent_decode(p, (size_t)(kend - p), &klen);
		const struct kw_param *d = NULL;
		if (key && kw_ident_is_clean(key, klen, KW_NAME_MAX_LEN))
			for (const struct kw_param *x = decls; x && x->name; x++)
				if (!strcmp(x->name, key))
					d = x;
		if (!d) {
			if (key && kw_ident_is_clean(key, klen, KW_NAME_MAX_LEN))
				snprintf(err, errlen, "unknown parameter '%s'", key);
			else
				snprintf(err, errlen, "malformed parameter name");
			free(key);
			return -1;
		}
		free(key);
		*bad_param = d->name;
		if (kw_query_get(q, d->name)) {
			snprintf(err, errlen, "parameter '%s' is repeated", d->name);
			return -1;
		}
		if (q->n == KW_QUERY_MAX_PARAMS) {
			snprintf(err, errlen, "too many parameters");
			return -1;
		}
		size_t vlen = 0;
		char *val = eq ? kw_percent_decode(eq + 1, (size_t)(seg_end - eq - 1), &vlen)
			       : kw_xstrdup("");
		if (!val) {
			snprintf(err, errlen, "parameter '%s' has a malformed percent-escape",
				 d->name);
			return -1;
		}
		if (strlen(val) != vlen || !kw_text_is_clean(val, vlen)) {
			free(val);
			snprintf(err, errlen,
				 "parameter '%s' must be UTF-8 text without control characters",
				 d->name);
			return -1;
		}
		struct kw_qval *v = &q->v[q->n++];
		v->decl = d;
		v->str = val;
		if (parse_value(d, v, err, errlen) < 0)
			return -1;
		*bad_param = NULL;
		p = seg_end + 1;
	}
	return 0;
}

void kw_query_free(struct kw_query *q)
{
	for (int i = 0; i < q->n; i++)
		free(q->v[i].str);
	q->n = 0;
}

const struct kw_qval *kw_query_get(const struct kw_query *q, const char *name)
{
	for (int i = 0; i < q->n; i++)
		if (!strcmp(q->v[i].decl->name, name))
			return &q->v[i];
	return NULL;
}

const char *kw_query_str(const struct kw_query *q, const char *name, const char *def)
{
	const struct kw_qval *v = kw_query_get(q, name);
	return v ? v->str : def;
}

int64_t kw_query_int(const struct kw_query *q, const char *name, int64_t def)
{
	const struct kw_qval *v = kw_query_get(q, name);
	return v ? v->i : def;
}

const char *kw_http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}
