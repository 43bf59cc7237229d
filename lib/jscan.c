/*
 * jscan.c — the fast JSON scanner behind kw-fetch's list pages (contract in jscan.h): a walk
 * over one top-level object that finds an array of elements and a cursor without building a
 * tree, and a reader for plain elements that needs no allocation per member. What it is not
 * sure of it hands to json-c, so it never answers differently from json-c
 * (tests/fuzz/fuzz_page.c compares them). It knows nothing of Kalshi's records (kalshi.c).
 */
#include "jscan.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static void scan_ws(struct kw_jscan *sc)
{
	while (sc->i < sc->len && (sc->p[sc->i] == ' ' || sc->p[sc->i] == '\n' ||
				   sc->p[sc->i] == '\r' || sc->p[sc->i] == '\t'))
		sc->i++;
}

static int scan_fail(struct kw_jscan *sc, const char *what)
{
	if (sc->i >= sc->len)
		snprintf(sc->err, sc->errlen, "truncated JSON (%zu bytes)", sc->len);
	else
		snprintf(sc->err, sc->errlen, "malformed JSON at byte %zu: %s", sc->i, what);
	return -1;
}

/* At '"': move past the closing quote. */
static int scan_string(struct kw_jscan *sc)
{
	for (sc->i++; sc->i < sc->len; sc->i++) {
		if (sc->p[sc->i] == '\\')
			sc->i++;
		else if (sc->p[sc->i] == '"') {
			sc->i++;
			return 0;
		}
	}
	return scan_fail(sc, "unterminated string");
}

/* Move past one value: a string, an object or array (brackets matched, strings skipped), or
 * a scalar (up to the next delimiter). */
static int scan_value(struct kw_jscan *sc)
{
	if (sc->i >= sc->len)
		return scan_fail(sc, "value expected");
	char c = sc->p[sc->i];
	if (c == '"')
		return scan_string(sc);
	if (c == '{' || c == '[') {
		int depth = 0;
		while (sc->i < sc->len) {
			c = sc->p[sc->i];
			if (c == '"') {
				if (scan_string(sc) < 0)
					return -1;
				continue;
			}
			if (c == '{' || c == '[') {
				if (++depth > KW_JSON_MAX_DEPTH)
					return scan_fail(sc, "nested too deeply");
			} else if (c == '}' || c == ']') {
				if (--depth == 0) {
					sc->i++;
					return 0;
				}
			}
			sc->i++;
		}
		return scan_fail(sc, "unbalanced brackets");
	}
	size_t start = sc->i;
	while (sc->i < sc->len && !strchr(",}] \n\r\t", sc->p[sc->i]))
		sc->i++;
	return sc->i > start ? 0 : scan_fail(sc, "value expected");
}

/* Parse p[start, end) as one complete JSON value. */
json_object *kw_jscan_slice(struct json_tokener *tok, struct kw_jscan *sc, size_t start, size_t end)
{
	json_tokener_reset(tok);
	json_object *o = json_tokener_parse_ex(tok, sc->p + start, (int)(end - start));
	/* A number at the very end of the slice may still "continue": a space ends it. */
	if (!o && json_tokener_get_error(tok) == json_tokener_continue)
		o = json_tokener_parse_ex(tok, " ", 1);
	if (!o && json_tokener_get_error(tok) != json_tokener_success) {
		snprintf(sc->err, sc->errlen, "malformed JSON at byte %zu: %s",
			 start + json_tokener_get_parse_end(tok),
			 json_tokener_error_desc(json_tokener_get_error(tok)));
		return NULL;
	}
	if (!o && !(end - start == 4 && !memcmp(sc->p + start, "null", 4))) {
		snprintf(sc->err, sc->errlen, "malformed JSON at byte %zu", start);
		return NULL;
	}
	return o; /* NULL here is JSON null */
}

/* ---- flat elements ------------------------------------------------------------------------ */

/*
 * Most list elements are plain JSON objects: members whose names and string values carry no
 * escapes or control bytes, numbers in JSON's own grammar, literals, nested values in that same
 * grammar. Such an element is read here without json-c: a table of its members pointing into a
 * copy of the element, strings and numbers NUL-terminated in place. It is what json-c would
 * answer for the same text (tests/fuzz/fuzz_page.c checks the two agree on any input). Anything
 * else (an escape, a control byte, a leading zero, deep nesting, too many members, ...) is
 * handed to json-c whole, which then decides, exactly as before, whether the element is
 * acceptable or the page is broken: this reader only ever says "plain" or "ask json-c".
 */
#define FLAT_DEPTH_MAX 16

