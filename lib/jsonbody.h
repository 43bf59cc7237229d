/*
 * jsonbody.h — strict validation of a JSON request body against a declared field list.
 *
 * A POST route declares its body once (struct kw_body_field: name, type, range, length,
 * required), like query parameters in http.h. kw_json_body_parse() accepts only a JSON object
 * whose members are all declared, each at most once and of the declared type; anything else is
 * refused with a client-safe message naming the field (only when the name itself is clean)
 * and never echoing a value. It enforces: strict JSON syntax (JSON_TOKENER_STRICT), valid
 * UTF-8, a nesting limit (KW_BODY_MAX_DEPTH), no trailing bytes, and no duplicate keys at any
 * depth (json-c keeps the last value silently, so duplicates are counted here).
 *
 * It does not read the request or check Content-Type/-Length: fcgi/body.c does that and then
 * calls this, so this part can be fuzzed without a server.
 */
#ifndef KW_JSONBODY_H
#define KW_JSONBODY_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define KW_BODY_MAX_DEPTH 8

enum kw_body_type {
	KW_BODY_BOOL, /* true | false */
	KW_BODY_INT,  /* integer in [min, max] (no fraction, no exponent) */
	KW_BODY_STR,  /* clean UTF-8 text, 1..maxlen bytes (maxlen 0 = 128) */
};

struct kw_body_field {
	const char *name; /* NULL ends the list */
	enum kw_body_type type;
	int required;
	int64_t min, max; /* KW_BODY_INT */
	size_t maxlen;	  /* KW_BODY_STR */
};

/*
 * Parse buf[0..len) and check it against decl ({NULL}-terminated; NULL = no fields allowed).
 * 0 with *out = the parsed object (owned by the caller: json_object_put); -1 with a client-safe
 * message in err (and *out NULL) otherwise. An empty body is not valid JSON: callers that allow
 * an absent body decide that before calling.
 */
int kw_json_body_parse(const char *buf, size_t len, const struct kw_body_field *decl,
		       json_object **out, char *err, size_t errlen) KW_WUR;

#endif
