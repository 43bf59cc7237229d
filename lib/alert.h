/*
 * alert.h — one stored alert and its one JSON shape.
 *
 * Every channel that shows an alert (GET /api/v1/alerts, GET /api/v1/markets/{ticker}, the
 * WebSocket's alert and whale_alerts messages, the webhooks) builds it with kw_alert_json(), so
 * the fields and their units are the same everywhere: confidence as a decimal from 0.5 to 1,
 * times in RFC 3339, the signal's label from the signal table (signals.h), and `data` as
 * detection stored it. The original app's legacy routes add their own aliases on top
 * (fcgi/legacy.c) and say so in the README.
 *
 * Ownership: struct kw_alert borrows its strings from whoever filled it (a statement row until
 * the next step, or an owned copy).
 */
#ifndef KW_ALERT_H
#define KW_ALERT_H

#include <json-c/json.h>
#include <stdint.h>

struct kw_alert {
	int64_t id;
	const char *type, *ticker, *severity, *description;
	const char *data;		/* JSON object text as detection stored it */
	const char *category, *title;	/* of the market; NULL when it is not known */
	int64_t confidence;		/* as stored: 0..100 */
	int64_t created_at, window_end; /* Unix seconds */
};

/*
 * The alert as JSON (owned by the caller): id, type, label, ticker, market_id, title,
 * category, severity, confidence, description, data, timestamp, created_at, window_end.
 * notional_micros (may be NULL) gets the taker premium in micro-dollars the alert is about
 * (data.notional_usd: a whale trade's premium, a surge window's, a day's), or -1 when the
 * signal is not about an amount (odds flips, order-book shifts): what size filters read.
 */
json_object *kw_alert_json(const struct kw_alert *a, int64_t *notional_micros);

#endif
