/*
 * test_kalshi.c — Kalshi body parsing: exact fixed-point money (golden values from
 * docs/KALSHI.md §7/§8), current and legacy shapes of Market, Trade and Orderbook, skip reasons
 * for missing or wrongly typed fields, streamed list pages and cursors, every error body form,
 * and broken bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kalshi.h"

struct fixed_case {
	const char *s;
	int scale;
	int ok;
	int64_t want;
};

static void test_parse_fixed(void **state)
{
	(void)state;
	static const struct fixed_case cases[] = {
		{ "0.4200", 6, 1, 420000 },
		{ "0.42", 6, 1, 420000 },
		{ "0.420000", 6, 1, 420000 },
		{ "0.42000000", 6, 1, 420000 }, /* trailing zeros past the unit are exact */
		{ "1.0000", 6, 1, 1000000 },
		{ "0", 6, 1, 0 },
		{ "-0.0100", 6, 1, -10000 },
		{ "+0.5", 6, 1, 500000 },
		{ "0.000001", 6, 1, 1 },
		{ "25.00", 2, 1, 2500 },
		{ "57.51", 2, 1, 5751 },
		{ "10", 2, 1, 1000 },
		{ "3.5", 2, 1, 350 },
		{ "41", 4, 1, 410000 }, /* legacy cents read at scale 4 give micros */
		{ "41.5", 4, 1, 415000 },
		{ "0.0000001", 6, 0, 0 }, /* more precision than a micro: refused, not rounded */
		{ "57.515", 2, 0, 0 },
		{ "", 6, 0, 0 },
		{ "-", 6, 0, 0 },
		{ ".5", 6, 0, 0 },
		{ "5.", 6, 0, 0 },
		{ "1e2", 6, 0, 0 },
		{ " 1", 6, 0, 0 },
		{ "1 ", 6, 0, 0 },
		{ "0x10", 6, 0, 0 },
		{ "NaN", 6, 0, 0 },
		{ "99999999999999999999", 2, 0, 0 },
		{ "9223372036854.775807", 6, 1, INT64_MAX },
		{ "9223372036854.775808", 6, 0, 0 },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		int64_t v = -7;
		int rc = kw_kalshi_parse_fixed(cases[i].s, strlen(cases[i].s), cases[i].scale, &v);
		if (cases[i].ok) {
			assert_int_equal(rc, 0);
			assert_true(v == cases[i].want);
		} else {
			assert_int_equal(rc, -1);
		}
	}
}

static void test_premium_golden(void **state)
{
	(void)state;
	/* 25.00 x 0.4200 = $10.50; 3.50 x 0.5900 = $2.065 */
	assert_true(kw_kalshi_premium_micros(2500, 420000) == 10500000);
	assert_true(kw_kalshi_premium_micros(350, 590000) == 2065000);
	assert_true(kw_kalshi_premium_micros(1, 1) == 0);  /* 0.0001 micro rounds to 0 */
	assert_true(kw_kalshi_premium_micros(50, 1) == 1); /* 0.5 micro rounds half up */
	assert_true(kw_kalshi_premium_micros(KW_KALSHI_COUNT_CENTI_MAX, 1000000) ==
		    10000000000LL * 1000000);
}

static json_object *parse(const char *s)
{
	char err[128];
	json_object *o = kw_kalshi_body_parse(s, strlen(s), err, sizeof(err));
	assert_non_null(o);
	return o;
}

