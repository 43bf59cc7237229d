/*
 * post.c — one bounded HTTP POST over libcurl (contract in post.h).
 */
#include "post.h"

#include <curl/curl.h>
#include <stdio.h>

#define CONNECT_TIMEOUT_MS 2000

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

int kw_http_post(const char *url, const char *const *headers, const char *body, size_t len,
		 long timeout_ms, long *status, char *err, size_t errlen)
{
	int rc = -1;
	struct curl_slist *hdrs = NULL;
	CURLcode cc = CURLE_OK;
	CURL *c = curl_easy_init();
	*status = 0;
	if (!c) {
		snprintf(err, errlen, "curl_easy_init failed");
		goto out;
	}
	for (int i = 0; headers && headers[i]; i++) {
		struct curl_slist *h = curl_slist_append(hdrs, headers[i]);
		if (!h) {
			snprintf(err, errlen, "out of memory for headers");
			goto out;
		}
		hdrs = h;
	}
	if ((cc = curl_easy_setopt(c, CURLOPT_URL, url)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https")) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
				   timeout_ms < CONNECT_TIMEOUT_MS ? timeout_ms
								   : (long)CONNECT_TIMEOUT_MS)) !=
		    CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, body)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len)) != CURLE_OK ||
	    (cc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard)) != CURLE_OK ||
	    (cc = curl_easy_perform(c)) != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_easy_strerror(cc));
		goto out;
	}
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status) != CURLE_OK) {
		snprintf(err, errlen, "no response status");
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(hdrs);
	if (c)
		curl_easy_cleanup(c);
	return rc;
}