struct flat_rd {
	const char *p;
	size_t i, n;
};

static void flat_ws(struct flat_rd *rd)
{
	while (rd->i < rd->n && (rd->p[rd->i] == ' ' || rd->p[rd->i] == '\n' ||
				 rd->p[rd->i] == '\r' || rd->p[rd->i] == '\t'))
		rd->i++;
}

/* At '"': a string without escapes or control bytes; *end = index of the closing quote. */
static int flat_string(struct flat_rd *rd, size_t *end)
{
	for (size_t i = rd->i + 1; i < rd->n; i++) {
		unsigned char c = (unsigned char)rd->p[i];
		if (c == '"') {
			*end = i;
			rd->i = i + 1;
			return 0;
		}
		if (c == '\\' || c < 0x20)
			return -1;
	}
	return -1;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* JSON's number grammar, then a delimiter; *is_int when it has no fraction or exponent. */
static int flat_number(struct flat_rd *rd, int *is_int)
{
	size_t i = rd->i;
	*is_int = 1;
	if (i < rd->n && rd->p[i] == '-')
		i++;
	if (i >= rd->n || !is_digit(rd->p[i]))
		return -1;
	if (rd->p[i] == '0')
		i++;
	else
		while (i < rd->n && is_digit(rd->p[i]))
			i++;
	if (i < rd->n && rd->p[i] == '.') {
		*is_int = 0;
		if (++i >= rd->n || !is_digit(rd->p[i]))
			return -1;
		while (i < rd->n && is_digit(rd->p[i]))
			i++;
	}
	if (i < rd->n && (rd->p[i] == 'e' || rd->p[i] == 'E')) {
		*is_int = 0;
		if (++i < rd->n && (rd->p[i] == '+' || rd->p[i] == '-'))
			i++;
		if (i >= rd->n || !is_digit(rd->p[i]))
			return -1;
		while (i < rd->n && is_digit(rd->p[i]))
			i++;
	}
	if (i < rd->n && !strchr(",}] \n\r\t", rd->p[i]))
		return -1;
	rd->i = i;
	return 0;
}

static int flat_literal(struct flat_rd *rd, const char *word)
{
	size_t n = strlen(word);
	if (rd->n - rd->i < n || memcmp(rd->p + rd->i, word, n))
		return -1;
	if (rd->i + n < rd->n && !strchr(",}] \n\r\t", rd->p[rd->i + n]))
		return -1;
	rd->i += n;
	return 0;
}

/* Any value in the plain grammar, not kept (nested members of an element). */
static int flat_skip(struct flat_rd *rd, int depth)
{
	size_t end;
	int is_int;
	if (rd->i >= rd->n)
		return -1;
	char c = rd->p[rd->i];
	if (c == '"')
		return flat_string(rd, &end);
	if (c == 't')
		return flat_literal(rd, "true");
	if (c == 'f')
		return flat_literal(rd, "false");
	if (c == 'n')
		return flat_literal(rd, "null");
	if (c != '{' && c != '[')
		return flat_number(rd, &is_int);
	if (depth >= FLAT_DEPTH_MAX)
		return -1;
	char close = c == '{' ? '}' : ']';
	rd->i++;
	flat_ws(rd);
	if (rd->i < rd->n && rd->p[rd->i] == close) {
		rd->i++;
		return 0;
	}
	for (;;) {
		if (c == '{') {
			if (rd->i >= rd->n || rd->p[rd->i] != '"' || flat_string(rd, &end) < 0)
				return -1;
			flat_ws(rd);
			if (rd->i >= rd->n || rd->p[rd->i] != ':')
				return -1;
			rd->i++;
			flat_ws(rd);
		}
		if (flat_skip(rd, depth + 1) < 0)
			return -1;
		flat_ws(rd);
		if (rd->i < rd->n && rd->p[rd->i] == ',') {
			rd->i++;
			flat_ws(rd);
			continue;
		}
		if (rd->i < rd->n && rd->p[rd->i] == close) {
			rd->i++;
			return 0;
		}
		return -1;
	}
}

/* One member's value at rd->i into v (strings and numbers pointing into copy); *end is where
 * its NUL goes in copy, SIZE_MAX for none. 0, or -1: not plain. */
static int flat_value(struct flat_rd *rd, char *copy, struct kw_jval *v, size_t *end)
{
	const char *el = rd->p;
	size_t vs = rd->i;
	char c = el[rd->i];
	int is_int;
	memset(v, 0, sizeof(*v));
	*end = SIZE_MAX;
	if (c == '"') {
		size_t se;
		if (flat_string(rd, &se) < 0)
			return -1;
		v->t = json_type_string;
		v->s = copy + vs + 1;
		v->len = se - vs - 1;
		*end = se;
	} else if (c == 't' || c == 'f') {
		if (flat_literal(rd, c == 't' ? "true" : "false") < 0)
			return -1;
		v->t = json_type_boolean;
		v->b = c == 't';
	} else if (c == 'n') {
		if (flat_literal(rd, "null") < 0)
			return -1;
		v->t = json_type_null;
	} else if (c == '{' || c == '[') {
		if (flat_skip(rd, 1) < 0)
			return -1;
		v->t = c == '{' ? json_type_object : json_type_array;
	} else {
		if (flat_number(rd, &is_int) < 0)
			return -1;
		/* json-c spells an integer back in canonical form: "-0" is "0" */
		if (is_int && rd->i - vs == 2 && el[vs] == '-' && el[vs + 1] == '0')
			return -1;
		v->t = is_int ? json_type_int : json_type_double;
		v->s = copy + vs;
		v->len = rd->i - vs;
		*end = rd->i;
	}
	return 0;
}

/* The members after '{' up to and past '}', each into f. 0, or -1: not plain. */
static int flat_members(struct flat_rd *rd, char *copy, struct kw_jflat *f, size_t *ends)
{
	const char *el = rd->p;
	size_t n = rd->n;
	if (rd->i < n && el[rd->i] == '}') {
		rd->i++;
		return 0;
	}
	for (;;) {
		size_t ks = rd->i + 1, ke;
		if (f->n == KW_JFLAT_MEMBERS_MAX || rd->i >= n || el[rd->i] != '"' ||
		    flat_string(rd, &ke) < 0)
			return -1;
		flat_ws(rd);
		if (rd->i >= n || el[rd->i] != ':')
			return -1;
		rd->i++;
		flat_ws(rd);
		if (rd->i >= n)
			return -1;
		f->m[f->n].key = el + ks;
		f->m[f->n].klen = ke - ks;
		if (flat_value(rd, copy, &f->m[f->n].v, &ends[f->n]) < 0)
			return -1;
		f->n++;
		flat_ws(rd);
		if (rd->i < n && el[rd->i] == ',') {
			rd->i++;
			flat_ws(rd);
			continue;
		}
		if (rd->i < n && el[rd->i] == '}') {
			rd->i++;
			return 0;
		}
		return -1;
	}
}

/*
 * el[0, n) as a plain object into f, its strings and numbers NUL-terminated in copy (n + 1
 * bytes, the caller's). 0 if plain; -1: let json-c read it.
 */
int kw_jflat_parse(const char *el, size_t n, char *copy, struct kw_jflat *f)
{
	struct flat_rd rd = { el, 0, n };
	size_t ends[KW_JFLAT_MEMBERS_MAX];
	f->n = 0;
	flat_ws(&rd);
	if (rd.i >= n || el[rd.i] != '{')
		return -1;
	rd.i++;
	flat_ws(&rd);
	if (flat_members(&rd, copy, f, ends) < 0)
		return -1;
	flat_ws(&rd);
	if (rd.i != n)
		return -1;
	memcpy(copy, el, n);
	copy[n] = '\0';
	for (size_t i = 0; i < f->n; i++)
		if (ends[i] != SIZE_MAX)
			copy[ends[i]] = '\0';
	return 0;
}

/* ---- list pages ----------------------------------------------------------------------------- */

/* At '[' of the array being walked: hand each element to element, move past ']'. 0 done, -1
 * broken (err set), -2 when element asked to stop. */
static int scan_elements(struct kw_jscan *sc, kw_jscan_element_fn element, void *arg)
{
	sc->i++;
	scan_ws(sc);
	if (sc->i < sc->len && sc->p[sc->i] == ']') {
		sc->i++;
		return 0;
	}
	for (;;) {
		size_t es = sc->i;
		if (scan_value(sc) < 0)
			return -1;
		int erc = element(arg, sc, es, sc->i);
		if (erc != 0)
			return erc == -2 ? -2 : -1;
		scan_ws(sc);
		if (sc->i < sc->len && sc->p[sc->i] == ',') {
			sc->i++;
			scan_ws(sc);
			continue;
		}
		if (sc->i < sc->len && sc->p[sc->i] == ']') {
			sc->i++;
			return 0;
		}
		return scan_fail(sc, "',' or ']' expected");
	}
}

/* The "cursor" member's value, body [vs, sc->i): a string of clean text shorter than
 * cursor_max copied into cursor, or null (cursor left ""). -1 with err set otherwise. */
static int read_cursor(struct kw_jscan *sc, size_t vs, char *cursor, size_t cursor_max)
{
	int rc = -1;
	json_object *o = kw_jscan_slice(sc->tok, sc, vs, sc->i);
	if (!o)
		return sc->p[vs] == 'n' ? 0 : -1;
	const char *c = json_object_get_string(o);
	size_t n = (size_t)json_object_get_string_len(o);
	if (!json_object_is_type(o, json_type_string)) {
		snprintf(sc->err, sc->errlen, "\"cursor\" is not a string");
		goto out;
	}
	if (n >= cursor_max || strlen(c) != n || !kw_text_is_clean(c, n)) {
		snprintf(sc->err, sc->errlen, "\"cursor\" is not clean text of at most %zu bytes",
			 cursor_max - 1);
		goto out;
	}
	memcpy(cursor, c, n + 1);
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

/* What a page walk looks for among the top-level members. */
struct page_want {
	const char *key; /* the array of records */
	size_t keylen;
	kw_jscan_element_fn element;
	void *arg;
	char *cursor;
	size_t cursor_max;
	int found; /* the array was there */
};

/* One top-level member, name to value: the array walked, the cursor read, anything else
 * skipped. 0, -1 broken (err set), -2 when element asked to stop. */
static int scan_member(struct kw_jscan *sc, struct page_want *w)
{
	const char *body = sc->p;
	size_t len = sc->len;
	if (sc->i >= len || body[sc->i] != '"')
		return scan_fail(sc, "member name expected");
	size_t ks = sc->i + 1;
	if (scan_string(sc) < 0)
		return -1;
	size_t ke = sc->i - 1;
	scan_ws(sc);
	if (sc->i >= len || body[sc->i] != ':')
		return scan_fail(sc, "':' expected");
	sc->i++;
	scan_ws(sc);
	size_t vs = sc->i;
	if (ke - ks == w->keylen && !memcmp(body + ks, w->key, w->keylen)) {
		if (sc->i >= len || body[sc->i] != '[') {
			if (scan_value(sc) == 0)
				snprintf(sc->err, sc->errlen, "\"%s\" is not an array", w->key);
			return -1;
		}
		w->found = 1;
		return scan_elements(sc, w->element, w->arg);
	}
	if (ke - ks == 6 && !memcmp(body + ks, "cursor", 6)) {
		if (scan_value(sc) < 0 || read_cursor(sc, vs, w->cursor, w->cursor_max) < 0)
			return -1;
		return 0;
	}
	return scan_value(sc) < 0 ? -1 : 0;
}

int kw_jscan_page(const char *body, size_t len, const char *key, kw_jscan_element_fn element,
		  void *arg, char *cursor, size_t cursor_max, char *err, size_t errlen)
{
	struct kw_jscan sc = { body, 0, len, err, errlen, NULL };
	struct page_want w = { key, strlen(key), element, arg, cursor, cursor_max, 0 };
	int rc = -1;
	cursor[0] = '\0';
	if (len > (size_t)INT32_MAX) {
		snprintf(err, errlen, "body too large to parse");
		return -1;
	}
	sc.tok = json_tokener_new_ex(KW_JSON_MAX_DEPTH);
	if (!sc.tok) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	scan_ws(&sc);
	if (sc.i >= len || body[sc.i] != '{') {
		if (sc.i < len)
			snprintf(err, errlen, "JSON body is not an object");
		else
			scan_fail(&sc, "");
		goto out;
	}
	sc.i++;
	for (int first = 1;; first = 0) {
		scan_ws(&sc);
		if (first && sc.i < len && body[sc.i] == '}')
			break; /* "{}" */
		int mrc = scan_member(&sc, &w);
		if (mrc != 0) {
			rc = mrc;
			goto out;
		}
		scan_ws(&sc);
		if (sc.i < len && body[sc.i] == ',') {
			sc.i++;
			continue;
		}
		if (sc.i < len && body[sc.i] == '}')
			break;
		scan_fail(&sc, "',' or '}' expected");
		goto out;
	}
	sc.i++;
	scan_ws(&sc);
	if (sc.i < len) {
		snprintf(err, errlen, "trailing data after JSON at byte %zu", sc.i);
		goto out;
	}
	if (!w.found) {
		snprintf(err, errlen, "page has no \"%s\" array", key);
		goto out;
	}
	rc = 0;
out:
	json_tokener_free(sc.tok);
	if (rc != 0)
		cursor[0] = '\0';
	return rc;
}
