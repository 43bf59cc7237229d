/*
 * rows.c — store rows as JSON (contract in api.h): written straight as text for the big
 * lists, parsed into a json-c tree from that same text where a tree is needed.
 */
#include "api.h"

#include <stdio.h>
#include <string.h>

#include "jsonw.h"
#include "log.h"
#include "whale.h" /* kw_json_decimal */

void kw_api_fmt_time_us(char *buf, size_t len, int64_t unix_us)
{
	int64_t us = unix_us % 1000000;
	kw_fmt_rfc3339(unix_us / 1000000, buf, len);
	if (us > 0 && strlen(buf) == 20) /* "....:ssZ" -> "....:ss.uuuuuuZ" */
		snprintf(buf + 19, len - 19, ".%06lldZ", (long long)us);
}

static void add(json_object *o, const char *k, json_object *v)
{
	json_object_object_add(o, k, v);
}

int kw_api_market_emit(struct kw_buf *b, const struct kw_market_row *m)
{
	struct jw w = { .b = b, .first = 1 };
	jw_raw(&w, "{", 1);
	jw_key(&w, "ticker");
	jw_str(&w, m->ticker);
	jw_key(&w, "event_ticker");
	jw_str(&w, m->event_ticker);
	jw_key(&w, "series_ticker");
	jw_str(&w, m->series_ticker);
	jw_key(&w, "category");
	jw_str(&w, m->category);
	jw_key(&w, "title");
	jw_str(&w, m->title);
	jw_key(&w, "yes_sub_title");
	jw_str(&w, m->yes_sub_title);
	jw_key(&w, "no_sub_title");
	jw_str(&w, m->no_sub_title);
	jw_key(&w, "market_type");
	jw_str(&w, m->market_type);
	jw_key(&w, "status");
	jw_str(&w, m->status);
	jw_key(&w, "open_time");
	jw_time(&w, m->open_at);
	jw_key(&w, "close_time");
	jw_time(&w, m->close_at);
	jw_key(&w, "yes_bid");
	jw_dec(&w, m->yes_bid, 6);
	jw_key(&w, "yes_ask");
	jw_dec(&w, m->yes_ask, 6);
	jw_key(&w, "no_bid");
	jw_dec(&w, m->no_bid, 6);
	jw_key(&w, "no_ask");
	jw_dec(&w, m->no_ask, 6);
	jw_key(&w, "last_price");
	jw_dec(&w, m->last_price, 6);
	jw_key(&w, "previous_price");
	jw_dec(&w, m->previous_price, 6);
	jw_key(&w, "price_change");
	jw_dec(&w,
	       m->last_price != KW_NULL && m->previous_price != KW_NULL
		       ? m->last_price - m->previous_price
		       : KW_NULL,
	       6);
	jw_key(&w, "volume_contracts");
	jw_dec(&w, m->volume_centi, 2);
	jw_key(&w, "volume_24h_contracts");
	jw_dec(&w, m->volume_24h_centi, 2);
	jw_key(&w, "open_interest_contracts");
	jw_dec(&w, m->open_interest_centi, 2);
	jw_key(&w, "volume_24h_usd");
	jw_dec(&w, m->usd_24h_micros, 6);
	jw_key(&w, "trades_24h");
	jw_dec(&w, m->trades_24h, 0);
	jw_key(&w, "updated_at");
	jw_time(&w, m->updated_at);
	jw_raw(&w, "}", 1);
	return w.err ? -1 : 0;
}

