/*
 * test_metrics.c — the in-memory metrics aggregate (lib/metrics.c): bucket boundaries,
 * percentile estimation, cells per (minute, method, endpoint, status class), bounded tables,
 * name truncation and reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static void test_buckets(void **state)
{
	(void)state;
	static const struct {
		int64_t us;
		int bucket;
	} cases[] = {
		{ 0, 0 },    { 100, 0 },  { 101, 1 },	   { 250, 1 },	    { 999, 3 },
		{ 1000, 3 }, { 1001, 4 }, { 2500000, 13 }, { 2500001, 14 }, { INT64_MAX, 14 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(kw_metrics_bucket_of(cases[i].us), cases[i].bucket);
	for (int i = 1; i < KW_METRICS_BUCKETS - 1; i++)
		assert_true(kw_metrics_bucket_us[i] > kw_metrics_bucket_us[i - 1]);
}

static void test_percentiles(void **state)
{
	(void)state;
	int64_t h[KW_METRICS_BUCKETS] = { 0 };
	assert_int_equal(kw_metrics_percentile_us(h, 0.5), -1); /* empty */
	h[3] = 100;						/* 100 requests in (500, 1000] us */
	assert_int_equal(kw_metrics_percentile_us(h, 0.5), 750);
	assert_int_equal(kw_metrics_percentile_us(h, 1.0), 1000);
	h[0] = 100; /* and 100 in [0, 100] */
	assert_int_equal(kw_metrics_percentile_us(h, 0.5), 100);
	assert_int_equal(kw_metrics_percentile_us(h, 0.25), 50);
	assert_int_equal(kw_metrics_percentile_us(h, 0.99), 990);
	int64_t slow[KW_METRICS_BUCKETS] = { 0 };
	slow[KW_METRICS_BUCKETS - 1] = 5; /* all above the last bound: reported as that bound */
	assert_int_equal(kw_metrics_percentile_us(slow, 0.5),
			 kw_metrics_bucket_us[KW_METRICS_BUCKETS - 2]);
	assert_int_equal(kw_metrics_percentile_us(h, 0), -1);
}

static void test_cells(void **state)
{
	(void)state;
	static struct kw_metrics m;
	static const char ep_a[] = "/api/a", ep_b[] = "/api/b";
	kw_metrics_reset(&m);
	const char *get = kw_metrics_method("GET");
	assert_string_equal(kw_metrics_method("PATCH"), "OTHER");
	assert_string_equal(kw_metrics_method(NULL), "OTHER");
	assert_ptr_equal(kw_metrics_method("GET"), get);
	int64_t t = 1700000000; /* a multiple of 60 plus 20 s */
	assert_int_equal(kw_metrics_add_request(&m, t, get, ep_a, 200, 80, 10), 0);
	assert_int_equal(kw_metrics_add_request(&m, t + 30, get, ep_a, 204, 3000, 5), 0);
	assert_int_equal(kw_metrics_add_request(&m, t, get, ep_a, 404, 10, 1), 0);
	assert_int_equal(kw_metrics_add_request(&m, t, get, ep_b, 200, 10, 1), 0);
	assert_int_equal(kw_metrics_add_request(&m, t + 60, get, ep_a, 200, 10, 1), 0);
	assert_int_equal(kw_metrics_add_request(&m, t, get, ep_a, 0, -5, -1), 0); /* no status */
	assert_int_equal(m.ncells, 5);
	const struct kw_metrics_cell *c = &m.cells[0];
	assert_int_equal(c->minute, t - t % 60);
	assert_int_equal(c->status_class, 2);
	assert_int_equal(c->requests, 2);
	assert_int_equal(c->bytes, 15);
	assert_int_equal(c->latency_us_sum, 3080);
	assert_int_equal(c->hist[0], 1);
	assert_int_equal(c->hist[kw_metrics_bucket_of(3000)], 1);
	assert_int_equal(m.cells[4].status_class, 5);
	assert_int_equal(m.cells[4].bytes, 0);
	assert_int_equal(m.cells[4].hist[0], 1);
	assert_int_equal(m.pending, 6);
	assert_true(m.first_at_us > 0);
	kw_metrics_reset(&m);
	assert_int_equal(m.ncells, 0);
	assert_int_equal(m.pending, 0);
	assert_int_equal(m.first_at_us, 0);
}

