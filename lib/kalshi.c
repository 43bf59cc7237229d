/*
 * kalshi.c — Kalshi body parsing (contract in kalshi.h).
 *
 * Field lookups return 1 (found), 0 (absent or JSON null) or -1 (present with a wrong type or
 * malformed); record parsers turn -1 into a skip reason. Numbers are never converted through
 * double: json-c keeps a number's original text, and json_object_get_string() returns it, so
 * a legacy `41.5` cents or a numeric "_fp" count goes through the same exact decimal parser as
 * the strings do.
 *
 * Records are read through a view (struct view): a json-c object, or, for the plain elements
 * that make up nearly every list page, a flat table of members read straight from the body
 * by the scanner in jscan.c. Building a json-c object per element (a hash table and an
 * allocation per member) was most of a page's parse; the flat reader allocates nothing per
 * element and hands every element it is unsure of to json-c, so the answers never differ
 * (tests/fuzz/fuzz_page.c compares them). This file is the Kalshi mapping only.
 */
#include "kalshi.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "jscan.h"

int kw_kalshi_parse_fixed(const char *s, size_t len, int scale, int64_t *out)
{
	const char *p = s, *end = s + len;
	int neg = 0, frac = 0, int_digits = 0;
	uint64_t v = 0;
	const uint64_t lim = (uint64_t)INT64_MAX;

	if (!s || scale < 0 || scale > 9)
		return -1;
	if (p < end && (*p == '-' || *p == '+'))
		neg = *p++ == '-';
	for (; p < end && *p >= '0' && *p <= '9'; p++, int_digits++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (lim - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (!int_digits)
		return -1;
	if (p < end && *p == '.') {
		p++;
		if (p == end || *p < '0' || *p > '9')
			return -1;
		for (; p < end && *p >= '0' && *p <= '9'; p++) {
			if (frac < scale) {
				unsigned d = (unsigned)(*p - '0');
				if (v > (lim - d) / 10)
					return -1;
				v = v * 10 + d;
				frac++;
			} else if (*p != '0') {
				return -1; /* more precision than the unit holds: refuse, never round */
			}
		}
	}
	if (p != end)
		return -1;
	for (; frac < scale; frac++) {
		if (v > lim / 10)
			return -1;
		v *= 10;
	}
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

int64_t kw_kalshi_premium_micros(int64_t count_centi, int64_t price_micros)
{
	/* Both are range-checked by the parsers: count <= 1e12, price <= 1e6, product < 2^63. */
	return (count_centi * price_micros + 50) / 100;
}

/* ---- field access ------------------------------------------------------------------------ */

/*
 * A record is read through a view: either a json-c object, or a flat element (struct kw_jflat,
 * jscan.h) read straight from the page body. Both answer the same questions the same way, so
 * the record parsers have one set of rules.
 */
struct view {
	json_object *o;		  /* a json-c object, or NULL */
	const struct kw_jflat *f; /* else this */
};

/* 1 present and not null, 0 absent or JSON null. */
static int view_get(const struct view *w, const char *key, struct kw_jval *out)
{
	if (w->f) {
		size_t klen = strlen(key);
		/* Backwards: a repeated member reads as its last copy, as json-c keeps it. */
		for (size_t i = w->f->n; i-- > 0;) {
			if (w->f->m[i].klen == klen && !memcmp(w->f->m[i].key, key, klen)) {
				*out = w->f->m[i].v;
				return out->t != json_type_null;
			}
		}
		return 0;
	}
	json_object *v;
	if (!json_object_object_get_ex(w->o, key, &v) || !v)
		return 0;
	out->t = json_object_get_type(v);
	out->s = NULL;
	out->len = 0;
	out->b = 0;
	if (out->t == json_type_string) {
		out->s = json_object_get_string(v);
		out->len = (size_t)json_object_get_string_len(v);
	} else if (out->t == json_type_int || out->t == json_type_double) {
		out->s = json_object_get_string(v);
		out->len = strlen(out->s);
	} else if (out->t == json_type_boolean) {
		out->b = json_object_get_boolean(v);
	}
	return 1;
}

static int get_str(const struct view *w, const char *key, const char **out)
{
	struct kw_jval v;
	if (!view_get(w, key, &v))
		return 0;
	if (v.t != json_type_string)
		return -1;
	/* An embedded NUL would make C and SQL see different strings. */
	if (strlen(v.s) != v.len)
		return -1;
	*out = v.s;
	return 1;
}

/* A fixed-point value sent as a string or as a JSON number (re-read from its text). */
static int get_fixed(const struct view *w, const char *key, int scale, int64_t *out)
{
	struct kw_jval v;
	if (!view_get(w, key, &v))
		return 0;
	if (v.t != json_type_string && v.t != json_type_int && v.t != json_type_double)
		return -1;
	return kw_kalshi_parse_fixed(v.s, v.len, scale, out) == 0 ? 1 : -1;
}

/* Money: "X_dollars" (scale 6) first, else legacy cents "X" (cents with 4 decimals = micros). */
static int get_money(const struct view *w, const char *key, const char *legacy, int64_t *out)
{
	int rc = get_fixed(w, key, 6, out);
	if (rc == 0 && legacy)
		rc = get_fixed(w, legacy, 4, out);
	if (rc == 1 && (*out < 0 || *out > KW_MICROS_PER_DOLLAR))
		return -1;
	if (rc == 0)
		*out = KW_KALSHI_NONE;
	return rc;
}

/* Counts: "X_fp" first, else the legacy integer "X"; both in hundredths. */
static int get_count(const struct view *w, const char *key, const char *legacy, int64_t *out)
{
	int rc = get_fixed(w, key, 2, out);
	if (rc == 0 && legacy)
		rc = get_fixed(w, legacy, 2, out);
	if (rc == 1 && (*out < 0 || *out > KW_KALSHI_COUNT_CENTI_MAX))
		return -1;
	if (rc == 0)
		*out = KW_KALSHI_NONE;
	return rc;
}

static int get_time(const struct view *w, const char *key, int64_t *unix_s, int32_t *us)
{
	const char *s;
	int rc = get_str(w, key, &s);
	if (rc <= 0)
		return rc;
	return kw_parse_rfc3339(s, unix_s, us) == 0 ? 1 : -1;
}

/* Tickers also name files (--record's order books): never one that starts with a dot. */
static int ticker_ok(const char *s)
{
	return s[0] != '.' && kw_ident_is_clean(s, strlen(s), KW_KALSHI_TICKER_MAX);
}

/* Required identifier-like field: ticker charset, bounded. */
static int need_ticker(const struct view *w, const char *key, const char **out, const char *missing,
		       const char *bad, const char **reason)
{
	int rc = get_str(w, key, out);
	if (rc == 0 || (rc == 1 && !**out)) {
		*reason = missing;
		return -1;
	}
	if (rc < 0 || !ticker_ok(*out)) {
		*reason = bad;
		return -1;
	}
	return 0;
}

/* Optional display text: "" when absent; clean and bounded when present. */
static int opt_text(const struct view *w, const char *key, const char **out, const char **reason)
{
	int rc = get_str(w, key, out);
	if (rc == 0) {
		*out = "";
		return 0;
	}
	if (rc < 0) {
		*reason = "bad_text";
		return -1;
	}
	size_t n = strlen(*out);
	if (n > KW_KALSHI_TEXT_MAX) {
		*reason = "oversize_text";
		return -1;
	}
	if (!kw_text_is_clean(*out, n)) {
		*reason = "bad_text";
		return -1;
	}
	return 0;
}

/* ---- records ----------------------------------------------------------------------------- */

/*
 * Kalshi writes "no price" as a price: a market that never traded has a last price of
 * "0.0000" (and a previous price of "0.0000" when it had none a day ago), and an empty side of
 * the book shows a bid of "0.0000" and an ask of "1.0000". No contract trades at $0 and no
 * bid rests at $0 or ask at $1, so those values are no price (KW_KALSHI_NONE, stored NULL):
 * a market's price history starts at its first real trade, and a quote is two-sided only when
 * both its bid and its ask are real.
 */
static void no_price(struct kw_kalshi_market *m)
{
	int64_t *zero_none[] = { &m->last_price, &m->previous_price, &m->yes_bid, &m->no_bid };
	int64_t *dollar_none[] = { &m->yes_ask, &m->no_ask };
	for (size_t i = 0; i < KW_ARRAY_LEN(zero_none); i++)
		if (*zero_none[i] != KW_KALSHI_NONE && *zero_none[i] <= 0)
			*zero_none[i] = KW_KALSHI_NONE;
	for (size_t i = 0; i < KW_ARRAY_LEN(dollar_none); i++)
		if (*dollar_none[i] != KW_KALSHI_NONE && *dollar_none[i] >= KW_MICROS_PER_DOLLAR)
			*dollar_none[i] = KW_KALSHI_NONE;
}

static int market_parse(const struct view *w, struct kw_kalshi_market *m, const char **reason)
{
	memset(m, 0, sizeof(*m));
	if (need_ticker(w, "ticker", &m->ticker, "missing_ticker", "bad_ticker", reason) < 0 ||
	    need_ticker(w, "event_ticker", &m->event_ticker, "missing_event_ticker",
			"bad_event_ticker", reason) < 0)
		return -1;
	int rc = get_str(w, "status", &m->status);
	if (rc <= 0 || !*m->status || strlen(m->status) > 32 ||
	    !kw_text_is_clean(m->status, strlen(m->status))) {
		*reason = rc == 0 ? "missing_status" : "bad_status";
		return -1;
	}
	if (opt_text(w, "title", &m->title, reason) < 0 ||
	    opt_text(w, "yes_sub_title", &m->yes_sub_title, reason) < 0 ||
	    opt_text(w, "no_sub_title", &m->no_sub_title, reason) < 0 ||
	    opt_text(w, "market_type", &m->market_type, reason) < 0)
		return -1;
	if (!*m->market_type)
		m->market_type = "binary";
	if (get_str(w, "category", &m->legacy_category) != 1 || !*m->legacy_category ||
	    strlen(m->legacy_category) > 128 ||
	    !kw_text_is_clean(m->legacy_category, strlen(m->legacy_category)))
		m->legacy_category = NULL;
	int rc_open = get_time(w, "open_time", &m->open_at, NULL);
	rc = get_time(w, "close_time", &m->close_at, NULL);
	if (rc_open < 0 || rc < 0) {
		*reason = "bad_time";
		return -1;
	}
	if (rc_open == 0)
		m->open_at = KW_KALSHI_NONE;
	if (rc == 0)
		m->close_at = KW_KALSHI_NONE;
	if (get_money(w, "yes_bid_dollars", "yes_bid", &m->yes_bid) < 0 ||
	    get_money(w, "yes_ask_dollars", "yes_ask", &m->yes_ask) < 0 ||
	    get_money(w, "no_bid_dollars", "no_bid", &m->no_bid) < 0 ||
	    get_money(w, "no_ask_dollars", "no_ask", &m->no_ask) < 0 ||
	    get_money(w, "last_price_dollars", "last_price", &m->last_price) < 0 ||
	    get_money(w, "previous_price_dollars", "previous_price", &m->previous_price) < 0) {
		*reason = "bad_price";
		return -1;
	}
	no_price(m);
	if (get_count(w, "yes_bid_size_fp", NULL, &m->yes_bid_size) < 0 ||
	    get_count(w, "yes_ask_size_fp", NULL, &m->yes_ask_size) < 0 ||
	    get_count(w, "volume_fp", "volume", &m->volume) < 0 ||
	    get_count(w, "volume_24h_fp", "volume_24h", &m->volume_24h) < 0 ||
	    get_count(w, "open_interest_fp", "open_interest", &m->open_interest) < 0) {
		*reason = "bad_count";
		return -1;
	}
	return 0;
}

static int trade_parse(const struct view *w, struct kw_kalshi_trade *t, const char **reason)
{
	const char *side = NULL;
	int64_t s;
	int32_t us;
	memset(t, 0, sizeof(*t));
	int rc = get_str(w, "trade_id", &t->trade_id);
	if (rc <= 0 || !*t->trade_id) {
		*reason = rc < 0 ? "bad_trade_id" : "missing_trade_id";
		return -1;
	}
	if (strlen(t->trade_id) > KW_KALSHI_TICKER_MAX ||
	    !kw_text_is_clean(t->trade_id, strlen(t->trade_id))) {
		*reason = "bad_trade_id";
		return -1;
	}
	if (need_ticker(w, "ticker", &t->ticker, "missing_ticker", "bad_ticker", reason) < 0)
		return -1;
	rc = get_count(w, "count_fp", "count", &t->count_centi);
	if (rc <= 0 || t->count_centi <= 0) {
		*reason = rc == 0 ? "missing_count" : "bad_count";
		return -1;
	}
	int has_yes = get_money(w, "yes_price_dollars", "yes_price", &t->yes_price);
	int has_no = get_money(w, "no_price_dollars", "no_price", &t->no_price);
	if (has_yes < 0 || has_no < 0) {
		*reason = "bad_price";
		return -1;
	}
	if (!has_yes && !has_no) {
		*reason = "missing_price";
		return -1;
	}
	/* The two prices of a binary contract sum to $1; derive the one not sent. */
	if (!has_yes)
		t->yes_price = KW_MICROS_PER_DOLLAR - t->no_price;
	if (!has_no)
		t->no_price = KW_MICROS_PER_DOLLAR - t->yes_price;
	/* Direction: taker_outcome_side, then taker_book_side (bid = yes), then taker_side. */
	if (get_str(w, "taker_outcome_side", &side) == 1 &&
	    (!strcmp(side, "yes") || !strcmp(side, "no"))) {
		t->taker_yes = !strcmp(side, "yes");
	} else if (get_str(w, "taker_book_side", &side) == 1 &&
		   (!strcmp(side, "bid") || !strcmp(side, "ask"))) {
		t->taker_yes = !strcmp(side, "bid");
	} else if (get_str(w, "taker_side", &side) == 1 &&
		   (!strcmp(side, "yes") || !strcmp(side, "no"))) {
		t->taker_yes = !strcmp(side, "yes");
	} else {
		/* No side: the trade happened (it is stored and counted), but its taker premium
		 * is unknown, so premium-based signals skip it. */
		t->taker_yes = -1;
	}
	rc = get_time(w, "created_time", &s, &us);
	if (rc <= 0) {
		*reason = rc < 0 ? "bad_time" : "missing_time";
		return -1;
	}
	t->created_us = s * 1000000 + us;
	struct kw_jval b;
	if (view_get(w, "is_block_trade", &b) && b.t == json_type_boolean)
		t->is_block = b.b;
	t->notional = t->taker_yes < 0
			      ? KW_KALSHI_NONE
			      : kw_kalshi_premium_micros(t->count_centi,
							 t->taker_yes ? t->yes_price : t->no_price);
	return 0;
}

static int event_parse(const struct view *w, struct kw_kalshi_event *e, const char **reason)
{
	memset(e, 0, sizeof(*e));
	if (need_ticker(w, "event_ticker", &e->event_ticker, "missing_event_ticker",
			"bad_event_ticker", reason) < 0 ||
	    need_ticker(w, "series_ticker", &e->series_ticker, "missing_series_ticker",
			"bad_series_ticker", reason) < 0)
		return -1;
	if (opt_text(w, "title", &e->title, reason) < 0 ||
	    opt_text(w, "sub_title", &e->sub_title, reason) < 0 ||
	    opt_text(w, "category", &e->category, reason) < 0)
		return -1;
	return 0;
}

static int series_parse(const struct view *w, struct kw_kalshi_series *s, const char **reason)
{
	memset(s, 0, sizeof(*s));
	if (need_ticker(w, "ticker", &s->ticker, "missing_ticker", "bad_ticker", reason) < 0)
		return -1;
	if (opt_text(w, "title", &s->title, reason) < 0 ||
	    opt_text(w, "category", &s->category, reason) < 0 ||
	    opt_text(w, "frequency", &s->frequency, reason) < 0)
		return -1;
	return 0;
}

static int record_parse(enum kw_kalshi_kind kind, const struct view *w, union kw_kalshi_record *out,
			const char **reason)
{
	switch (kind) {
	case KW_KALSHI_MARKET: return market_parse(w, &out->market, reason);
	case KW_KALSHI_TRADE: return trade_parse(w, &out->trade, reason);
	case KW_KALSHI_EVENT: return event_parse(w, &out->event, reason);
	case KW_KALSHI_SERIES: return series_parse(w, &out->series, reason);
	}
	*reason = "not_an_object";
	return -1;
}

int kw_kalshi_record_parse(enum kw_kalshi_kind kind, json_object *o, union kw_kalshi_record *out,
			   const char **reason)
{
	if (!json_object_is_type(o, json_type_object)) {
		*reason = "not_an_object";
		return -1;
	}
	struct view w = { o, NULL };
	return record_parse(kind, &w, out, reason);
}

int kw_kalshi_market_parse(json_object *o, struct kw_kalshi_market *m, const char **reason)
{
	union kw_kalshi_record u;
	int rc = kw_kalshi_record_parse(KW_KALSHI_MARKET, o, &u, reason);
	if (rc == 0)
		*m = u.market;
	return rc;
}

int kw_kalshi_trade_parse(json_object *o, struct kw_kalshi_trade *t, const char **reason)
{
	union kw_kalshi_record u;
	int rc = kw_kalshi_record_parse(KW_KALSHI_TRADE, o, &u, reason);
	if (rc == 0)
		*t = u.trade;
	return rc;
}

int kw_kalshi_event_parse(json_object *o, struct kw_kalshi_event *e, const char **reason)
{
	union kw_kalshi_record u;
	int rc = kw_kalshi_record_parse(KW_KALSHI_EVENT, o, &u, reason);
	if (rc == 0)
		*e = u.event;
	return rc;
}

int kw_kalshi_series_parse(json_object *o, struct kw_kalshi_series *s, const char **reason)
{
	union kw_kalshi_record u;
	int rc = kw_kalshi_record_parse(KW_KALSHI_SERIES, o, &u, reason);
	if (rc == 0)
		*s = u.series;
	return rc;
}

/* One side of a book: an array of [price, count] levels; null or absent is empty. -1 for a
 * malformed level, -2 when the depth passes KW_KALSHI_DEPTH_CENTI_MAX. */
static int book_side(json_object *arr, int price_scale, int64_t *depth, int *levels, int64_t *best)
{
	*depth = 0;
	*levels = 0;
	*best = KW_KALSHI_NONE;
	if (!arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return -1;
	size_t n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		json_object *lv = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(lv, json_type_array) || json_object_array_length(lv) < 2)
			return -1;
		json_object *pv = json_object_array_get_idx(lv, 0);
		json_object *cv = json_object_array_get_idx(lv, 1);
		int64_t price, count;
		enum json_type pt = json_object_get_type(pv), ct = json_object_get_type(cv);
		if ((pt != json_type_string && pt != json_type_int && pt != json_type_double) ||
		    (ct != json_type_string && ct != json_type_int && ct != json_type_double))
			return -1;
		const char *ps = json_object_get_string(pv), *cs = json_object_get_string(cv);
		if (kw_kalshi_parse_fixed(ps, strlen(ps), price_scale, &price) < 0 ||
		    kw_kalshi_parse_fixed(cs, strlen(cs), 2, &count) < 0 || price < 0 ||
		    price > KW_MICROS_PER_DOLLAR || count < 0 || count > KW_KALSHI_COUNT_CENTI_MAX)
			return -1;
		if (count > KW_KALSHI_DEPTH_CENTI_MAX - *depth)
			return -2;
		*depth += count;
		(*levels)++;
		/* Kalshi sorts ascending, but older docs said the opposite: take the max. */
		if (*best == KW_KALSHI_NONE || price > *best)
			*best = price;
	}
	return 0;
}

/* The first of the named keys that is present and not null; NULL if none. */
static json_object *first_side(json_object *book, const char *a, const char *b, int *is_cents)
{
	json_object *v;
	*is_cents = 0;
	if (json_object_object_get_ex(book, a, &v) && v)
		return v;
	if (b && json_object_object_get_ex(book, b, &v) && v) {
		*is_cents = 1;
		return v;
	}
	return NULL;
}

int kw_kalshi_book_parse(json_object *root, struct kw_kalshi_book *out, const char **reason)
{
	json_object *book = NULL;
	int legacy = 0, yes_cents = 0, no_cents = 0;
	memset(out, 0, sizeof(*out));
	if (!json_object_object_get_ex(root, "orderbook_fp", &book) || !book) {
		legacy = json_object_object_get_ex(root, "orderbook", &book);
		if (!legacy) {
			*reason = "missing_orderbook";
			return -1;
		}
	}
	if (book && !json_object_is_type(book, json_type_object)) {
		*reason = "bad_orderbook";
		return -1;
	}
	json_object *yes = NULL, *no = NULL;
	if (book) {
		yes = first_side(book, "yes_dollars", legacy ? "yes" : NULL, &yes_cents);
		no = first_side(book, "no_dollars", legacy ? "no" : NULL, &no_cents);
	}
	int rc = book_side(yes, yes_cents ? 4 : 6, &out->yes_depth, &out->yes_levels,
			   &out->best_yes_bid);
	if (rc == 0)
		rc = book_side(no, no_cents ? 4 : 6, &out->no_depth, &out->no_levels,
			       &out->best_no_bid);
	if (rc < 0) {
		*reason = rc == -2 ? "depth_out_of_range" : "bad_level";
		return -1;
	}
	return 0;
}

/* ---- bodies ------------------------------------------------------------------------------ */

json_object *kw_kalshi_body_parse(const char *body, size_t len, char *err, size_t errlen)
{
	json_object *root = NULL;
	if (len > (size_t)INT32_MAX) {
		snprintf(err, errlen, "body too large to parse");
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new_ex(KW_JSON_MAX_DEPTH);
	if (!tok) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	root = json_tokener_parse_ex(tok, body, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	if (!root) {
		if (jerr == json_tokener_continue || jerr == json_tokener_success)
			snprintf(err, errlen, "truncated JSON (%zu bytes)", len);
		else
			snprintf(err, errlen, "malformed JSON at byte %zu: %s",
				 json_tokener_get_parse_end(tok), json_tokener_error_desc(jerr));
		goto out;
	}
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
		if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' && body[i] != '\t') {
			snprintf(err, errlen, "trailing data after JSON at byte %zu", i);
			json_object_put(root);
			root = NULL;
			goto out;
		}
	}
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "JSON body is not an object");
		json_object_put(root);
		root = NULL;
	}
out:
	json_tokener_free(tok);
	return root;
}

