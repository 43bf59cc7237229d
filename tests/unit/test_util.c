/*
 * test_util.c — lib/util.c: strict integer and RFC 3339 parsing (no leading space, no overflow,
 * at most microsecond fractions), RFC 3339 formatting, the clean-text check (UTF-8 without
 * overlong forms or C1 controls), and a capped buffer that refuses to grow past its cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static void test_parsers(void **state)
{
	(void)state;
	int64_t v, t;
	int32_t us;
	assert_int_equal(kw_parse_i64("-42", -100, 100, &v), 0);
	assert_int_equal(v, -42);
	assert_int_equal(kw_parse_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v), -1);
	assert_int_equal(kw_parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
	assert_int_equal(kw_parse_i64(" 1", 0, 10, &v), -1);
	assert_int_equal(kw_parse_rfc3339("2026-08-05T14:01:09.49656Z", &t, &us), 0);
	assert_int_equal(t, 1785938469);
	assert_int_equal(us, 496560);
	assert_int_equal(kw_parse_rfc3339("2026-08-05T16:01:09+02:00", &t, &us), 0);
	assert_int_equal(t, 1785938469);
	assert_int_equal(kw_parse_rfc3339("2026-08-05 14:01:09Z", &t, &us), -1);
	assert_int_equal(kw_parse_rfc3339("2026-08-05T14:01:09.1234567890Z", &t, &us), -1);
	char buf[32];
	kw_fmt_rfc3339(1785938469, buf, sizeof(buf));
	assert_string_equal(buf, "2026-08-05T14:01:09Z");
	assert_true(kw_text_is_clean("h\xc3\xa9llo", 6));
	assert_false(kw_text_is_clean("\xc0\xaf", 2)); /* overlong */
	assert_false(kw_text_is_clean("\xc2\x85", 2)); /* C1 control */
}

static void test_buf_cap(void **state)
{
	(void)state;
	struct kw_buf b;
	kw_buf_init(&b, 8);
	assert_int_equal(kw_buf_puts(&b, "12345678"), 0);
	assert_int_equal(kw_buf_puts(&b, "9"), -1);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "12345678");
	kw_buf_free(&b);
}

static void test_hex(void **state)
{
	(void)state;
	const unsigned char b[] = { 0x00, 0x0f, 0xa5, 0xff };
	char out[2 * sizeof(b) + 1];
	memset(out, 'x', sizeof(out));
	kw_hex(b, sizeof(b), out);
	assert_string_equal(out, "000fa5ff");
	kw_hex(b, 0, out);
	assert_string_equal(out, "");
}

/* The published FNV-1a 64-bit test vectors, and a hash continued in pieces equals the hash of
 * the whole. */
static void test_fnv1a(void **state)
{
	(void)state;
	assert_true(kw_fnv1a_str(KW_FNV1A_INIT, "") == 0xcbf29ce484222325ULL);
	assert_true(kw_fnv1a_str(KW_FNV1A_INIT, "a") == 0xaf63dc4c8601ec8cULL);
	assert_true(kw_fnv1a_str(KW_FNV1A_INIT, "foobar") == 0x85944171f73967e8ULL);
	assert_true(kw_fnv1a(kw_fnv1a_str(KW_FNV1A_INIT, "foo"), "bar", 3) ==
		    kw_fnv1a_str(KW_FNV1A_INIT, "foobar"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parsers),
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_fnv1a),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
