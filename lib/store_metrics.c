/*
 * store_metrics.c — SQL for the monitoring tables (contract in store_metrics.h).
 *
 * A flush is one BEGIN IMMEDIATE transaction of upserts, a few dozen rows for a busy worker:
 * the write lock is taken once every few seconds per worker, not once per request (see
 * docs/PLATFORM.md: per-request writers halve throughput). Table names cannot be bound, so each
 * kind of count has its own static statements, chosen from small tables below.
 */
#include "store_metrics.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

#define HCOLS "h0, h1, h2, h3, h4, h5, h6, h7, h8, h9, h10, h11, h12, h13, h14"
#define HARGS "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
#define HSUM                                                                                       \
	"sum(h0), sum(h1), sum(h2), sum(h3), sum(h4), sum(h5), sum(h6), sum(h7), sum(h8),"         \
	" sum(h9), sum(h10), sum(h11), sum(h12), sum(h13), sum(h14)"
#define HADD(T)                                                                                    \
	"requests = " T ".requests + excluded.requests, bytes = " T ".bytes + excluded.bytes,"     \
	" latency_us_sum = " T ".latency_us_sum + excluded.latency_us_sum,"                        \
	" h0 = " T ".h0 + excluded.h0, h1 = " T ".h1 + excluded.h1, h2 = " T ".h2 + excluded.h2,"  \
	" h3 = " T ".h3 + excluded.h3, h4 = " T ".h4 + excluded.h4, h5 = " T ".h5 + excluded.h5,"  \
	" h6 = " T ".h6 + excluded.h6, h7 = " T ".h7 + excluded.h7, h8 = " T ".h8 + excluded.h8,"  \
	" h9 = " T ".h9 + excluded.h9, h10 = " T ".h10 + excluded.h10, h11 = " T                   \
	".h11 + excluded.h11,"                                                                     \
	" h12 = " T ".h12 + excluded.h12, h13 = " T ".h13 + excluded.h13, h14 = " T                \
	".h14 + excluded.h14"

static const char SQL_REQ_MINUTE[] =
	"INSERT INTO metrics_requests (minute, method, endpoint, status_class, requests, bytes,"
	" latency_us_sum, " HCOLS ") VALUES (?, ?, ?, ?, ?, ?, ?, " HARGS ")"
	" ON CONFLICT (minute, method, endpoint, status_class) DO UPDATE SET " HADD(
		"metrics_requests");
static const char SQL_REQ_HOUR[] =
	"INSERT INTO metrics_requests_hourly (hour, method, endpoint, status_class, requests, "
	"bytes,"
	" latency_us_sum, " HCOLS ") VALUES (?, ?, ?, ?, ?, ?, ?, " HARGS ")"
	" ON CONFLICT (hour, method, endpoint, status_class) DO UPDATE SET " HADD(
		"metrics_requests_hourly");
static const char SQL_REQ_TOTAL[] =
	"INSERT INTO metrics_request_totals (method, endpoint, status_class, requests, bytes,"
	" latency_us_sum, " HCOLS ") VALUES (?, ?, ?, ?, ?, ?, " HARGS ")"
	" ON CONFLICT (method, endpoint, status_class) DO UPDATE SET " HADD(
		"metrics_request_totals");

static const char SQL_SEC_MINUTE[] =
	"INSERT INTO metrics_security (minute, name, count) VALUES (?, ?, ?)"
	" ON CONFLICT (minute, name) DO UPDATE SET count = metrics_security.count + excluded.count";
static const char SQL_SEC_HOUR[] =
	"INSERT INTO metrics_security_hourly (hour, name, count) VALUES (?, ?, ?)"
	" ON CONFLICT (hour, name) DO UPDATE SET count = metrics_security_hourly.count + "
	"excluded.count";
static const char SQL_SEC_TOTAL[] =
	"INSERT INTO metrics_security_totals (name, count) VALUES (?, ?)"
	" ON CONFLICT (name) DO UPDATE SET count = metrics_security_totals.count + excluded.count";
static const char SQL_GEO_MINUTE[] =
	"INSERT INTO metrics_countries (minute, name, count) VALUES (?, ?, ?)"
	" ON CONFLICT (minute, name) DO UPDATE SET count = metrics_countries.count + "
	"excluded.count";
