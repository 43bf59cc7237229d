/*
 * test_sentry_dsn.c — parsing SENTRY_DSN into the envelope URL and the public key
 * (lib/sentry_dsn.c): accepted forms, the legacy secret never kept, and refusals that never
 * repeat the DSN.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sentry.h"

static void test_good(void **state)
{
	(void)state;
	static const struct {
		const char *dsn, *url, *key;
	} cases[] = {
		{ "https://abc123@o1.ingest.sentry.io/42",
		  "https://o1.ingest.sentry.io/api/42/envelope/", "abc123" },
		{ "http://k@127.0.0.1:9000/7", "http://127.0.0.1:9000/api/7/envelope/", "k" },
		{ "https://pub:secret@host.example/sub/path/99",
		  "https://host.example/sub/path/api/99/envelope/", "pub" },
		{ "https://k@[::1]:8443/5", "https://[::1]:8443/api/5/envelope/", "k" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char url[512], key[128], why[160];
		assert_int_equal(kw_sentry_parse_dsn(cases[i].dsn, url, sizeof(url), key,
						     sizeof(key), why, sizeof(why)),
				 0);
		assert_string_equal(url, cases[i].url);
		assert_string_equal(key, cases[i].key);
		assert_null(strstr(url, "secret"));
	}
}

static void test_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"ftp://k@host/1",
		"https://host/1",
		"https://k@host",
		"https://k@host/",
		"https://k y@host/1",
		"https://k@ho st/1",
		"https://@host/1",
		"https://k@host/1?x=<script>",
		"https://k@/1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char url[512], key[128], why[160] = "";
		assert_int_equal(kw_sentry_parse_dsn(bad[i], url, sizeof(url), key, sizeof(key),
						     why, sizeof(why)),
				 -1);
		assert_true(strlen(why) > 0);
		if (*bad[i])
			assert_null(strstr(why, bad[i]));
	}
	/* Too long for the caller's buffer: refused, never truncated. */
	char url[24], key[128], why[160];
	assert_int_equal(kw_sentry_parse_dsn("https://k@a-rather-long-host.example/1", url,
					     sizeof(url), key, sizeof(key), why, sizeof(why)),
			 -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
