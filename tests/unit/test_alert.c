/*
 * test_alert.c — the one JSON shape of an alert (lib/alert.c): every field the API and kw-ws
 * send, the label from the signal table, null for what is not known, confidence as an exact
 * two-place number, a damaged data text shown as {} rather than dropped, and the premium read
 * back from data's own digits (never through a double) for the size filters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "alert.h"

static const char *text(json_object *o, const char *key)
{
	json_object *v = NULL;
	assert_true(json_object_object_get_ex(o, key, &v));
	return v ? json_object_get_string(v) : NULL;
}

static int is_null(json_object *o, const char *key)
{
	json_object *v = NULL;
	return json_object_object_get_ex(o, key, &v) && v == NULL;
}

static void test_whole_alert(void **state)
{
	(void)state;
	struct kw_alert a = {
		.id = 42,
		.type = "whale_trade",
		.ticker = "KXBTC-26DEC31-T100000",
		.severity = "high",
		.description = "Whale trade: $123,456.78 taker premium",
		.data = "{\"notional_usd\":123456.780001,\"direction\":\"yes\"}",
		.category = "Crypto",
		.title = "Bitcoin above 100k?",
		.confidence = 87,
		.created_at = 1795000000,
		.window_end = 1795000060,
	};
	int64_t notional = 0;
	json_object *o = kw_alert_json(&a, &notional);
	assert_non_null(o);
	assert_int_equal(notional, 123456780001LL);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "id")), 42);
	assert_string_equal(text(o, "type"), "whale_trade");
	assert_string_equal(text(o, "label"), "Whale trade");
	assert_string_equal(text(o, "ticker"), a.ticker);
	assert_string_equal(text(o, "market_id"), a.ticker);
	assert_string_equal(text(o, "title"), a.title);
	assert_string_equal(text(o, "category"), "Crypto");
	assert_string_equal(text(o, "severity"), "high");
	assert_string_equal(text(o, "description"), a.description);
	assert_string_equal(text(o, "timestamp"), "2026-11-18T11:06:40Z");
	assert_string_equal(text(o, "created_at"), "2026-11-18T11:06:40Z");
	assert_string_equal(text(o, "window_end"), "2026-11-18T11:07:40Z");
	/* Exact decimals, as written: not 0.87 through a double, not the data's 123456.78. */
	assert_string_equal(json_object_to_json_string(json_object_object_get(o, "confidence")),
			    "0.87");
	json_object *data = json_object_object_get(o, "data");
	assert_true(json_object_is_type(data, json_type_object));
	assert_string_equal(text(data, "direction"), "yes");
	assert_string_equal(
		json_object_to_json_string(json_object_object_get(data, "notional_usd")),
		"123456.780001");
	json_object_put(o);
}

static void test_unknowns_are_null(void **state)
{
	(void)state;
	struct kw_alert a = { .id = 7, .type = "retired_signal", .ticker = "KXT", .category = "" };
	int64_t notional = 0;
	json_object *o = kw_alert_json(&a, &notional);
	/* No data text: an empty object, and no premium to filter by. */
	assert_int_equal(notional, -1);
	assert_int_equal(json_object_object_length(json_object_object_get(o, "data")), 0);
	/* A type the table no longer knows is labelled with its own name. */
	assert_string_equal(text(o, "label"), "retired_signal");
	assert_true(is_null(o, "category")); /* "" is "not known", as NULL */
	assert_true(is_null(o, "title"));
	assert_true(is_null(o, "severity"));
	assert_true(is_null(o, "description"));
	assert_true(is_null(o, "timestamp"));
	assert_true(is_null(o, "window_end"));
	assert_string_equal(json_object_to_json_string(json_object_object_get(o, "confidence")),
			    "0");
	json_object_put(o);
	/* notional_micros may be NULL when the caller has no filter. */
	o = kw_alert_json(&a, NULL);
	assert_non_null(o);
	json_object_put(o);
}

static void test_damaged_data(void **state)
{
	(void)state;
	static const char *const damaged[] = {
		"{\"notional_usd\":12", /* cut short */
		"[1,2,3]",		/* not an object */
		"\"text\"",
		"",
	};
	for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
		struct kw_alert a = { .id = 1, .type = "volume_surge", .data = damaged[i] };
		int64_t notional = 0;
		json_object *o = kw_alert_json(&a, &notional);
		json_object *data = json_object_object_get(o, "data");
		assert_true(json_object_is_type(data, json_type_object));
		assert_int_equal(json_object_object_length(data), 0);
		assert_int_equal(notional, -1);
		assert_string_equal(text(o, "label"), "Volume surge");
		json_object_put(o);
	}
	/* A premium that is not a plain non-negative number gives no premium, not a guess. */
	static const char *const no_premium[] = {
		"{\"notional_usd\":\"5000\"}",	"{\"notional_usd\":-5}",
		"{\"notional_usd\":1.0000001}", /* finer than a micro-dollar */
		"{\"notional_usd\":null}",	"{\"other\":5}",
	};
	for (size_t i = 0; i < sizeof(no_premium) / sizeof(no_premium[0]); i++) {
		struct kw_alert a = { .type = "whale_trade", .data = no_premium[i] };
		int64_t notional = 0;
		json_object *o = kw_alert_json(&a, &notional);
		assert_int_equal(notional, -1);
		json_object_put(o);
	}
	struct kw_alert a = { .type = "whale_trade", .data = "{\"notional_usd\":5000}" };
	int64_t notional = 0;
	json_object *o = kw_alert_json(&a, &notional);
	assert_int_equal(notional, 5000000000LL);
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_alert),
		cmocka_unit_test(test_unknowns_are_null),
		cmocka_unit_test(test_damaged_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