int kw_api_trade_emit(struct kw_buf *b, const struct kw_trade_row *t)
{
	struct jw w = { .b = b, .first = 1 };
	int yes = t->taker_side && !strcmp(t->taker_side, "yes");
	int sided = t->taker_side != NULL; /* a trade without a taker side has no taker price */
	jw_raw(&w, "{", 1);
	jw_key(&w, "id");
	jw_dec(&w, t->id, 0);
	jw_key(&w, "trade_id");
	jw_str(&w, t->trade_id);
	jw_key(&w, "ticker");
	jw_str(&w, t->ticker);
	jw_key(&w, "title");
	jw_str(&w, t->title);
	jw_key(&w, "category");
	jw_str(&w, t->category);
	jw_key(&w, "created_time");
	jw_time_us(&w, t->created_us);
	jw_key(&w, "taker_side");
	jw_str(&w, t->taker_side);
	jw_key(&w, "count_contracts");
	jw_dec(&w, t->count_centi, 2);
	jw_key(&w, "yes_price");
	jw_dec(&w, t->yes_price, 6);
	jw_key(&w, "no_price");
	jw_dec(&w, t->no_price, 6);
	jw_key(&w, "price");
	jw_dec(&w, !sided ? KW_NULL : yes ? t->yes_price : t->no_price, 6);
	jw_key(&w, "notional_usd");
	jw_dec(&w, t->notional_micros, 6);
	jw_key(&w, "is_block_trade");
	jw_raw(&w, t->is_block ? "true" : "false", t->is_block ? 4 : 5);
	jw_raw(&w, "}", 1);
	return w.err ? -1 : 0;
}

/* The tree form of an emitted row (NULL only if we wrote invalid JSON, which would be a bug). */
static json_object *parsed(struct kw_buf *b)
{
	json_object *o = b->data ? json_tokener_parse(b->data) : NULL;
	kw_buf_free(b);
	return o ? o : json_object_new_object();
}

json_object *kw_api_market_json(const struct kw_market_row *m)
{
	struct kw_buf b;
	kw_buf_init(&b, 0);
	if (kw_api_market_emit(&b, m) < 0)
		kw_error("api: cannot format a market row");
	return parsed(&b);
}

json_object *kw_api_trade_json(const struct kw_trade_row *t)
{
	struct kw_buf b;
	kw_buf_init(&b, 0);
	if (kw_api_trade_emit(&b, t) < 0)
		kw_error("api: cannot format a trade row");
	return parsed(&b);
}

json_object *kw_api_alert_json(const struct kw_alert *a, int legacy)
{
	json_object *o = kw_alert_json(a, NULL);
	if (legacy) {
		add(o, "ticker_symbol", kw_api_str(a->ticker));
		add(o, "market_impact", kw_api_str(a->severity));
	}
	return o;
}

json_object *kw_api_book_json(const struct kw_book_row *b)
{
	json_object *o = json_object_new_object();
	int64_t total = b->yes_depth_centi + b->no_depth_centi;
	json_object_object_add(o, "taken_at", kw_api_time(b->taken_at));
	json_object_object_add(o, "yes_depth_contracts", kw_api_contracts(b->yes_depth_centi));
	json_object_object_add(o, "no_depth_contracts", kw_api_contracts(b->no_depth_centi));
	json_object_object_add(o, "yes_levels", json_object_new_int64(b->yes_levels));
	json_object_object_add(o, "no_levels", json_object_new_int64(b->no_levels));
	json_object_object_add(o, "best_yes_bid", kw_api_usd(b->best_yes_bid));
	json_object_object_add(o, "best_no_bid", kw_api_usd(b->best_no_bid));
	/* Share of bid depth on YES, in percent (the order_book_shift imbalance measure). */
	json_object_object_add(
		o, "yes_share_percent",
		total > 0 ? kw_json_decimal(kw_share_bp(b->yes_depth_centi, total), 2) : NULL);
	return o;
}

json_object *kw_api_snapshot_json(const struct kw_snapshot_row *p)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "time", kw_api_time(p->taken_at));
	json_object_object_add(o, "yes_bid", kw_api_usd(p->yes_bid));
	json_object_object_add(o, "yes_ask", kw_api_usd(p->yes_ask));
	json_object_object_add(o, "last_price", kw_api_usd(p->last_price));
	json_object_object_add(o, "volume_contracts", kw_api_contracts(p->volume_centi));
	json_object_object_add(o, "volume_24h_contracts", kw_api_contracts(p->volume_24h_centi));
	json_object_object_add(o, "open_interest_contracts",
			       kw_api_contracts(p->open_interest_centi));
	return o;
}
