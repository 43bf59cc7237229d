/*
 * alerts.c — GET /api/v1/alerts: detection signals (lib/whale.c), newest first; with since_id,
 * the alerts after that id oldest first, so a client that lost its connection resumes exactly
 * where it stopped. JSON envelope or streamed CSV (?format=csv / Accept: text/csv).
 *
 * Each alert has the one shape of lib/alert.h (the WebSocket and the webhooks send the same):
 * severity, confidence (0.5..1), the signal's label, a description and `data`: the numbers that
 * fired it and the thresholds in force, as stored by detection.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "signals.h"

const struct kw_param kw_params_v1_alerts[] = {
	{ "type", KW_P_ENUM, 0, 0, 0, KW_SIGNAL_CHOICES, "signal type" },
	{ "severity", KW_P_ENUM, 0, 0, 0, "high|medium", "severity" },
	{ "ticker", KW_P_STR, 0, 0, 64, NULL, "market ticker" },
	{ "category", KW_P_STR, 0, 0, 64, NULL, "category of the market's series, e.g. Crypto" },
	{ "since_id", KW_P_INT, 0, INT64_MAX, 0, NULL,
	  "only alerts with a larger id, oldest first (resume after a disconnect)" },
	{ "limit", KW_P_INT, 1, 200, 0, NULL,
	  "page size (default 50); with CSV, the most rows to export" },
	{ "cursor", KW_P_STR, 0, 0, 256, NULL, "next_cursor of the previous page" },
	{ "format", KW_P_ENUM, 0, 0, 0, "json|csv", "json (default) or csv" },
	{ 0 },
};

/* In csv_row()'s order. */
const char kw_csv_columns_alerts[] = "id,type,ticker,category,severity,confidence,description,"
				     "created_at,window_end,data";

struct page {
	json_object *data;
	struct kw_buf *csv;
	int64_t n, limit, last_id;
	int has_more;
};

static int csv_row(struct kw_buf *b, const struct kw_alert *a)
{
	char id[24], conf[48], created[32], wend[32];
	snprintf(id, sizeof(id), "%lld", (long long)a->id);
	snprintf(conf, sizeof(conf), "%lld.%02lld", (long long)(a->confidence / 100),
		 (long long)(a->confidence % 100));
	kw_fmt_rfc3339(a->created_at, created, sizeof(created));
	kw_fmt_rfc3339(a->window_end, wend, sizeof(wend));
	const char *f[] = { id,	  a->type,	  a->ticker, a->category, a->severity,
			    conf, a->description, created,   wend,	  a->data };
	return kw_csv_row(b, f, KW_ARRAY_LEN(f), 1u << 0 | 1u << 5); /* id, confidence */
}

static int on_alert(void *ctx, const struct kw_alert *a)
{
	struct page *p = ctx;
	if (p->n == p->limit) {
		p->has_more = 1;
		return 1;
	}
	if (p->csv) {
		if (csv_row(p->csv, a) < 0)
			return -1;
	} else {
		json_object_array_add(p->data, kw_api_alert_json(a, 0));
	}
	p->n++;
	p->last_id = a->id;
	return 0;
}

struct csv_ctx {
	struct kw_store *s;
	struct kw_alert_filter *f;
};

static int csv_page(void *ctx, struct kw_buf *b, int64_t limit, int64_t *n, int *more)
{
	struct csv_ctx *c = ctx;
	struct page p = { .csv = b, .limit = limit };
	c->f->limit = limit + 1;
	if (kw_store_alerts_list(c->s, c->f, on_alert, &p) < 0)
		return -1;
	*n = p.n;
	*more = p.has_more;
	c->f->has_cursor = 1;
	c->f->after_id = p.last_id;
	return 0;
}

void kw_handle_v1_alerts(struct kw_req *r)
{
	struct kw_store *s = kw_api_read_store_or_reply(r, KW_API_CACHE_MAX_AGE_S, 1);
	if (!s)
		return;
	struct kw_alert_filter f = {
		.type = kw_query_str(&r->q, "type", NULL),
		.severity = kw_query_str(&r->q, "severity", NULL),
		.ticker = kw_query_str(&r->q, "ticker", NULL),
		.category = kw_query_str(&r->q, "category", NULL),
		.since_id = kw_query_int(&r->q, "since_id", 0),
		.after_since = kw_query_get(&r->q, "since_id") != NULL,
	};
	if (kw_query_get(&r->q, "cursor")) {
		char cur[64];
		if (kw_api_cursor_decode_or_reply(r, "a:", cur, sizeof(cur)) < 0)
			return;
		if (kw_parse_i64(cur + 2, 0, INT64_MAX, &f.after_id) < 0) {
			kw_reply_error(r, 400, "invalid_parameter",
				       "parameter 'cursor' is invalid");
			return;
		}
		f.has_cursor = 1;
	}
	if (kw_api_wants_csv(r)) {
		struct csv_ctx c = { s, &f };
		kw_api_stream_csv(r, kw_csv_columns_alerts,
				  kw_query_int(&r->q, "limit", KW_CSV_MAX_ROWS), csv_page, &c);
		return;
	}
	struct page p = { .data = json_object_new_array(),
			  .limit = kw_query_int(&r->q, "limit", 50) };
	f.limit = p.limit + 1;
	if (kw_store_alerts_list(s, &f, on_alert, &p) < 0) {
		json_object_put(p.data);
		kw_reply_error(r, 503, "database_unavailable", "the database could not answer");
		return;
	}
	char next[64] = "", text[40];
	if (p.has_more) {
		snprintf(text, sizeof(text), "a:%lld", (long long)p.last_id);
		kw_api_cursor_encode(next, sizeof(next), text);
	}
	kw_api_reply_list(r, p.data, p.has_more, p.has_more ? next : NULL);
}