static void test_market_current(void **state)
{
	(void)state;
	json_object *o = parse(
		"{\"ticker\":\"KXBTCD-25DEC3117-T104999.99\",\"event_ticker\":\"KXBTCD-25DEC3117\","
		"\"market_type\":\"binary\",\"title\":\"Bitcoin?\",\"yes_sub_title\":\"$105,000 or "
		"above\",\"no_sub_title\":\"x\",\"open_time\":\"2025-12-30T22:00:00Z\","
		"\"close_time\":\"2025-12-31T22:00:00Z\",\"status\":\"active\","
		"\"yes_bid_dollars\":\"0.4100\",\"yes_bid_size_fp\":\"250.00\","
		"\"yes_ask_dollars\":\"0.4300\",\"yes_ask_size_fp\":\"118.50\","
		"\"no_bid_dollars\":\"0.5700\",\"no_ask_dollars\":\"0.5900\","
		"\"last_price_dollars\":\"0.4200\",\"previous_price_dollars\":\"0.3900\","
		"\"volume_fp\":\"18342.00\",\"volume_24h_fp\":\"9120.00\","
		"\"open_interest_fp\":\"7410.25\",\"floor_strike\":104999.99,"
		"\"occurrence_datetime\":null,\"new_field_we_ignore\":{\"a\":1}}");
	struct kw_kalshi_market m;
	const char *why = NULL;
	assert_int_equal(kw_kalshi_market_parse(o, &m, &why), 0);
	assert_string_equal(m.ticker, "KXBTCD-25DEC3117-T104999.99");
	assert_string_equal(m.event_ticker, "KXBTCD-25DEC3117");
	assert_string_equal(m.status, "active");
	assert_true(m.yes_bid == 410000 && m.yes_ask == 430000 && m.no_bid == 570000);
	assert_true(m.last_price == 420000 && m.previous_price == 390000);
	assert_true(m.yes_bid_size == 25000 && m.yes_ask_size == 11850);
	assert_true(m.volume == 1834200 && m.volume_24h == 912000 && m.open_interest == 741025);
	assert_true(m.open_at == 1767132000 && m.close_at == 1767218400);
	assert_null(m.legacy_category);
	json_object_put(o);
}

/* A market that never traded ("0.0000" last price) with one empty side of the book (bid
 * "0.0000", ask "1.0000") has no price: those fields are absent, not 0 or $1. The same holds
 * through the flat page reader. */
static void test_market_no_price(void **state)
{
	(void)state;
	static const char el[] =
		"{\"ticker\":\"NEW-1\",\"event_ticker\":\"NEW\",\"status\":\"active\","
		"\"yes_bid_dollars\":\"0.0000\",\"yes_ask_dollars\":\"0.4500\","
		"\"no_bid_dollars\":\"0.5500\",\"no_ask_dollars\":\"1.0000\","
		"\"last_price_dollars\":\"0.0000\",\"previous_price_dollars\":\"0.0000\","
		"\"volume_fp\":\"0.00\"}";
	json_object *o = parse(el);
	struct kw_kalshi_market m;
	const char *why = NULL;
	assert_int_equal(kw_kalshi_market_parse(o, &m, &why), 0);
	assert_true(m.last_price == KW_KALSHI_NONE && m.previous_price == KW_KALSHI_NONE);
	assert_true(m.yes_bid == KW_KALSHI_NONE && m.no_ask == KW_KALSHI_NONE);
	assert_true(m.yes_ask == 450000 && m.no_bid == 550000);
	assert_true(m.volume == 0);
	json_object_put(o);
	/* Legacy cents: 0 last price and a 100-cent ask are no price too. */
	o = parse("{\"ticker\":\"OLD-2\",\"event_ticker\":\"OLD\",\"status\":\"open\","
		  "\"yes_bid\":0,\"yes_ask\":100,\"no_bid\":0,\"no_ask\":100,\"last_price\":0}");
	assert_int_equal(kw_kalshi_market_parse(o, &m, &why), 0);
	assert_true(m.last_price == KW_KALSHI_NONE && m.yes_bid == KW_KALSHI_NONE &&
		    m.yes_ask == KW_KALSHI_NONE && m.no_bid == KW_KALSHI_NONE &&
		    m.no_ask == KW_KALSHI_NONE);
	json_object_put(o);
}

