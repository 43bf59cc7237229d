/*
 * kalshi.h — parsing Kalshi Trade API v2 bodies (Market, Trade, Orderbook, Event, Series, error)
 * into plain structs with exact integer money.
 *
 * Follows docs/KALSHI.md (§2-§4, §8): the current fixed-point strings are read first
 * ("yes_bid_dollars":"0.4200", "count_fp":"25.00") and the legacy shapes are the fallback
 * (cents as JSON int or double, counts as JSON int). Units: money in micro-dollars (1e-6 $),
 * contract counts in hundredths. No floating point is used anywhere: JSON numbers are re-read
 * from their original text, which json-c keeps for every number it parses.
 *
 * Ownership: the struct kw_kalshi_* records borrow their strings from the json_object they
 * were parsed from, valid until that object is released; from kw_kalshi_page_records, until
 * its callback returns (a caller keeping them copies them).
 *
 * A record missing a field it needs, or carrying a wrong type or an impossible value, is
 * rejected with a short static reason ("missing_ticker", "bad_price", ...) that the caller
 * counts; it is never stored with zeros. Optional fields that are absent or null become
 * KW_KALSHI_NONE (stored as SQL NULL), and so do Kalshi's ways of writing "no price" in a
 * market: a last or previous price of 0 (never traded), a bid of 0 or an ask of $1 (an empty
 * side of the book).
 *
 * Left out: candlesticks, historical endpoints, WebSocket messages, combo leg details, strikes.
 */
#ifndef KW_KALSHI_H
#define KW_KALSHI_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* An optional value Kalshi did not send (absent or null). */
#define KW_KALSHI_NONE INT64_MIN
#define KW_KALSHI_TICKER_MAX 128 /* longest ticker accepted (live ones are < 64) */
#define KW_KALSHI_TEXT_MAX 4096	 /* longest title accepted */
#define KW_MICROS_PER_DOLLAR 1000000
/* Largest count accepted: 10^10 contracts, so count x price always fits in int64. */
#define KW_KALSHI_COUNT_CENTI_MAX 1000000000000LL
/* Most depth one side of a book may sum to (10^15 contracts): a book past it is refused and
 * counted, so that yes + no depth and the detection arithmetic on them never overflow. */
#define KW_KALSHI_DEPTH_CENTI_MAX 100000000000000000LL

/*
 * Exact decimal parse of s[0..len) ("-0.4200", "25", "57.51") into an integer scaled by
 * 10^scale (scale 6: dollars -> micros; scale 2: contracts -> hundredths). At most `scale`
 * fraction digits, except that extra trailing zeros are accepted ("0.42000000"). Optional
 * leading sign; at least one digit before any '.'; no exponent, no spaces. 0 ok, -1 otherwise.
 */
int kw_kalshi_parse_fixed(const char *s, size_t len, int scale, int64_t *out) KW_WUR;

/* Taker premium in micros: count (hundredths) x price (micros), rounded half up to 1 micro. */
int64_t kw_kalshi_premium_micros(int64_t count_centi, int64_t price_micros);

struct kw_kalshi_market {
	const char *ticker, *event_ticker, *status;
	const char *title, *yes_sub_title, *no_sub_title, *market_type;	      /* "" when absent */
	const char *legacy_category;					      /* NULL unless sent */
	int64_t open_at, close_at;					      /* Unix s or NONE */
	int64_t yes_bid, yes_ask, no_bid, no_ask, last_price, previous_price; /* micros or NONE */
	int64_t yes_bid_size, yes_ask_size, volume, volume_24h, open_interest; /* centi or NONE */
};

struct kw_kalshi_trade {
	const char *trade_id, *ticker;
	int64_t created_us;
	int64_t count_centi;
	int64_t yes_price, no_price; /* micros */
	int taker_yes;		     /* 1 taker bought YES, 0 NO, -1 Kalshi did not say */
	int is_block;
	int64_t notional; /* taker premium, micros; KW_KALSHI_NONE without a taker side */
};

struct kw_kalshi_book {
	int64_t yes_depth, no_depth; /* centi, sum over levels */
	int yes_levels, no_levels;
	int64_t best_yes_bid, best_no_bid; /* micros or NONE */
};

struct kw_kalshi_event {
	const char *event_ticker, *series_ticker, *title, *sub_title, *category;
};

