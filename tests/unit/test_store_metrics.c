/*
 * test_store_metrics.c — the monitoring tables (lib/store_metrics.c) through the public store
 * API on a temporary database: a worker's in-memory aggregate flushed (twice: flushes add up)
 * and read back per minute and in all-time totals, with the latency histogram; security and
 * country counts; pruning that keeps the totals; dropped-write counts; alert counts by type;
 * the fetcher's health from its runs; and kw-ws's last report.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "fetched.h"
#include "store.h"
#include "store_fetch.h"
#include "store_metrics.h"
#include "store_whale.h"
#include "store_ws.h"

#define M0 1795000020LL /* a minute's start: 1795000020 = 29916667 * 60 */

struct reqs {
	struct kw_mreq_row rows[8];
	int n;
};

static int on_req(void *ctx, const struct kw_mreq_row *row)
{
	struct reqs *r = ctx;
	assert_true(r->n < 8);
	r->rows[r->n] = *row;
	r->rows[r->n].method = NULL; /* the strings die with the call */
	r->rows[r->n].endpoint = NULL;
	assert_string_equal(row->method, "GET");
	assert_string_equal(row->endpoint, "/api/v1/markets");
	r->n++;
	return 0;
}

struct counts {
	char text[256];
};

static int on_count(void *ctx, const struct kw_mcount_row *row)
{
	struct counts *c = ctx;
	size_t n = strlen(c->text);
	snprintf(c->text + n, sizeof(c->text) - n, "%s%lld:%s=%lld", n ? " " : "",
		 (long long)row->bucket, row->name, (long long)row->count);
	return 0;
}

static void test_requests_and_counts(void **state)
{
	(void)state;
	char path[128];
	struct kw_store *s = open_temp(path, sizeof(path), "metrics");
	static struct kw_metrics m;
	kw_metrics_reset(&m);
	assert_int_equal(M0 % 60, 0);
	/* Two requests in the first minute, one 5xx in the next. */
	assert_int_equal(
		kw_metrics_add_request(&m, M0 + 1, "GET", "/api/v1/markets", 200, 300, 1000), 0);
	assert_int_equal(
		kw_metrics_add_request(&m, M0 + 2, "GET", "/api/v1/markets", 200, 3000, 500), 0);
	assert_int_equal(
		kw_metrics_add_request(&m, M0 + 61, "GET", "/api/v1/markets", 503, 2000000, 40), 0);
	assert_int_equal(kw_metrics_add_security(&m, M0 + 3, "auth_failed"), 0);
	assert_int_equal(kw_metrics_add_security(&m, M0 + 62, "auth_failed"), 0);
	assert_int_equal(kw_metrics_add_security(&m, M0 + 63, "rate_limited"), 0);
	assert_int_equal(kw_metrics_add_country(&m, M0 + 4, "GB"), 0);
	assert_int_equal(kw_store_metrics_flush(s, &m), 0);
	assert_int_equal(kw_store_metrics_flush(s, &m), 0); /* a second flush adds again */

	struct reqs r = { .n = 0 };
	assert_int_equal(kw_store_metrics_requests(s, -1, 0, on_req, &r), 0);
	assert_int_equal(r.n, 2); /* totals: one row per status class */
	int64_t ok = 0, bad = 0;
	for (int i = 0; i < r.n; i++) {
		assert_int_equal(r.rows[i].bucket, 0);
		if (r.rows[i].status_class == 2) {
			ok = r.rows[i].requests;
			assert_int_equal(r.rows[i].bytes, 3000);
			assert_int_equal(r.rows[i].latency_us_sum, 6600);
			assert_int_equal(r.rows[i].hist[kw_metrics_bucket_of(300)], 2);
			assert_int_equal(r.rows[i].hist[kw_metrics_bucket_of(3000)], 2);
		} else {
			assert_int_equal(r.rows[i].status_class, 5);
			bad = r.rows[i].requests;
			assert_int_equal(r.rows[i].hist[KW_METRICS_BUCKETS - 1], 0);
			assert_int_equal(r.rows[i].hist[kw_metrics_bucket_of(2000000)], 2);
		}
	}
	assert_int_equal(ok, 4);
	assert_int_equal(bad, 2);
	/* Per minute since M0, in 60 s buckets. */
	r.n = 0;
	assert_int_equal(kw_store_metrics_requests(s, M0, 60, on_req, &r), 0);
	assert_int_equal(r.n, 2);
	for (int i = 0; i < r.n; i++)
		assert_int_equal(r.rows[i].bucket, r.rows[i].status_class == 2 ? M0 : M0 + 60);

	struct counts c = { "" };
	assert_int_equal(kw_store_metrics_counts(s, KW_MCOUNT_SECURITY, -1, 0, on_count, &c), 0);
	assert_string_equal(c.text, "0:auth_failed=4 0:rate_limited=2"); /* largest first */
	c.text[0] = '\0';
	assert_int_equal(kw_store_metrics_counts(s, KW_MCOUNT_SECURITY, M0, 60, on_count, &c), 0);
	assert_non_null(strstr(c.text, "1795000020:auth_failed=2"));
	assert_non_null(strstr(c.text, "1795000080:auth_failed=2"));
	assert_non_null(strstr(c.text, "1795000080:rate_limited=2"));
	c.text[0] = '\0';
	assert_int_equal(kw_store_metrics_counts(s, KW_MCOUNT_COUNTRIES, M0, 0, on_count, &c), 0);
	assert_string_equal(c.text, "0:GB=2");

	/* Pruning drops the minutes, never the totals. */
	assert_true(kw_store_metrics_prune(s, M0 + 3600) > 0);
	r.n = 0;
	assert_int_equal(kw_store_metrics_requests(s, M0, 60, on_req, &r), 0);
	assert_int_equal(r.n, 0);
	r.n = 0;
	assert_int_equal(kw_store_metrics_requests(s, -1, 0, on_req, &r), 0);
	assert_int_equal(r.n, 2);

	static const char *const kinds[] = { "event", "block", "key_use" };
	static const int64_t dropped[] = { 3, 0, 1 };
	assert_int_equal(kw_store_writes_dropped_add(s, kinds, dropped, 3), 0);
	assert_int_equal(kw_store_writes_dropped_add(s, kinds, dropped, 1), 0);
	c.text[0] = '\0';
	assert_int_equal(kw_store_writes_dropped(s, on_count, &c), 0);
	assert_string_equal(c.text, "0:event=6 0:key_use=1");
	kw_store_close(s);
	unlink(path);
}

