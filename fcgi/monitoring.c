/*
 * monitoring.c — recording requests into the worker's metrics aggregate (written by writer.c), and
 * GET /api/v1/monitoring (contract in monitoring.h; GET /metrics is in prometheus.c).
 *
 * Why in memory first: a database write per request would halve kw-api's throughput (see
 * docs/PLATFORM.md, SQLite), so each worker adds to a small fixed table (lib/metrics.h), which
 * its write-behind thread writes in one transaction every METRICS_FLUSH_SECONDS (writer.h:
 * never on the request path). A worker killed hard loses at most that many seconds of its own
 * counts; a clean stop writes them. If the database refuses a write the counts are kept and
 * retried; what a full table cannot take is dropped and counted
 * (kw_worker_writes_dropped_total).
 *
 * /api/v1/monitoring?window=1h|24h|7d answers one JSON object (the v1 envelope's data):
 *   window, since, until, bucket_s (60 / 900 / 3600), latency_buckets_ms,
 *   totals {requests, bytes, status {1xx..5xx}, server_error_rate, client_error_rate (percent),
 *           latency_ms {p50, p95, p99}},
 *   series [{time, requests, bytes, status {...}, latency_ms {...}}]   one per bucket, oldest
 *           first, zero where nothing was recorded (percentiles null),
 *   endpoints [{method, endpoint, requests, bytes, status, server_error_rate,
 *           client_error_rate, latency_ms}]                            busiest first,
 *   security {by_type {type: n}, series [{time, count}], recent [{time, type, client, detail}]
 *           (admin scope only: client addresses are personal data), recent_requires_admin},
 *   countries [{country, requests}]                                     largest first,
 *   alerts {by_type {type: n}}, fetcher {...}, websocket {...}.
 * Percentiles are estimates from the fixed latency buckets (exact to the bucket).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "codec.h"
#include "auth.h"
#include "geoip.h"
#include "log.h"
#include "metrics.h"
#include "monitoring.h"
#include "sentry.h"
#include "store_metrics.h"
#include "whale.h"
#include "writer.h"

#define MAX_ENDPOINTS 512
#define RECENT_EVENTS 20

struct kw_mon {
	struct kw_geoip *geoip;
	struct kw_sentry *sentry;			     /* NULL without SENTRY_DSN */
	char last_addr[KW_CLIENT_ADDR_MAX], last_country[8]; /* one-entry lookup cache */
};

static struct kw_mon *mon_get(struct kw_app *app)
{
	if (app->mon)
		return app->mon;
	struct kw_mon *mon = kw_xcalloc(1, sizeof(*mon));
	if (app->cfg.monitoring_enabled && app->cfg.geoip_db && *app->cfg.geoip_db) {
		char err[256];
		mon->geoip = kw_geoip_open(app->cfg.geoip_db, err, sizeof(err));
		if (!mon->geoip)
			kw_error("%s; countries are recorded as unknown", err);
	}
	app->mon = mon;
	return mon;
}

void kw_mon_start(struct kw_app *app)
{
	struct kw_mon *mon = mon_get(app);
	if (!mon->sentry)
		mon->sentry = kw_sentry_start(&app->cfg, "kw-api");
}

/* A 5xx is an error report: our own words only (route pattern, status, request id). */
static void report_5xx(struct kw_mon *mon, struct kw_req *r, const char *method,
		       const char *endpoint)
{
	char msg[160], status[16];
	snprintf(status, sizeof(status), "%d", r->status);
	snprintf(msg, sizeof(msg), "kw-api: %s %s answered %d", method, endpoint, r->status);
	const char *tags[] = { "route", endpoint,     "method", method, "status",
			       status,	"request_id", r->id,	NULL };
	kw_sentry_capture(mon->sentry, "error", msg, tags);
}

