/*
 * util.c — allocation, capped buffers, strict number/time parsing and small helpers shared by
 * every program. Nothing here logs or exits except the allocators, which abort on OOM (see
 * util.h for why).
 */
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "codec.h"

static void oom(size_t n)
{
	/* stdio may itself need memory; write(2) is the last reliable path. */
	char msg[96];
	int len =
		snprintf(msg, sizeof(msg), "kalshiwhale: out of memory allocating %zu bytes\n", n);
	if (len > 0)
		fputs(msg, stderr);
	abort();
}

void *kw_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *kw_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *kw_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *kw_xstrdup(const char *s)
{
	return kw_xstrndup(s, strlen(s));
}

char *kw_xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = kw_xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void kw_buf_init(struct kw_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : SIZE_MAX / 2;
}

void kw_buf_free(struct kw_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void kw_buf_reset(struct kw_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int buf_reserve(struct kw_buf *b, size_t extra)
{
	if (extra > b->max || b->len > b->max - extra)
		return -1;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->data = kw_xrealloc(b->data, cap);
	b->cap = cap;
	return 0;
}

int kw_buf_append(struct kw_buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int kw_buf_puts(struct kw_buf *b, const char *s)
{
	return kw_buf_append(b, s, strlen(s));
}

int kw_buf_vprintf(struct kw_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int kw_buf_printf(struct kw_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = kw_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

size_t kw_strlcpy(char *dst, const char *src, size_t dstlen)
{
	size_t n = strlen(src);
	if (dstlen) {
		size_t c = n < dstlen - 1 ? n : dstlen - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

int64_t kw_share_bp(int64_t part, int64_t whole)
{
	__int128 v = (__int128)part * 10000 / whole;
	if (v > INT64_MAX)
		return INT64_MAX;
	if (v < INT64_MIN)
		return INT64_MIN;
	return (int64_t)v;
}

int kw_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	if (!s || !*s)
		return -1;
	const char *p = s;
	int neg = 0;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (*p < '0' || *p > '9')
		return -1;
	uint64_t v = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	int64_t r;
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return -1;
		r = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX)
			return -1;
		r = (int64_t)v;
	}
	if (r < min || r > max)
		return -1;
	*out = r;
	return 0;
}

int64_t kw_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t kw_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t kw_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void kw_fmt_rfc3339(int64_t unix_s, char *buf, size_t len)
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		if (len)
			buf[0] = '\0';
	}
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int kw_parse_rfc3339(const char *s, int64_t *unix_s, int32_t *micros)
{
	int Y, M, D, h, m, sec;
	const char *p = s;
	if (!s || digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
	    digits(&p, 2, &D) || (*p != 'T' && *p != 't') || !*p++ || digits(&p, 2, &h) ||
	    *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &sec))
		return -1;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (D > mdays[M - 1])
		return -1;
	int32_t us = 0;
	if (*p == '.') {
		p++;
		int nd = 0;
		while (*p >= '0' && *p <= '9') {
			if (nd < 6)
				us = us * 10 + (*p - '0');
			nd++;
			p++;
		}
		if (nd == 0 || nd > 9)
			return -1;
		for (int i = nd; i < 6; i++)
			us *= 10;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*p)
		return -1;
	if (sec == 60)
		sec = 59; /* leap second: clamp, POSIX time has no room for it */
	*unix_s = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec - off;
	if (micros)
		*micros = us;
	return 0;
}

int kw_text_is_clean(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		unsigned c = *p;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return 0;
			p++;
			continue;
		}
		size_t len;
		int32_t cp = kw_utf8_multibyte(p, (size_t)(end - p), &len);
		if (cp < 0 || (cp >= 0x80 && cp <= 0x9f)) /* not UTF-8, or a C1 control */
			return 0;
		p += len;
	}
	return 1;
}

int kw_random_bytes(void *p, size_t n)
{
	unsigned char *q = p;
	while (n) {
		ssize_t r = getrandom(q, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		q += r;
		n -= (size_t)r;
	}
	return 0;
}

void kw_hex(const void *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int kw_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

int kw_url_is_postgres(const char *url)
{
	return url && (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11));
}

const char *kw_url_masked(const char *url, char *buf, size_t len)
{
	/* scheme://user:PASSWORD@host...: the password runs from the first ':' after the
	 * scheme's "//" to the last '@' before the path. Also ?password=... in the query. */
	snprintf(buf, len, "%s", url ? url : "");
	char *p = strstr(buf, "://");
	if (p && kw_url_is_postgres(buf)) {
		char *auth = p + 3, *slash = strchr(auth, '/');
		char *at = NULL;
		for (char *q = auth; *q && (!slash || q < slash); q++)
			if (*q == '@')
				at = q;
		char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		if (colon && at - colon > 1) {
			char tail[512];
			snprintf(tail, sizeof(tail), "%s", at);
			snprintf(colon + 1, len - (size_t)(colon + 1 - buf), "***%s", tail);
		}
	}
	char *pw = strstr(buf, "password=");
	if (pw) {
		char *end = strchr(pw, '&');
		char tail[512];
		snprintf(tail, sizeof(tail), "%s", end ? end : "");
		snprintf(pw + 9, len - (size_t)(pw + 9 - buf), "***%s", tail);
	}
	return buf;
}

uint64_t kw_fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

uint64_t kw_fnv1a_str(uint64_t h, const char *s)
{
	return kw_fnv1a(h, s, strlen(s));
}