static void test_market_legacy(void **state)
{
	(void)state;
	/* 2025 shape: cents (int and double), integer counts, category on the market. */
	json_object *o = parse("{\"ticker\":\"OLD-1\",\"event_ticker\":\"OLD\",\"status\":\"open\","
			       "\"yes_bid\":41,\"yes_ask\":43.5,\"no_bid\":57,\"no_ask\":59,"
			       "\"last_price\":42,\"volume\":18342,\"volume_24h\":9120,"
			       "\"open_interest\":7410,\"category\":\"Crypto\"}");
	struct kw_kalshi_market m;
	const char *why = NULL;
	assert_int_equal(kw_kalshi_market_parse(o, &m, &why), 0);
	assert_true(m.yes_bid == 410000 && m.yes_ask == 435000 && m.last_price == 420000);
	assert_true(m.volume == 1834200 && m.volume_24h == 912000 && m.open_interest == 741000);
	assert_true(m.yes_bid_size == KW_KALSHI_NONE && m.previous_price == KW_KALSHI_NONE);
	assert_string_equal(m.legacy_category, "Crypto");
	assert_string_equal(m.title, "");
	json_object_put(o);
}

struct reject_case {
	const char *json;
	const char *reason;
};

static void test_market_rejects(void **state)
{
	(void)state;
	static const struct reject_case cases[] = {
		{ "{\"event_ticker\":\"E\",\"status\":\"active\"}", "missing_ticker" },
		{ "{\"ticker\":\"\",\"event_ticker\":\"E\",\"status\":\"active\"}",
		  "missing_ticker" },
		{ "{\"ticker\":7,\"event_ticker\":\"E\",\"status\":\"active\"}", "bad_ticker" },
		{ "{\"ticker\":\"A/../B\",\"event_ticker\":\"E\",\"status\":\"active\"}",
		  "bad_ticker" },
		{ "{\"ticker\":\"A\\u0000B\",\"event_ticker\":\"E\",\"status\":\"active\"}",
		  "bad_ticker" },
		{ "{\"ticker\":\"A\",\"status\":\"active\"}", "missing_event_ticker" },
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\"}", "missing_status" },
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":\"active\","
		  "\"yes_bid_dollars\":{}}",
		  "bad_price" },
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":\"active\","
		  "\"yes_bid_dollars\":\"1.5000\"}",
		  "bad_price" },
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":\"active\","
		  "\"yes_bid_dollars\":\"0.42abc\"}",
		  "bad_price" },
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":\"active\","
		  "\"volume_fp\":true}",
		  "bad_count" },
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":\"active\","
		  "\"volume_fp\":\"-1.00\"}",
		  "bad_count" },
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":\"active\",\"title\":"
		  "\"a\\nb\"}",
		  "bad_text" },
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":\"active\","
		  "\"close_time\":\"yesterday\"}",
		  "bad_time" },
		{ "[1]", "not_an_object" },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		char err[128];
		json_object *o = kw_kalshi_body_parse(cases[i].json, strlen(cases[i].json), err,
						      sizeof(err));
		json_object *item = o;
		if (!o) { /* "[1]" is not a body object: test the record parser on an array */
			o = json_tokener_parse(cases[i].json);
			item = o;
		}
		struct kw_kalshi_market m;
		const char *why = NULL;
		assert_int_equal(kw_kalshi_market_parse(item, &m, &why), -1);
		assert_string_equal(why, cases[i].reason);
		json_object_put(o);
	}
	/* A title longer than the cap is refused, not truncated. */
	char big[KW_KALSHI_TEXT_MAX + 200];
	int n = snprintf(big, sizeof(big),
			 "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":"
			 "\"active\",\"title\":\"");
	memset(big + n, 'x', KW_KALSHI_TEXT_MAX + 1);
	memcpy(big + n + KW_KALSHI_TEXT_MAX + 1, "\"}", 3);
	json_object *o = parse(big);
	struct kw_kalshi_market m;
	const char *why = NULL;
	assert_int_equal(kw_kalshi_market_parse(o, &m, &why), -1);
	assert_string_equal(why, "oversize_text");
	json_object_put(o);
}

