/*
 * markets.c — GET /api/v1/markets (filtered, sorted, keyset-paginated list),
 * GET /api/v1/markets/{ticker} (the market with its latest order-book summary, last 50 trades
 * and recent alerts) and GET /api/v1/markets/{ticker}/history (snapshot series).
 *
 * Units are in the field names: prices in dollars (0..1), *_contracts in contracts (Kalshi's
 * volume_fp, open_interest_fp), *_usd in dollars of taker premium from stored trades. The
 * `status` filter takes Kalshi's filter values (open, settled, ...) and the statuses markets
 * report (active, finalized, ...), mapped as in Kalshi's GET /markets.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "whale.h"

#define STATUS_CHOICES                                                                             \
	"open|unopened|paused|closed|settled|initialized|active|inactive|determined|disputed|"     \
	"amended|finalized"

const struct kw_param kw_params_v1_markets[] = {
	{ "q", KW_P_STR, 0, 0, 100, NULL, "case-insensitive substring of the market title" },
	{ "category", KW_P_STR, 0, 0, 64, NULL,
	  "the category of the market's series, e.g. Crypto (case-insensitive)" },
	{ "series", KW_P_STR, 0, 0, 64, NULL, "series ticker, e.g. KXBTCD" },
	{ "event", KW_P_STR, 0, 0, 64, NULL, "event ticker" },
	{ "status", KW_P_ENUM, 0, 0, 0, STATUS_CHOICES,
	  "market status; open = active, unopened = initialized, paused = inactive, settled = "
	  "finalized" },
	{ "min_volume_24h", KW_P_INT, 0, 1000000000000LL, 0, NULL,
	  "minimum 24 h volume in contracts" },
	{ "sort", KW_P_ENUM, 0, 0, 0, "volume_24h|volume|open_interest|price_change|close_time",
	  "order: the first four largest first, close_time soonest first (default volume_24h)" },
	{ "limit", KW_P_INT, 1, 200, 0, NULL, "page size (default 50)" },
	{ "cursor", KW_P_STR, 0, 0, 256, NULL, "next_cursor of the previous page" },
	{ 0 },
};

/* Filter value -> the two stored statuses it means (Kalshi's filter/returned mapping). */
static void status_pair(const char *v, const char *out[2])
{
	static const char *const map[][3] = {
		{ "open", "active", "open" },
		{ "unopened", "initialized", "unopened" },
		{ "paused", "inactive", "paused" },
		{ "settled", "finalized", "settled" },
	};
	out[0] = v;
	out[1] = v;
	for (size_t i = 0; i < KW_ARRAY_LEN(map); i++)
		if (!strcmp(v, map[i][0])) {
			out[0] = map[i][1];
			out[1] = map[i][2];
		}
}

struct page {
	struct kw_buf *out; /* JSON array text */
	int64_t n, limit;
	int has_more;
	int64_t last_key;
	char last_ticker[160];
};

static int on_market(void *ctx, const struct kw_market_row *m)
{
	struct page *p = ctx;
	if (p->n == p->limit) {
		p->has_more = 1;
		return 1;
	}
	if ((p->n && kw_buf_puts(p->out, ",") < 0) || kw_api_market_emit(p->out, m) < 0)
		return -1;
	p->n++;
	p->last_key = m->sort_key;
	kw_strlcpy(p->last_ticker, m->ticker ? m->ticker : "", sizeof(p->last_ticker));
	return 0;
}