struct kw_kalshi_series {
	const char *ticker, *title, *category, *frequency;
};

enum kw_kalshi_kind { KW_KALSHI_MARKET, KW_KALSHI_TRADE, KW_KALSHI_EVENT, KW_KALSHI_SERIES };

union kw_kalshi_record {
	struct kw_kalshi_market market;
	struct kw_kalshi_trade trade;
	struct kw_kalshi_event event;
	struct kw_kalshi_series series;
};

/* Each returns 0 and fills *out, or -1 with *reason set to a static skip reason. */
int kw_kalshi_record_parse(enum kw_kalshi_kind kind, json_object *o, union kw_kalshi_record *out,
			   const char **reason) KW_WUR;
int kw_kalshi_market_parse(json_object *o, struct kw_kalshi_market *out,
			   const char **reason) KW_WUR;
int kw_kalshi_trade_parse(json_object *o, struct kw_kalshi_trade *out, const char **reason) KW_WUR;
int kw_kalshi_event_parse(json_object *o, struct kw_kalshi_event *out, const char **reason) KW_WUR;
int kw_kalshi_series_parse(json_object *o, struct kw_kalshi_series *out,
			   const char **reason) KW_WUR;
/* Parse an orderbook response body object ({"orderbook_fp":...} or legacy {"orderbook":...}). */
int kw_kalshi_book_parse(json_object *root, struct kw_kalshi_book *out, const char **reason) KW_WUR;

/*
 * Parse a whole response body. NULL with a short description in err (e.g. "truncated JSON
 * at byte 812") when it is not one complete JSON object. The caller json_object_put()s it.
 */
json_object *kw_kalshi_body_parse(const char *body, size_t len, char *err, size_t errlen);

#define KW_KALSHI_CURSOR_MAX 4096

/*
 * Walk a list page {"<key>":[...], "cursor":"..."} without building its whole tree: each
 * element of the array is parsed on its own and passed to item(arg, element), which borrows it
 * only for the call; so memory stays at one body plus one element, however long the page
 * (GET /series answers every series in one body). cursor (KW_KALSHI_CURSOR_MAX bytes) gets
 * the next cursor, "" at the end (missing, null or ""). Returns 0; -1 with err when the body
 * is not a complete JSON object, the array is missing or not an array, or the cursor has the
 * wrong type or is not clean text (elements already passed to item must then be discarded by
 * the caller, e.g. by rolling back); -2 when item returned non-zero (err untouched). Values
 * under other keys are skipped by bracket matching, not validated.
 */
int kw_kalshi_page_each(const char *body, size_t len, const char *key,
			int (*item)(void *arg, json_object *element), void *arg, char *cursor,
			char *err, size_t errlen) KW_WUR;

/*
 * Each element of a list page as a record: fn(arg, record, NULL, NULL) for one that parses,
 * fn(arg, NULL, reason, id) for one that is skipped (id: its identifier member when that is
 * clean text, else NULL). Strings of record and id live until fn returns. Same walk, cursor and
 * return values as kw_kalshi_page_each (-2: fn returned non-zero), and the same decisions as
 * kw_kalshi_record_parse on each element parsed by json-c; but a plain element (no escapes,
 * JSON's own number grammar, shallow) is read without building a json-c object, which is most
 * of the cost of a page. flags: KW_KALSHI_JSONC_ONLY reads every element with json-c (the
 * reference the fuzz target compares against).
 */
#define KW_KALSHI_JSONC_ONLY 1
typedef int (*kw_kalshi_record_fn)(void *arg, const union kw_kalshi_record *record,
				   const char *reason, const char *id);
int kw_kalshi_page_records(const char *body, size_t len, const char *key, enum kw_kalshi_kind kind,
			   int flags, kw_kalshi_record_fn fn, void *arg, char *cursor, char *err,
			   size_t errlen) KW_WUR;

/*
 * Kalshi's error code and message from any error body form: {"error":{"code","message"}},
 * {"error":"text"}, flat {"code","message"}, {"msg":...} or {"details":...}. Writes sanitized
 * (printable, truncated) text; empty strings when the body says nothing usable.
 */
void kw_kalshi_error_parse(const char *body, size_t len, char *code, size_t codelen, char *msg,
			   size_t msglen);

#endif