struct seen {
	const char *reason, *id;
	char ticker[64];
	int64_t yes_bid, volume;
	int n;
};

static int see_record(void *arg, const union kw_kalshi_record *r, const char *reason,
		      const char *id)
{
	struct seen *s = arg;
	s->n++;
	s->reason = reason;
	s->id = id && !strcmp(id, "A") ? "A" : id ? "other" : NULL;
	if (r) {
		snprintf(s->ticker, sizeof(s->ticker), "%s", r->market.ticker);
		s->yes_bid = r->market.yes_bid;
		s->volume = r->market.volume;
	}
	return 0;
}

/* Each rejected market as a page element: the same reason whether the element is read flat
 * or by json-c, with the ticker named for the log when it is clean; a plain market reads the
 * same both ways. */
static void test_page_records(void **state)
{
	(void)state;
	static const char *const plain[] = {
		"{\"ticker\":\"T-1\",\"event_ticker\":\"E\",\"status\":\"active\","
		"\"yes_bid_dollars\":\"0.4200\",\"volume\":12,\"x\":[{\"y\":[1.5e3,null]}]}",
		"{\"ticker\":\"T-1\",\"event_ticker\":\"E\",\"status\":\"active\","
		"\"yes_bid\":42,\"volume_fp\":\"12.00\",\"ticker\":\"T-1\"}",
		/* not plain: an escape, a leading zero elsewhere (json-c decides) */
		"{\"ticker\":\"T-\\u0031\",\"event_ticker\":\"E\",\"status\":\"active\","
		"\"yes_bid_dollars\":0.42,\"volume\":12}",
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(plain); i++) {
		for (int flags = 0; flags <= KW_KALSHI_JSONC_ONLY; flags++) {
			char page[1024], err[160], cursor[KW_KALSHI_CURSOR_MAX];
			struct seen s = { 0 };
			snprintf(page, sizeof(page), "{\"markets\":[%s]}", plain[i]);
			assert_int_equal(kw_kalshi_page_records(page, strlen(page), "markets",
								KW_KALSHI_MARKET, flags, see_record,
								&s, cursor, err, sizeof(err)),
					 0);
			assert_int_equal(s.n, 1);
			assert_null(s.reason);
			assert_string_equal(s.ticker, "T-1");
			assert_int_equal(s.yes_bid, 420000);
			assert_int_equal(s.volume, 1200);
		}
	}
	static const struct reject_case cases[] = {
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":\"active\","
		  "\"yes_bid_dollars\":{}}",
		  "bad_price" },
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":\"active\","
		  "\"volume_fp\":true}",
		  "bad_count" },
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":\"active\","
		  "\"volume\":-0}",
		  NULL },
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":\"active\","
		  "\"volume\":1e2}",
		  "bad_count" },
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":\"active\",\"title\":"
		  "\"a\\nb\"}",
		  "bad_text" },
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":\"active\",\"title\":"
		  "\"a\tb\"}",
		  "bad_text" },
		{ "{\"ticker\":\"A\",\"event_ticker\":\"E\",\"status\":7}", "bad_status" },
		{ "{\"event_ticker\":\"E\",\"status\":\"active\"}", "missing_ticker" },
		{ "[1]", "not_an_object" },
		{ "null", "not_an_object" },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		for (int flags = 0; flags <= KW_KALSHI_JSONC_ONLY; flags++) {
			char page[1024], err[160], cursor[KW_KALSHI_CURSOR_MAX];
			struct seen s = { 0 };
			snprintf(page, sizeof(page), "{\"markets\":[%s],\"cursor\":\"c\"}",
				 cases[i].json);
			assert_int_equal(kw_kalshi_page_records(page, strlen(page), "markets",
								KW_KALSHI_MARKET, flags, see_record,
								&s, cursor, err, sizeof(err)),
					 0);
			assert_int_equal(s.n, 1);
			assert_string_equal(cursor, "c");
			if (!cases[i].reason) {
				assert_null(s.reason);
				continue;
			}
			assert_string_equal(s.reason, cases[i].reason);
			if (cases[i].json[0] == '{' && strstr(cases[i].json, "\"ticker\":\"A\""))
				assert_string_equal(s.id, "A");
			else
				assert_null(s.id);
		}
	}
}

