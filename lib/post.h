/*
 * post.h — one outbound HTTP POST with libcurl, for error reports (sentry.c) and webhooks
 * (webhook.c). The caller has called curl_global_init().
 *
 * Bounded: http and https only, no redirects, a total timeout, the response body discarded.
 * It never logs the URL (webhook URLs and DSNs carry secrets); errors are returned in err.
 */
#ifndef KW_POST_H
#define KW_POST_H

#include <stddef.h>

#include "util.h"

/*
 * POST body (len bytes) to url with the given extra header lines ("Name: value", NULL-ended).
 * 0 when a response arrived (its status in *status, whatever it is); -1 with the reason in err
 * when none did (connection refused, timeout, ...).
 */
int kw_http_post(const char *url, const char *const *headers, const char *body, size_t len,
		 long timeout_ms, long *status, char *err, size_t errlen) KW_WUR;

#endif
