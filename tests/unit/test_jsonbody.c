/*
 * test_jsonbody.c — strict JSON request bodies (lib/jsonbody.c): declared fields only, right
 * types and ranges, no duplicate keys at any depth, bounded nesting, and error messages that
 * name the field without echoing what the client sent. Table-driven; kw-api applies the same
 * parser behind the web servers in tests/integration/test_security.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonbody.h"

static const struct kw_body_field decl[] = {
	{ "force_update", KW_BODY_BOOL, 0, 0, 0, 0 },
	{ "limit", KW_BODY_INT, 0, 1, 100, 0 },
	{ "name", KW_BODY_STR, 0, 0, 0, 8 },
	{ NULL, 0, 0, 0, 0, 0 },
};

static void test_body(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		const char *err; /* NULL = accepted; else a fragment of the message */
	} cases[] = {
		{ "{}", NULL },
		{ " {\"force_update\": true, \"limit\": 5, \"name\": \"a:b\"}\n", NULL },
		{ "{\"force_update\": 1}", "'force_update' must be true or false" },
		{ "{\"limit\": 0}", "'limit' must be an integer from 1 to 100" },
		{ "{\"limit\": 5.0}", "'limit' must be an integer" },
		{ "{\"limit\": \"5\"}", "'limit' must be an integer" },
		{ "{\"name\": \"123456789\"}", "'name' must be 1 to 8" },
		{ "{\"name\": \"a\\u0001\"}", "'name' must be 1 to 8" },
		{ "{\"name\": \"a\\u0000b\"}", "'name' must be 1 to 8" },
		{ "{\"nope\": 1}", "unknown field 'nope'" },
		{ "{\"<b>\": 1}", "unknown field" },
		{ "{\"limit\": 1, \"limit\": 2}", "duplicate key" },
		{ "{\"limit\": 1, \"l\\u0069mit\": 2}", "duplicate key" },
		{ "{\"limit\": 1, \"name\": \"x\", \"limit\": 2}", "duplicate key" },
		{ "{\"force_update\": true,}", "not valid JSON" },
		{ "{force_update: true}", "not valid JSON" },
		{ "{'force_update': true}", "not valid JSON" },
		{ "{\"name\": 'abc'}", "not valid JSON" },
		{ "{\"force_update\": tru}", "not valid JSON" },
		{ "{\"force_update\": true", "not valid JSON" },
		{ "[]", "JSON object" },
		{ "true", "JSON object" },
		{ "{} {}", "not valid JSON" },
		{ "{\"a\":[[[[[[[[[[1]]]]]]]]]]}", "nested too deeply" },
		{ "{\"name\": \"\xff\"}", "not valid JSON" },
		{ "", "not valid JSON" },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		json_object *o = (json_object *)1;
		char err[160] = "";
		int rc = kw_json_body_parse(cases[i].body, strlen(cases[i].body), decl, &o, err,
					    sizeof(err));
		if (!cases[i].err) {
			if (rc != 0)
				fail_msg("case %zu refused: %s", i, err);
			assert_non_null(o);
			json_object_put(o);
		} else {
			if (rc != -1 || o != NULL || !strstr(err, cases[i].err))
				fail_msg("case %zu: rc=%d err='%s' want '%s'", i, rc, err,
					 cases[i].err);
		}
	}
	/* An embedded NUL is refused, not truncated. */
	json_object *o;
	char err[160];
	assert_int_equal(kw_json_body_parse("{}\0{\"x\":1}", 10, decl, &o, err, sizeof(err)), -1);
	/* Duplicates inside nested values are found too (none declared, so via unknown). */
	assert_int_equal(
		kw_json_body_parse("{\"a\":{\"b\":1,\"b\":2}}", 19, NULL, &o, err, sizeof(err)),
		-1);
	assert_non_null(strstr(err, "duplicate"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