static void test_trades(void **state)
{
	(void)state;
	struct kw_kalshi_trade t;
	const char *why = NULL;
	json_object *o = parse("{\"trade_id\":\"6f1c2a8e\",\"ticker\":\"KXBTCD-25DEC3117\","
			       "\"count_fp\":\"25.00\",\"yes_price_dollars\":\"0.4200\","
			       "\"no_price_dollars\":\"0.5800\",\"taker_side\":\"no\","
			       "\"taker_outcome_side\":\"yes\",\"taker_book_side\":\"bid\","
			       "\"created_time\":\"2025-12-31T18:04:12.48213Z\","
			       "\"is_block_trade\":true}");
	assert_int_equal(kw_kalshi_trade_parse(o, &t, &why), 0);
	assert_true(t.count_centi == 2500 && t.yes_price == 420000 && t.no_price == 580000);
	assert_int_equal(t.taker_yes, 1); /* taker_outcome_side wins over deprecated taker_side */
	assert_true(t.notional == 10500000);
	assert_true(t.created_us == 1767204252482130LL);
	assert_int_equal(t.is_block, 1);
	json_object_put(o);

	o = parse("{\"trade_id\":\"0b9d4e71\",\"ticker\":\"K\",\"count_fp\":\"3.50\","
		  "\"yes_price_dollars\":\"0.4100\",\"no_price_dollars\":\"0.5900\","
		  "\"taker_book_side\":\"ask\",\"created_time\":\"2025-12-31T18:03:58.9Z\"}");
	assert_int_equal(kw_kalshi_trade_parse(o, &t, &why), 0);
	assert_int_equal(t.taker_yes, 0);
	assert_true(t.notional == 2065000);
	json_object_put(o);

	/* legacy: integer count, cents */
	o = parse("{\"trade_id\":\"L1\",\"ticker\":\"K\",\"count\":25,\"yes_price\":42,"
		  "\"no_price\":58,\"price\":0.42,\"taker_side\":\"yes\","
		  "\"created_time\":\"2025-06-01T00:00:00Z\"}");
	assert_int_equal(kw_kalshi_trade_parse(o, &t, &why), 0);
	assert_true(t.notional == 10500000 && t.count_centi == 2500);
	json_object_put(o);

	/* third-party fakes send _fp as JSON numbers */
	o = parse("{\"trade_id\":\"N1\",\"ticker\":\"K\",\"count_fp\":3.5,"
		  "\"yes_price_dollars\":\"0.4100\",\"taker_outcome_side\":\"no\","
		  "\"created_time\":\"2025-06-01T00:00:00Z\"}");
	assert_int_equal(kw_kalshi_trade_parse(o, &t, &why), 0);
	assert_true(t.count_centi == 350 && t.no_price == 590000 && t.notional == 2065000);
	json_object_put(o);

	static const struct reject_case rejects[] = {
		{ "{\"ticker\":\"K\",\"count_fp\":\"1.00\",\"yes_price_dollars\":\"0.5\","
		  "\"taker_side\":\"yes\",\"created_time\":\"2025-06-01T00:00:00Z\"}",
		  "missing_trade_id" },
		{ "{\"trade_id\":\"x\",\"ticker\":\"K\",\"yes_price_dollars\":\"0.5\","
		  "\"taker_side\":\"yes\",\"created_time\":\"2025-06-01T00:00:00Z\"}",
		  "missing_count" },
		{ "{\"trade_id\":\"x\",\"ticker\":\"K\",\"count_fp\":\"0.00\","
		  "\"yes_price_dollars\":\"0.5\",\"taker_side\":\"yes\","
		  "\"created_time\":\"2025-06-01T00:00:00Z\"}",
		  "bad_count" },
		{ "{\"trade_id\":\"x\",\"ticker\":\"K\",\"count_fp\":\"1.00\","
		  "\"taker_side\":\"yes\",\"created_time\":\"2025-06-01T00:00:00Z\"}",
		  "missing_price" },
		{ "{\"trade_id\":\"x\",\"ticker\":\"K\",\"count_fp\":\"1.00\","
		  "\"yes_price_dollars\":[1],\"taker_side\":\"yes\","
		  "\"created_time\":\"2025-06-01T00:00:00Z\"}",
		  "bad_price" },
		{ "{\"trade_id\":\"x\",\"ticker\":\"K\",\"count_fp\":\"1.00\","
		  "\"yes_price_dollars\":\"0.5\",\"taker_side\":\"yes\"}",
		  "missing_time" },
		{ "{\"trade_id\":\"x\",\"ticker\":\"K\",\"count_fp\":\"1.00\","
		  "\"yes_price_dollars\":\"0.5\",\"taker_side\":\"yes\",\"created_time\":5}",
		  "bad_time" },
	};
	/* No taker side: kept (the trade happened), with no side and no premium. */
	o = parse("{\"trade_id\":\"x\",\"ticker\":\"K\",\"count_fp\":\"3.00\","
		  "\"yes_price_dollars\":\"0.5\",\"created_time\":\"2025-06-01T00:00:00Z\"}");
	assert_int_equal(kw_kalshi_trade_parse(o, &t, &why), 0);
	assert_int_equal(t.taker_yes, -1);
	assert_true(t.notional == KW_KALSHI_NONE && t.count_centi == 300);
	json_object_put(o);
	for (size_t i = 0; i < KW_ARRAY_LEN(rejects); i++) {
		o = parse(rejects[i].json);
		assert_int_equal(kw_kalshi_trade_parse(o, &t, &why), -1);
		assert_string_equal(why, rejects[i].reason);
		json_object_put(o);
	}
}

