/*
 * prometheus.c — GET /metrics: the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), checked in the tests with
 * `promtool check metrics`.
 *
 * Access: a key or token with admin scope, or a client address listed in METRICS_ALLOW (a
 * scraper on the same host or network usually has no key). The route is public in the route
 * table so that the address can be checked at all; everything else is refused here with the
 * gate's own 401/403 (kw_sec_route_or_reply with an admin route), so the answers and security
 * events are the same as on any admin route.
 *
 * Every figure is read from the store, so all workers report the same numbers:
 *   request counters, bytes and latency histograms by method, endpoint (route pattern) and
 *   status class, from metrics_request_totals (never pruned: the counters only grow);
 *   security events by type and requests by country (their *_totals tables);
 *   fetcher freshness and the last run's records ingested and skipped (fetch_runs);
 *   stored alerts by type; kw-ws's last report (ws_stats).
 *   records workers dropped instead of writing (worker_writes_dropped; 0 unless the database
 *   refused writes for long).
 * A worker's own last few seconds of counts (METRICS_FLUSH_SECONDS) are not yet included.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "log.h"
#include "metrics.h"
#include "monitoring.h"
#include "store_metrics.h"
#include "version.h"
#include "writer.h"

#define BODY_MAX (4 * 1024 * 1024)

struct expo {
	struct kw_buf *b;
	int ok;
	const char *family; /* the metric (or its prefix) being written while walking rows */
};

static void put(struct expo *e, const char *fmt, ...) KW_PRINTF(2, 3);
static void put(struct expo *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (kw_buf_vprintf(e->b, fmt, ap) < 0)
		e->ok = 0;
	va_end(ap);
}

/* A label value: \ " and newline escaped, as the format requires. */
static void put_label(struct expo *e, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\' || *p == '"')
			put(e, "\\%c", *p);
		else if (*p == '\n')
			put(e, "\\n");
		else
			put(e, "%c", *p);
	}
}

