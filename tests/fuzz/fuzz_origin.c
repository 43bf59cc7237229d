/*
 * fuzz_origin.c — libFuzzer target for the ALLOWED_ORIGINS parser and the origin matcher
 * (lib/origins.c). The input's first line is the configured list, the rest the Origin header.
 * Invariants: a matched origin normalises to one of the list's entries, normalisation is
 * idempotent, and "*" / "null" never match.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "origins.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t llen = nl ? (size_t)(nl - (const char *)data) : size;
	char *list = malloc(llen + 1);
	if (!list)
		return 0;
	memcpy(list, data, llen);
	list[llen] = '\0';
	const char *origin = nl ? nl + 1 : "";
	size_t olen = nl ? size - llen - 1 : 0;
	int wild = 0;
	char err[200];
	struct kw_origins *o = kw_origins_parse(list, &wild, err, sizeof(err));
	if (o) {
		int m = kw_origins_match(o, origin, olen);
		if (m &&
		    ((olen == 1 && origin[0] == '*') || (olen == 4 && !memcmp(origin, "null", 4))))
			abort();
		kw_origins_free(o);
	}
	char a[KW_ORIGIN_MAX], b[KW_ORIGIN_MAX];
	if (kw_origin_normalize(origin, olen, a) == 0) {
		if (kw_origin_normalize(a, strlen(a), b) < 0 || strcmp(a, b))
			abort();
	}
	free(list);
	return 0;
}
