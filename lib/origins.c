/*
 * origins.c — parsing and exact matching of origins (contract in origins.h).
 */
#include "origins.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ORIGINS 64

struct kw_origins {
	int n;
	char entry[MAX_ORIGINS][KW_ORIGIN_MAX];
};

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

int kw_origin_normalize(const char *s, size_t len, char *out)
{
	size_t i = 0, o = 0;
	const char *scheme;
	const char *def_port;
	if (len >= KW_ORIGIN_MAX)
		return -1;
	if (len >= 8 && !strncasecmp(s, "https://", 8)) {
		scheme = "https://";
		def_port = "443";
		i = 8;
	} else if (len >= 7 && !strncasecmp(s, "http://", 7)) {
		scheme = "http://";
		def_port = "80";
		i = 7;
	} else {
		return -1;
	}
	o = strlen(scheme);
	memcpy(out, scheme, o);
	size_t host0 = i;
	if (i < len && s[i] == '[') {
		out[o++] = s[i++];
		while (i < len && s[i] != ']') {
			char c = lower(s[i]);
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' ||
			      c == '.'))
				return -1;
			out[o++] = c;
			i++;
		}
		if (i >= len || i - host0 < 3)
			return -1;
		out[o++] = s[i++];
	} else {
		while (i < len && s[i] != ':') {
			char c = lower(s[i]);
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' ||
			      c == '.'))
				return -1;
			out[o++] = c;
			i++;
		}
		if (i == host0 || s[host0] == '.' || s[host0] == '-' || out[o - 1] == '.')
			return -1;
	}
	if (i < len) {
		if (s[i] != ':')
			return -1;
		i++;
		size_t p0 = i;
		unsigned port = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9' && i - p0 < 5) {
			port = port * 10 + (unsigned)(s[i] - '0');
			i++;
		}
		if (i != len || i == p0 || s[p0] == '0' || port > 65535)
			return -1;
		if (len - p0 != strlen(def_port) || memcmp(s + p0, def_port, len - p0)) {
			out[o++] = ':';
			memcpy(out + o, s + p0, len - p0);
			o += len - p0;
		}
	}
	out[o] = '\0';
	return 0;
}

struct kw_origins *kw_origins_parse(const char *list, int *wildcards, char *err, size_t errlen)
{
	struct kw_origins *o = kw_xcalloc(1, sizeof(*o));
	*wildcards = 0;
	const char *p = list ? list : "";
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 1 && *p == '*') {
			(*wildcards)++;
		} else if (n == 4 && !strncmp(p, "null", 4)) {
			(*wildcards)++;
		} else if (n) {
			if (o->n == MAX_ORIGINS) {
				snprintf(err, errlen,
					 "config: ALLOWED_ORIGINS has more than %d entries",
					 MAX_ORIGINS);
				goto fail;
			}
			if (kw_origin_normalize(p, n, o->entry[o->n]) < 0) {
				snprintf(err, errlen,
					 "config: ALLOWED_ORIGINS entry %d is not an origin: "
					 "expected "
					 "https://host[:port] (no path, no wildcard)",
					 o->n + *wildcards + 1);
				goto fail;
			}
			o->n++;
		}
		if (!e)
			break;
		p = e + 1;
	}
	return o;
fail:
	free(o);
	return NULL;
}

void kw_origins_free(struct kw_origins *o)
{
	free(o);
}

int kw_origins_count(const struct kw_origins *o)
{
	return o ? o->n : 0;
}

const char *kw_origins_find(const struct kw_origins *o, const char *origin, size_t len)
{
	char norm[KW_ORIGIN_MAX];
	if (!o || !o->n || kw_origin_normalize(origin, len, norm) < 0)
		return NULL;
	for (int i = 0; i < o->n; i++)
		if (!strcmp(o->entry[i], norm))
			return o->entry[i];
	return NULL;
}

int kw_origins_match(const struct kw_origins *o, const char *origin, size_t len)
{
	return kw_origins_find(o, origin, len) != NULL;
}