static void test_books(void **state)
{
	(void)state;
	struct kw_kalshi_book b;
	const char *why = NULL;
	json_object *o = parse("{\"orderbook_fp\":{\"yes_dollars\":[[\"0.3900\",\"500.00\"],"
			       "[\"0.4000\",\"1200.00\"],[\"0.4100\",\"250.00\"]],"
			       "\"no_dollars\":[[\"0.5500\",\"300.00\"],[\"0.5600\",\"75.00\"],"
			       "[\"0.5700\",\"118.50\"]]}}");
	assert_int_equal(kw_kalshi_book_parse(o, &b, &why), 0);
	assert_true(b.yes_depth == 195000 && b.no_depth == 49350);
	assert_int_equal(b.yes_levels, 3);
	assert_true(b.best_yes_bid == 410000 && b.best_no_bid == 570000);
	json_object_put(o);

	/* legacy: cents pairs on one side, null on the other; best is the max, any order */
	o = parse("{\"orderbook\":{\"yes\":[[41,250],[39,500],[40,1200]],\"no\":null}}");
	assert_int_equal(kw_kalshi_book_parse(o, &b, &why), 0);
	assert_true(b.yes_depth == 195000 && b.best_yes_bid == 410000);
	assert_true(b.no_depth == 0 && b.no_levels == 0 && b.best_no_bid == KW_KALSHI_NONE);
	json_object_put(o);

	o = parse("{\"orderbook\":{\"yes_dollars\":[[\"0.3900\",500]],\"no_dollars\":null,"
		  "\"yes\":[[39,500]]}}");
	assert_int_equal(kw_kalshi_book_parse(o, &b, &why), 0);
	assert_true(b.yes_depth == 50000 && b.best_yes_bid == 390000);
	json_object_put(o);

	static const char *const empties[] = {
		"{\"orderbook_fp\":{\"yes_dollars\":[],\"no_dollars\":[]}}",
		"{\"orderbook_fp\":{}}",
		"{\"orderbook\":{\"yes\":null,\"no\":null}}",
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(empties); i++) {
		o = parse(empties[i]);
		assert_int_equal(kw_kalshi_book_parse(o, &b, &why), 0);
		assert_true(b.yes_depth == 0 && b.no_levels == 0);
		json_object_put(o);
	}
	static const struct reject_case bad[] = {
		{ "{}", "missing_orderbook" },
		{ "{\"orderbook_fp\":[1]}", "bad_orderbook" },
		{ "{\"orderbook_fp\":{\"yes_dollars\":[[\"0.5\"]]}}", "bad_level" },
		{ "{\"orderbook_fp\":{\"yes_dollars\":[[\"2.5\",\"1.00\"]]}}", "bad_level" },
		{ "{\"orderbook_fp\":{\"yes_dollars\":{\"a\":1}}}", "bad_level" },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++) {
		o = parse(bad[i].json);
		assert_int_equal(kw_kalshi_book_parse(o, &b, &why), -1);
		assert_string_equal(why, bad[i].reason);
		json_object_put(o);
	}
}