static const char SQL_GEO_HOUR[] =
	"INSERT INTO metrics_countries_hourly (hour, name, count) VALUES (?, ?, ?)"
	" ON CONFLICT (hour, name) DO UPDATE SET count = metrics_countries_hourly.count + "
	"excluded.count";
static const char SQL_GEO_TOTAL[] =
	"INSERT INTO metrics_country_totals (name, count) VALUES (?, ?)"
	" ON CONFLICT (name) DO UPDATE SET count = metrics_country_totals.count + excluded.count";

/* Each cell and count is written at three resolutions. */
enum res { RES_MINUTE, RES_HOUR, RES_TOTAL };

static int write_cell(struct kw_store *s, const struct kw_metrics_cell *c, enum res res)
{
	static const char *const sql[] = { SQL_REQ_MINUTE, SQL_REQ_HOUR, SQL_REQ_TOTAL };
	struct kw_stmt *st = kw_store_stmt(s, sql[res]);
	if (!st)
		return -1;
	int i = 1;
	if (res != RES_TOTAL)
		kw_sql_bind_i64(st, i++,
				res == RES_HOUR ? c->minute - c->minute % 3600 : c->minute);
	kw_sql_bind_text_static(st, i++, c->method);
	kw_sql_bind_text_static(st, i++, c->endpoint);
	kw_sql_bind_int(st, i++, c->status_class);
	kw_sql_bind_i64(st, i++, c->requests);
	kw_sql_bind_i64(st, i++, c->bytes);
	kw_sql_bind_i64(st, i++, c->latency_us_sum);
	for (int b = 0; b < KW_METRICS_BUCKETS; b++)
		kw_sql_bind_i64(st, i++, c->hist[b]);
	return kw_store_step_done(s, st, "metrics request upsert");
}

static int write_count(struct kw_store *s, const char *const sql[3],
		       const struct kw_metrics_count *c, enum res res)
{
	struct kw_stmt *st = kw_store_stmt(s, sql[res]);
	if (!st)
		return -1;
	int i = 1;
	if (res != RES_TOTAL)
		kw_sql_bind_i64(st, i++,
				res == RES_HOUR ? c->minute - c->minute % 3600 : c->minute);
	kw_sql_bind_text_static(st, i++, c->name);
	kw_sql_bind_i64(st, i, c->count);
	return kw_store_step_done(s, st, "metrics count upsert");
}

int kw_store_metrics_flush(struct kw_store *s, const struct kw_metrics *m)
{
	if (!m->ncells && !m->nsecurity && !m->ncountries)
		return 0;
	static const char *const sec[] = { SQL_SEC_MINUTE, SQL_SEC_HOUR, SQL_SEC_TOTAL };
	static const char *const geo[] = { SQL_GEO_MINUTE, SQL_GEO_HOUR, SQL_GEO_TOTAL };
	if (kw_store_begin(s) < 0)
		return -1;
	for (enum res r = RES_MINUTE; r <= RES_TOTAL; r++) {
		for (int i = 0; i < m->ncells; i++)
			if (write_cell(s, &m->cells[i], r) < 0)
				goto fail;
		for (int i = 0; i < m->nsecurity; i++)
			if (write_count(s, sec, &m->security[i], r) < 0)
				goto fail;
		for (int i = 0; i < m->ncountries; i++)
			if (write_count(s, geo, &m->countries[i], r) < 0)
				goto fail;
	}
	if (kw_store_commit(s) < 0)
		goto fail;
	return 0;
fail:
	kw_store_rollback(s);
	return -1;
}

static const char SQL_DROPPED_ADD[] =
	"INSERT INTO worker_writes_dropped (kind, count) VALUES (?, ?)"
	" ON CONFLICT (kind) DO UPDATE SET count = worker_writes_dropped.count + excluded.count";
static const char SQL_DROPPED[] = "SELECT 0, kind, count FROM worker_writes_dropped ORDER BY kind";

