/*
 * api.c — the pieces every data route shares (contract in api.h): JSON for store rows, the v1
 * envelope, opaque cursors, CSV fields and HTTP caching.
 *
 * Caching follows RFC 9110 section 13.1.2 (If-None-Match: a list of entity tags or *, compared
 * weakly) and RFC 9111 (Cache-Control max-age). ETags are the first 128 bits of SHA-256 of the
 * representation, so equal data gives equal tags across workers and restarts.
 */
#include "api.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "whale.h"

json_object *kw_api_usd(int64_t micros)
{
	return micros == KW_NULL ? NULL : kw_json_decimal(micros, 6);
}

json_object *kw_api_contracts(int64_t centi)
{
	return centi == KW_NULL ? NULL : kw_json_decimal(centi, 2);
}

json_object *kw_api_time(int64_t unix_s)
{
	char buf[32];
	if (unix_s == KW_NULL)
		return NULL;
	kw_fmt_rfc3339(unix_s, buf, sizeof(buf));
	return json_object_new_string(buf);
}

json_object *kw_api_time_us(int64_t unix_us)
{
	char buf[48];
	int64_t s = unix_us / 1000000, us = unix_us % 1000000;
	kw_fmt_rfc3339(s, buf, sizeof(buf));
	if (us > 0 && strlen(buf) == 20) /* "....:ssZ" -> "....:ss.uuuuuuZ" */
		snprintf(buf + 19, sizeof(buf) - 19, ".%06lldZ", (long long)us);
	return json_object_new_string(buf);
}

json_object *kw_api_str(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static void add(json_object *o, const char *k, json_object *v)
{
	json_object_object_add(o, k, v);
}

json_object *kw_api_market_json(const struct kw_market_row *m)
{
	json_object *o = json_object_new_object();
	add(o, "ticker", kw_api_str(m->ticker));
	add(o, "event_ticker", kw_api_str(m->event_ticker));
	add(o, "series_ticker", kw_api_str(m->series_ticker));
	add(o, "category", kw_api_str(m->category));
	add(o, "title", kw_api_str(m->title));
	add(o, "yes_sub_title", kw_api_str(m->yes_sub_title));
	add(o, "no_sub_title", kw_api_str(m->no_sub_title));
	add(o, "market_type", kw_api_str(m->market_type));
	add(o, "status", kw_api_str(m->status));
	add(o, "open_time", kw_api_time(m->open_at));
	add(o, "close_time", kw_api_time(m->close_at));
	add(o, "yes_bid", kw_api_usd(m->yes_bid));
	add(o, "yes_ask", kw_api_usd(m->yes_ask));
	add(o, "no_bid", kw_api_usd(m->no_bid));
	add(o, "no_ask", kw_api_usd(m->no_ask));
	add(o, "last_price", kw_api_usd(m->last_price));
	add(o, "previous_price", kw_api_usd(m->previous_price));
	add(o, "price_change",
	    m->last_price != KW_NULL && m->previous_price != KW_NULL
		    ? kw_api_usd(m->last_price - m->previous_price)
		    : NULL);
	add(o, "volume_contracts", kw_api_contracts(m->volume_centi));
	add(o, "volume_24h_contracts", kw_api_contracts(m->volume_24h_centi));
	add(o, "open_interest_contracts", kw_api_contracts(m->open_interest_centi));
	add(o, "volume_24h_usd", kw_api_usd(m->usd_24h_micros));
	add(o, "trades_24h", json_object_new_int64(m->trades_24h));
	add(o, "updated_at", kw_api_time(m->updated_at));
	return o;
}

json_object *kw_api_trade_json(const struct kw_trade_row *t)
{
	json_object *o = json_object_new_object();
	int yes = t->taker_side && !strcmp(t->taker_side, "yes");
	add(o, "id", json_object_new_int64(t->id));
	add(o, "trade_id", kw_api_str(t->trade_id));
	add(o, "ticker", kw_api_str(t->ticker));
	add(o, "title", kw_api_str(t->title));
	add(o, "category", kw_api_str(t->category));
	add(o, "created_time", kw_api_time_us(t->created_us));
	add(o, "taker_side", kw_api_str(t->taker_side));
	add(o, "count_contracts", kw_api_contracts(t->count_centi));
	add(o, "yes_price", kw_api_usd(t->yes_price));
	add(o, "no_price", kw_api_usd(t->no_price));
	add(o, "price", kw_api_usd(yes ? t->yes_price : t->no_price));
	add(o, "notional_usd", kw_api_usd(t->notional_micros));
	add(o, "is_block_trade", json_object_new_boolean(t->is_block != 0));
	return o;
}

json_object *kw_api_alert_json(const struct kw_alert_row *a, int legacy)
{
	json_object *o = json_object_new_object();
	json_object *data = a->data ? json_tokener_parse(a->data) : NULL;
	if (!data) /* we wrote it; only a damaged database gets here */
		data = json_object_new_object();
	add(o, "id", json_object_new_int64(a->id));
	add(o, "type", kw_api_str(a->type));
	add(o, "market_id", kw_api_str(a->ticker));
	add(o, "ticker", kw_api_str(a->ticker));
	if (legacy)
		add(o, "ticker_symbol", kw_api_str(a->ticker));
	add(o, "title", kw_api_str(a->title));
	add(o, "category", kw_api_str(a->category));
	add(o, "severity", kw_api_str(a->severity));
	add(o, "confidence", kw_json_decimal(a->confidence, 2));
	if (legacy)
		add(o, "market_impact", kw_api_str(a->severity));
	add(o, "description", kw_api_str(a->description));
	add(o, "data", data);
	add(o, "timestamp", kw_api_time(a->created_at));
	add(o, "created_at", kw_api_time(a->created_at));
	add(o, "window_end", kw_api_time(a->window_end));
	return o;
}

/* ---- ETag ---------------------------------------------------------------------------------- */

static void etag_of(const char *s, size_t n, char out[40])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 16) {
		kw_error("api: SHA-256 failed; no ETag");
		out[0] = '\0';
		return;
	}
	out[0] = '"';
	for (int i = 0; i < 16; i++)
		snprintf(out + 1 + 2 * i, 3, "%02x", md[i]);
	out[33] = '"';
	out[34] = '\0';
}

