/*
 * test_origins.c — ALLOWED_ORIGINS (lib/origins.c): exact scheme, host and port matching, the
 * list parser's refusals (paths, wildcards), and * and null reported so that production can
 * refuse them. Table-driven; CORS behaviour end to end is in tests/integration/test_security.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "origins.h"

static void test_origins(void **state)
{
	(void)state;
	int wild;
	char err[200];
	struct kw_origins *o = kw_origins_parse(
		" https://app.example.com , http://localhost:3000,https://[::1]:8443,*", &wild, err,
		sizeof(err));
	assert_non_null(o);
	assert_int_equal(wild, 1);
	assert_int_equal(kw_origins_count(o), 3);
	static const struct {
		const char *origin;
		int ok;
	} cases[] = {
		{ "https://app.example.com", 1 },
		{ "HTTPS://App.Example.COM", 1 },
		{ "https://app.example.com:443", 1 },
		{ "http://localhost:3000", 1 },
		{ "https://[::1]:8443", 1 },
		{ "http://app.example.com", 0 },
		{ "https://app.example.com:444", 0 },
		{ "https://app.example.com.evil.com", 0 },
		{ "https://evilapp.example.com", 0 },
		{ "https://app.example.com/", 0 },
		{ "https://app.example.com/x", 0 },
		{ "https://user@app.example.com", 0 },
		{ "http://localhost:03000", 0 },
		{ "http://localhost:300000", 0 },
		{ "http://localhost", 0 },
		{ "null", 0 },
		{ "*", 0 },
		{ "", 0 },
		{ "https://", 0 },
		{ "ftp://app.example.com", 0 },
		{ "https://app.example.com\r\nX: y", 0 },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++)
		if (kw_origins_match(o, cases[i].origin, strlen(cases[i].origin)) != cases[i].ok)
			fail_msg("origin case %zu (%s)", i, cases[i].origin);
	kw_origins_free(o);
	assert_null(kw_origins_parse("https://x.example.com/path", &wild, err, sizeof(err)));
	assert_non_null(strstr(err, "entry 1 is not an origin"));
	o = kw_origins_parse("", &wild, err, sizeof(err));
	assert_int_equal(kw_origins_count(o), 0);
	assert_int_equal(kw_origins_match(o, "https://a.b", 11), 0);
	kw_origins_free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
