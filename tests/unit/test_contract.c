/*
 * test_contract.c — kw-api's serializers write exactly what the OpenAPI document says.
 *
 * The document is built by kw-api's own code (kw_openapi_document: the route table and
 * fcgi/schema.c), and every row serializer's output, for a row with every value set and for one
 * with every nullable value missing, is checked against its component with a small validator
 * for the part of JSON Schema the document uses ($ref, anyOf, type, enum, properties,
 * required, additionalProperties, items, propertyNames). A field a serializer writes and the
 * schema does not name, a wrong type, a missing required field or a value outside an enum
 * fails here. Whole answers (status, stats, monitoring, legacy envelopes) are checked by the
 * integration suite, which validates every response it receives (tests/integration/contract.py).
 * Also: the document is byte-identical between builds of it, every $ref resolves, and its
 * alert-type enum is the signal table (lib/signals.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api.h"
#include "schema.h"
#include "signals.h"
#include "whale.h"

/* ---- a validator for the subset of JSON Schema the document uses ------------------------- */

static json_object *doc;

static json_object *resolve(const char *ref)
{
	static const char prefix[] = "#/components/schemas/";
	json_object *c, *s, *out = NULL;
	if (strncmp(ref, prefix, sizeof(prefix) - 1) ||
	    !json_object_object_get_ex(doc, "components", &c) ||
	    !json_object_object_get_ex(c, "schemas", &s))
		return NULL;
	json_object_object_get_ex(s, ref + sizeof(prefix) - 1, &out);
	return out;
}

static int type_is(const char *t, json_object *v)
{
	enum json_type jt = json_object_get_type(v);
	if (!strcmp(t, "null"))
		return jt == json_type_null;
	if (!strcmp(t, "string"))
		return jt == json_type_string;
	if (!strcmp(t, "boolean"))
		return jt == json_type_boolean;
	if (!strcmp(t, "integer"))
		return jt == json_type_int;
	if (!strcmp(t, "number"))
		return jt == json_type_int || jt == json_type_double;
	if (!strcmp(t, "object"))
		return jt == json_type_object;
	if (!strcmp(t, "array"))
		return jt == json_type_array;
	return 0;
}

static int in_enum(json_object *e, json_object *v)
{
	for (size_t i = 0; i < json_object_array_length(e); i++)
		if (json_object_equal(json_object_array_get_idx(e, i), v))
			return 1;
	return 0;
}

/* 0 if v matches schema s; -1 with the first mismatch in err (at JSON path `at`). */
static int validate(json_object *s, json_object *v, const char *at, char *err, size_t len)
{
	json_object *x;
	char sub[256];
	if (json_object_object_get_ex(s, "$ref", &x)) {
		json_object *t = resolve(json_object_get_string(x));
		if (!t) {
			snprintf(err, len, "%s: unresolved $ref %s", at, json_object_get_string(x));
			return -1;
		}
		return validate(t, v, at, err, len);
	}
	if (json_object_object_get_ex(s, "anyOf", &x)) {
		for (size_t i = 0; i < json_object_array_length(x); i++)
			if (validate(json_object_array_get_idx(x, i), v, at, err, len) == 0)
				return 0;
		return -1;
	}
	if (json_object_object_get_ex(s, "type", &x)) {
		int ok = 0;
		if (json_object_is_type(x, json_type_array)) {
			for (size_t i = 0; i < json_object_array_length(x); i++)
				ok |= type_is(
					json_object_get_string(json_object_array_get_idx(x, i)), v);
		} else {
			ok = type_is(json_object_get_string(x), v);
		}
		if (!ok) {
			snprintf(err, len, "%s: %s is not of type %s", at,
				 json_object_to_json_string(v), json_object_to_json_string(x));
			return -1;
		}
	}
	if (json_object_object_get_ex(s, "enum", &x) && !in_enum(x, v)) {
		snprintf(err, len, "%s: %s is not one of %s", at, json_object_to_json_string(v),
			 json_object_to_json_string(x));
		return -1;
	}
	if (json_object_is_type(v, json_type_object)) {
		json_object *props = NULL, *addl = NULL, *names = NULL, *req, *e;
		json_object_object_get_ex(s, "properties", &props);
		json_object_object_get_ex(s, "additionalProperties", &addl);
		json_object_object_get_ex(s, "propertyNames", &names);
		if (json_object_object_get_ex(s, "required", &req))
			for (size_t i = 0; i < json_object_array_length(req); i++) {
				const char *k =
					json_object_get_string(json_object_array_get_idx(req, i));
				if (!json_object_object_get_ex(v, k, NULL)) {
					snprintf(err, len, "%s: required field '%s' missing", at,
						 k);
					return -1;
				}
			}
		json_object_object_foreach(v, k, val)
		{
			json_object *ps = NULL, *key = NULL;
			snprintf(sub, sizeof(sub), "%s.%s", at, k);
			if (names && json_object_object_get_ex(names, "enum", &e)) {
				key = json_object_new_string(k);
				int known = in_enum(e, key);
				json_object_put(key);
				if (!known) {
					snprintf(err, len, "%s: key not allowed", sub);
					return -1;
				}
			}
			if (props && json_object_object_get_ex(props, k, &ps)) {
				if (validate(ps, val, sub, err, len) < 0)
					return -1;
			} else if (addl && json_object_is_type(addl, json_type_boolean)) {
				if (!json_object_get_boolean(addl)) {
					snprintf(err, len, "%s: field not named in the schema",
						 sub);
					return -1;
				}
			} else if (addl && validate(addl, val, sub, err, len) < 0) {
				return -1;
			}
		}
	}
	if (json_object_is_type(v, json_type_array) && json_object_object_get_ex(s, "items", &x))
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			snprintf(sub, sizeof(sub), "%s[%zu]", at, i);
			if (validate(x, json_object_array_get_idx(v, i), sub, err, len) < 0)
				return -1;
		}
	return 0;
}