static int has_header(struct kw_req *r, const char *name)
{
	size_t n = strlen(name);
	const char *h = r->headers.data;
	while (h && *h) {
		if (!strncasecmp(h, name, n) && h[n] == ':')
			return 1;
		h = strstr(h, "\r\n");
		h = h ? h + 2 : NULL;
	}
	return 0;
}

void kw_api_set_etag(struct kw_req *r, json_object *obj)
{
	char tag[40];
	size_t len = 0;
	const char *s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
	etag_of(s ? s : "", s ? len : 0, tag);
	if (tag[0] && !has_header(r, "ETag"))
		kw_reply_header(r, "ETag", tag);
}

/* The ETag value a handler or this file set, copied into out ("" if none). */
static void current_etag(struct kw_req *r, char *out, size_t len)
{
	const char *h = r->headers.data;
	out[0] = '\0';
	while (h && *h) {
		if (!strncasecmp(h, "ETag: ", 6)) {
			const char *e = strstr(h, "\r\n");
			size_t n = e ? (size_t)(e - h - 6) : strlen(h + 6);
			if (n < len) {
				memcpy(out, h + 6, n);
				out[n] = '\0';
			}
			return;
		}
		h = strstr(h, "\r\n");
		h = h ? h + 2 : NULL;
	}
}

/* RFC 9110 13.1.2: weak comparison against each listed tag; "*" matches any. */
static int none_match(const char *header, const char *tag)
{
	const char *p = header;
	size_t tl = strlen(tag);
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (!strncmp(p, "W/", 2))
			p += 2;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *te = e;
		while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		if ((size_t)(te - p) == tl && !memcmp(p, tag, tl))
			return 1;
		p = e;
	}
	return 0;
}

