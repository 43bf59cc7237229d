/*
 * test_http.c — declared query parameters: types, ranges, repeats, unknown names, escapes,
 * control characters and invalid UTF-8, each refused with a message naming the parameter and
 * never echoing the value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

static const struct kw_param decls[] = {
	{ "limit", KW_P_INT, 1, 200, 0, NULL, "page size" },
	{ "q", KW_P_STR, 0, 0, 8, NULL, "search" },
	{ "sort", KW_P_ENUM, 0, 0, 0, "volume|close_time", "order" },
	{ "csv", KW_P_BOOL, 0, 0, 0, NULL, "csv" },
	{ "from", KW_P_TIME, 0, 0, 0, NULL, "start" },
	{ NULL, 0, 0, 0, 0, NULL, NULL },
};

static void test_good(void **state)
{
	(void)state;
	struct kw_query q;
	const char *bad;
	char err[160];
	assert_int_equal(kw_query_parse("limit=50&q=a%20b+c&sort=close_time&csv=1&from="
					"2026-01-31T12:00:00Z&&",
					decls, &q, &bad, err, sizeof(err)),
			 0);
	assert_int_equal(kw_query_int(&q, "limit", 0), 50);
	assert_string_equal(kw_query_str(&q, "q", NULL), "a b c");
	assert_int_equal(kw_query_int(&q, "sort", -1), 1);
	assert_int_equal(kw_query_int(&q, "csv", 0), 1);
	assert_int_equal(kw_query_int(&q, "from", 0), 1769860800);
	assert_int_equal(kw_query_int(&q, "absent", 7), 7);
	kw_query_free(&q);
	assert_int_equal(kw_query_parse("", decls, &q, &bad, err, sizeof(err)), 0);
	assert_int_equal(kw_query_parse(NULL, NULL, &q, &bad, err, sizeof(err)), 0);
}

struct bad_case {
	const char *qs;
	const char *expect;
	const char *param;
};

static void test_bad(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{ "limit=0", "parameter 'limit' must be an integer from 1 to 200", "limit" },
		{ "limit=201", "from 1 to 200", "limit" },
		{ "limit=5x", "must be an integer", "limit" },
		{ "limit=", "must be an integer", "limit" },
		{ "limit=1&limit=2", "parameter 'limit' is repeated", "limit" },
		{ "limt=5", "unknown parameter 'limt'", NULL },
		{ "%3Cb%3E=1", "malformed parameter name", NULL },
		{ "q=%zz", "parameter 'q' has a malformed percent-escape", "q" },
		{ "q=%4", "malformed percent-escape", "q" },
		{ "q=abcdefghi", "parameter 'q' must be 1 to 8 characters", "q" },
		{ "q=a%0Ab", "without control characters", "q" },
		{ "q=a%00b", "without control characters", "q" },
		{ "q=%C3%28", "must be UTF-8", "q" },
		{ "q=%ED%A0%80", "must be UTF-8", "q" }, /* a surrogate */
		{ "sort=price", "parameter 'sort' must be one of volume|close_time", "sort" },
		{ "csv=yes", "parameter 'csv' must be true or false", "csv" },
		{ "from=yesterday", "must be an RFC 3339 time", "from" },
		{ "from=2026-02-30T00:00:00Z", "must be an RFC 3339 time", "from" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kw_query q;
		const char *bad = NULL;
		char err[160] = "";
		assert_int_equal(kw_query_parse(cases[i].qs, decls, &q, &bad, err, sizeof(err)),
				 -1);
		if (!strstr(err, cases[i].expect))
			fail_msg("case %s: '%s' lacks '%s'", cases[i].qs, err, cases[i].expect);
		if (cases[i].param)
			assert_string_equal(bad, cases[i].param);
		assert_null(strstr(err, "yesterday"));
		assert_null(strstr(err, "price"));
		kw_query_free(&q);
	}
}

static void test_too_long(void **state)
{
	(void)state;
	char qs[KW_QUERY_MAX_LEN + 10];
	memset(qs, 'a', sizeof(qs) - 1);
	qs[sizeof(qs) - 1] = '\0';
	memcpy(qs, "q=", 2);
	struct kw_query q;
	const char *bad;
	char err[160];
	assert_int_equal(kw_query_parse(qs, decls, &q, &bad, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than"));
	kw_query_free(&q);
}

static void test_reason(void **state)
{
	(void)state;
	assert_string_equal(kw_http_reason(429), "Too Many Requests");
	assert_string_equal(kw_http_reason(599), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