static int count_item(void *arg, json_object *o)
{
	int *n = arg;
	(*n)++;
	/* Elements arrive one by one, already parsed. */
	if (o && json_object_is_type(o, json_type_object)) {
		json_object *v;
		if (json_object_object_get_ex(o, "stop", &v))
			return 1;
	}
	return 0;
}

static void test_pages_and_bodies(void **state)
{
	(void)state;
	char err[160], cursor[KW_KALSHI_CURSOR_MAX];
	struct {
		const char *json;
		int rc, items;
		const char *cursor;
	} cases[] = {
		{ "{\"markets\":[],\"cursor\":\"abc\"}", 0, 0,
		  "abc" }, /* empty page, live cursor */
		{ "{\"cursor\":\"x\\\"y\",\"markets\":[{},{\"a\":[1,{\"b\":\"]}\"}]}]}", 0, 2,
		  "x\"y" },
		{ "{\"markets\":[{}],\"cursor\":\"\"}", 0, 1, "" },
		{ "{\"markets\":[1, null ,\"s\"],\"cursor\":null}", 0, 3, "" },
		{ " {\"milestones\":[{\"x\":1}],\"markets\":[ ] } \n", 0, 0, "" },
		{ "{\"markets\":[{\"stop\":1},{}]}", -2, 1, "" },
		{ "{\"markets\":{},\"cursor\":\"\"}", -1, 0, "" },
		{ "{\"markets\":null}", -1, 0, "" },
		{ "{\"cursor\":\"\"}", -1, 0, "" },
		{ "{}", -1, 0, "" },
		{ "{\"markets\":[],\"cursor\":5}", -1, 0, "" },
		{ "{\"markets\":[],\"cursor\":\"a\\nb\"}", -1, 0, "" },
		{ "{\"markets\":[{\"ticker\":\"A\"},{\"ticker\":\"B\"", -1, 1, "" },
		{ "{\"markets\":[{\"a\":tru}]}", -1, 0, "" },
		{ "{\"markets\":[{}] } trailing", -1, 1, "" },
		{ "[1,2]", -1, 0, "" },
		{ "", -1, 0, "" },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		int n = 0;
		memset(cursor, 'z', sizeof(cursor));
		err[0] = '\0';
		int rc = kw_kalshi_page_each(cases[i].json, strlen(cases[i].json), "markets",
					     count_item, &n, cursor, err, sizeof(err));
		assert_int_equal(rc, cases[i].rc);
		assert_int_equal(n, cases[i].items);
		assert_string_equal(cursor, cases[i].cursor);
		if (rc == -1)
			assert_true(err[0] != '\0');
	}
	int n = 0;
	const char *cut = "{\"markets\":[{\"ticker\":\"A\"";
	assert_int_equal(kw_kalshi_page_each(cut, strlen(cut), "markets", count_item, &n, cursor,
					     err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "truncated"));

	static const char *const broken[] = { "{\"markets\":[{\"ticker\":\"A\"", "", "[1,2]",
					      "{} trailing", "{\"a\":tru}" };
	for (size_t i = 0; i < KW_ARRAY_LEN(broken); i++) {
		err[0] = '\0';
		assert_null(kw_kalshi_body_parse(broken[i], strlen(broken[i]), err, sizeof(err)));
		assert_true(err[0] != '\0');
	}
	assert_null(kw_kalshi_body_parse("{\"m\":[1", 7, err, sizeof(err)));
	assert_non_null(strstr(err, "truncated"));
}