void kw_mon_request_done(struct kw_req *r)
{
	struct kw_app *app = r->app;
	struct kw_mon *mon = mon_get(app);
	const char *method = kw_metrics_method(r->method);
	const char *endpoint = r->route ? r->route->pattern : "(unmatched)";
	if (r->status >= 500 && mon->sentry)
		report_5xx(mon, r, method, endpoint);
	if (!app->cfg.monitoring_enabled)
		return;
	int64_t latency = kw_mono_us() - r->t0_us;
	int64_t bytes = r->replied == KW_REPLIED_STREAMED ? 0 : (int64_t)r->body.len;
	const char *addr = r->sec.client[0] ? r->sec.client : r->remote_addr;
	if (strcmp(addr, mon->last_addr)) {
		kw_geoip_country(mon->geoip, addr, mon->last_country, sizeof(mon->last_country));
		kw_strlcpy(mon->last_addr, addr, sizeof(mon->last_addr));
	}
	kw_writer_request(app, kw_now_s(), method, endpoint, r->status, latency, bytes,
			  mon->last_country);
}

void kw_mon_security_event(struct kw_app *app, const char *type)
{
	if (app->cfg.monitoring_enabled)
		kw_writer_security_count(app, kw_now_s(), type);
}

void kw_mon_idle(struct kw_app *app)
{
	struct kw_mon *mon = app->mon;
	/* Spooled, not sent: a worker does no network I/O; kw-fetch delivers after its run.
	 * A few small files, no database and no lock. */
	if (mon && kw_sentry_pending(mon->sentry))
		kw_sentry_spool(mon->sentry);
}

void kw_mon_shutdown(struct kw_app *app)
{
	struct kw_mon *mon = app->mon;
	if (!mon)
		return;
	kw_sentry_spool(mon->sentry);
	kw_sentry_free(mon->sentry);
	kw_geoip_close(mon->geoip);
	free(mon);
	app->mon = NULL;
}

/* ---- GET /api/v1/monitoring --------------------------------------------------------------- */

const struct kw_param kw_params_v1_monitoring[] = {
	{ "window", KW_P_ENUM, 0, 0, 0, "1h|24h|7d", "time window (default 1h)" },
	{ 0 }, /* the universal zero initializer: no -Wmissing-field-initializers under clang */
};

struct agg {
	int64_t requests, bytes, latency_us_sum;
	int64_t status[5];
	int64_t hist[KW_METRICS_BUCKETS];
};

struct endpoint_agg {
	char method[8];
	char *endpoint;
	struct agg a;
};

struct mon_query {
	int64_t start, bucket_s;
	int nbuckets;
	struct agg *series, total;
	struct endpoint_agg *eps;
	int neps;
	int64_t *sec_series;
};

static void agg_add(struct agg *a, const struct kw_mreq_row *row)
{
	a->requests += row->requests;
	a->bytes += row->bytes;
	a->latency_us_sum += row->latency_us_sum;
	if (row->status_class >= 1 && row->status_class <= 5)
		a->status[row->status_class - 1] += row->requests;
	for (int b = 0; b < KW_METRICS_BUCKETS; b++)
		a->hist[b] += row->hist[b];
}

static int on_request_row(void *ctx, const struct kw_mreq_row *row)
{
	struct mon_query *q = ctx;
	int64_t i = (row->bucket - q->start) / q->bucket_s;
	if (i >= 0 && i < q->nbuckets)
		agg_add(&q->series[i], row);
	agg_add(&q->total, row);
	struct endpoint_agg *e = NULL;
	for (int k = 0; k < q->neps && !e; k++)
		if (!strcmp(q->eps[k].method, row->method) &&
		    !strcmp(q->eps[k].endpoint, row->endpoint))
			e = &q->eps[k];
	if (!e) {
		if (q->neps == MAX_ENDPOINTS)
			return 0;
		q->eps = kw_xrealloc(q->eps, sizeof(*q->eps) * (size_t)(q->neps + 1));
		e = &q->eps[q->neps++];
		memset(e, 0, sizeof(*e));
		kw_strlcpy(e->method, row->method, sizeof(e->method));
		e->endpoint = kw_xstrdup(row->endpoint);
	}
	agg_add(&e->a, row);
	return 0;
}

static json_object *rate(int64_t part, int64_t whole)
{
	return whole ? kw_json_decimal(part * 10000 / whole, 2) : NULL;
}

static json_object *latency_json(const struct agg *a)
{
	static const double qs[] = { 0.5, 0.95, 0.99 };
	static const char *const names[] = { "p50", "p95", "p99" };
	json_object *o = json_object_new_object();
	for (int i = 0; i < 3; i++) {
		int64_t us = kw_metrics_percentile_us(a->hist, qs[i]);
		json_object_object_add(o, names[i], us < 0 ? NULL : kw_json_decimal(us, 3));
	}
	return o;
}