static void test_alerts_fetcher_and_ws(void **state)
{
	(void)state;
	char path[128];
	struct kw_store *s = open_temp(path, sizeof(path), "metrics-health");
	int64_t now = kw_now_s(), r1 = 0, r2 = 0, r3 = 0;
	struct kw_fetch_health h;
	struct kw_ws_report wr;
	assert_int_equal(kw_store_fetch_health(s, now - 86400, &h), 0);
	assert_int_equal(h.last_success_at, 0);
	assert_int_equal(h.last_run_id, 0);
	assert_int_equal(kw_store_ws_report(s, &wr), 0);
	assert_int_equal(wr.reported_at, 0);

	struct kw_alert_new a = alert_row("k1", "whale_trade", "KX", now - 10);
	assert_int_equal(kw_store_alert_insert(s, &a), 1);
	a.alert_key = "k2";
	assert_int_equal(kw_store_alert_insert(s, &a), 1);
	a.alert_key = "k3";
	a.type = "odds_flip";
	a.created_at = now - 3 * 86400;
	assert_int_equal(kw_store_alert_insert(s, &a), 1);
	struct counts c = { "" };
	assert_int_equal(kw_store_metrics_counts(s, KW_MCOUNT_ALERTS, -1, 0, on_count, &c), 0);
	assert_non_null(strstr(c.text, "0:whale_trade=2"));
	assert_non_null(strstr(c.text, "0:odds_flip=1"));
	assert_int_equal(strlen(c.text), strlen("0:whale_trade=2 0:odds_flip=1"));
	c.text[0] = '\0';
	assert_int_equal(kw_store_metrics_counts(s, KW_MCOUNT_ALERTS, now - 86400, 0, on_count, &c),
			 0);
	assert_string_equal(c.text, "0:whale_trade=2");

	struct kw_fetch_run_row ok = { .outcome = "ok",
				       .finished_at = now - 100,
				       .pages = 3,
				       .markets = 40,
				       .trades = 500,
				       .orderbooks = 7,
				       .skipped = 2,
				       .open_markets = 40,
				       .skip_reasons_json = "{\"missing_field\":2}" };
	struct kw_fetch_run_row failed = { .outcome = "failed",
					   .finished_at = now - 10,
					   .http_errors = 4,
					   .open_markets = -1,
					   .skip_reasons_json = "{}",
					   .error = "Kalshi unavailable" };
	assert_int_equal(kw_store_fetch_run_begin(s, now - 200, &r1), 0);
	assert_int_equal(kw_store_fetch_run_finish(s, r1, &ok), 0);
	assert_int_equal(kw_store_fetch_run_begin(s, now - 60, &r2), 0);
	assert_int_equal(kw_store_fetch_run_finish(s, r2, &failed), 0);
	assert_int_equal(kw_store_fetch_run_begin(s, now - 5, &r3), 0); /* still running */
	assert_int_equal(kw_store_fetch_health(s, now - 86400, &h), 0);
	assert_int_equal(h.last_success_at, now - 100);
	assert_int_equal(h.last_run_id, r3);
	assert_string_equal(h.last_outcome, "running");
	assert_int_equal(h.runs_ok, 1);
	assert_int_equal(h.runs_failed, 1);
	assert_int_equal(h.runs_running, 1);
	assert_int_equal(h.total_markets, 40);
	assert_int_equal(h.total_trades, 500);
	assert_int_equal(h.total_orderbooks, 7);
	assert_int_equal(h.total_skipped, 2);

	struct kw_ws_stats ws = {
		.connections = 12, .messages_sent = 345, .messages_received = 6, .pid = 4242
	};
	assert_int_equal(kw_store_ws_stats_write(s, &ws, now - 3), 0);
	assert_int_equal(kw_store_ws_report(s, &wr), 0);
	assert_int_equal(wr.connections, 12);
	assert_int_equal(wr.messages_sent, 345);
	assert_int_equal(wr.messages_received, 6);
	assert_int_equal(wr.reported_at, now - 3);
	kw_store_close(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests_and_counts),
		cmocka_unit_test(test_alerts_fetcher_and_ws),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