int kw_store_writes_dropped_add(struct kw_store *s, const char *const *names, const int64_t *n,
				size_t count)
{
	int any = 0;
	for (size_t i = 0; i < count; i++)
		any |= n[i] != 0;
	if (!any)
		return 0;
	if (kw_store_begin(s) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		if (!n[i])
			continue;
		struct kw_stmt *st = kw_store_stmt(s, SQL_DROPPED_ADD);
		if (!st)
			goto fail;
		kw_sql_bind_text_static(st, 1, names[i]);
		kw_sql_bind_i64(st, 2, n[i]);
		if (kw_store_step_done(s, st, "dropped-writes upsert") < 0)
			goto fail;
	}
	if (kw_store_commit(s) == 0)
		return 0;
fail:
	kw_store_rollback(s);
	return -1;
}

static const char *const SQL_PRUNE[] = {
	"DELETE FROM metrics_requests WHERE minute < ?",
	"DELETE FROM metrics_security WHERE minute < ?",
	"DELETE FROM metrics_countries WHERE minute < ?",
	"DELETE FROM metrics_requests_hourly WHERE hour < ?",
	"DELETE FROM metrics_security_hourly WHERE hour < ?",
	"DELETE FROM metrics_countries_hourly WHERE hour < ?",
};

int64_t kw_store_metrics_prune(struct kw_store *s, int64_t before_s)
{
	int64_t n = 0;
	for (size_t i = 0; i < KW_ARRAY_LEN(SQL_PRUNE); i++) {
		struct kw_stmt *st = kw_store_stmt(s, SQL_PRUNE[i]);
		if (!st)
			return -1;
		kw_sql_bind_i64(st, 1, before_s);
		if (kw_store_step_done(s, st, "metrics prune") < 0)
			return -1;
		n += kw_store_changes(s);
	}
	return n;
}

/* ---- reading ------------------------------------------------------------------------------ */

static const char SQL_REQ_BUCKETS[] =
	"SELECT (minute / ?2) * ?2, method, endpoint, status_class, sum(requests), sum(bytes),"
	" sum(latency_us_sum), " HSUM " FROM metrics_requests WHERE minute >= ?1"
	" GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";
static const char SQL_REQ_HOURS[] =
	"SELECT (hour / ?2) * ?2, method, endpoint, status_class, sum(requests), sum(bytes),"
	" sum(latency_us_sum), " HSUM " FROM metrics_requests_hourly WHERE hour >= ?1"
	" GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";
static const char SQL_REQ_TOTALS[] =
	"SELECT 0, method, endpoint, status_class, requests, bytes, latency_us_sum, " HCOLS
	" FROM metrics_request_totals ORDER BY 2, 3, 4";

struct req_walk {
	kw_mreq_fn fn;
	void *ctx;
};

static int req_row(struct kw_stmt *st, void *p)
{
	struct req_walk *w = p;
	struct kw_mreq_row r;
	r.bucket = kw_sql_col_i64(st, 0);
	r.method = kw_store_col_str(st, 1);
	r.endpoint = kw_store_col_str(st, 2);
	r.status_class = kw_sql_col_int(st, 3);
	r.requests = kw_sql_col_i64(st, 4);
	r.bytes = kw_sql_col_i64(st, 5);
	r.latency_us_sum = kw_sql_col_i64(st, 6);
	for (int b = 0; b < KW_METRICS_BUCKETS; b++)
		r.hist[b] = kw_sql_col_i64(st, 7 + b);
	return w->fn(w->ctx, &r);
}

/* The hourly tables hold exactly the same sums whenever the window starts on an hour and the
 * buckets are whole hours (or there are none): then they are read, 60 times fewer rows. */
static int use_hours(int64_t since_s, int64_t bucket_s)
{
	return since_s % 3600 == 0 && bucket_s % 3600 == 0;
}

int kw_store_metrics_requests(struct kw_store *s, int64_t since_s, int64_t bucket_s, kw_mreq_fn fn,
			      void *ctx)
{
	struct req_walk w = { fn, ctx };
	struct kw_stmt *st = kw_store_stmt(s, since_s < 0		     ? SQL_REQ_TOTALS
					      : use_hours(since_s, bucket_s) ? SQL_REQ_HOURS
									     : SQL_REQ_BUCKETS);
	if (!st)
		return -1;
	if (since_s >= 0) {
		kw_sql_bind_i64(st, 1, since_s);
		kw_sql_bind_i64(st, 2, bucket_s > 0 ? bucket_s : 60);
	}
	return kw_store_walk(s, st, req_row, &w, "metrics request query");
}