static void head(struct expo *e, const char *name, const char *type, const char *help)
{
	put(e, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric of one sample without labels: its HELP and TYPE lines, then the sample. */
static void single(struct expo *e, const char *name, const char *type, const char *help, int64_t v)
{
	head(e, name, type, help);
	put(e, "%s %lld\n", name, (long long)v);
}

/* One sample of a labelled family: name{label="value"} v. */
static void labelled(struct expo *e, const char *name, const char *label, const char *value,
		     int64_t v)
{
	put(e, "%s{%s=\"%s\"} %lld\n", name, label, value, (long long)v);
}

static void req_labels(struct expo *e, const struct kw_mreq_row *row)
{
	put(e, "method=\"");
	put_label(e, row->method);
	put(e, "\",endpoint=\"");
	put_label(e, row->endpoint);
	put(e, "\",status=\"%dxx\"", row->status_class);
}

/* kw_http_requests_total or kw_http_response_bytes_total (e->family), one line per row. */
static int on_counter(void *ctx, const struct kw_mreq_row *row)
{
	struct expo *e = ctx;
	int bytes = !strcmp(e->family, "kw_http_response_bytes_total");
	put(e, "%s{", e->family);
	req_labels(e, row);
	put(e, "} %lld\n", (long long)(bytes ? row->bytes : row->requests));
	return 0;
}

static int on_histogram(void *ctx, const struct kw_mreq_row *row)
{
	struct expo *e = ctx;
	int64_t cum = 0;
	for (int b = 0; b < KW_METRICS_BUCKETS; b++) {
		cum += row->hist[b];
		put(e, "kw_http_request_duration_seconds_bucket{");
		req_labels(e, row);
		if (b < KW_METRICS_BUCKETS - 1)
			put(e, ",le=\"%.6g\"} %lld\n", (double)kw_metrics_bucket_us[b] / 1e6,
			    (long long)cum);
		else
			put(e, ",le=\"+Inf\"} %lld\n", (long long)cum);
	}
	put(e, "kw_http_request_duration_seconds_sum{");
	req_labels(e, row);
	put(e, "} %.6f\n", (double)row->latency_us_sum / 1e6);
	put(e, "kw_http_request_duration_seconds_count{");
	req_labels(e, row);
	put(e, "} %lld\n", (long long)cum);
	return 0;
}

static int on_dropped(void *ctx, const struct kw_mcount_row *row)
{
	int64_t *n = ctx;
	for (int k = 0; k < KW_WRITER_DROP_KINDS; k++)
		if (!strcmp(row->name, kw_writer_drop_kinds[k]))
			n[k] = row->count;
	return 0;
}

static int on_count(void *ctx, const struct kw_mcount_row *row)
{
	struct expo *e = ctx;
	put(e, "%s", e->family);
	put_label(e, row->name);
	put(e, "\"} %lld\n", (long long)row->count);
	return 0;
}

static int client_allowed(const char *list, const char *client)
{
	size_t n = strlen(client);
	const char *p = list;
	while (p && *p && n) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		while (len && p[len - 1] == ' ')
			len--;
		if (len == n && !memcmp(p, client, n))
			return 1;
		p = end;
	}
	return 0;
}

/* Requests: counters, bytes and latency histograms, from metrics_request_totals. */
static int build_requests(struct kw_store *store, struct expo *e)
{
	head(e, "kw_http_requests_total", "counter",
	     "Requests answered by kw-api, by method, endpoint (route pattern) and status class.");
	e->family = "kw_http_requests_total";
	if (kw_store_metrics_requests(store, -1, 0, on_counter, e) < 0)
		return -1;
	head(e, "kw_http_response_bytes_total", "counter", "Response body bytes sent by kw-api.");
	e->family = "kw_http_response_bytes_total";
	if (kw_store_metrics_requests(store, -1, 0, on_counter, e) < 0)
		return -1;
	head(e, "kw_http_request_duration_seconds", "histogram",
	     "Time from reading a request to writing its reply, inside kw-api.");
	return kw_store_metrics_requests(store, -1, 0, on_histogram, e);
}

/* Counts by name: security events, countries, dropped writes, alerts. */
static int build_counts(struct kw_store *store, struct expo *e, int64_t now)
{
	head(e, "kw_security_events_total", "counter",
	     "Security events recorded by kw-api, by type.");
	e->family = "kw_security_events_total{type=\"";
	if (kw_store_metrics_counts(store, KW_MCOUNT_SECURITY, -1, 0, on_count, e) < 0)
		return -1;
	head(e, "kw_http_requests_by_country_total", "counter",
	     "Requests by client country (GEOIP_DB; unknown without one).");
	e->family = "kw_http_requests_by_country_total{country=\"";
	if (kw_store_metrics_counts(store, KW_MCOUNT_COUNTRIES, -1, 0, on_count, e) < 0)
		return -1;
	int64_t dropped[KW_WRITER_DROP_KINDS] = { 0 };
	if (kw_store_writes_dropped(store, on_dropped, dropped) < 0)
		return -1;
	head(e, "kw_worker_writes_dropped_total", "counter",
	     "Records kw-api workers dropped, by kind, because the database refused writes while "
	     "the table holding them in memory was full.");
	for (int k = 0; k < KW_WRITER_DROP_KINDS; k++)
		labelled(e, "kw_worker_writes_dropped_total", "kind", kw_writer_drop_kinds[k],
			 dropped[k]);
	head(e, "kw_alerts", "gauge", "Detection alerts stored, by type.");
	e->family = "kw_alerts{type=\"";
	if (kw_store_metrics_counts(store, KW_MCOUNT_ALERTS, -1, 0, on_count, e) < 0)
		return -1;
	head(e, "kw_alerts_last_24h", "gauge",
	     "Detection alerts raised in the last 24 hours, by type.");
	e->family = "kw_alerts_last_24h{type=\"";
	return kw_store_metrics_counts(store, KW_MCOUNT_ALERTS, now - 86400, 0, on_count, e);
}

/* kw-fetch's freshness and its runs (fetch_runs). */
static void build_fetch(struct expo *e, const struct kw_fetch_health *h, int64_t now)
{
	static const char runs[] = "kw_fetch_runs_last_24h", recs[] = "kw_fetch_records_last_24h",
			  last[] = "kw_fetch_last_run_records";
	if (h->last_success_at) {
		single(e, "kw_fetch_last_success_timestamp_seconds", "gauge",
		       "When the last successful kw-fetch run finished (Unix time).",
		       h->last_success_at);
		single(e, "kw_fetch_lag_seconds", "gauge",
		       "Seconds since the last successful kw-fetch run finished.",
		       now - h->last_success_at);
	}
	if (h->last_run_id) {
		head(e, last, "gauge", "Records the most recent kw-fetch run stored, by kind.");
		labelled(e, last, "kind", "markets", h->last_markets);
		labelled(e, last, "kind", "trades", h->last_trades);
		labelled(e, last, "kind", "orderbooks", h->last_orderbooks);
		single(e, "kw_fetch_last_run_skipped", "gauge",
		       "Records the most recent kw-fetch run skipped as invalid.", h->last_skipped);
		single(e, "kw_fetch_last_run_http_errors", "gauge",
		       "HTTP errors in the most recent kw-fetch run.", h->last_http_errors);
	}
	head(e, runs, "gauge", "kw-fetch runs started in the last 24 hours, by outcome.");
	labelled(e, runs, "outcome", "ok", h->runs_ok);
	labelled(e, runs, "outcome", "partial", h->runs_partial);
	labelled(e, runs, "outcome", "failed", h->runs_failed);
	labelled(e, runs, "outcome", "running", h->runs_running);
	head(e, recs, "gauge",
	     "Records stored by kw-fetch runs started in the last 24 hours, by kind.");
	labelled(e, recs, "kind", "markets", h->total_markets);
	labelled(e, recs, "kind", "trades", h->total_trades);
	labelled(e, recs, "kind", "orderbooks", h->total_orderbooks);
	labelled(e, recs, "kind", "skipped", h->total_skipped);
}

/* kw-ws's last report (ws_stats); nothing before its first. */
static void build_ws(struct expo *e, const struct kw_ws_report *wr, int64_t now)
{
	if (!wr->reported_at)
		return;
	single(e, "kw_ws_connections", "gauge", "WebSocket clients connected to kw-ws.",
	       wr->connections);
	single(e, "kw_ws_messages_sent_total", "counter", "Messages kw-ws sent since it started.",
	       wr->messages_sent);
	single(e, "kw_ws_messages_received_total", "counter",
	       "Messages kw-ws received since it started.", wr->messages_received);
	single(e, "kw_ws_report_age_seconds", "gauge",
	       "Seconds since kw-ws last reported (it reports every few seconds).",
	       now - wr->reported_at);
}

static int build(struct kw_store *store, struct expo *e)
{
	int64_t now = kw_now_s();
	struct kw_fetch_health fh;
	struct kw_ws_report wr;

	head(e, "kw_build_info", "gauge", "kw-api version (always 1).");
	put(e, "kw_build_info{version=\"%s\"} 1\n", KW_VERSION);
	if (build_requests(store, e) < 0 || build_counts(store, e, now) < 0)
		return -1;
	if (kw_store_fetch_health(store, now - 86400, &fh) < 0 ||
	    kw_store_ws_report(store, &wr) < 0)
		return -1;
	build_fetch(e, &fh, now);
	build_ws(e, &wr, now);
	return e->ok ? 0 : -1;
}

void kw_handle_metrics(struct kw_req *r)
{
	static const struct kw_route admin_gate = { .flags = KW_ROUTE_ADMIN };
	const char *client = r->sec.client[0] ? r->sec.client : r->remote_addr;
	if (!client_allowed(r->app->cfg.metrics_allow, client)) {
		const struct kw_route *rt = r->route;
		r->route = &admin_gate;
		int rc = kw_sec_route_or_reply(r);
		r->route = rt;
		if (rc < 0)
			return;
	}
	struct kw_store *store = kw_app_store_or_reply(r);
	if (!store)
		return;
	struct kw_buf body;
	kw_buf_init(&body, BODY_MAX);
	struct expo e = { &body, 1, NULL };
	if (build(store, &e) < 0) {
		kw_buf_free(&body);
		kw_reply_error(r, 503, "metrics_unavailable", "metrics are unavailable");
		return;
	}
	kw_buf_free(&r->body);
	r->body = body;
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
	r->replied = 1;
	kw_reply_header(r, "Cache-Control", "no-store");
}
