/*
 * fuzz_page.c — libFuzzer target for kw_kalshi_page_records() (lib/kalshi.c): any bytes as a
 * list page of markets, trades, events or series (the first byte picks which).
 *
 * Differential: the page is read twice, once with the flat reader for plain elements and once
 * with json-c for every element (KW_KALSHI_JSONC_ONLY), and the two must agree exactly on the
 * result, the error text, the cursor, and every record or skip with its reason and id. That is
 * the flat reader's whole contract: it may only ever answer what json-c would.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kalshi.h"

static const char *const keys[] = { "markets", "trades", "events", "series" };

struct trace {
	enum kw_kalshi_kind kind;
	struct kw_buf out;
};

static void put_str(struct kw_buf *b, const char *s)
{
	if (kw_buf_printf(b, "%zu:", s ? strlen(s) : (size_t)0) < 0 ||
	    (s && kw_buf_append(b, s, strlen(s)) < 0) || kw_buf_append(b, s ? "|" : "~", 1) < 0)
		abort();
}

static void put_int(struct kw_buf *b, int64_t v)
{
	if (kw_buf_printf(b, "%" PRId64 "|", v) < 0)
		abort();
}

static int on_record(void *arg, const union kw_kalshi_record *r, const char *reason, const char *id)
{
	struct trace *t = arg;
	struct kw_buf *b = &t->out;
	if (reason) {
		if (r)
			abort();
		put_str(b, "skip");
		put_str(b, reason);
		put_str(b, id);
		return 0;
	}
	switch (t->kind) {
	case KW_KALSHI_MARKET: {
		const struct kw_kalshi_market *m = &r->market;
		const char *s[] = { m->ticker,	    m->event_ticker,   m->status,
				    m->title,	    m->yes_sub_title,  m->no_sub_title,
				    m->market_type, m->legacy_category };
		int64_t v[] = { m->open_at,	 m->close_at,	  m->yes_bid,	 m->yes_ask,
				m->no_bid,	 m->no_ask,	  m->last_price, m->previous_price,
				m->yes_bid_size, m->yes_ask_size, m->volume,	 m->volume_24h,
				m->open_interest };
		for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
			put_str(b, s[i]);
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
			put_int(b, v[i]);
		break;
	}
	case KW_KALSHI_TRADE: {
		const struct kw_kalshi_trade *x = &r->trade;
		put_str(b, x->trade_id);
		put_str(b, x->ticker);
		int64_t v[] = { x->created_us, x->count_centi, x->yes_price, x->no_price,
				x->taker_yes,  x->is_block,    x->notional };
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
			put_int(b, v[i]);
		break;
	}
	case KW_KALSHI_EVENT:
		put_str(b, r->event.event_ticker);
		put_str(b, r->event.series_ticker);
		put_str(b, r->event.title);
		put_str(b, r->event.sub_title);
		put_str(b, r->event.category);
		break;
	case KW_KALSHI_SERIES:
		put_str(b, r->series.ticker);
		put_str(b, r->series.title);
		put_str(b, r->series.category);
		put_str(b, r->series.frequency);
		break;
	}
	return 0;
}

static int run(const char *body, size_t len, enum kw_kalshi_kind kind, int flags, struct trace *t,
	       char *cursor, char *err)
{
	t->kind = kind;
	kw_buf_init(&t->out, 0);
	err[0] = '\0';
	return kw_kalshi_page_records(body, len, keys[kind], kind, flags, on_record, t, cursor, err,
				      160);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char c1[KW_KALSHI_CURSOR_MAX], c2[KW_KALSHI_CURSOR_MAX];
	char e1[160], e2[160];
	struct trace t1, t2;
	if (size < 1)
		return 0;
	enum kw_kalshi_kind kind = (enum kw_kalshi_kind)(data[0] % 4);
	const char *body = (const char *)data + 1;
	int r1 = run(body, size - 1, kind, 0, &t1, c1, e1);
	int r2 = run(body, size - 1, kind, KW_KALSHI_JSONC_ONLY, &t2, c2, e2);
	if (r1 != r2 || strcmp(c1, c2) || strcmp(e1, e2) || t1.out.len != t2.out.len ||
	    (t1.out.len && memcmp(t1.out.data, t2.out.data, t1.out.len))) {
		fprintf(stderr, "flat and json-c disagree: rc %d/%d, err '%s'/'%s'\n%.*s\n%.*s\n",
			r1, r2, e1, e2, (int)t1.out.len, t1.out.data ? t1.out.data : "",
			(int)t2.out.len, t2.out.data ? t2.out.data : "");
		abort();
	}
	kw_buf_free(&t1.out);
	kw_buf_free(&t2.out);
	return 0;
}