void kw_api_cache_apply(struct kw_req *r)
{
	if (r->status != 200 || (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")))
		return;
	char tag[64];
	current_etag(r, tag, sizeof(tag));
	if (!tag[0]) {
		char t[40];
		etag_of(r->body.data ? r->body.data : "", r->body.len, t);
		if (!t[0])
			return;
		kw_reply_header(r, "ETag", t);
		kw_strlcpy(tag, t, sizeof(tag));
	}
	if (!has_header(r, "Cache-Control")) {
		char cc[64];
		snprintf(cc, sizeof(cc), "private, max-age=%lld",
			 (long long)r->app->cfg.cache_ttl_s);
		kw_reply_header(r, "Cache-Control", cc);
	}
	const char *inm = kw_req_param(r, "HTTP_IF_NONE_MATCH");
	if (inm && strlen(inm) <= 4096 && none_match(inm, tag)) {
		r->status = 304;
		kw_buf_reset(&r->body);
	}
}

/* ---- envelope ------------------------------------------------------------------------------ */

void kw_api_reply_list(struct kw_req *r, json_object *data, int has_more, const char *next_cursor)
{
	json_object *o = json_object_new_object();
	add(o, "data", data);
	add(o, "has_more", json_object_new_boolean(has_more));
	add(o, "next_cursor", kw_api_str(next_cursor));
	kw_api_set_etag(r, o);
	int64_t now = kw_now_s(), last = 0;
	json_object *meta = json_object_new_object();
	add(meta, "generated_at", kw_api_time(now));
	if (r->app->store && kw_store_last_fetch(r->app->store, &last) == 0 && last > 0)
		add(meta, "source_lag_s", json_object_new_int64(now - last));
	else
		add(meta, "source_lag_s", NULL); /* never fetched: no lag to report */
	add(o, "meta", meta);
	kw_reply_json(r, 200, o);
}

/* ---- cursors ------------------------------------------------------------------------------- */

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void kw_api_cursor_encode(char *buf, size_t len, const char *text)
{
	size_t n = strlen(text), o = 0;
	for (size_t i = 0; i < n && o + 5 < len; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)text[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)text[i + 1] << 8;
		if (i + 2 < n)
			v |= (uint32_t)(unsigned char)text[i + 2];
		buf[o++] = B64URL[(v >> 18) & 63];
		buf[o++] = B64URL[(v >> 12) & 63];
		if (i + 1 < n)
			buf[o++] = B64URL[(v >> 6) & 63];
		if (i + 2 < n)
			buf[o++] = B64URL[v & 63];
	}
	buf[o] = '\0';
}

static int b64val(char c)
{
	const char *p = c ? strchr(B64URL, c) : NULL;
	return p ? (int)(p - B64URL) : -1;
}

int kw_api_cursor_decode_or_reply(struct kw_req *r, const char *prefix, char *out, size_t outlen)
{
	const char *in = kw_query_str(&r->q, "cursor", "");
	size_t n = strlen(in), o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val(in[i]);
		if (v < 0 || o + 1 >= outlen)
			goto bad;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	if (strlen(out) != o || !kw_text_is_clean(out, o) || strncmp(out, prefix, strlen(prefix)))
		goto bad;
	return 0;
bad:
	kw_reply_error(r, 400, "invalid_parameter",
		       "parameter 'cursor' is not a cursor from this list; send next_cursor back "
		       "unchanged with the same sort");
	return -1;
}

/* ---- CSV ----------------------------------------------------------------------------------- */

int kw_api_wants_csv(struct kw_req *r)
{
	const struct kw_qval *f = kw_query_get(&r->q, "format");
	if (f)
		return !strcmp(f->str, "csv");
	const char *accept = kw_req_param(r, "HTTP_ACCEPT");
	if (!accept)
		return 0;
	/* text/csv before any JSON type in the list wins; we do not weigh q-values. */
	const char *csv = strstr(accept, "text/csv");
	const char *json = strstr(accept, "application/json");
	return csv && (!json || csv < json);
}

int kw_csv_field(struct kw_buf *b, const char *s, int last)
{
	int rc = 0;
	if (!s)
		s = "";
	int quote = strpbrk(s, ",\"\r\n") != NULL;
	int formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@';
	/* A negative number is data, not a formula. */
	if (s[0] == '-' && s[1] >= '0' && s[1] <= '9')
		formula = 0;
	if (quote || formula)
		rc |= kw_buf_puts(b, "\"");
	if (formula)
		rc |= kw_buf_puts(b, "'");
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			rc |= kw_buf_puts(b, "\"\"");
		else
			rc |= kw_buf_append(b, p, 1);
	}
	if (quote || formula)
		rc |= kw_buf_puts(b, "\"");
	rc |= kw_buf_puts(b, last ? "\r\n" : ",");
	return rc ? -1 : 0;
}