static json_object *status_json(const struct agg *a)
{
	static const char *const names[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
	json_object *o = json_object_new_object();
	for (int i = 0; i < 5; i++)
		json_object_object_add(o, names[i], json_object_new_int64(a->status[i]));
	return o;
}

static void agg_fields(json_object *o, const struct agg *a)
{
	json_object_object_add(o, "requests", json_object_new_int64(a->requests));
	json_object_object_add(o, "bytes", json_object_new_int64(a->bytes));
	json_object_object_add(o, "status", status_json(a));
	json_object_object_add(o, "server_error_rate", rate(a->status[4], a->requests));
	json_object_object_add(o, "client_error_rate", rate(a->status[3], a->requests));
	json_object_object_add(o, "latency_ms", latency_json(a));
}

static int cmp_endpoint(const void *x, const void *y)
{
	const struct endpoint_agg *a = x, *b = y;
	if (a->a.requests != b->a.requests)
		return a->a.requests < b->a.requests ? 1 : -1;
	int c = strcmp(a->endpoint, b->endpoint);
	return c ? c : strcmp(a->method, b->method);
}

struct count_ctx {
	struct mon_query *q;
	json_object *obj; /* by name: object {name: n} */
	json_object *arr; /* or array of {key_name: name, value_name: n} */
	const char *key_name, *value_name;
};

static int on_count_obj(void *ctx, const struct kw_mcount_row *row)
{
	struct count_ctx *c = ctx;
	json_object_object_add(c->obj, row->name, json_object_new_int64(row->count));
	return 0;
}

static int on_count_arr(void *ctx, const struct kw_mcount_row *row)
{
	struct count_ctx *c = ctx;
	json_object *o = json_object_new_object();
	json_object_object_add(o, c->key_name, json_object_new_string(row->name));
	json_object_object_add(o, c->value_name, json_object_new_int64(row->count));
	json_object_array_add(c->arr, o);
	return 0;
}

static int on_sec_bucket(void *ctx, const struct kw_mcount_row *row)
{
	struct count_ctx *c = ctx;
	int64_t i = (row->bucket - c->q->start) / c->q->bucket_s;
	if (i >= 0 && i < c->q->nbuckets)
		c->q->sec_series[i] += row->count;
	return 0;
}

static int on_sec_recent(void *ctx, const struct kw_sec_event_row *row)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "time", kw_api_time(row->at));
	json_object_object_add(o, "type", json_object_new_string(row->type));
	json_object_object_add(o, "client", json_object_new_string(row->client));
	json_object_object_add(o, "detail", json_object_new_string(row->detail));
	json_object_array_add(ctx, o);
	return 0;
}

static json_object *fetcher_json(const struct kw_fetch_health *h, int64_t now)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "last_success",
			       h->last_success_at ? kw_api_time(h->last_success_at) : NULL);
	json_object_object_add(o, "lag_s",
			       h->last_success_at ? json_object_new_int64(now - h->last_success_at)
						  : NULL);
	json_object_object_add(o, "newest_trade",
			       h->newest_trade_us ? kw_api_time_us(h->newest_trade_us) : NULL);
	json_object *last = NULL;
	if (h->last_run_id) {
		last = json_object_new_object();
		json_object_object_add(last, "id", json_object_new_int64(h->last_run_id));
		json_object_object_add(last, "outcome", json_object_new_string(h->last_outcome));
		json_object_object_add(last, "started_at", kw_api_time(h->last_started_at));
		json_object_object_add(last, "finished_at",
				       h->last_finished_at ? kw_api_time(h->last_finished_at)
							   : NULL);
		json_object_object_add(last, "markets", json_object_new_int64(h->last_markets));
		json_object_object_add(last, "trades", json_object_new_int64(h->last_trades));
		json_object_object_add(last, "orderbooks",
				       json_object_new_int64(h->last_orderbooks));
		json_object_object_add(last, "skipped", json_object_new_int64(h->last_skipped));
		json_object_object_add(last, "http_errors",
				       json_object_new_int64(h->last_http_errors));
	}
	json_object_object_add(o, "last_run", last);
	json_object *runs = json_object_new_object();
	json_object_object_add(runs, "ok", json_object_new_int64(h->runs_ok));
	json_object_object_add(runs, "partial", json_object_new_int64(h->runs_partial));
	json_object_object_add(runs, "failed", json_object_new_int64(h->runs_failed));
	json_object_object_add(runs, "running", json_object_new_int64(h->runs_running));
	json_object_object_add(o, "runs", runs);
	json_object *ing = json_object_new_object();
	json_object_object_add(ing, "markets", json_object_new_int64(h->total_markets));
	json_object_object_add(ing, "trades", json_object_new_int64(h->total_trades));
	json_object_object_add(ing, "orderbooks", json_object_new_int64(h->total_orderbooks));
	json_object_object_add(ing, "skipped", json_object_new_int64(h->total_skipped));
	json_object_object_add(o, "ingested", ing);
	return o;
}