/* Check v (ownership taken) against component `name`; 0 when it matches. */
static int check(const char *name, json_object *v, char *err, size_t len)
{
	char ref[128];
	snprintf(ref, sizeof(ref), "#/components/schemas/%s", name);
	json_object *s = resolve(ref);
	int rc = s ? validate(s, v, name, err, len) : -1;
	if (!s)
		snprintf(err, len, "no component %s", name);
	json_object_put(v);
	return rc;
}

#define CONFORMS(name, v)                                                                          \
	do {                                                                                       \
		char e_[512] = "";                                                                 \
		if (check(name, v, e_, sizeof(e_)) < 0)                                            \
			fail_msg("%s", e_);                                                        \
	} while (0)

/* ---- rows ---------------------------------------------------------------------------------- */

static struct kw_market_row full_market(void)
{
	struct kw_market_row m = {
		.ticker = "KXBTCD-26DEC31-T100000",
		.event_ticker = "KXBTCD-26DEC31",
		.series_ticker = "KXBTCD",
		.category = "Crypto",
		.title = "Bitcoin above 100k?",
		.yes_sub_title = "Above",
		.no_sub_title = "Below",
		.market_type = "binary",
		.status = "active",
		.frequency = "daily",
		.open_at = 1780000000,
		.close_at = 1790000000,
		.yes_bid = 550000,
		.yes_ask = 560000,
		.no_bid = 440000,
		.no_ask = 450000,
		.last_price = 555000,
		.previous_price = 500000,
		.volume_centi = 12345678,
		.volume_24h_centi = 120000,
		.open_interest_centi = 99900,
		.first_seen_at = 1780000000,
		.updated_at = 1785000000,
		.usd_24h_micros = 1234567890,
		.trades_24h = 42,
	};
	return m;
}

/* Every column the database allows to be NULL, NULL. */
static struct kw_market_row sparse_market(void)
{
	struct kw_market_row m = full_market();
	m.series_ticker = m.category = m.frequency = NULL;
	m.open_at = m.close_at = m.yes_bid = m.yes_ask = m.no_bid = m.no_ask = KW_NULL;
	m.last_price = m.previous_price = KW_NULL;
	m.volume_centi = m.volume_24h_centi = m.open_interest_centi = KW_NULL;
	m.usd_24h_micros = m.trades_24h = 0;
	return m;
}

static const struct kw_trade_row trade = {
	.id = 7,
	.trade_id = "d2f1c0de-0000-4000-8000-000000000001",
	.ticker = "KXBTCD-26DEC31-T100000",
	.taker_side = "yes",
	.category = "Crypto",
	.title = "Bitcoin above 100k?",
	.created_us = 1785000000123456,
	.count_centi = 1000000,
	.yes_price = 550000,
	.no_price = 450000,
	.notional_micros = 5500000000,
	.is_block = 1,
};

static void test_market_serializers(void **state)
{
	(void)state;
	struct kw_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.high_volume_usd = 1000000;
	struct kw_market_row rows[] = { full_market(), sparse_market() };
	for (size_t i = 0; i < KW_ARRAY_LEN(rows); i++) {
		CONFORMS("Market", kw_api_market_json(&rows[i]));
		CONFORMS("LegacyMarket", kw_legacy_market_json(&rows[i]));
		CONFORMS("MarketCard", kw_legacy_card_json(&rows[i], &cfg, 1785000000));
	}
}

static void test_trade_and_alert_serializers(void **state)
{
	(void)state;
	struct kw_trade_row t = trade, unknown_market = trade;
	unknown_market.title = unknown_market.category = NULL;
	unknown_market.taker_side = "no";
	CONFORMS("Trade", kw_api_trade_json(&t));
	CONFORMS("Trade", kw_api_trade_json(&unknown_market));
	/* Kalshi sometimes names no taker side: no price, no premium. */
	struct kw_trade_row unsided = trade;
	unsided.taker_side = NULL;
	unsided.notional_micros = KW_NULL;
	CONFORMS("Trade", kw_api_trade_json(&unsided));

	for (size_t i = 0; i < KW_ALERT_NTYPES; i++) {
		struct kw_alert a = {
			.id = 3,
			.type = kw_signals[i].name,
			.ticker = "KXBTCD-26DEC31-T100000",
			.severity = i % 2 ? "high" : "medium",
			.description = "a whale",
			.data = "{\"notional_usd\":5500,\"threshold_usd\":5000}",
			.category = i % 2 ? "Crypto" : NULL,
			.title = i % 2 ? "Bitcoin above 100k?" : NULL,
			.confidence = 87,
			.created_at = 1785000000,
			.window_end = 1785000060,
		};
		CONFORMS("Alert", kw_api_alert_json(&a, 0));
		CONFORMS("LegacyAlert", kw_api_alert_json(&a, 1));
	}
}

