/*
 * limit.c — kw-api's use of the shared GCRA table (lib/ratelimit.h): taking a request
 * from the caller's bucket, the 429 reply, and the rate-limit headers on every response.
 *
 * Headers (draft-ietf-httpapi-ratelimit-headers, quoted policy name, plus the older
 * X-RateLimit-* trio that most clients read):
 *   RateLimit-Policy: "default";q=<burst>;w=<seconds to refill the burst>
 *   RateLimit: "default";r=<remaining>;t=<seconds until the full burst is back>
 *   X-RateLimit-Limit: <burst>   X-RateLimit-Remaining: <remaining>
 *   X-RateLimit-Reset: <delta seconds until the full burst is back> (not an epoch time)
 *   Retry-After: <integer seconds >= 1> on 429 only.
 * Replies made before a bucket was charged (blocked address, preflight) show the client
 * address's bucket without charging it.
 *
 * The test clock: with ENVIRONMENT=development and KW_TEST_CLOCK_FILE set, the file's content
 * (an integer number of seconds, may be negative) is added to the wall clock on every call, so
 * the integration tests can move time forward by a minute without sleeping. It is read only
 * in development and is announced at start-up; production ignores the variable.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "log.h"

static int64_t test_offset_us(const char *path)
{
	char buf[32];
	int64_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, " \r\n")] = '\0';
	if (kw_parse_i64(buf, -100000000, 100000000, &off) < 0)
		return 0;
	return off * 1000000;
}

int64_t kw_sec_now_us(struct kw_app *app)
{
	int64_t now = kw_now_us();
	if (app->sec && app->sec->test_clock_file)
		now += test_offset_us(app->sec->test_clock_file);
	return now;
}

int kw_sec_limit_or_reply(struct kw_req *r, int64_t interval_us, int64_t burst)
{
	struct kw_app *app = r->app;
	int64_t now = kw_sec_now_us(app);
	kw_rl_take(app->sec->rl, r->sec.bucket, now, interval_us, burst, &r->sec.rl);
	r->sec.rl_set = 1;
	if (r->sec.rl.allowed)
		return 0;
	/* Once per bucket per window, not per request: a client hammering at the limit must
	 * not turn each refusal into a log line and a database row. */
	char key[sizeof(r->sec.bucket) + 2];
	snprintf(key, sizeof(key), "e:%s", r->sec.bucket);
	if (kw_rl_raise(app->sec->rl, key, now + r->sec.rl.window_s * 1000000) < now) {
		char detail[96];
		snprintf(detail, sizeof(detail), "limit %lld per %llds exceeded",
			 (long long)r->sec.rl.limit, (long long)r->sec.rl.window_s);
		kw_sec_event(r, "rate_limit_exceeded", detail);
	}
	char ra[24];
	snprintf(ra, sizeof(ra), "%lld", (long long)r->sec.rl.retry_after_s);
	kw_reply_header(r, "Retry-After", ra);
	kw_reply_error(r, 429, "rate_limited",
		       "too many requests: retry after Retry-After seconds");
	return -1;
}

/* Append s / a non-negative decimal at p; the caller's buffer has room (fixed text, at most
 * ten numbers of at most 20 digits). */
static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return p + n;
}

static char *put_int(char *p, int64_t v)
{
	char tmp[24];
	int n = 0;
	uint64_t u = v < 0 ? 0 : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n)
		*p++ = tmp[--n];
	return p;
}

void kw_sec_rl_headers(struct kw_req *r, struct kw_buf *h)
{
	struct kw_sec *sec = r->app->sec;
	struct kw_rl_result res;
	if (r->sec.rl_set) {
		res = r->sec.rl;
	} else if (sec && sec->rl) {
		char bucket[KW_CLIENT_ADDR_MAX + 4];
		snprintf(bucket, sizeof(bucket), "a:%s", r->sec.client);
		kw_rl_peek(sec->rl, bucket, kw_sec_now_us(r->app), sec->interval_us, sec->burst,
			   &res);
	} else {
		return;
	}
	/* Built by hand: printf-style formatting of ten numbers was a visible share of a cheap
	 * request's CPU. */
	char buf[320], *p = buf;
	p = put_str(p, "RateLimit-Policy: \"default\";q=");
	p = put_int(p, res.limit);
	p = put_str(p, ";w=");
	p = put_int(p, res.window_s);
	p = put_str(p, "\r\nRateLimit: \"default\";r=");
	p = put_int(p, res.remaining);
	p = put_str(p, ";t=");
	p = put_int(p, res.reset_s);
	p = put_str(p, "\r\nX-RateLimit-Limit: ");
	p = put_int(p, res.limit);
	p = put_str(p, "\r\nX-RateLimit-Remaining: ");
	p = put_int(p, res.remaining);
	p = put_str(p, "\r\nX-RateLimit-Reset: ");
	p = put_int(p, res.reset_s);
	p = put_str(p, "\r\n");
	if (kw_buf_append(h, buf, (size_t)(p - buf)) < 0)
		kw_error("reply: header buffer full");
}
