/*
 * test_ws_proto.c — kw-ws client messages: every accepted shape parses to the right request;
 * every malformed, unknown, over-long or out-of-range one is refused with the right error code
 * and a message that never echoes the input; strict UTF-8 (overlong forms, surrogates, code
 * points past U+10FFFF and truncated sequences are invalid).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ws_proto.h"

static int parse(const char *text, struct kw_ws_request *r, const char **code, char *err)
{
	return kw_ws_request_parse(text, strlen(text), r, code, err, 160);
}

static void test_accepted(void **state)
{
	(void)state;
	struct kw_ws_request r;
	const char *code;
	char err[160];
	assert_int_equal(parse("{\"type\":\"ping\"}", &r, &code, err), 0);
	assert_int_equal(r.type, KW_WS_REQ_PING);
	assert_int_equal(parse(" {\"type\":\"resume\",\"since_id\":42} ", &r, &code, err), 0);
	assert_int_equal(r.type, KW_WS_REQ_RESUME);
	assert_int_equal(r.since_id, 42);
	assert_int_equal(parse("{\"type\":\"subscribe\"}", &r, &code, err), 0);
	assert_int_equal(r.sub.channels, KW_CH_ALL);
	assert_int_equal(r.sub.ntickers + r.sub.ncategories, 0);
	assert_int_equal(parse("{\"type\":\"subscribe\",\"channels\":[\"trades\",\"markets\"],"
			       "\"tickers\":[\"KXBTC-26NOV28-B90000\"],\"categories\":[\"Crypto\","
			       "\"Sports & Games\"],\"min_notional\":2500}",
			       &r, &code, err),
			 0);
	assert_int_equal(r.sub.channels, KW_CH_TRADES | KW_CH_MARKETS);
	assert_int_equal(r.sub.ntickers, 1);
	assert_string_equal(r.sub.tickers[0], "KXBTC-26NOV28-B90000");
	assert_int_equal(r.sub.ncategories, 2);
	assert_string_equal(r.sub.categories[1], "Sports & Games");
	assert_int_equal(r.sub.min_notional_micros, 2500000000LL);
	kw_sub_free(&r.sub);
	assert_int_equal(parse("{\"type\":\"subscribe\",\"channels\":[]}", &r, &code, err), 0);
	assert_int_equal(r.sub.channels, 0); /* heartbeats only */
}