static json_object *ws_json(const struct kw_ws_report *w, int64_t now)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "connections", json_object_new_int64(w->connections));
	json_object_object_add(o, "messages_sent", json_object_new_int64(w->messages_sent));
	json_object_object_add(o, "messages_received", json_object_new_int64(w->messages_received));
	json_object_object_add(o, "reported_at",
			       w->reported_at ? kw_api_time(w->reported_at) : NULL);
	json_object_object_add(
		o, "stale", json_object_new_boolean(!w->reported_at || now - w->reported_at > 30));
	return o;
}

/* The ?window= choices: 0 = 1h by minute, 1 = 24h by quarter hour, 2 = 7d by hour. */
static const int64_t window_s[] = { 3600, 86400, 7 * 86400 };
static const int64_t bucket_s[] = { 60, 900, 3600 };
static const char *const window_names[] = { "1h", "24h", "7d" };

/* What the store gave for one window, as the reply's pieces (owned until added to it). */
struct mon_parts {
	json_object *sec_types, *countries, *alert_types, *recent;
	struct kw_fetch_health fh;
	struct kw_ws_report wr;
};

static void mon_parts_free(struct mon_parts *m)
{
	json_object_put(m->sec_types);
	json_object_put(m->countries);
	json_object_put(m->alert_types);
	json_object_put(m->recent);
}

static void mon_window(struct mon_query *q, int w, int64_t now)
{
	q->bucket_s = bucket_s[w];
	q->start = now - window_s[w];
	q->start -= q->start % q->bucket_s;
	q->nbuckets = (int)((now - q->start) / q->bucket_s) + 1;
	q->series = kw_xcalloc((size_t)q->nbuckets, sizeof(*q->series));
	q->sec_series = kw_xcalloc((size_t)q->nbuckets, sizeof(*q->sec_series));
}

/* Every figure of the window from the store; -1 (pieces freed) when it failed. */
static int mon_read(struct kw_store *store, struct mon_query *q, int admin, struct mon_parts *m)
{
	m->sec_types = json_object_new_object();
	m->countries = json_object_new_array();
	m->alert_types = json_object_new_object();
	m->recent = json_object_new_array();
	struct count_ctx c_types = { q, m->sec_types, NULL, NULL, NULL };
	struct count_ctx c_geo = { q, NULL, m->countries, "country", "requests" };
	struct count_ctx c_alerts = { q, m->alert_types, NULL, NULL, NULL };
	if (kw_store_metrics_requests(store, q->start, q->bucket_s, on_request_row, q) < 0 ||
	    kw_store_metrics_counts(store, KW_MCOUNT_SECURITY, q->start, 0, on_count_obj,
				    &c_types) < 0 ||
	    kw_store_metrics_counts(store, KW_MCOUNT_SECURITY, q->start, q->bucket_s, on_sec_bucket,
				    &c_types) < 0 ||
	    kw_store_metrics_counts(store, KW_MCOUNT_COUNTRIES, q->start, 0, on_count_arr, &c_geo) <
		    0 ||
	    kw_store_metrics_counts(store, KW_MCOUNT_ALERTS, q->start, 0, on_count_obj, &c_alerts) <
		    0 ||
	    (admin && kw_store_security_recent(store, q->start, RECENT_EVENTS, on_sec_recent,
					       m->recent) < 0) ||
	    kw_store_fetch_health(store, q->start, &m->fh) < 0 ||
	    kw_store_ws_report(store, &m->wr) < 0) {
		mon_parts_free(m);
		return -1;
	}
	return 0;
}

