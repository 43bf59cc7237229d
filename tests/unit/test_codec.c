/*
 * test_codec.c — the shared text primitives: base64url both ways (RFC 4648 section 10 vectors in
 * the URL alphabet, truncation, refusal of foreign characters and of a buffer too small), hex
 * digits, UTF-8 sequences (RFC 3629 edges), exact decimals, the name check and the credential
 * shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"

static void test_b64url_vectors(void **state)
{
	(void)state;
	static const struct {
		const char *raw, *enc;
	} cases[] = {
		{ "", "" },
		{ "f", "Zg" },
		{ "fo", "Zm8" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg" },
		{ "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" },
		{ "\xfb\xff\xbf", "-_-_" }, /* the two URL-alphabet characters */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char enc[32], dec[32];
		size_t n = strlen(cases[i].raw), got = 99;
		assert_int_equal(kw_b64url_encode(cases[i].raw, n, enc, sizeof(enc)),
				 strlen(cases[i].enc));
		assert_string_equal(enc, cases[i].enc);
		assert_int_equal(strlen(enc), KW_B64URL_LEN(n));
		assert_int_equal(kw_b64url_decode(enc, strlen(enc), dec, sizeof(dec), &got), 0);
		assert_int_equal(got, n);
		assert_memory_equal(dec, cases[i].raw, n);
		assert_int_equal(dec[n], '\0');
	}
	/* 32 random-looking bytes: 43 characters, as API keys and ticket MACs have. */
	unsigned char mac[32];
	char out[44];
	for (int i = 0; i < 32; i++)
		mac[i] = (unsigned char)(i * 37 + 11);
	assert_int_equal(kw_b64url_encode(mac, sizeof(mac), out, sizeof(out)), 43);
}

static void test_b64url_limits(void **state)
{
	(void)state;
	char out[8], dec[8];
	/* Too small: as many characters as fit, always terminated. */
	assert_int_equal(kw_b64url_encode("foobar", 6, out, 5), 4);
	assert_string_equal(out, "Zm9v");
	assert_int_equal(kw_b64url_encode("foobar", 6, out, 0), 0);
	/* Foreign characters, padding and NUL are refused. */
	static const char *const bad[] = { "Zm9v+", "Zm9v/", "Zg==", "Zm 9", "Zm9v.eA" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kw_b64url_decode(bad[i], strlen(bad[i]), dec, sizeof(dec), NULL),
				 -1);
	assert_int_equal(kw_b64url_decode("Zm\0v", 4, dec, sizeof(dec), NULL), -1);
	/* A buffer that cannot hold the bytes and the NUL. */
	assert_int_equal(kw_b64url_decode("Zm9vYmFy", 8, dec, 6, NULL), -1);
	assert_int_equal(kw_b64url_decode("Zm9vYmFy", 8, dec, 7, NULL), 0);
	assert_string_equal(dec, "foobar");
	assert_int_equal(kw_b64url_value('A'), 0);
	assert_int_equal(kw_b64url_value('_'), 63);
	assert_int_equal(kw_b64url_value('='), -1);
	assert_int_equal(kw_b64url_value('\0'), -1);
}

static void test_hex(void **state)
{
	(void)state;
	const char *digits = "0123456789abcdef";
	for (int i = 0; i < 16; i++)
		assert_int_equal(kw_hex_value(digits[i]), i);
	assert_int_equal(kw_hex_value('A'), 10);
	assert_int_equal(kw_hex_value('F'), 15);
	static const char bad[] = "gG/:@`xX \0";
	for (size_t i = 0; i < sizeof(bad); i++)
		assert_int_equal(kw_hex_value(bad[i]), -1);
}

static void test_utf8(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int32_t cp; /* -1: refused */
		size_t len;
	} cases[] = {
		{ "\xc3\xa9", 0xe9, 2 },
		{ "\xc2\x80", 0x80, 2 }, /* the smallest two-byte form */
		{ "\xe2\x82\xac!", 0x20ac, 3 },
		{ "\xf0\x9f\x90\xb3", 0x1f433, 4 },
		{ "\xf4\x8f\xbf\xbf", 0x10ffff, 4 },
		{ "A", -1, 0 },		       /* ASCII is the caller's */
		{ "\xc0\xaf", -1, 0 },	       /* overlong "/" */
		{ "\xe0\x80\xaf", -1, 0 },     /* overlong, three bytes */
		{ "\xf0\x8f\xbf\xbf", -1, 0 }, /* overlong, four bytes */
		{ "\xed\xa0\x80", -1, 0 },     /* a surrogate */
		{ "\xf4\x90\x80\x80", -1, 0 }, /* above U+10FFFF */
		{ "\xe2\x82", -1, 0 },	       /* cut short */
		{ "\xc3"
		  "A",
		  -1, 0 },			   /* not a continuation byte */
		{ "\x80", -1, 0 },		   /* a lone continuation byte */
		{ "\xf8\x88\x80\x80\x80", -1, 0 }, /* five-byte forms do not exist */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = 0;
		int32_t cp = kw_utf8_multibyte((const unsigned char *)cases[i].s,
					       strlen(cases[i].s), &len);
		assert_int_equal(cp, cases[i].cp);
		if (cp >= 0)
			assert_int_equal(len, cases[i].len);
	}
	size_t len = 0;
	assert_int_equal(kw_utf8_multibyte(NULL, 0, &len), -1);
}