static void test_error_bodies(void **state)
{
	(void)state;
	struct {
		const char *body, *code, *msg;
	} cases[] = {
		{ "{\"error\":\"too many requests\"}", "", "too many requests" },
		{ "{\"error\":{\"code\":\"too_many_requests\",\"message\":\"too many requests\"}}",
		  "too_many_requests", "too many requests" },
		{ "{\"error\":{\"code\":\"invalid_price\",\"message\":\"invalid price\","
		  "\"service\":\"exchange\"}}",
		  "invalid_price", "invalid price" },
		{ "{\"code\":\"bad_request\",\"message\":\"invalid status filter\"}", "bad_request",
		  "invalid status filter" },
		{ "{\"msg\":\"Parameter validation failed\"}", "", "Parameter validation failed" },
		{ "{\"details\":\"invalid status filter\"}", "", "invalid status filter" },
		{ "<html>502 Bad Gateway</html>", "", "" },
		{ "{\"error\":{\"code\":\"x\\ny\",\"message\":\"a\\u0001b\"}}", "x?y", "a?b" },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		char code[32], msg[64];
		kw_kalshi_error_parse(cases[i].body, strlen(cases[i].body), code, sizeof(code), msg,
				      sizeof(msg));
		assert_string_equal(code, cases[i].code);
		assert_string_equal(msg, cases[i].msg);
	}
}

static void test_events_series(void **state)
{
	(void)state;
	struct kw_kalshi_event e;
	struct kw_kalshi_series s;
	const char *why = NULL;
	json_object *o = parse("{\"event_ticker\":\"KXHIGHNY-25DEC31\",\"series_ticker\":"
			       "\"KXHIGHNY\",\"title\":\"Highest temperature\",\"sub_title\":\"On "
			       "Dec 31\",\"category\":\"Climate and Weather\","
			       "\"settlement_sources\":null}");
	assert_int_equal(kw_kalshi_event_parse(o, &e, &why), 0);
	assert_string_equal(e.series_ticker, "KXHIGHNY");
	assert_string_equal(e.category, "Climate and Weather");
	json_object_put(o);
	o = parse("{\"event_ticker\":\"E\"}");
	assert_int_equal(kw_kalshi_event_parse(o, &e, &why), -1);
	assert_string_equal(why, "missing_series_ticker");
	json_object_put(o);
	o = parse("{\"ticker\":\"KXHIGHNY\",\"title\":\"NYC\",\"frequency\":\"daily\","
		  "\"category\":\"Climate and Weather\",\"fee_multiplier\":1}");
	assert_int_equal(kw_kalshi_series_parse(o, &s, &why), 0);
	assert_string_equal(s.category, "Climate and Weather");
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fixed),	 cmocka_unit_test(test_premium_golden),
		cmocka_unit_test(test_market_current),	 cmocka_unit_test(test_market_no_price),
		cmocka_unit_test(test_market_legacy),	 cmocka_unit_test(test_market_rejects),
		cmocka_unit_test(test_trades),		 cmocka_unit_test(test_books),
		cmocka_unit_test(test_pages_and_bodies), cmocka_unit_test(test_error_bodies),
		cmocka_unit_test(test_events_series),	 cmocka_unit_test(test_page_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
