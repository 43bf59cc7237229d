/*
 * metrics.c — the in-memory metrics aggregate (contract in metrics.h).
 *
 * Lookups are linear scans of at most a few hundred small entries, done once per request:
 * cheaper than hashing at this size and with no allocation. A new minute simply adds new
 * cells; the worker flushes every few seconds, so the table rarely holds more than two
 * minutes.
 */
#include "metrics.h"

#include <string.h>

const int64_t kw_metrics_bucket_us[KW_METRICS_BUCKETS - 1] = {
	100,   250,   500,    1000,   2500,   5000,    10000,
	25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
};

const char *kw_metrics_method(const char *method)
{
	static const char *const known[] = { "GET", "HEAD", "POST", "OPTIONS" };
	for (size_t i = 0; i < KW_ARRAY_LEN(known); i++)
		if (method && !strcmp(method, known[i]))
			return known[i];
	return "OTHER";
}

int kw_metrics_bucket_of(int64_t latency_us)
{
	int i = 0;
	while (i < KW_METRICS_BUCKETS - 1 && latency_us > kw_metrics_bucket_us[i])
		i++;
	return i;
}

static void note_pending(struct kw_metrics *m)
{
	if (!m->pending++)
		m->first_at_us = kw_mono_us();
}

int kw_metrics_add_request(struct kw_metrics *m, int64_t now_s, const char *method,
			   const char *endpoint, int status, int64_t latency_us, int64_t bytes)
{
	int64_t minute = now_s - now_s % 60;
	int sc = status >= 100 && status <= 599 ? status / 100 : 5;
	struct kw_metrics_cell *c = NULL;
	for (int i = m->ncells - 1; i >= 0 && !c; i--) {
		struct kw_metrics_cell *x = &m->cells[i];
		if (x->minute == minute && x->status_class == sc && x->endpoint == endpoint &&
		    x->method == method)
			c = x;
	}
	if (!c) {
		if (m->ncells == KW_METRICS_MAX_CELLS)
			return -1;
		c = &m->cells[m->ncells++];
		memset(c, 0, sizeof(*c));
		c->minute = minute;
		c->method = method;
		c->endpoint = endpoint;
		c->status_class = sc;
	}
	if (latency_us < 0)
		latency_us = 0;
	c->requests++;
	c->bytes += bytes > 0 ? bytes : 0;
	c->latency_us_sum += latency_us;
	c->hist[kw_metrics_bucket_of(latency_us)]++;
	note_pending(m);
	return 0;
}

static int add_count(struct kw_metrics *m, struct kw_metrics_count *v, int *n, int64_t now_s,
		     const char *name)
{
	int64_t minute = now_s - now_s % 60;
	char key[KW_METRICS_NAME_MAX];
	kw_strlcpy(key, name && *name ? name : "unknown", sizeof(key));
	for (int i = *n - 1; i >= 0; i--) {
		if (v[i].minute == minute && !strcmp(v[i].name, key)) {
			v[i].count++;
			note_pending(m);
			return 0;
		}
	}
	if (*n == KW_METRICS_MAX_NAMES)
		return -1;
	struct kw_metrics_count *x = &v[(*n)++];
	x->minute = minute;
	memcpy(x->name, key, sizeof(key));
	x->count = 1;
	note_pending(m);
	return 0;
}

int kw_metrics_add_security(struct kw_metrics *m, int64_t now_s, const char *type)
{
	return add_count(m, m->security, &m->nsecurity, now_s, type);
}

int kw_metrics_add_country(struct kw_metrics *m, int64_t now_s, const char *country)
{
	return add_count(m, m->countries, &m->ncountries, now_s, country);
}

void kw_metrics_reset(struct kw_metrics *m)
{
	m->ncells = 0;
	m->nsecurity = 0;
	m->ncountries = 0;
	m->pending = 0;
	m->first_at_us = 0;
}

