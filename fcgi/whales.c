/*
 * whales.c — GET /api/v1/whales: whale trades, newest first, as the v1 envelope or as a
 * streamed CSV export (?format=csv or Accept: text/csv) with the same filters.
 *
 * A whale trade is a stored trade whose taker premium is at least min_notional dollars, or,
 * without min_notional, at least its market category's threshold
 * (WHALE_MIN_NOTIONAL_BY_CATEGORY, else WHALE_MIN_NOTIONAL_USD) — the same rule as the
 * whale_trade signal, but listing every such trade (the alert feed applies the cooldown).
 * CSV walks the same keyset pages until the filters are exhausted (at most KW_CSV_MAX_ROWS, or
 * `limit` rows when given), writing each page as it is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "category.h"
#include "codec.h"
#include "log.h"
#include "whale.h"

const struct kw_param kw_params_v1_whales[] = {
	{ "min_notional", KW_P_INT, KW_WHALE_FLOOR_USD, 1000000000, 0, NULL,
	  "minimum taker premium in dollars (default: each market category's whale threshold)" },
	{ "ticker", KW_P_STR, 0, 0, 64, NULL, "market ticker" },
	{ "category", KW_P_STR, 0, 0, 64, NULL, "category of the market's series, e.g. Crypto" },
	{ "side", KW_P_ENUM, 0, 0, 0, "yes|no", "the outcome the taker bought" },
	{ "from", KW_P_TIME, 0, 0, 0, NULL, "trades at or after this time (RFC 3339)" },
	{ "to", KW_P_TIME, 0, 0, 0, NULL, "trades before this time (RFC 3339)" },
	{ "limit", KW_P_INT, 1, 200, 0, NULL,
	  "page size (default 50); with CSV, the most rows to export" },
	{ "cursor", KW_P_STR, 0, 0, 256, NULL, "next_cursor of the previous page" },
	{ "format", KW_P_ENUM, 0, 0, 0, "json|csv", "json (default) or csv" },
	{ 0 },
};

/* In csv_row()'s order. */
const char kw_csv_columns_whales[] = "id,trade_id,created_time,ticker,category,title,taker_side,"
				     "count_contracts,price,yes_price,no_price,notional_usd,"
				     "is_block_trade";

struct page {
	struct kw_buf *out; /* JSON array text, or CSV lines */
	int csv;
	int64_t n, limit;
	int has_more;
	int64_t last_us, last_id;
};

static int csv_row(struct kw_buf *b, const struct kw_trade_row *t)
{
	char id[24], created[48], count[32], price[32], yes[32], no[32], notional[32];
	int is_yes = t->taker_side && !strcmp(t->taker_side, "yes");
	kw_fmt_decimal(id, sizeof(id), t->id, 0);
	kw_api_fmt_time_us(created, sizeof(created), t->created_us);
	kw_fmt_decimal(count, sizeof(count), t->count_centi, 2);
	kw_fmt_decimal(price, sizeof(price), is_yes ? t->yes_price : t->no_price, 6);
	kw_fmt_decimal(yes, sizeof(yes), t->yes_price, 6);
	kw_fmt_decimal(no, sizeof(no), t->no_price, 6);
	kw_fmt_decimal(notional, sizeof(notional), t->notional_micros, 6);
	const char *f[] = { id,
			    t->trade_id,
			    created,
			    t->ticker,
			    t->category,
			    t->title,
			    t->taker_side,
			    count,
			    price,
			    yes,
			    no,
			    notional,
			    t->is_block ? "true" : "false" };
	/* id, count, price, yes_price, no_price, notional */
	return kw_csv_row(b, f, KW_ARRAY_LEN(f),
			  1u << 0 | 1u << 7 | 1u << 8 | 1u << 9 | 1u << 10 | 1u << 11);
}

static int on_whale(void *ctx, const struct kw_trade_row *t)
{
	struct page *p = ctx;
	if (p->n == p->limit) {
		p->has_more = 1;
		return 1;
	}
	if (p->csv) {
		if (csv_row(p->out, t) < 0)
			return -1;
	} else if ((p->n && kw_buf_puts(p->out, ",") < 0) || kw_api_trade_emit(p->out, t) < 0) {
		return -1;
	}
	p->n++;
	p->last_us = t->created_us;
	p->last_id = t->id;
	return 0;
}

