/*
 * fuzz_query.c — libFuzzer target for kw_query_parse() (lib/http.c): any byte string as a
 * query against a declaration with every parameter type. Invariants checked: no crash, no
 * leak (ASan), an error always comes with a message, and a message never contains a control
 * character (it is written into JSON replies and log lines).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static const struct kw_param decls[] = {
	{ "limit", KW_P_INT, 1, 500, 0, NULL, "page size" },
	{ "q", KW_P_STR, 0, 0, 64, NULL, "search" },
	{ "sort", KW_P_ENUM, 0, 0, 0, "volume|close_time|notional", "order" },
	{ "csv", KW_P_BOOL, 0, 0, 0, NULL, "csv" },
	{ "since", KW_P_TIME, 0, 0, 0, NULL, "start" },
	{ NULL, 0, 0, 0, 0, NULL, NULL },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *qs = malloc(size + 1);
	if (!qs)
		return 0;
	memcpy(qs, data, size);
	qs[size] = '\0';
	struct kw_query q;
	const char *bad = NULL;
	char err[160] = "";
	if (kw_query_parse(qs, decls, &q, &bad, err, sizeof(err)) < 0) {
		if (!err[0])
			abort();
		for (const char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20)
				abort();
	} else {
		for (int i = 0; i < q.n; i++)
			if (!q.v[i].decl || !q.v[i].str)
				abort();
	}
	kw_query_free(&q);
	free(qs);
	return 0;
}
