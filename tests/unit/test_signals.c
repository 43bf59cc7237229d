/*
 * test_signals.c — the signal table (lib/signals.c): one row per enum kw_alert_type in enum
 * order, names that are unique and match the alerts.type values detection writes, the choice
 * list the API's `type` parameter accepts, and lookup by name (exact, never by prefix or case).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "signals.h"

static void test_table_follows_the_enum(void **state)
{
	(void)state;
	static const char *const names[KW_ALERT_NTYPES] = {
		[KW_ALERT_WHALE_TRADE] = "whale_trade",
		[KW_ALERT_VOLUME_SURGE] = "volume_surge",
		[KW_ALERT_ODDS_FLIP] = "odds_flip",
		[KW_ALERT_ORDER_BOOK_SHIFT] = "order_book_shift",
		[KW_ALERT_HIGH_VOLUME] = "high_volume",
	};
	assert_int_equal(KW_ALERT_NTYPES, 5);
	for (int i = 0; i < KW_ALERT_NTYPES; i++) {
		assert_int_equal(kw_signals[i].type, i);
		assert_string_equal(kw_signals[i].name, names[i]);
		assert_true(kw_signals[i].label[0] != '\0');
		assert_true(kw_signals[i].description[0] != '\0');
		for (int j = 0; j < i; j++)
			assert_true(strcmp(kw_signals[i].name, kw_signals[j].name) != 0);
	}
	/* A whale trade is one event; the others describe a market's state (with cooldowns). */
	assert_int_equal(kw_signals[KW_ALERT_WHALE_TRADE].kind, KW_SIGNAL_EVENT);
	for (int i = 1; i < KW_ALERT_NTYPES; i++)
		assert_int_equal(kw_signals[i].kind, KW_SIGNAL_STATE);
	assert_string_equal(KW_SIGNAL_CHOICES,
			    "whale_trade|volume_surge|odds_flip|order_book_shift|high_volume");
}

static void test_find(void **state)
{
	(void)state;
	for (int i = 0; i < KW_ALERT_NTYPES; i++)
		assert_ptr_equal(kw_signal_find(kw_signals[i].name), &kw_signals[i]);
	assert_string_equal(kw_signal_find("odds_flip")->label, "Odds flip");
	assert_null(kw_signal_find(NULL));
	assert_null(kw_signal_find(""));
	assert_null(kw_signal_find("whale"));
	assert_null(kw_signal_find("whale_trades"));
	assert_null(kw_signal_find("Whale_Trade"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_follows_the_enum),
		cmocka_unit_test(test_find),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
