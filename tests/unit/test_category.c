/*
 * test_category.c — the category rules (lib/category.c): WHALE_MIN_NOTIONAL_BY_CATEGORY and
 * CRYPTO_SERIES_PREFIXES parsed and refused, per-category whale thresholds over the default,
 * the crypto view by category or series prefix (never by substring), and the JSON texts the
 * store binds into the API's queries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "category.h"

#define USD 1000000LL

static void test_category_rules(void **state)
{
	(void)state;
	struct kw_config cfg = {
		.whale_min_notional_usd = 5000,
		.whale_min_notional_by_category = "Crypto=2500,Sports=20000",
		.crypto_series_prefixes = "KXBTC,KXETH",
	};
	struct kw_category_threshold c[KW_CATEGORY_MAX];
	char err[160];
	assert_int_equal(kw_category_parse("Crypto=2500, Sports = 20000", c, 32, err, sizeof(err)),
			 2);
	assert_string_equal(c[0].category, "crypto");
	assert_int_equal(c[1].micros, 20000 * USD);
	assert_int_equal(kw_category_parse("", c, 32, err, sizeof(err)), 0);
	assert_int_equal(kw_category_parse("Crypto", c, 32, err, sizeof(err)), -1);
	assert_int_equal(kw_category_parse("Crypto=0", c, 32, err, sizeof(err)), -1);
	assert_int_equal(kw_category_parse("Crypto=1,crypto=2", c, 32, err, sizeof(err)), -1);
	assert_int_equal(kw_category_parse("Crypto=12x", c, 32, err, sizeof(err)), -1);
	assert_int_equal(kw_category_check_prefixes("KXBTC,KXETH", err, sizeof(err)), 0);
	assert_int_equal(kw_category_check_prefixes("KXBTC,,KXETH", err, sizeof(err)), -1);
	assert_int_equal(kw_category_check_prefixes("kx btc", err, sizeof(err)), -1);

	assert_int_equal(kw_category_threshold_micros(&cfg, "crypto"), 2500 * USD);
	assert_int_equal(kw_category_threshold_micros(&cfg, "Politics"), 5000 * USD);
	assert_int_equal(kw_category_threshold_micros(&cfg, NULL), 5000 * USD);
	assert_true(kw_category_is_crypto(&cfg, "Crypto", "ANY"));
	assert_true(kw_category_is_crypto(&cfg, "Economics", "KXBTCD"));
	/* Never a substring match: "eth" in "whether", a prefix in the middle of a ticker. */
	assert_false(kw_category_is_crypto(&cfg, "Weather", "KXWHETHER"));
	assert_false(kw_category_is_crypto(&cfg, "Politics", "XKXBTC"));
	assert_false(kw_category_is_crypto(&cfg, NULL, NULL));

	char *j = kw_category_thresholds_json(&cfg);
	assert_string_equal(j, "{\"crypto\":2500000000,\"sports\":20000000000}");
	free(j);
	j = kw_category_prefixes_json(&cfg);
	assert_string_equal(j, "[\"KXBTC\",\"KXETH\"]");
	free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_category_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