/* Requests: the latency bucket bounds, the window's totals, its series and each endpoint. */
static void traffic_json(json_object *d, struct mon_query *q)
{
	json_object *bounds = json_object_new_array();
	for (int b = 0; b < KW_METRICS_BUCKETS - 1; b++)
		json_object_array_add(bounds, kw_json_decimal(kw_metrics_bucket_us[b], 3));
	json_object_object_add(d, "latency_buckets_ms", bounds);
	json_object *totals = json_object_new_object();
	agg_fields(totals, &q->total);
	json_object_object_add(d, "totals", totals);

	json_object *series = json_object_new_array();
	for (int i = 0; i < q->nbuckets; i++) {
		json_object *p = json_object_new_object();
		json_object_object_add(p, "time", kw_api_time(q->start + i * q->bucket_s));
		agg_fields(p, &q->series[i]);
		json_object_array_add(series, p);
	}
	json_object_object_add(d, "series", series);

	if (q->neps)
		qsort(q->eps, (size_t)q->neps, sizeof(*q->eps), cmp_endpoint);
	json_object *eps = json_object_new_array();
	for (int i = 0; i < q->neps; i++) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "method", json_object_new_string(q->eps[i].method));
		json_object_object_add(e, "endpoint", json_object_new_string(q->eps[i].endpoint));
		agg_fields(e, &q->eps[i].a);
		json_object_array_add(eps, e);
	}
	json_object_object_add(d, "endpoints", eps);
}

/* Security events by type and over the window; takes by_type and recent. */
static json_object *security_json(const struct mon_query *q, json_object *by_type,
				  json_object *recent, int admin)
{
	json_object *sec = json_object_new_object(), *sec_series = json_object_new_array();
	json_object_object_add(sec, "by_type", by_type);
	for (int i = 0; i < q->nbuckets; i++) {
		json_object *p = json_object_new_object();
		json_object_object_add(p, "time", kw_api_time(q->start + i * q->bucket_s));
		json_object_object_add(p, "count", json_object_new_int64(q->sec_series[i]));
		json_object_array_add(sec_series, p);
	}
	json_object_object_add(sec, "series", sec_series);
	json_object_object_add(sec, "recent", recent);
	json_object_object_add(sec, "recent_requires_admin", json_object_new_boolean(!admin));
	return sec;
}

void kw_handle_v1_monitoring(struct kw_req *r)
{
	struct kw_store *store = kw_app_store_or_reply(r);
	if (!store)
		return;
	int w = (int)kw_query_int(&r->q, "window", 0);
	int64_t now = kw_now_s();
	/* Recent events name client addresses: personal data, for admin keys only. */
	int admin = r->sec.scope >= KW_SCOPE_ADMIN;
	struct mon_query q = { 0 };
	struct mon_parts m;
	mon_window(&q, w, now);
	if (mon_read(store, &q, admin, &m) < 0) {
		kw_reply_error(r, 503, "database_unavailable", "monitoring data is unavailable");
		goto out;
	}

	json_object *d = json_object_new_object();
	json_object_object_add(d, "window", json_object_new_string(window_names[w]));
	json_object_object_add(d, "since", kw_api_time(q.start));
	json_object_object_add(d, "until", kw_api_time(q.start + q.nbuckets * q.bucket_s));
	json_object_object_add(d, "bucket_s", json_object_new_int64(q.bucket_s));
	traffic_json(d, &q);
	json_object_object_add(d, "security", security_json(&q, m.sec_types, m.recent, admin));
	json_object_object_add(d, "countries", m.countries);
	json_object *alerts = json_object_new_object();
	json_object_object_add(alerts, "by_type", m.alert_types);
	json_object_object_add(d, "alerts", alerts);
	json_object_object_add(d, "fetcher", fetcher_json(&m.fh, now));
	json_object_object_add(d, "websocket", ws_json(&m.wr, now));
	kw_reply_header(r, "Cache-Control", "no-cache");
	kw_api_reply_list(r, d, 0, NULL);
out:
	for (int i = 0; i < q.neps; i++)
		free(q.eps[i].endpoint);
	free(q.eps);
	free(q.series);
	free(q.sec_series);
}