/* ---- list pages ----------------------------------------------------------------------------- */

struct each_ctx {
	int (*item)(void *arg, json_object *element);
	void *arg;
};

static int each_element(void *arg, struct kw_jscan *sc, size_t start, size_t end)
{
	struct each_ctx *ec = arg;
	json_object *o = kw_jscan_slice(sc->tok, sc, start, end);
	if (!o && sc->p[start] != 'n') /* an element that is null passes */
		return -1;
	int rc = ec->item(ec->arg, o);
	json_object_put(o);
	return rc != 0 ? -2 : 0;
}

int kw_kalshi_page_each(const char *body, size_t len, const char *key,
			int (*item)(void *arg, json_object *element), void *arg, char *cursor,
			char *err, size_t errlen)
{
	struct each_ctx ec = { item, arg };
	return kw_jscan_page(body, len, key, each_element, &ec, cursor, KW_KALSHI_CURSOR_MAX, err,
			     errlen);
}

static const char *const id_keys[] = {
	[KW_KALSHI_MARKET] = "ticker",
	[KW_KALSHI_TRADE] = "trade_id",
	[KW_KALSHI_EVENT] = "event_ticker",
	[KW_KALSHI_SERIES] = "ticker",
};

struct records_ctx {
	enum kw_kalshi_kind kind;
	int flags;
	kw_kalshi_record_fn fn;
	void *arg;
	char *copy; /* a flat element's text, NUL-terminated in place */
	size_t copy_cap;
	struct kw_jflat flat;
};

