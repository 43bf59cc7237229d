/*
 * sentry_dsn.c — parsing a Sentry DSN (contract in sentry.h). Apart from sentry.c so that the
 * settings check (config.c) can use it without pulling libcurl into every program.
 *
 * DSN: {http|https}://{PUBLIC_KEY}[:{SECRET}]@{HOST}[:{PORT}]{/PATH}/{PROJECT_ID}. The legacy
 * secret part is accepted and ignored: it is never sent.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "sentry.h"

static int all_of(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i]))
			return 0;
	return n > 0;
}

int kw_sentry_parse_dsn(const char *dsn, char *url, size_t urllen, char *key, size_t keylen,
			char *why, size_t whylen)
{
	const char *scheme = !strncmp(dsn, "https://", 8)  ? "https"
			     : !strncmp(dsn, "http://", 7) ? "http"
							   : NULL;
	if (!scheme) {
		snprintf(why, whylen, "a DSN starting with https:// or http://");
		return -1;
	}
	const char *rest = dsn + strlen(scheme) + 3;
	const char *slash = strchr(rest, '/');
	const char *at = strchr(rest, '@');
	if (!at || (slash && at > slash)) {
		snprintf(why, whylen, "a DSN with a public key: https://KEY@HOST/PROJECT");
		return -1;
	}
	const char *colon = memchr(rest, ':', (size_t)(at - rest));
	size_t klen = (size_t)((colon ? colon : at) - rest);
	const char *host = at + 1;
	slash = strchr(host, '/');
	const char *last = strrchr(host, '/');
	if (!slash || !last || !last[1]) {
		snprintf(why, whylen, "a DSN ending with /PROJECT_ID");
		return -1;
	}
	size_t hlen = (size_t)(slash - host), plen = (size_t)(last - slash);
	if (!all_of(rest, klen, "") || klen >= keylen || !all_of(host, hlen, ".-:[]") ||
	    (plen && !all_of(slash, plen, "/._-~")) || !all_of(last + 1, strlen(last + 1), "_-")) {
		snprintf(why, whylen, "a DSN of the form https://KEY@HOST/PROJECT");
		return -1;
	}
	memcpy(key, rest, klen);
	key[klen] = '\0';
	int n = snprintf(url, urllen, "%s://%.*s%.*s/api/%s/envelope/", scheme, (int)hlen, host,
			 (int)plen, slash, last + 1);
	if (n < 0 || (size_t)n >= urllen) {
		snprintf(why, whylen, "a shorter DSN");
		return -1;
	}
	return 0;
}