struct csv_ctx {
	struct kw_store *s;
	struct kw_trade_filter *f;
};

static int csv_page(void *ctx, struct kw_buf *b, int64_t limit, int64_t *n, int *more)
{
	struct csv_ctx *c = ctx;
	struct page p = { .out = b, .csv = 1, .limit = limit };
	c->f->limit = limit + 1;
	if (kw_store_whales_list(c->s, c->f, on_whale, &p) < 0)
		return -1;
	*n = p.n;
	*more = p.has_more;
	c->f->has_cursor = 1;
	c->f->after_us = p.last_us;
	c->f->after_id = p.last_id;
	return 0;
}

void kw_handle_v1_whales(struct kw_req *r)
{
	struct kw_store *s = kw_api_read_store_or_reply(r, KW_API_CACHE_MAX_AGE_S, 1);
	if (!s)
		return;
	const struct kw_config *cfg = &r->app->cfg;
	char *cats = kw_category_thresholds_json(cfg);
	struct kw_trade_filter f = {
		.min_notional_micros = kw_query_int(&r->q, "min_notional", 0) * 1000000,
		.category_thresholds = cats,
		.default_threshold_micros = cfg->whale_min_notional_usd * 1000000,
		.ticker = kw_query_str(&r->q, "ticker", NULL),
		.category = kw_query_str(&r->q, "category", NULL),
		.side = kw_query_str(&r->q, "side", NULL),
		.from_us = kw_query_get(&r->q, "from") ? kw_query_int(&r->q, "from", 0) * 1000000
						       : INT64_MIN,
		.to_us = kw_query_get(&r->q, "to") ? kw_query_int(&r->q, "to", 0) * 1000000
						   : INT64_MAX,
	};
	if (kw_query_get(&r->q, "cursor")) {
		char cur[128];
		if (kw_api_cursor_decode_or_reply(r, "w:", cur, sizeof(cur)) < 0)
			goto out;
		char *id = strchr(cur + 2, ':');
		if (!id) {
			kw_reply_error(r, 400, "invalid_parameter",
				       "parameter 'cursor' is invalid");
			goto out;
		}
		*id++ = '\0';
		if (kw_parse_i64(cur + 2, INT64_MIN, INT64_MAX, &f.after_us) < 0 ||
		    kw_parse_i64(id, 0, INT64_MAX, &f.after_id) < 0) {
			kw_reply_error(r, 400, "invalid_parameter",
				       "parameter 'cursor' is invalid");
			goto out;
		}
		f.has_cursor = 1;
	}
	if (kw_api_wants_csv(r)) {
		struct csv_ctx c = { s, &f };
		kw_api_stream_csv(r, kw_csv_columns_whales,
				  kw_query_int(&r->q, "limit", KW_CSV_MAX_ROWS), csv_page, &c);
		goto out;
	}
	struct kw_buf arr;
	kw_buf_init(&arr, 0);
	struct page p = { .out = &arr, .limit = kw_query_int(&r->q, "limit", 50) };
	f.limit = p.limit + 1;
	if (kw_buf_puts(&arr, "[") < 0 || kw_store_whales_list(s, &f, on_whale, &p) < 0 ||
	    kw_buf_puts(&arr, "]") < 0) {
		kw_buf_free(&arr);
		kw_reply_error(r, 503, "database_unavailable", "the database could not answer");
		goto out;
	}
	char next[128] = "", text[80];
	if (p.has_more) {
		snprintf(text, sizeof(text), "w:%lld:%lld", (long long)p.last_us,
			 (long long)p.last_id);
		kw_api_cursor_encode(next, sizeof(next), text);
	}
	kw_api_reply_list_text(r, arr.data, arr.len, p.has_more, p.has_more ? next : NULL);
	kw_buf_free(&arr);
out:
	free(cats);
}
