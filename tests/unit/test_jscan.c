/*
 * test_jscan.c — the list-page scanner (lib/jscan.c) on its own: the page walk (each element
 * slice in order, the cursor whatever the member order, other members skipped, -2 when the
 * callback stops, every malformed page refused with the cursor left ""), slices parsed by
 * json-c, and the flat member table of a plain element (strings and numbers NUL-terminated in
 * the caller's copy, nested values skipped, anything json-c must judge handed back).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jscan.h"

struct walk {
	char seen[256]; /* every element's text, joined by '|' */
	int n, stop_at;
};

static int on_element(void *arg, struct kw_jscan *sc, size_t start, size_t end)
{
	struct walk *w = arg;
	size_t used = strlen(w->seen);
	snprintf(w->seen + used, sizeof(w->seen) - used, "%s%.*s", w->n ? "|" : "",
		 (int)(end - start), sc->p + start);
	w->n++;
	return w->n == w->stop_at ? -2 : 0;
}

static int walk(const char *body, struct walk *w, char *cursor, size_t cursor_max, char *err)
{
	memset(w->seen, 0, sizeof(w->seen));
	w->n = 0;
	memset(cursor, 'x', cursor_max - 1);
	cursor[cursor_max - 1] = '\0';
	return kw_jscan_page(body, strlen(body), "trades", on_element, w, cursor, cursor_max, err,
			     160);
}

static void test_pages(void **state)
{
	(void)state;
	struct walk w = { .stop_at = 0 };
	char cursor[16], err[160];
	assert_int_equal(walk("{\"cursor\":\"abc\",\"x\":{\"trades\":[9]},\"trades\":[{\"a\":1}, "
			      "[2,3] ,\"s\\\"]\",null]}",
			      &w, cursor, sizeof(cursor), err),
			 0);
	assert_int_equal(w.n, 4);
	assert_string_equal(w.seen, "{\"a\":1}|[2,3]|\"s\\\"]\"|null");
	assert_string_equal(cursor, "abc");
	/* The cursor after the array, null, or absent. */
	assert_int_equal(
		walk(" {\"trades\":[],\"cursor\":\"n2\"} ", &w, cursor, sizeof(cursor), err), 0);
	assert_int_equal(w.n, 0);
	assert_string_equal(cursor, "n2");
	assert_int_equal(walk("{\"trades\":[1],\"cursor\":null}", &w, cursor, sizeof(cursor), err),
			 0);
	assert_string_equal(cursor, "");
	assert_int_equal(walk("{\"trades\":[1]}", &w, cursor, sizeof(cursor), err), 0);
	assert_string_equal(cursor, "");
	/* The callback may stop the walk. */
	w.stop_at = 2;
	assert_int_equal(walk("{\"trades\":[1,2,3]}", &w, cursor, sizeof(cursor), err), -2);
	assert_int_equal(w.n, 2);
	w.stop_at = 0;

	static const char *const broken[] = {
		"",
		"[1,2]",
		"{\"trades\":[1,2]",
		"{\"trades\":[1,,2]}",
		"{\"trades\":{\"a\":1}}",
		"{\"other\":[1]}",
		"{\"trades\":[1]} x",
		"{\"trades\":[1],\"cursor\":5}",
		"{\"trades\":[1],\"cursor\":\"much too long for it\"}",
		"{\"trades\":[1],\"cursor\":\"a\\u0001b\"}",
		"{trades:[1]}",
	};
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		err[0] = '\0';
		assert_int_equal(walk(broken[i], &w, cursor, sizeof(cursor), err), -1);
		assert_string_equal(cursor, "");
		assert_true(err[0] != '\0');
	}
	/* An element's own text is the callback's to judge (kalshi.c parses each slice). */
	assert_int_equal(walk("{\"trades\":[tru]}", &w, cursor, sizeof(cursor), err), 0);
	assert_string_equal(w.seen, "tru");
	assert_int_equal(walk("{\"trades\":[1,2]", &w, cursor, sizeof(cursor), err), -1);
	assert_non_null(strstr(err, "truncated"));
}

static void test_slice(void **state)
{
	(void)state;
	static const char body[] = "[{\"a\":[1,2]},null,{\"b\":}]";
	char err[160] = "";
	struct kw_jscan sc = { body, 0, sizeof(body) - 1, err, sizeof(err), NULL };
	struct json_tokener *tok = json_tokener_new_ex(KW_JSON_MAX_DEPTH);
	json_object *o = kw_jscan_slice(tok, &sc, 1, 12);
	assert_non_null(o);
	assert_int_equal(json_object_array_length(json_object_object_get(o, "a")), 2);
	json_object_put(o);
	assert_null(kw_jscan_slice(tok, &sc, 13, 17)); /* null: no object, no error */
	assert_string_equal(err, "");
	assert_null(kw_jscan_slice(tok, &sc, 18, 25)); /* {"b":} */
	assert_true(err[0] != '\0');
	json_tokener_free(tok);
}

static void test_flat(void **state)
{
	(void)state;
	static const char el[] = " {\"id\":\"t-1\",\"n\":-12.50,\"k\":7,\"ok\":true,\"no\":false,"
				 "\"z\":null,\"nest\":{\"a\":[1,{\"b\":2}]},\"e\":\"\"} ";
	char copy[sizeof(el)];
	struct kw_jflat f;
	assert_int_equal(kw_jflat_parse(el, sizeof(el) - 1, copy, &f), 0);
	assert_int_equal(f.n, 8);
	assert_int_equal(f.m[0].klen, 2);
	assert_memory_equal(f.m[0].key, "id", 2);
	assert_int_equal(f.m[0].v.t, json_type_string);
	assert_string_equal(f.m[0].v.s, "t-1");
	assert_int_equal(f.m[0].v.len, 3);
	assert_int_equal(f.m[1].v.t, json_type_double);
	assert_string_equal(f.m[1].v.s, "-12.50"); /* the number's own text */
	assert_int_equal(f.m[2].v.t, json_type_int);
	assert_string_equal(f.m[2].v.s, "7");
	assert_int_equal(f.m[3].v.t, json_type_boolean);
	assert_int_equal(f.m[3].v.b, 1);
	assert_int_equal(f.m[4].v.b, 0);
	assert_int_equal(f.m[5].v.t, json_type_null);
	assert_int_equal(f.m[6].v.t, json_type_object); /* skipped, not kept */
	assert_int_equal(f.m[7].v.t, json_type_string);
	assert_string_equal(f.m[7].v.s, "");
	char empty_copy[4];
	assert_int_equal(kw_jflat_parse("{ }", 3, empty_copy, &f), 0);
	assert_int_equal(f.n, 0);

	/* What json-c must judge: escapes, "-0", malformed or trailing text, not an object. */
	static const char *const not_flat[] = {
		"{\"a\":\"x\\ny\"}", "{\"a\":-0}", "{\"a\":01}",  "{\"a\":1,}", "{\"a\" 1}",
		"{\"a\":1} x",	     "[1]",	   "{\"a\":tru}", "{\"a\":1",	"",
	};
	for (size_t i = 0; i < sizeof(not_flat) / sizeof(not_flat[0]); i++) {
		char c[64];
		assert_int_equal(kw_jflat_parse(not_flat[i], strlen(not_flat[i]), c, &f), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pages),
		cmocka_unit_test(test_slice),
		cmocka_unit_test(test_flat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
