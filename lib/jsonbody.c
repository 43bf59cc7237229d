/*
 * jsonbody.c — strict JSON body validation (contract in jsonbody.h).
 *
 * Duplicate keys: json-c 0.16 replaces an earlier member with a later one of the same name.
 * Every ':' outside a string literal in valid JSON ends exactly one object key, so the number
 * of such colons is the number of members written; the parsed tree keeps one member per
 * distinct key per object, and a dropped duplicate also drops any members nested in its value.
 * So the body has a duplicate key (at any depth) exactly when the parsed tree holds fewer
 * members than colons were written. That is one linear scan and one walk, with no key
 * decoding of our own ("a" and "\u0061" are the same key to json-c, and so to us).
 */
#include "jsonbody.h"

#include <stdio.h>
#include <string.h>

#include "codec.h"

/*
 * Members written in the raw text: ':' outside string literals. Also -1 for a single quote
 * outside a string: json-c 0.16 accepts 'single-quoted' names even with JSON_TOKENER_STRICT,
 * and RFC 8259 does not.
 */
static long raw_member_count(const char *s, size_t n)
{
	long count = 0;
	int in_str = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++; /* the escaped byte cannot end the string */
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == ':') {
			count++;
		} else if (c == '\'') {
			return -1;
		}
	}
	return count;
}

static size_t tree_member_count(json_object *o)
{
	size_t count = 0;
	switch (json_object_get_type(o)) {
	case json_type_object: {
		json_object_object_foreach(o, k, v)
		{
			(void)k;
			count += 1 + tree_member_count(v);
		}
		break;
	}
	case json_type_array: {
		size_t n = json_object_array_length(o);
		for (size_t i = 0; i < n; i++)
			count += tree_member_count(json_object_array_get_idx(o, i));
		break;
	}
	default: break;
	}
	return count;
}

static int check_field(const struct kw_body_field *d, json_object *v, char *err, size_t errlen)
{
	switch (d->type) {
	case KW_BODY_BOOL:
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(err, errlen, "field '%s' must be true or false", d->name);
			return -1;
		}
		return 0;
	case KW_BODY_INT: {
		int64_t x;
		if (!json_object_is_type(v, json_type_int) ||
		    (x = json_object_get_int64(v), x < d->min || x > d->max)) {
			snprintf(err, errlen, "field '%s' must be an integer from %lld to %lld",
				 d->name, (long long)d->min, (long long)d->max);
			return -1;
		}
		return 0;
	}
	case KW_BODY_STR: {
		size_t maxlen = d->maxlen ? d->maxlen : 128;
		if (!json_object_is_type(v, json_type_string)) {
			snprintf(err, errlen, "field '%s' must be a string", d->name);
			return -1;
		}
		const char *s = json_object_get_string(v);
		size_t n = (size_t)json_object_get_string_len(v);
		if (n == 0 || n > maxlen || strlen(s) != n || !kw_text_is_clean(s, n)) {
			snprintf(err, errlen,
				 "field '%s' must be 1 to %zu characters of text without control "
				 "characters",
				 d->name, maxlen);
			return -1;
		}
		return 0;
	}
	}
	snprintf(err, errlen, "field '%s' is invalid", d->name);
	return -1;
}

/* Parse buf as one strict JSON value followed by whitespace at most; NULL with err set. */
static json_object *parse_value(const char *buf, size_t len, char *err, size_t errlen)
{
	json_object *obj = NULL;
	struct json_tokener *tok = json_tokener_new_ex(KW_BODY_MAX_DEPTH);
	if (!tok) {
		snprintf(err, errlen, "request body could not be parsed");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	if (!obj && jerr == json_tokener_continue) {
		/* A bare literal ("true", "12") only ends at a terminator: give it the NUL. */
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);
	if (jerr == json_tokener_continue || (!obj && jerr == json_tokener_success)) {
		snprintf(err, errlen, "request body is incomplete JSON");
		goto fail;
	}
	if (jerr != json_tokener_success) {
		/* json-c's own wording stays out of replies: only the two cases a client can act
		 * on are told apart. */
		snprintf(err, errlen, "%s",
			 jerr == json_tokener_error_depth ? "request body is nested too deeply"
							  : "request body is not valid JSON");
		goto fail;
	}
	/* Only whitespace may follow the value. */
	for (size_t i = end; i < len; i++) {
		if (!strchr(" \t\r\n", buf[i])) {
			snprintf(err, errlen, "request body has data after the JSON value");
			goto fail;
		}
	}
	return obj;
fail:
	json_object_put(obj);
	return NULL;
}

/* Every member declared and valid, every required one present: 0, else -1 with err set. */
static int check_fields(json_object *obj, const struct kw_body_field *decl, char *err,
			size_t errlen)
{
	json_object_object_foreach(obj, key, val)
	{
		const struct kw_body_field *d = NULL;
		for (const struct kw_body_field *x = decl; x && x->name; x++)
			if (!strcmp(x->name, key))
				d = x;
		if (!d) {
			if (kw_ident_is_clean(key, strlen(key), KW_NAME_MAX_LEN))
				snprintf(err, errlen, "unknown field '%s'", key);
			else
				snprintf(err, errlen, "unknown field");
			return -1;
		}
		if (check_field(d, val, err, errlen) < 0)
			return -1;
	}
	for (const struct kw_body_field *x = decl; x && x->name; x++) {
		if (x->required && !json_object_object_get_ex(obj, x->name, NULL)) {
			snprintf(err, errlen, "field '%s' is required", x->name);
			return -1;
		}
	}
	return 0;
}

int kw_json_body_parse(const char *buf, size_t len, const struct kw_body_field *decl,
		       json_object **out, char *err, size_t errlen)
{
	int rc = -1;
	json_object *obj = NULL;
	*out = NULL;
	if (len > INT32_MAX) {
		snprintf(err, errlen, "request body is too large");
		goto out;
	}
	/* An embedded NUL would end json-c's view of the text early; refuse it outright. */
	if (memchr(buf, '\0', len)) {
		snprintf(err, errlen, "request body is not valid JSON");
		goto out;
	}
	obj = parse_value(buf, len, err, errlen);
	if (!obj)
		goto out;
	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(err, errlen, "request body must be a JSON object");
		goto out;
	}
	long written = raw_member_count(buf, len);
	if (written < 0) {
		snprintf(err, errlen, "request body is not valid JSON");
		goto out;
	}
	if ((long)tree_member_count(obj) != written) {
		snprintf(err, errlen, "request body has a duplicate key");
		goto out;
	}
	if (check_fields(obj, decl, err, errlen) < 0)
		goto out;
	*out = obj;
	obj = NULL;
	rc = 0;
out:
	json_object_put(obj);
	return rc;
}
