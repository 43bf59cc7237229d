/*
 * api.h — what the data routes (markets.c, whales.c, alerts.c, stats.c, legacy.c, refresh.c,
 * openapi.c) share: values as JSON and opaque cursors (api.c), JSON for store rows (rows.c),
 * and through the headers it includes the v1 envelope and HTTP caching (cache.h: ETag /
 * If-None-Match -> 304, Cache-Control from CACHE_TTL) and CSV (csv.h).
 *
 * The v1 envelope is {data, has_more, next_cursor, meta:{generated_at, source_lag_s}}. Its ETag
 * is computed over data, has_more and next_cursor only, so the same data gives the same ETag
 * every second even though meta changes. Legacy replies do the same with their timestamp.
 *
 * Cursors are opaque to clients: base64url of "<kind>:<fields>"; a cursor from another list,
 * another sort or a damaged one is a 400 naming `cursor`.
 */
#ifndef KW_FCGI_API_H
#define KW_FCGI_API_H

#include <json-c/json.h>
#include <stdint.h>

#include "app.h"
#include "cache.h"
#include "csv.h"
#include "store_api.h"

/* Values for JSON: micro-dollars as dollars, hundredths as contracts, Unix time as RFC 3339;
 * KW_NULL gives JSON null. */
json_object *kw_api_usd(int64_t micros);
json_object *kw_api_contracts(int64_t centi);
json_object *kw_api_time(int64_t unix_s);
json_object *kw_api_time_us(int64_t unix_us);
json_object *kw_api_str(const char *s); /* NULL -> null */

/* "2026-01-31T12:00:00.123456Z" (no fraction when it is zero). */
void kw_api_fmt_time_us(char *buf, size_t len, int64_t unix_us);
/* A row as JSON text appended to b (the fast path of the big lists), or as a json-c tree
 * parsed from that same text. Emitters return -1 if b is full. */
int kw_api_market_emit(struct kw_buf *b, const struct kw_market_row *m) KW_WUR;
int kw_api_trade_emit(struct kw_buf *b, const struct kw_trade_row *t) KW_WUR;
json_object *kw_api_market_json(const struct kw_market_row *m);
json_object *kw_api_trade_json(const struct kw_trade_row *t);
/* The one alert shape (kw_alert_json); legacy adds the original's market_impact and
 * ticker_symbol. */
json_object *kw_api_alert_json(const struct kw_alert *a, int legacy);
/* A market's order-book summary (OrderBookSummary) and one history point (Snapshot). */
json_object *kw_api_book_json(const struct kw_book_row *b);
json_object *kw_api_snapshot_json(const struct kw_snapshot_row *p);
/* legacy.c: a market in the original's shape (LegacyMarket) and a dashboard card
 * (MarketCard), as of `now`. */
json_object *kw_legacy_market_json(const struct kw_market_row *m);
json_object *kw_legacy_card_json(const struct kw_market_row *m, const struct kw_config *cfg,
				 int64_t now);
/* Each serializer above writes one component of fcgi/schema.c (Market, Trade, Alert or
 * LegacyAlert, OrderBookSummary, Snapshot, LegacyMarket, MarketCard);
 * tests/unit/test_contract.c holds them to it. */

/* Cursors: encode into buf (>= 256 bytes); decode returns 0, or -1 after replying 400. */
void kw_api_cursor_encode(char *buf, size_t len, const char *text);
int kw_api_cursor_decode_or_reply(struct kw_req *r, const char *prefix, char *out,
				  size_t outlen) KW_WUR;

/* POST /api/refresh's and /api/v1/refresh's declared body (refresh.c), for the handler and the OpenAPI document. */
extern const struct kw_body_field kw_body_refresh[];
/* The CSV exports' columns (whales.c, alerts.c): the header line and the document. */
extern const char kw_csv_columns_whales[];
extern const char kw_csv_columns_alerts[];

/* openapi.c: the whole OpenAPI document (owned), the same bytes on every call. */
json_object *kw_openapi_document(void);

#endif