/* The id of a rejected record for the log line: its id member if that is clean text. */
static const char *view_id(const struct view *w, const char *key)
{
	const char *s;
	if (get_str(w, key, &s) == 1 && kw_text_is_clean(s, strlen(s)))
		return s;
	return NULL;
}

static int records_element(void *arg, struct kw_jscan *sc, size_t start, size_t end)
{
	struct records_ctx *rc = arg;
	union kw_kalshi_record u;
	const char *reason = NULL;
	int res;
	if (!(rc->flags & KW_KALSHI_JSONC_ONLY) && sc->p[start] == '{') {
		size_t n = end - start;
		if (n + 1 > rc->copy_cap) {
			rc->copy_cap = n + 1 > 2 * rc->copy_cap ? n + 1 : 2 * rc->copy_cap;
			rc->copy = kw_xrealloc(rc->copy, rc->copy_cap);
		}
		if (kw_jflat_parse(sc->p + start, n, rc->copy, &rc->flat) == 0) {
			struct view w = { NULL, &rc->flat };
			if (record_parse(rc->kind, &w, &u, &reason) == 0)
				res = rc->fn(rc->arg, &u, NULL, NULL);
			else
				res = rc->fn(rc->arg, NULL, reason, view_id(&w, id_keys[rc->kind]));
			return res != 0 ? -2 : 0;
		}
	}
	json_object *o = kw_jscan_slice(sc->tok, sc, start, end);
	if (!o && sc->p[start] != 'n') /* an element that is null passes (a skip) */
		return -1;
	if (!json_object_is_type(o, json_type_object)) {
		res = rc->fn(rc->arg, NULL, "not_an_object", NULL);
	} else {
		struct view w = { o, NULL };
		if (record_parse(rc->kind, &w, &u, &reason) == 0)
			res = rc->fn(rc->arg, &u, NULL, NULL);
		else
			res = rc->fn(rc->arg, NULL, reason, view_id(&w, id_keys[rc->kind]));
	}
	json_object_put(o);
	return res != 0 ? -2 : 0;
}

