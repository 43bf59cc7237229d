/*
 * fuzz_wsproto.c — libFuzzer target for kw-ws client messages (kw_ws_request_parse and
 * kw_ws_utf8_valid, lib/ws_proto.c): any bytes as one message. Invariants: what is accepted is
 * within every limit (counts, lengths, clean text, channel bits, amounts) and owns its strings
 * (ASan sees any leak or double free); a refusal always names an error code and a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_ws_request r;
	const char *code = NULL;
	char err[160] = "";
	if (!kw_ws_utf8_valid(data, size))
		return 0; /* kw-ws closes with 1007 before parsing */
	if (kw_ws_request_parse((const char *)data, size, &r, &code, err, sizeof(err)) < 0) {
		if (!code || !err[0])
			abort();
		return 0;
	}
	if (r.type == KW_WS_REQ_SUBSCRIBE) {
		if (r.sub.ntickers > KW_WS_MAX_TICKERS ||
		    r.sub.ncategories > KW_WS_MAX_CATEGORIES ||
		    (r.sub.channels & ~(unsigned)KW_CH_ALL) || r.sub.min_notional_micros < 0 ||
		    r.sub.min_notional_micros > (int64_t)KW_WS_MAX_MIN_NOTIONAL * 1000000)
			abort();
		for (int i = 0; i < r.sub.ntickers; i++)
			if (!*r.sub.tickers[i] || strlen(r.sub.tickers[i]) > KW_WS_FILTER_TEXT_MAX)
				abort();
		for (int i = 0; i < r.sub.ncategories; i++)
			if (!kw_text_is_clean(r.sub.categories[i], strlen(r.sub.categories[i])))
				abort();
	} else if (r.type == KW_WS_REQ_RESUME && r.since_id < 0) {
		abort();
	}
	kw_sub_free(&r.sub);
	return 0;
}
