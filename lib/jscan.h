/*
 * jscan.h — a JSON scanner for large list pages: {"<key>":[...], "cursor":"...", ...} walked
 * in place, each element of the array handed over as a slice of the body; a slice parsed with
 * json-c when needed, or read as a flat member table when it is a plain object.
 *
 * Ownership: slices, member keys and values point into the body or into the caller's copy;
 * nothing here outlives the call that produced it.
 */
#ifndef KW_JSCAN_H
#define KW_JSCAN_H

#include <json-c/json.h>
#include <stddef.h>

#define KW_JSON_MAX_DEPTH 32

/* One member value of a flat element. */
struct kw_jval {
	enum json_type t;
	const char *s; /* strings and numbers: the text, NUL-terminated (len bytes before it) */
	size_t len;
	int b; /* booleans */
};

#define KW_JFLAT_MEMBERS_MAX 128 /* an element with more members is read by json-c */

struct kw_jflat {
	struct {
		const char *key; /* into the body, klen bytes, no escapes */
		size_t klen;
		struct kw_jval v;
	} m[KW_JFLAT_MEMBERS_MAX];
	size_t n;
};

/* The walk's state, passed to each element callback (err receives a failure's reason). */
struct kw_jscan {
	const char *p;
	size_t i, len;
	char *err;
	size_t errlen;
	struct json_tokener *tok; /* reused for every element of a page */
};

/*
 * Read el[0..n) (one object) as a flat member table into f, its strings NUL-terminated in
 * copy (n + 1 bytes, the caller's). 0 when the element is plain; -1 when json-c must decide.
 */
int kw_jflat_parse(const char *el, size_t n, char *copy, struct kw_jflat *f);

/* Parse sc's body [start, end) as one complete JSON value with tok (reset first). NULL with
 * sc->err set when it is malformed; NULL without an error for JSON null. */
json_object *kw_jscan_slice(struct json_tokener *tok, struct kw_jscan *sc, size_t start,
			    size_t end);

/* What the walk does with each element slice: 0 go on, -1 broken (err set), -2 stop. */
typedef int (*kw_jscan_element_fn)(void *arg, struct kw_jscan *sc, size_t start, size_t end);

/*
 * Walk body, one JSON object, handing each element of its array member `key` to element, and
 * copying a string member "cursor" (clean text shorter than cursor_max) into cursor ("" when
 * absent or null). 0 when the whole body was read; -1 with err when it is malformed, not an
 * object, lacks the array or has a bad cursor; -2 when element asked to stop. cursor is ""
 * on any failure.
 */
int kw_jscan_page(const char *body, size_t len, const char *key, kw_jscan_element_fn element,
		  void *arg, char *cursor, size_t cursor_max, char *err, size_t errlen);

#endif