void kw_handle_v1_markets(struct kw_req *r)
{
	struct kw_store *s = kw_api_read_store_or_reply(r, KW_API_CACHE_MAX_AGE_S, 0);
	if (!s)
		return;
	struct kw_market_filter f;
	memset(&f, 0, sizeof(f));
	f.q = kw_query_str(&r->q, "q", NULL);
	f.category = kw_query_str(&r->q, "category", NULL);
	f.series = kw_query_str(&r->q, "series", NULL);
	f.event = kw_query_str(&r->q, "event", NULL);
	const char *status = kw_query_str(&r->q, "status", NULL);
	if (status)
		status_pair(status, f.status);
	const struct kw_qval *mv = kw_query_get(&r->q, "min_volume_24h");
	f.min_volume_24h_centi = mv ? mv->i * 100 : KW_NULL;
	f.sort = (int)kw_query_int(&r->q, "sort", KW_MSORT_VOLUME_24H);
	f.limit = kw_query_int(&r->q, "limit", 50);

	char cur[300], prefix[8];
	snprintf(prefix, sizeof(prefix), "m%d:", f.sort);
	if (kw_query_get(&r->q, "cursor")) {
		if (kw_api_cursor_decode_or_reply(r, prefix, cur, sizeof(cur)) < 0)
			return;
		char *key = cur + strlen(prefix), *colon = strchr(key, ':');
		if (!colon) {
			kw_reply_error(r, 400, "invalid_parameter",
				       "parameter 'cursor' is invalid");
			return;
		}
		*colon = '\0';
		if (kw_parse_i64(key, INT64_MIN, INT64_MAX, &f.after_key) < 0) {
			kw_reply_error(r, 400, "invalid_parameter",
				       "parameter 'cursor' is invalid");
			return;
		}
		f.after_ticker = colon + 1;
		f.has_cursor = 1;
	}

	struct kw_buf arr;
	kw_buf_init(&arr, 0);
	struct page p = { .out = &arr, .limit = f.limit };
	f.limit = p.limit + 1; /* one more row tells whether there is a next page */
	if (kw_buf_puts(&arr, "[") < 0 || kw_store_markets_list(s, &f, on_market, &p) < 0 ||
	    kw_buf_puts(&arr, "]") < 0) {
		kw_buf_free(&arr);
		kw_reply_error(r, 503, "database_unavailable", "the database could not answer");
		return;
	}
	char next[400] = "", text[300];
	if (p.has_more) {
		snprintf(text, sizeof(text), "%s%lld:%s", prefix, (long long)p.last_key,
			 p.last_ticker);
		kw_api_cursor_encode(next, sizeof(next), text);
	}
	kw_api_reply_list_text(r, arr.data, arr.len, p.has_more, p.has_more ? next : NULL);
	kw_buf_free(&arr);
}

/* ---- one market ---------------------------------------------------------------------------- */

static int on_one_market(void *ctx, const struct kw_market_row *m)
{
	*(json_object **)ctx = kw_api_market_json(m);
	return 0;
}

static int on_trade(void *ctx, const struct kw_trade_row *t)
{
	json_object_array_add(ctx, kw_api_trade_json(t));
	return 0;
}

static int on_alert(void *ctx, const struct kw_alert *a)
{
	json_object_array_add(ctx, kw_api_alert_json(a, 0));
	return 0;
}

void kw_handle_v1_market(struct kw_req *r)
{
	struct kw_store *s = kw_api_read_store_or_reply(r, KW_API_CACHE_MAX_AGE_S, 0);
	if (!s)
		return;
	const char *ticker = r->path_args[0];
	json_object *m = NULL;
	int rc = kw_store_market_get(s, ticker, on_one_market, &m);
	if (rc == 1) {
		kw_reply_error(r, 404, "not_found", "no such market");
		return;
	}
	struct kw_book_row b;
	json_object *trades = json_object_new_array(), *alerts = json_object_new_array();
	struct kw_alert_filter af = { .ticker = ticker, .limit = 20 };
	int brc = rc < 0 ? -1 : kw_store_market_book(s, ticker, &b);
	if (rc < 0 || brc < 0 || kw_store_market_trades(s, ticker, 50, on_trade, trades) < 0 ||
	    kw_store_alerts_list(s, &af, on_alert, alerts) < 0) {
		json_object_put(m);
		json_object_put(trades);
		json_object_put(alerts);
		kw_reply_error(r, 503, "database_unavailable", "the database could not answer");
		return;
	}
	json_object_object_add(m, "orderbook", brc == 0 ? kw_api_book_json(&b) : NULL);
	json_object_object_add(m, "recent_trades", trades);
	json_object_object_add(m, "recent_alerts", alerts);
	kw_api_reply_list(r, m, 0, NULL);
}