static void test_decimal(void **state)
{
	(void)state;
	static const struct {
		int64_t v;
		int scale;
		const char *want;
	} cases[] = {
		{ 0, 6, "0" },
		{ 1, 6, "0.000001" },
		{ 560000, 6, "0.56" },
		{ -12000000, 6, "-12" },
		{ 250050, 2, "2500.5" },
		{ 42, 0, "42" },
		{ -5, 2, "-0.05" },
		{ INT64_MAX, 6, "9223372036854.775807" },
		{ INT64_MIN, 6, "-9223372036854.775808" },
		{ 1, 18, "0.000000000000000001" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[48];
		size_t n = kw_fmt_decimal(buf, sizeof(buf), cases[i].v, cases[i].scale);
		assert_string_equal(buf, cases[i].want);
		assert_int_equal(n, strlen(cases[i].want));
	}
	char small[4];
	assert_int_equal(kw_fmt_decimal(small, sizeof(small), 123456, 0), 3);
	assert_string_equal(small, "123"); /* cut, never overrun */
}

static void test_names(void **state)
{
	(void)state;
	static const char *const good[] = { "limit", "min_volume_24h", "a", "x-y.z",
					    "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345" };
	static const char *const bad[] = { "",
					   "a b",
					   "a=b",
					   "é",
					   "<script>",
					   "a\x01",
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456" /* 33 */ };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(kw_ident_is_clean(good[i], strlen(good[i]), KW_NAME_MAX_LEN));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(kw_ident_is_clean(bad[i], strlen(bad[i]), KW_NAME_MAX_LEN));
	assert_true(kw_ident_is_clean("limit=5", 5, KW_NAME_MAX_LEN)); /* only n bytes count */
	assert_true(kw_ident_is_clean("KXBTCD-26JAN1017-T101999.99", 27, 128)); /* a ticker */
	assert_false(kw_ident_is_clean("KXBTCD-26JAN1017-T101999.99", 27, 26)); /* past max */
}

static void test_key_shape(void **state)
{
	(void)state;
	assert_true(kw_key_is_wellformed("kw_AbCd1234-_"));
	assert_true(kw_key_is_wellformed("!~"));
	assert_false(kw_key_is_wellformed(NULL));
	assert_false(kw_key_is_wellformed(""));
	assert_false(kw_key_is_wellformed("a b"));
	assert_false(kw_key_is_wellformed("a\x01"));
	assert_false(kw_key_is_wellformed("a\x7f"));
	char key[KW_KEY_MAX_LEN + 2];
	memset(key, 'k', sizeof(key));
	key[KW_KEY_MAX_LEN] = '\0';
	assert_true(kw_key_is_wellformed(key));
	key[KW_KEY_MAX_LEN] = 'k';
	key[KW_KEY_MAX_LEN + 1] = '\0';
	assert_false(kw_key_is_wellformed(key));
}

static void test_decimal_format(void **state)
{
	(void)state;
	static const struct {
		int64_t v;
		int scale;
		const char *want;
	} cases[] = {
		{ 560000, 6, "0.56" },	      { 5000000000, 6, "5000" }, { 1, 6, "0.000001" },
		{ -260000, 6, "-0.26" },      { 2550, 2, "25.5" },	 { 0, 6, "0" },
		{ 12345678, 2, "123456.78" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_object *o = kw_json_decimal(cases[i].v, cases[i].scale);
		assert_string_equal(json_object_to_json_string(o), cases[i].want);
		json_object_put(o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decimal_format), cmocka_unit_test(test_b64url_vectors),
		cmocka_unit_test(test_b64url_limits),  cmocka_unit_test(test_hex),
		cmocka_unit_test(test_decimal),	       cmocka_unit_test(test_names),
		cmocka_unit_test(test_key_shape),      cmocka_unit_test(test_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
