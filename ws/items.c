/*
 * items.c — the JSON kw-ws sends for what the store reads (lib/store_ws.h returns rows).
 *
 * An alert gets the one alert shape (lib/alert.c), the same object /api/v1/alerts and the
 * webhooks give; trades and markets keep the shapes kw-ws has always sent (units in the
 * names: *_micros, *_centi, times in RFC 3339). A value the store did not have is null.
 */
#include <json-c/json.h>

#include "alert.h"
#include "ws.h"

static json_object *int_or_null(int64_t v)
{
	return v == KW_WS_NULL ? NULL : json_object_new_int64(v);
}

static json_object *time_or_null(int64_t t)
{
	char buf[32];
	if (t == KW_WS_NULL)
		return NULL;
	kw_fmt_rfc3339(t, buf, sizeof(buf));
	return json_object_new_string(buf);
}

static json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *alert_json(struct kw_ws_item *x)
{
	struct kw_alert a = {
		.id = x->id,
		.type = x->alert.type,
		.ticker = x->ticker,
		.severity = x->alert.severity,
		.description = x->alert.description,
		.data = x->alert.data,
		.category = x->category,
		.title = x->alert.title,
		.confidence = x->alert.confidence,
		.created_at = x->alert.created_at,
		.window_end = x->alert.window_end,
	};
	/* The premium size filters read: data.notional_usd as detection wrote it, or -1. */
	return kw_alert_json(&a, &x->notional_micros);
}

static json_object *trade_json(const struct kw_ws_item *x)
{
	const struct kw_ws_trade_row *t = &x->trade;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(x->id));
	json_object_object_add(o, "trade_id", str_or_null(t->trade_id));
	json_object_object_add(o, "ticker", json_object_new_string(x->ticker));
	json_object_object_add(o, "category", json_object_new_string(x->category));
	json_object_object_add(o, "title", str_or_null(t->title));
	json_object_object_add(o, "created_at", time_or_null(t->created_us / 1000000));
	json_object_object_add(o, "created_us", json_object_new_int64(t->created_us));
	json_object_object_add(o, "count_centi", json_object_new_int64(t->count_centi));
	json_object_object_add(o, "yes_price_micros", json_object_new_int64(t->yes_price_micros));
	json_object_object_add(o, "no_price_micros", json_object_new_int64(t->no_price_micros));
	json_object_object_add(o, "taker_side", str_or_null(t->taker_side));
	json_object_object_add(o, "notional_micros", json_object_new_int64(x->notional_micros));
	json_object_object_add(o, "is_block", json_object_new_boolean(t->is_block));
	return o;
}

static json_object *market_json(const struct kw_ws_item *x)
{
	const struct kw_ws_market_row *m = &x->market;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "ticker", json_object_new_string(x->ticker));
	json_object_object_add(o, "title", json_object_new_string(m->title));
	json_object_object_add(o, "category", json_object_new_string(x->category));
	json_object_object_add(o, "status", json_object_new_string(m->status));
	json_object_object_add(o, "yes_bid_micros", int_or_null(m->yes_bid_micros));
	json_object_object_add(o, "yes_ask_micros", int_or_null(m->yes_ask_micros));
	json_object_object_add(o, "last_price_micros", int_or_null(m->last_price_micros));
	json_object_object_add(o, "previous_price_micros", int_or_null(m->previous_price_micros));
	json_object_object_add(o, "volume_centi", int_or_null(m->volume_centi));
	json_object_object_add(o, "volume_24h_centi", int_or_null(m->volume_24h_centi));
	json_object_object_add(o, "open_interest_centi", int_or_null(m->open_interest_centi));
	json_object_object_add(o, "close_time", time_or_null(m->close_at));
	json_object_object_add(o, "last_update", time_or_null(m->updated_at));
	return o;
}

void kw_ws_items_build(struct kw_ws_items *it)
{
	for (int i = 0; i < it->n; i++) {
		struct kw_ws_item *x = &it->v[i];
		if (x->obj)
			continue;
		switch (x->kind) {
		case KW_WS_ALERT: x->obj = alert_json(x); break;
		case KW_WS_TRADE: x->obj = trade_json(x); break;
		case KW_WS_MARKET: x->obj = market_json(x); break;
		}
	}
}