static void test_book_and_snapshot_serializers(void **state)
{
	(void)state;
	struct kw_book_row b = { 1785000000, 150000, 50000, 12, 4, 540000, 430000 };
	struct kw_book_row empty = { 1785000000, 0, 0, 0, 0, KW_NULL, KW_NULL };
	CONFORMS("OrderBookSummary", kw_api_book_json(&b));
	CONFORMS("OrderBookSummary", kw_api_book_json(&empty));
	struct kw_snapshot_row p = { 1785000000, 550000, 560000, 555000, 100, 200, 300 };
	struct kw_snapshot_row none = { 1785000000, KW_NULL, KW_NULL, KW_NULL,
					KW_NULL,    KW_NULL, KW_NULL };
	CONFORMS("Snapshot", kw_api_snapshot_json(&p));
	CONFORMS("Snapshot", kw_api_snapshot_json(&none));
}

/* The check itself: a field the schema does not name, a wrong type, a missing field and a
 * value outside an enum are each refused. */
static void test_validator_refuses_mismatches(void **state)
{
	(void)state;
	struct kw_market_row m = full_market();
	char err[512];
	json_object *o = kw_api_market_json(&m);
	json_object_object_add(o, "volume_24h", json_object_new_int(1));
	assert_int_equal(check("Market", o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "volume_24h"));

	o = kw_api_trade_json(&trade);
	json_object_object_add(o, "count_contracts", json_object_new_string("100"));
	assert_int_equal(check("Trade", o, err, sizeof(err)), -1);

	o = kw_api_trade_json(&trade);
	json_object_object_del(o, "notional_usd");
	assert_int_equal(check("Trade", o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "notional_usd"));

	o = kw_api_trade_json(&trade);
	json_object_object_add(o, "taker_side", json_object_new_string("maybe"));
	assert_int_equal(check("Trade", o, err, sizeof(err)), -1);

	o = kw_api_trade_json(&trade);
	json_object_object_add(o, "trade_id", NULL); /* not nullable */
	assert_int_equal(check("Trade", o, err, sizeof(err)), -1);
}

static void collect_refs(json_object *v, int *bad)
{
	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, k, val)
		{
			if (!strcmp(k, "$ref") && !resolve(json_object_get_string(val))) {
				printf("unresolved: %s\n", json_object_get_string(val));
				(*bad)++;
			}
			collect_refs(val, bad);
		}
	} else if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			collect_refs(json_object_array_get_idx(v, i), bad);
	}
}

static void test_document_is_deterministic_and_whole(void **state)
{
	(void)state;
	json_object *again = kw_openapi_document();
	assert_string_equal(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN),
			    json_object_to_json_string_ext(again, JSON_C_TO_STRING_PLAIN));
	json_object_put(again);
	int bad = 0;
	collect_refs(doc, &bad);
	assert_int_equal(bad, 0);
	/* Every route names a component that exists. */
	for (int i = 0; i < kw_routes_count; i++) {
		const struct kw_route *rt = &kw_routes[i];
		if (rt->reply && rt->shape != KW_REPLY_TEXT && !kw_schema_find(rt->reply))
			fail_msg("%s %s: no component %s", rt->method, rt->pattern, rt->reply);
	}
}

/* The document's alert-type enums are the signal table's names, in its order. */
static void test_alert_types_are_the_signal_table(void **state)
{
	(void)state;
	json_object *types = NULL, *props = NULL;
	json_object *alert = resolve("#/components/schemas/Alert");
	assert_non_null(alert);
	assert_true(json_object_object_get_ex(alert, "properties", &props));
	assert_true(json_object_object_get_ex(props, "type", &types));
	assert_true(json_object_object_get_ex(types, "enum", &types));
	assert_int_equal(json_object_array_length(types), KW_ALERT_NTYPES);
	for (int t = 0; t < KW_ALERT_NTYPES; t++)
		assert_string_equal(
			json_object_get_string(json_object_array_get_idx(types, (size_t)t)),
			kw_signals[t].name);
}

static int setup(void **state)
{
	(void)state;
	doc = kw_openapi_document();
	return doc ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	json_object_put(doc);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_document_is_deterministic_and_whole),
		cmocka_unit_test(test_market_serializers),
		cmocka_unit_test(test_trade_and_alert_serializers),
		cmocka_unit_test(test_book_and_snapshot_serializers),
		cmocka_unit_test(test_validator_refuses_mismatches),
		cmocka_unit_test(test_alert_types_are_the_signal_table),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