/* ---- history ------------------------------------------------------------------------------- */

const struct kw_param kw_params_v1_history[] = {
	{ "from", KW_P_TIME, 0, 0, 0, NULL, "start, RFC 3339 (default 24 h before `to`)" },
	{ "to", KW_P_TIME, 0, 0, 0, NULL, "end, RFC 3339, inclusive (default now)" },
	{ "interval", KW_P_ENUM, 0, 0, 0, "raw|1m|5m|15m|1h|1d",
	  "one point per interval: the last snapshot in it (default raw: every snapshot)" },
	{ "limit", KW_P_INT, 1, 1000, 0, NULL, "points per page (default 500)" },
	{ "cursor", KW_P_STR, 0, 0, 256, NULL, "next_cursor of the previous page" },
	{ 0 },
};

struct hist {
	json_object *data;
	int64_t n, limit, last_t;
	int has_more;
};

static int on_point(void *ctx, const struct kw_snapshot_row *p)
{
	struct hist *h = ctx;
	if (h->n == h->limit) {
		h->has_more = 1;
		return 1;
	}
	json_object_array_add(h->data, kw_api_snapshot_json(p));
	h->n++;
	h->last_t = p->taken_at;
	return 0;
}

static int on_exists(void *ctx, const struct kw_market_row *m)
{
	(void)m;
	*(int *)ctx = 1;
	return 0;
}

void kw_handle_v1_market_history(struct kw_req *r)
{
	static const int64_t interval_s[] = { 1, 60, 300, 900, 3600, 86400 };
	struct kw_store *s = kw_api_read_store_or_reply(r, KW_API_CACHE_MAX_AGE_S, 0);
	if (!s)
		return;
	const char *ticker = r->path_args[0];
	int64_t now = kw_now_s();
	int64_t to = kw_query_int(&r->q, "to", now);
	int64_t from = kw_query_int(&r->q, "from", to - 86400);
	int64_t iv = interval_s[kw_query_int(&r->q, "interval", 0)];
	if (from > to) {
		kw_reply_error(r, 400, "invalid_parameter", "parameter 'from' is after 'to'");
		return;
	}
	if (kw_query_get(&r->q, "cursor")) {
		char cur[64];
		int64_t next;
		if (kw_api_cursor_decode_or_reply(r, "h:", cur, sizeof(cur)) < 0)
			return;
		if (kw_parse_i64(cur + 2, from, INT64_MAX, &next) < 0) {
			kw_reply_error(r, 400, "invalid_parameter",
				       "parameter 'cursor' is invalid");
			return;
		}
		from = next;
	}
	int exists = 0;
	int rc = kw_store_market_get(s, ticker, on_exists, &exists);
	if (rc == 1) {
		kw_reply_error(r, 404, "not_found", "no such market");
		return;
	}
	struct hist h = { .data = json_object_new_array(),
			  .limit = kw_query_int(&r->q, "limit", 500) };
	if (rc < 0 ||
	    kw_store_market_history(s, ticker, from, to, iv, h.limit + 1, on_point, &h) < 0) {
		json_object_put(h.data);
		kw_reply_error(r, 503, "database_unavailable", "the database could not answer");
		return;
	}
	char next[128] = "", text[64];
	if (h.has_more) {
		/* Resume at the next slot: points are the last snapshot of each slot. */
		snprintf(text, sizeof(text), "h:%lld", (long long)((h.last_t / iv + 1) * iv));
		kw_api_cursor_encode(next, sizeof(next), text);
	}
	kw_api_reply_list(r, h.data, h.has_more, h.has_more ? next : NULL);
}