static void test_bounded_tables(void **state)
{
	(void)state;
	static struct kw_metrics m;
	static const char ep[] = "/api/x";
	const char *get = kw_metrics_method("GET");
	kw_metrics_reset(&m);
	int64_t t = 1700000000;
	/* One new cell per minute until the table is full; then -1, and nothing changes. */
	for (int i = 0; i < KW_METRICS_MAX_CELLS; i++)
		assert_int_equal(kw_metrics_add_request(&m, t + 60 * i, get, ep, 200, 1, 1), 0);
	assert_int_equal(
		kw_metrics_add_request(&m, t + 60 * KW_METRICS_MAX_CELLS, get, ep, 200, 1, 1), -1);
	assert_int_equal(m.ncells, KW_METRICS_MAX_CELLS);
	assert_int_equal(kw_metrics_add_request(&m, t, get, ep, 200, 1, 1), 0); /* existing */
	char name[64];
	for (int i = 0; i < KW_METRICS_MAX_NAMES; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(kw_metrics_add_country(&m, t, name), 0);
	}
	assert_int_equal(kw_metrics_add_country(&m, t, "one-too-many"), -1);
	assert_int_equal(kw_metrics_add_country(&m, t, "c7"), 0);
	assert_int_equal(m.countries[7].count, 2);
}

static void test_names(void **state)
{
	(void)state;
	static struct kw_metrics m;
	kw_metrics_reset(&m);
	char longname[200];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(kw_metrics_add_security(&m, 60, longname), 0);
	assert_int_equal(kw_metrics_add_security(&m, 61, longname), 0); /* same minute, same key */
	assert_int_equal(m.nsecurity, 1);
	assert_int_equal(strlen(m.security[0].name), KW_METRICS_NAME_MAX - 1);
	assert_int_equal(m.security[0].count, 2);
	assert_int_equal(kw_metrics_add_country(&m, 60, ""), 0);
	assert_int_equal(kw_metrics_add_country(&m, 60, NULL), 0);
	assert_int_equal(m.ncountries, 1);
	assert_string_equal(m.countries[0].name, "unknown");
	assert_int_equal(m.countries[0].count, 2);
}

/* A batch the database refused goes back into the table that kept filling meanwhile: same
 * cells add up, new ones are appended, and what finds no room is reported as lost. */
static void test_move_and_merge(void **state)
{
	(void)state;
	static struct kw_metrics live, batch;
	static const char ep[] = "/api/x", other[] = "/api/y";
	const char *get = kw_metrics_method("GET");
	int64_t t = 1700000000;
	kw_metrics_reset(&live);
	kw_metrics_reset(&batch);
	assert_int_equal(kw_metrics_add_request(&live, t, get, ep, 200, 300, 10), 0);
	assert_int_equal(kw_metrics_add_request(&live, t, get, ep, 200, 300, 10), 0);
	assert_int_equal(kw_metrics_add_security(&live, t, "auth_failed"), 0);
	assert_int_equal(kw_metrics_add_country(&live, t, "GB"), 0);
	int64_t first = live.first_at_us;
	kw_metrics_move(&batch, &live);
	assert_int_equal(live.pending, 0);
	assert_int_equal(live.ncells, 0);
	assert_int_equal(batch.ncells, 1);
	assert_int_equal(batch.pending, 4);
	assert_int_equal(batch.first_at_us, first);
	/* Meanwhile: the same cell once more, and a new one. */
	assert_int_equal(kw_metrics_add_request(&live, t, get, ep, 200, 300, 10), 0);
	assert_int_equal(kw_metrics_add_request(&live, t, get, other, 404, 5, 1), 0);
	assert_int_equal(kw_metrics_merge(&live, &batch), 0);
	assert_int_equal(live.ncells, 2);
	assert_int_equal(live.cells[0].requests, 3);
	assert_int_equal(live.cells[0].bytes, 30);
	assert_int_equal(live.cells[0].latency_us_sum, 900);
	assert_int_equal(live.cells[0].hist[kw_metrics_bucket_of(300)], 3);
	assert_int_equal(live.nsecurity, 1);
	assert_int_equal(live.security[0].count, 1);
	assert_int_equal(live.countries[0].count, 1);
	assert_int_equal(live.pending, 6);
	assert_int_equal(live.first_at_us, first); /* the batch's records are the oldest */

	/* A full table takes what matches and reports the rest as lost. */
	kw_metrics_reset(&live);
	kw_metrics_reset(&batch);
	for (int i = 0; i < KW_METRICS_MAX_CELLS; i++)
		assert_int_equal(kw_metrics_add_request(&live, t + 60 * i, get, ep, 200, 1, 1), 0);
	assert_int_equal(kw_metrics_add_request(&batch, t, get, ep, 200, 1, 1), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(kw_metrics_add_request(&batch, t, get, other, 200, 1, 1), 0);
	assert_int_equal(kw_metrics_merge(&live, &batch), 3);
	assert_int_equal(live.cells[0].requests, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets), cmocka_unit_test(test_percentiles),
		cmocka_unit_test(test_cells),	cmocka_unit_test(test_bounded_tables),
		cmocka_unit_test(test_names),	cmocka_unit_test(test_move_and_merge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
