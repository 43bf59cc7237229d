/*
 * store_metrics.h — SQL for the monitoring tables (sql/0006_metrics.sql): flushing a worker's
 * in-memory aggregate, pruning, and the read queries behind GET /api/v1/monitoring and
 * GET /metrics.
 *
 * Read queries hand rows to a callback; strings in a row are valid only during the call.
 * A callback returning non-zero stops the walk (the function then returns 0).
 */
#ifndef KW_STORE_METRICS_H
#define KW_STORE_METRICS_H

#include <stdint.h>

#include "metrics.h"
#include "store.h"

/*
 * Write every cell of m into the per-minute and the total tables in one transaction. 0, or -1
 * (logged; nothing written, m untouched) when the database refused — the caller keeps m and
 * tries again later.
 */
int kw_store_metrics_flush(struct kw_store *s, const struct kw_metrics *m) KW_WUR;
/* Delete per-minute rows older than before_s. Returns rows deleted, or -1 (logged). */
int64_t kw_store_metrics_prune(struct kw_store *s, int64_t before_s);

struct kw_mreq_row {
	int64_t bucket; /* start of the bucket (Unix seconds); 0 for totals */
	const char *method;
	const char *endpoint;
	int status_class;
	int64_t requests, bytes, latency_us_sum;
	int64_t hist[KW_METRICS_BUCKETS];
};
typedef int (*kw_mreq_fn)(void *ctx, const struct kw_mreq_row *row);

struct kw_mcount_row {
	int64_t bucket; /* 0 for totals and un-bucketed sums */
	const char *name;
	int64_t count;
};
typedef int (*kw_mcount_fn)(void *ctx, const struct kw_mcount_row *row);

/* Per (bucket, method, endpoint, status class) since since_s, bucket_s wide. since_s < 0: the
 * all-time totals (bucket 0). */
int kw_store_metrics_requests(struct kw_store *s, int64_t since_s, int64_t bucket_s, kw_mreq_fn fn,
			      void *ctx) KW_WUR;

/*
 * Add n[i] to the count of writes of kind names[i] that a worker had to drop
 * (worker_writes_dropped), in one transaction; zero counts are skipped. -1 (logged, nothing
 * written) on failure: the caller keeps the counts.
 */
int kw_store_writes_dropped_add(struct kw_store *s, const char *const *names, const int64_t *n,
				size_t count) KW_WUR;
/* Every kind with its count, by name. */
int kw_store_writes_dropped(struct kw_store *s, kw_mcount_fn fn, void *ctx) KW_WUR;

enum kw_mcount_kind {
	KW_MCOUNT_SECURITY,  /* security events by type */
	KW_MCOUNT_COUNTRIES, /* requests by country */
	KW_MCOUNT_ALERTS,    /* stored alerts by type (created_at; bucket_s ignored) */
};
/* Counts by name since since_s in bucket_s buckets (bucket_s 0: one sum per name, largest
 * first); since_s < 0: all-time totals. */
int kw_store_metrics_counts(struct kw_store *s, enum kw_mcount_kind kind, int64_t since_s,
			    int64_t bucket_s, kw_mcount_fn fn, void *ctx) KW_WUR;

struct kw_sec_event_row {
	int64_t at;
	const char *type, *client, *detail;
};
/* The newest security events since since_s, at most limit, newest first. */
int kw_store_security_recent(struct kw_store *s, int64_t since_s, int limit,
			     int (*fn)(void *ctx, const struct kw_sec_event_row *row),
			     void *ctx) KW_WUR;

/* The fetcher's health, from fetch_runs. Times 0 when there is no such run. */
struct kw_fetch_health {
	int64_t last_success_at; /* finished_at of the newest ok/partial run */
	int64_t last_run_id, last_started_at, last_finished_at;
	char last_outcome[16];
	int64_t last_markets, last_trades, last_orderbooks, last_skipped, last_http_errors;
	int64_t runs_ok, runs_partial, runs_failed, runs_running;	      /* since since_s */
	int64_t total_markets, total_trades, total_orderbooks, total_skipped; /* since since_s */
	int64_t newest_trade_us; /* newest stored trade's time, 0 if none */
};
int kw_store_fetch_health(struct kw_store *s, int64_t since_s, struct kw_fetch_health *out) KW_WUR;

/* kw-ws's last report (ws_stats); reported_at 0 when it never reported. */
struct kw_ws_report {
	int64_t connections, messages_sent, messages_received, reported_at;
};
int kw_store_ws_report(struct kw_store *s, struct kw_ws_report *out) KW_WUR;

#endif
