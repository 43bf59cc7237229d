/*
 * jsonw.h — a JSON text writer for the replies kw-api builds most (rows.c, cache.c): straight
 * into a kw_buf, no tree.
 *
 * The big lists (whales, markets) are written straight into the reply buffer: building a
 * json-c tree per row and serialising it costs several times more than the SQL (malloc per
 * value, a hash table per object). kw_api_*_json() parse the same text for the few places that
 * need a tree, so there is one definition of each row's fields. A write past the buffer's cap
 * sets err; the caller checks it once at the end.
 */
#ifndef KW_FCGI_JSONW_H
#define KW_FCGI_JSONW_H

#include <string.h>

#include "api.h"
#include "codec.h"

struct jw {
	struct kw_buf *b;
	int first, err;
};

static inline void jw_raw(struct jw *w, const char *s, size_t n)
{
	if (kw_buf_append(w->b, s, n) < 0)
		w->err = 1;
}

static inline void jw_key(struct jw *w, const char *k)
{
	jw_raw(w, w->first ? "\"" : ",\"", w->first ? 1 : 2);
	w->first = 0;
	jw_raw(w, k, strlen(k));
	jw_raw(w, "\":", 2);
}

static inline void jw_str(struct jw *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	if (!s) {
		jw_raw(w, "null", 4);
		return;
	}
	jw_raw(w, "\"", 1);
	const char *run = s;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		jw_raw(w, run, (size_t)(p - run));
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			jw_raw(w, esc, 2);
		} else {
			jw_raw(w, esc, 6);
		}
		run = p + 1;
	}
	jw_raw(w, run, strlen(run));
	jw_raw(w, "\"", 1);
}

/* v / 10^scale, exact, trailing zeros dropped; KW_NULL -> null. */
static inline void jw_dec(struct jw *w, int64_t v, int scale)
{
	char buf[48];
	if (v == KW_NULL) {
		jw_raw(w, "null", 4);
		return;
	}
	jw_raw(w, buf, kw_fmt_decimal(buf, sizeof(buf), v, scale));
}

static inline void jw_time(struct jw *w, int64_t unix_s)
{
	char buf[32];
	if (unix_s == KW_NULL) {
		jw_raw(w, "null", 4);
		return;
	}
	kw_fmt_rfc3339(unix_s, buf, sizeof(buf));
	jw_str(w, buf);
}

static inline void jw_time_us(struct jw *w, int64_t unix_us)
{
	char buf[48];
	kw_api_fmt_time_us(buf, sizeof(buf), unix_us);
	jw_str(w, buf);
}

#endif
