/*
 * test_geoip.c — client address to country (lib/geoip.c) with the real libmaxminddb over a
 * small MaxMind DB in tests/fixtures/country-test.mmdb, written by tests/integration/mmdb.py:
 *   81.2.69.0/24    country.iso_code GB            (MaxMind, DB-IP layout)
 *   2.125.160.0/24  registered_country.iso_code DE (no physical country)
 *   5.6.7.0/24      country_code "fr"              (ip-location-db layout; upper-cased)
 *   6.6.6.0/24      country.iso_code "<script>"    (junk: not a country)
 *   9.9.9.0/24      country.iso_code "USA"         (not two letters)
 * and the error paths: no file, a file that is not a MaxMind DB, no handle, bad addresses.
 * make unit runs the binaries from the top of the tree, where the fixture path is relative.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "geoip.h"

#define FIXTURE "tests/fixtures/country-test.mmdb"

static void test_lookups(void **state)
{
	(void)state;
	static const struct {
		const char *addr, *country;
	} cases[] = {
		{ "81.2.69.142", "GB" },       { "2.125.160.216", "DE" },
		{ "5.6.7.8", "FR" },	       { "6.6.6.6", "unknown" },
		{ "9.9.9.9", "unknown" },      { "8.8.8.8", "unknown" },
		{ "not-an-ip", "unknown" },    { "", "unknown" },
		{ "81.2.69.142x", "unknown" },
	};
	char err[256] = "", out[16];
	struct kw_geoip *g = kw_geoip_open(FIXTURE, err, sizeof(err));
	assert_non_null(g);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kw_geoip_country(g, cases[i].addr, out, sizeof(out));
		assert_string_equal(out, cases[i].country);
	}
	kw_geoip_country(g, NULL, out, sizeof(out));
	assert_string_equal(out, "unknown");
	kw_geoip_close(g);
}

static void test_errors(void **state)
{
	(void)state;
	char err[256] = "", out[16], path[128];
	assert_null(kw_geoip_open("/nonexistent/country.mmdb", err, sizeof(err)));
	assert_true(err[0] != '\0');
	/* A file that is there but is not a MaxMind DB. */
	snprintf(path, sizeof(path), "/tmp/kw-test-geoip-%d.mmdb", (int)getpid());
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("this is not a database\n", f);
	fclose(f);
	err[0] = '\0';
	assert_null(kw_geoip_open(path, err, sizeof(err)));
	assert_true(err[0] != '\0');
	unlink(path);
	/* Without a database every address is unknown (GEOIP_DB unset). */
	kw_geoip_country(NULL, "81.2.69.142", out, sizeof(out));
	assert_string_equal(out, "unknown");
	kw_geoip_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
