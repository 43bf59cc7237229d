/*
 * metrics.h — kw-api's in-memory metrics aggregate: per minute and endpoint (method, route
 * pattern, status class) the request count, body bytes, latency sum and a fixed-bucket latency
 * histogram; per minute the security events by type and the requests by country.
 *
 * Ownership and life: one struct kw_metrics per worker process (inside struct kw_app), zeroed
 * at start. Recording is a few comparisons and additions in a small fixed table — no
 * allocation, no I/O. The worker empties it into SQLite (kw_store_metrics_flush) every few
 * seconds or when a table fills, outside any request; kw_metrics_reset() then clears it.
 *
 * Invariants: endpoint and method strings are borrowed and must have static storage (route
 * patterns, kw_metrics_method()'s constants); names (event types, countries) are copied and
 * truncated to KW_METRICS_NAME_MAX - 1 bytes. Cell counts are bounded (KW_METRICS_MAX_*), so a
 * flood of distinct values can only force an early flush, never grow memory.
 *
 * Percentiles are estimated from the histogram (kw_metrics_percentile_us): exact to the bucket,
 * linear inside it, the way Prometheus' histogram_quantile() estimates them.
 */
#ifndef KW_METRICS_H
#define KW_METRICS_H

#include <stdint.h>

#include "util.h"

#define KW_METRICS_BUCKETS 15 /* 14 upper bounds + the overflow bucket */
#define KW_METRICS_MAX_CELLS 256
#define KW_METRICS_MAX_NAMES 128
#define KW_METRICS_NAME_MAX 40

/* Upper bounds of the first KW_METRICS_BUCKETS - 1 buckets, microseconds, ascending. */
extern const int64_t kw_metrics_bucket_us[KW_METRICS_BUCKETS - 1];

struct kw_metrics_cell {
	int64_t minute; /* Unix seconds, multiple of 60 */
	const char *method;
	const char *endpoint;
	int status_class; /* 1..5 */
	int64_t requests, bytes, latency_us_sum;
	int64_t hist[KW_METRICS_BUCKETS];
};

struct kw_metrics_count {
	int64_t minute;
	char name[KW_METRICS_NAME_MAX];
	int64_t count;
};

struct kw_metrics {
	struct kw_metrics_cell cells[KW_METRICS_MAX_CELLS];
	int ncells;
	struct kw_metrics_count security[KW_METRICS_MAX_NAMES];
	int nsecurity;
	struct kw_metrics_count countries[KW_METRICS_MAX_NAMES];
	int ncountries;
	int64_t pending;     /* requests + events recorded since the last reset */
	int64_t first_at_us; /* monotonic time of the oldest unflushed record, 0 if none */
};

/* The method as one of a few static strings ("GET", "HEAD", "POST", "OPTIONS", "OTHER"). */
const char *kw_metrics_method(const char *method);

/* Index of the histogram bucket for a duration. */
int kw_metrics_bucket_of(int64_t latency_us);

/*
 * Add one request. 0, or -1 when the table is full (flush, reset and call again). status
 * outside 100..599 counts as class 5 (the worker failed to produce one).
 */
int kw_metrics_add_request(struct kw_metrics *m, int64_t now_s, const char *method,
			   const char *endpoint, int status, int64_t latency_us,
			   int64_t bytes) KW_WUR;
/* Add one security event of type / one request from country; -1 when the table is full. */
int kw_metrics_add_security(struct kw_metrics *m, int64_t now_s, const char *type) KW_WUR;
int kw_metrics_add_country(struct kw_metrics *m, int64_t now_s, const char *country) KW_WUR;

void kw_metrics_reset(struct kw_metrics *m);
/* Move everything src holds into dst (which must be empty) and reset src. */
void kw_metrics_move(struct kw_metrics *dst, struct kw_metrics *src);
/*
 * Add every count of src into dst (a batch that could not be written goes back into the
 * table still filling). Returns how many of src's records did not fit into dst's tables:
 * they are lost, and the caller counts them.
 */
int64_t kw_metrics_merge(struct kw_metrics *dst, const struct kw_metrics *src);

/*
 * The q-quantile (0 < q <= 1) of a histogram, in microseconds: -1 when it is empty. A quantile
 * that falls in the overflow bucket is reported as the largest finite bound.
 */
int64_t kw_metrics_percentile_us(const int64_t hist[KW_METRICS_BUCKETS], double q);

#endif