void kw_metrics_move(struct kw_metrics *dst, struct kw_metrics *src)
{
	/* Only the used entries: the tables are large and mostly untouched (resident memory). */
	memcpy(dst->cells, src->cells, sizeof(src->cells[0]) * (size_t)src->ncells);
	memcpy(dst->security, src->security, sizeof(src->security[0]) * (size_t)src->nsecurity);
	memcpy(dst->countries, src->countries, sizeof(src->countries[0]) * (size_t)src->ncountries);
	dst->ncells = src->ncells;
	dst->nsecurity = src->nsecurity;
	dst->ncountries = src->ncountries;
	dst->pending = src->pending;
	dst->first_at_us = src->first_at_us;
	kw_metrics_reset(src);
}

static int64_t merge_counts(struct kw_metrics_count *dst, int *ndst,
			    const struct kw_metrics_count *src, int nsrc)
{
	int64_t lost = 0;
	for (int i = 0; i < nsrc; i++) {
		int k = 0;
		while (k < *ndst &&
		       (dst[k].minute != src[i].minute || strcmp(dst[k].name, src[i].name)))
			k++;
		if (k == *ndst) {
			if (*ndst == KW_METRICS_MAX_NAMES) {
				lost += src[i].count;
				continue;
			}
			dst[(*ndst)++] = src[i];
			continue;
		}
		dst[k].count += src[i].count;
	}
	return lost;
}

int64_t kw_metrics_merge(struct kw_metrics *dst, const struct kw_metrics *src)
{
	int64_t lost = 0;
	for (int i = 0; i < src->ncells; i++) {
		const struct kw_metrics_cell *s = &src->cells[i];
		struct kw_metrics_cell *c = NULL;
		for (int k = 0; k < dst->ncells && !c; k++) {
			struct kw_metrics_cell *x = &dst->cells[k];
			if (x->minute == s->minute && x->status_class == s->status_class &&
			    x->endpoint == s->endpoint && x->method == s->method)
				c = x;
		}
		if (!c) {
			if (dst->ncells == KW_METRICS_MAX_CELLS) {
				lost += s->requests;
				continue;
			}
			dst->cells[dst->ncells++] = *s;
			continue;
		}
		c->requests += s->requests;
		c->bytes += s->bytes;
		c->latency_us_sum += s->latency_us_sum;
		for (int b = 0; b < KW_METRICS_BUCKETS; b++)
			c->hist[b] += s->hist[b];
	}
	lost += merge_counts(dst->security, &dst->nsecurity, src->security, src->nsecurity);
	/* Countries restate requests already counted above: a lost one is not a lost record. */
	(void)merge_counts(dst->countries, &dst->ncountries, src->countries, src->ncountries);
	if (src->pending) {
		if (!dst->pending || src->first_at_us < dst->first_at_us)
			dst->first_at_us = src->first_at_us;
		dst->pending += src->pending;
	}
	return lost;
}

int64_t kw_metrics_percentile_us(const int64_t hist[KW_METRICS_BUCKETS], double q)
{
	int64_t total = 0;
	for (int i = 0; i < KW_METRICS_BUCKETS; i++)
		total += hist[i];
	if (total <= 0 || q <= 0)
		return -1;
	if (q > 1)
		q = 1;
	double rank = q * (double)total, seen = 0;
	for (int i = 0; i < KW_METRICS_BUCKETS; i++) {
		if (!hist[i] || seen + (double)hist[i] < rank) {
			seen += (double)hist[i];
			continue;
		}
		if (i == KW_METRICS_BUCKETS - 1)
			return kw_metrics_bucket_us[KW_METRICS_BUCKETS - 2];
		double lo = i ? (double)kw_metrics_bucket_us[i - 1] : 0;
		double hi = (double)kw_metrics_bucket_us[i];
		return (int64_t)(lo + (hi - lo) * (rank - seen) / (double)hist[i]);
	}
	return kw_metrics_bucket_us[KW_METRICS_BUCKETS - 2];
}