static void test_refused(void **state)
{
	(void)state;
	static const struct {
		const char *text, *code;
	} cases[] = {
		{ "", "invalid_json" },
		{ "ping", "invalid_json" },
		{ "[1]", "invalid_json" },
		{ "{\"type\":\"ping\"} x", "invalid_json" },
		{ "{\"type\":\"ping\"}{}", "invalid_json" },
		{ "{'type':'ping'}", "invalid_json" },
		{ "{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}", "invalid_json" }, /* nesting over 4 */
		{ "{}", "invalid_message" },
		{ "{\"type\":1}", "invalid_message" },
		{ "{\"type\":\"ping\",\"x\":1}", "invalid_message" },
		{ "{\"type\":\"hello\"}", "unknown_type" },
		{ "{\"type\":\"PING\"}", "unknown_type" },
		{ "{\"type\":\"subscribe\",\"channels\":\"alerts\"}", "invalid_subscribe" },
		{ "{\"type\":\"subscribe\",\"channels\":[\"nope\"]}", "invalid_subscribe" },
		{ "{\"type\":\"subscribe\",\"channels\":[1]}", "invalid_subscribe" },
		{ "{\"type\":\"subscribe\",\"tickers\":[\"a b\"]}", "invalid_subscribe" },
		{ "{\"type\":\"subscribe\",\"tickers\":[\"\"]}", "invalid_subscribe" },
		{ "{\"type\":\"subscribe\",\"tickers\":[\"A\\u0000B\"]}", "invalid_subscribe" },
		{ "{\"type\":\"subscribe\",\"categories\":[\"a\\nb\"]}", "invalid_subscribe" },
		{ "{\"type\":\"subscribe\",\"categories\":[null]}", "invalid_subscribe" },
		{ "{\"type\":\"subscribe\",\"min_notional\":-1}", "invalid_subscribe" },
		{ "{\"type\":\"subscribe\",\"min_notional\":1.5}", "invalid_subscribe" },
		{ "{\"type\":\"subscribe\",\"min_notional\":\"5\"}", "invalid_subscribe" },
		{ "{\"type\":\"subscribe\",\"min_notional\":1000000001}", "invalid_subscribe" },
		{ "{\"type\":\"subscribe\",\"min_notional\":99999999999999999999}",
		  "invalid_subscribe" },
		{ "{\"type\":\"subscribe\",\"extra\":true}", "invalid_subscribe" },
		{ "{\"type\":\"resume\"}", "invalid_resume" },
		{ "{\"type\":\"resume\",\"since_id\":-1}", "invalid_resume" },
		{ "{\"type\":\"resume\",\"since_id\":\"1\"}", "invalid_resume" },
		{ "{\"type\":\"resume\",\"since_id\":1,\"x\":2}", "invalid_resume" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kw_ws_request r;
		const char *code = NULL;
		char err[160] = "";
		if (parse(cases[i].text, &r, &code, err) == 0)
			fail_msg("accepted: %s", cases[i].text);
		if (!code || strcmp(code, cases[i].code))
			fail_msg("%s: code %s, expected %s", cases[i].text, code ? code : "(null)",
				 cases[i].code);
		assert_true(err[0] != '\0');
		kw_sub_free(&r.sub); /* safe after a failure */
	}
	/* Limits: 50 tickers fine, 51 not; a 65-byte ticker not. */
	char buf[1024];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "{\"type\":\"subscribe\",\"tickers\":[");
	for (int i = 0; i < 51; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"T%d\"", i ? "," : "", i);
	snprintf(buf + n, sizeof(buf) - n, "]}");
	struct kw_ws_request r;
	const char *code;
	char err[160];
	assert_int_equal(parse(buf, &r, &code, err), -1);
	assert_string_equal(code, "invalid_subscribe");
	char *cut = strstr(buf, ",\"T50\"");
	snprintf(cut, sizeof(buf) - (size_t)(cut - buf), "]}");
	assert_int_equal(parse(buf, &r, &code, err), 0);
	assert_int_equal(r.sub.ntickers, 50);
	kw_sub_free(&r.sub);
	snprintf(buf, sizeof(buf), "{\"type\":\"subscribe\",\"tickers\":[\"%065d\"]}", 0);
	assert_int_equal(parse(buf, &r, &code, err), -1);
}

static void test_utf8(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int ok;
	} cases[] = {
		{ "plain", 1 },
		{ "caf\xc3\xa9", 1 },
		{ "\xe2\x82\xac", 1 },	   /* U+20AC */
		{ "\xf0\x9f\x90\xb3", 1 }, /* U+1F433 */
		{ "\xf4\x8f\xbf\xbf", 1 }, /* U+10FFFF */
		{ "\xc0\xaf", 0 },	   /* overlong '/' */
		{ "\xe0\x80\xaf", 0 },	   /* overlong */
		{ "\xf0\x80\x80\xaf", 0 }, /* overlong */
		{ "\xed\xa0\x80", 0 },	   /* surrogate U+D800 */
		{ "\xf4\x90\x80\x80", 0 }, /* U+110000 */
		{ "\xc3", 0 },		   /* truncated */
		{ "\xe2\x82", 0 },	   /* truncated */
		{ "\x80", 0 },		   /* lone continuation */
		{ "\xff", 0 },
		{ "a\xc3(", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (kw_ws_utf8_valid((const unsigned char *)cases[i].s, strlen(cases[i].s)) !=
		    cases[i].ok)
			fail_msg("case %zu", i);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