int kw_kalshi_page_records(const char *body, size_t len, const char *key, enum kw_kalshi_kind kind,
			   int flags, kw_kalshi_record_fn fn, void *arg, char *cursor, char *err,
			   size_t errlen)
{
	struct records_ctx *rc = kw_xcalloc(1, sizeof(*rc));
	rc->kind = kind;
	rc->flags = flags;
	rc->fn = fn;
	rc->arg = arg;
	int res = kw_jscan_page(body, len, key, records_element, rc, cursor, KW_KALSHI_CURSOR_MAX,
				err, errlen);
	free(rc->copy);
	free(rc);
	return res;
}

static void clean_copy(char *dst, size_t dstlen, const char *src)
{
	size_t i = 0;
	if (!dstlen)
		return;
	for (; src && *src && i + 1 < dstlen; src++)
		dst[i++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
	dst[i] = '\0';
}

void kw_kalshi_error_parse(const char *body, size_t len, char *code, size_t codelen, char *msg,
			   size_t msglen)
{
	char err[128];
	const char *c = NULL, *m = NULL;
	clean_copy(code, codelen, "");
	clean_copy(msg, msglen, "");
	json_object *root = body && len ? kw_kalshi_body_parse(body, len, err, sizeof(err)) : NULL;
	if (!root)
		return;
	json_object *e;
	if (json_object_object_get_ex(root, "error", &e) && e) {
		if (json_object_is_type(e, json_type_string)) {
			m = json_object_get_string(e);
		} else if (json_object_is_type(e, json_type_object)) {
			struct view w = { e, NULL };
			(void)get_str(&w, "code", &c);
			if (get_str(&w, "message", &m) != 1)
				(void)get_str(&w, "details", &m);
		}
	} else {
		struct view w = { root, NULL };
		(void)get_str(&w, "code", &c);
		if (get_str(&w, "message", &m) != 1 && get_str(&w, "msg", &m) != 1)
			(void)get_str(&w, "details", &m);
	}
	clean_copy(code, codelen, c);
	clean_copy(msg, msglen, m);
	json_object_put(root);
}