#define COUNT_SQL(table, col)                                                                      \
	{                                                                                          \
		"SELECT (" col " / ?2) * ?2, name, sum(count) FROM " table " WHERE " col " >= ?1"  \
		" GROUP BY 1, 2 ORDER BY 1, 2",                                                    \
			"SELECT 0, name, sum(count) FROM " table " WHERE " col " >= ?1"            \
			" GROUP BY name ORDER BY 3 DESC, name LIMIT 100"                           \
	}
#define ALERTS_SQL                                                                                 \
	"SELECT 0, type, count(*) FROM alerts WHERE created_at >= ?1 GROUP BY type ORDER BY type"

/* [kind][hourly][0 bucketed, 1 summed per name] */
static const char *const SQL_COUNTS[3][2][2] = {
	{ COUNT_SQL("metrics_security", "minute"), COUNT_SQL("metrics_security_hourly", "hour") },
	{ COUNT_SQL("metrics_countries", "minute"), COUNT_SQL("metrics_countries_hourly", "hour") },
	{ { ALERTS_SQL, ALERTS_SQL }, { ALERTS_SQL, ALERTS_SQL } },
};
static const char *const SQL_COUNT_TOTALS[3] = {
	"SELECT 0, name, count FROM metrics_security_totals ORDER BY name",
	"SELECT 0, name, count FROM metrics_country_totals ORDER BY name",
	"SELECT 0, type, count(*) FROM alerts GROUP BY type ORDER BY type",
};

struct count_walk {
	kw_mcount_fn fn;
	void *ctx;
};

static int count_row(struct kw_stmt *st, void *p)
{
	struct count_walk *w = p;
	struct kw_mcount_row r = { kw_sql_col_i64(st, 0), kw_store_col_str(st, 1),
				   kw_sql_col_i64(st, 2) };
	return w->fn(w->ctx, &r);
}

int kw_store_metrics_counts(struct kw_store *s, enum kw_mcount_kind kind, int64_t since_s,
			    int64_t bucket_s, kw_mcount_fn fn, void *ctx)
{
	struct count_walk w = { fn, ctx };
	int totals = since_s<0, bucketed = bucket_s> 0;
	struct kw_stmt *st = kw_store_stmt(
		s, totals ? SQL_COUNT_TOTALS[kind]
			  : SQL_COUNTS[kind][use_hours(since_s, bucket_s)][bucketed ? 0 : 1]);
	if (!st)
		return -1;
	if (!totals)
		kw_sql_bind_i64(st, 1, since_s);
	if (!totals && bucketed && kind != KW_MCOUNT_ALERTS)
		kw_sql_bind_i64(st, 2, bucket_s);
	return kw_store_walk(s, st, count_row, &w, "metrics count query");
}

static const char SQL_SEC_RECENT[] =
	"SELECT at, type, client, detail FROM security_events WHERE at >= ?1"
	" ORDER BY id DESC LIMIT ?2";

struct sec_walk {
	int (*fn)(void *ctx, const struct kw_sec_event_row *row);
	void *ctx;
};

static int sec_row(struct kw_stmt *st, void *p)
{
	struct sec_walk *w = p;
	struct kw_sec_event_row r = { kw_sql_col_i64(st, 0), kw_store_col_str(st, 1),
				      kw_store_col_str(st, 2), kw_store_col_str(st, 3) };
	return w->fn(w->ctx, &r);
}

int kw_store_security_recent(struct kw_store *s, int64_t since_s, int limit,
			     int (*fn)(void *ctx, const struct kw_sec_event_row *row), void *ctx)
{
	struct sec_walk w = { fn, ctx };
	struct kw_stmt *st = kw_store_stmt(s, SQL_SEC_RECENT);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, since_s);
	kw_sql_bind_int(st, 2, limit);
	return kw_store_walk(s, st, sec_row, &w, "security events query");
}

