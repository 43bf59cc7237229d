/*
 * test_store_pg.c — the PostgreSQL driver's parts that need no server: a column escaped for
 * COPY's text format (backslash, newline, carriage return and tab; NULL as \N; everything else,
 * UTF-8 included, as it is) and the cap on the COPY buffer. The COPY itself, against a real
 * server, is tests/integration/test_db_copy.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store_drv.h"

static void test_copy_escape(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ NULL, "\\N" },
		{ "", "" },
		{ "plain", "plain" },
		{ "\\N", "\\\\N" }, /* the text "\N" is not NULL */
		{ "a\tb", "a\\tb" },
		{ "line\nnext", "line\\nnext" },
		{ "cr\r", "cr\\r" },
		{ "\\\\", "\\\\\\\\" },
		{ "\t\n\r\\", "\\t\\n\\r\\\\" },
		{ "quote \" and ' stay", "quote \" and ' stay" },
		{ "caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kw_buf b;
		kw_buf_init(&b, 0);
		assert_int_equal(kw_pg_copy_escape(&b, cases[i].in), 0);
		assert_string_equal(b.data ? b.data : "", cases[i].want);
		kw_buf_free(&b);
	}
}

static void test_copy_escape_cap(void **state)
{
	(void)state;
	struct kw_buf b;
	kw_buf_init(&b, 8);
	assert_int_equal(kw_pg_copy_escape(&b, "1234567"), 0);
	kw_buf_reset(&b);
	/* Escaping doubles it past the cap: refused, never truncated silently. */
	assert_int_equal(kw_pg_copy_escape(&b, "\t\t\t\t\t"), -1);
	kw_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy_escape),
		cmocka_unit_test(test_copy_escape_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
