/*
 * ws_proto.h — the client side of the kw-ws protocol: what a client may send, checked.
 *
 * Client messages are JSON text, one object per frame: {"type":"ping"},
 * {"type":"subscribe","channels":[...],"tickers":[...],"categories":[...],"min_notional":N}
 * and {"type":"resume","since_id":N}. kw_ws_request_parse() accepts exactly these: strict JSON
 * (nesting at most 4), known fields only, each of its type and within its limits; anything else
 * is refused with an error code and a client-safe message that never echoes the input. Text
 * must already be valid UTF-8 (kw_ws_utf8_valid; kw-ws closes with 1007 otherwise).
 *
 * Ownership: a parsed request's subscription owns its strings; kw_sub_free() releases them and
 * is safe on a request that failed to parse. No state, no I/O: fuzzed (tests/fuzz) and unit
 * tested without a server; ws/ applies the result.
 */
#ifndef KW_WS_PROTO_H
#define KW_WS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define KW_WS_MAX_TICKERS 50		  /* per subscription */
#define KW_WS_MAX_CATEGORIES 20		  /* per subscription */
#define KW_WS_FILTER_TEXT_MAX 64	  /* bytes per ticker or category */
#define KW_WS_MAX_MIN_NOTIONAL 1000000000 /* dollars */

enum kw_ws_channel {
	KW_CH_ALERTS = 1,	/* `alert`: one message per new signal */
	KW_CH_WHALE_ALERTS = 2, /* `whale_alerts`: the original's batch of new signals */
	KW_CH_TRADES = 4,	/* `trade`: one message per new whale trade */
	KW_CH_MARKETS = 8,	/* `initial_data` markets and `market_update` */
};
#define KW_CH_ALL (KW_CH_ALERTS | KW_CH_WHALE_ALERTS | KW_CH_TRADES | KW_CH_MARKETS)
/* On connect: what the original sent everyone, so its dashboards work unchanged. */
#define KW_CH_DEFAULT (KW_CH_WHALE_ALERTS | KW_CH_MARKETS)

struct kw_sub {
	unsigned channels;
	int ntickers, ncategories;
	char *tickers[KW_WS_MAX_TICKERS];	/* owned */
	char *categories[KW_WS_MAX_CATEGORIES]; /* owned */
	int64_t min_notional_micros;		/* trades (and alerts that carry a notional) */
};

void kw_sub_free(struct kw_sub *s);

enum kw_ws_req { KW_WS_REQ_PING, KW_WS_REQ_SUBSCRIBE, KW_WS_REQ_RESUME };

struct kw_ws_request {
	enum kw_ws_req type;
	struct kw_sub sub; /* KW_WS_REQ_SUBSCRIBE; omitted fields: all channels, no filter */
	int64_t since_id;  /* KW_WS_REQ_RESUME */
};

/*
 * Parse one client message of len bytes. 0 with *out filled (release with kw_sub_free(&out->sub));
 * -1 with *code set to a static error code ("invalid_json", "invalid_message", "unknown_type",
 * "invalid_subscribe", "invalid_resume") and a message in err.
 */
int kw_ws_request_parse(const char *text, size_t len, struct kw_ws_request *out, const char **code,
			char *err, size_t errlen) KW_WUR;

/* RFC 3629 UTF-8: 1 when valid (no overlong forms, surrogates or code points past U+10FFFF). */
int kw_ws_utf8_valid(const unsigned char *s, size_t n);

#endif