static const char SQL_FETCH_LAST[] =
	"SELECT id, started_at, coalesce(finished_at, 0), outcome, markets, trades, orderbooks,"
	" skipped, http_errors,"
	" (SELECT coalesce(max(finished_at), 0) FROM fetch_runs WHERE outcome IN ('ok', "
	"'partial')),"
	" (SELECT coalesce(max(created_us), 0) FROM trades)"
	" FROM fetch_runs ORDER BY id DESC LIMIT 1";
static const char SQL_FETCH_WINDOW[] =
	"SELECT outcome, count(*), sum(markets), sum(trades), sum(orderbooks), sum(skipped)"
	" FROM fetch_runs WHERE started_at >= ?1 GROUP BY outcome";

static int fetch_last_row(struct kw_stmt *st, void *p)
{
	struct kw_fetch_health *h = p;
	h->last_run_id = kw_sql_col_i64(st, 0);
	h->last_started_at = kw_sql_col_i64(st, 1);
	h->last_finished_at = kw_sql_col_i64(st, 2);
	kw_strlcpy(h->last_outcome, kw_store_col_str(st, 3), sizeof(h->last_outcome));
	h->last_markets = kw_sql_col_i64(st, 4);
	h->last_trades = kw_sql_col_i64(st, 5);
	h->last_orderbooks = kw_sql_col_i64(st, 6);
	h->last_skipped = kw_sql_col_i64(st, 7);
	h->last_http_errors = kw_sql_col_i64(st, 8);
	h->last_success_at = kw_sql_col_i64(st, 9);
	h->newest_trade_us = kw_sql_col_i64(st, 10);
	return 1;
}

static int fetch_window_row(struct kw_stmt *st, void *p)
{
	struct kw_fetch_health *h = p;
	const char *o = kw_store_col_str(st, 0);
	int64_t n = kw_sql_col_i64(st, 1);
	if (!strcmp(o, "ok"))
		h->runs_ok = n;
	else if (!strcmp(o, "partial"))
		h->runs_partial = n;
	else if (!strcmp(o, "failed"))
		h->runs_failed = n;
	else
		h->runs_running = n;
	h->total_markets += kw_sql_col_i64(st, 2);
	h->total_trades += kw_sql_col_i64(st, 3);
	h->total_orderbooks += kw_sql_col_i64(st, 4);
	h->total_skipped += kw_sql_col_i64(st, 5);
	return 0;
}

int kw_store_fetch_health(struct kw_store *s, int64_t since_s, struct kw_fetch_health *out)
{
	memset(out, 0, sizeof(*out));
	struct kw_stmt *st = kw_store_stmt(s, SQL_FETCH_LAST);
	if (!st || kw_store_walk(s, st, fetch_last_row, out, "fetch health query") < 0)
		return -1;
	st = kw_store_stmt(s, SQL_FETCH_WINDOW);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, since_s);
	return kw_store_walk(s, st, fetch_window_row, out, "fetch runs query");
}

static const char SQL_WS_REPORT[] =
	"SELECT connections, messages_sent, messages_received, updated_at FROM ws_stats"
	" WHERE id = 1";

static int ws_row(struct kw_stmt *st, void *p)
{
	struct kw_ws_report *w = p;
	w->connections = kw_sql_col_i64(st, 0);
	w->messages_sent = kw_sql_col_i64(st, 1);
	w->messages_received = kw_sql_col_i64(st, 2);
	w->reported_at = kw_sql_col_i64(st, 3);
	return 1;
}

int kw_store_ws_report(struct kw_store *s, struct kw_ws_report *out)
{
	memset(out, 0, sizeof(*out));
	struct kw_stmt *st = kw_store_stmt(s, SQL_WS_REPORT);
	if (!st)
		return -1;
	return kw_store_walk(s, st, ws_row, out, "ws_stats query");
}

int kw_store_writes_dropped(struct kw_store *s, kw_mcount_fn fn, void *ctx)
{
	struct count_walk w = { fn, ctx };
	struct kw_stmt *st = kw_store_stmt(s, SQL_DROPPED);
	if (!st)
		return -1;
	return kw_store_walk(s, st, count_row, &w, "dropped-writes query");
}
