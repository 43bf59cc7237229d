/*
 * fuzz_forwarded.c — libFuzzer target for TRUSTED_PROXIES parsing and the X-Forwarded-For
 * walk (lib/proxy.c). The input's first line is the TRUSTED_PROXIES list, the rest the header
 * as a trusted peer (127.0.0.1, added to the list) passes it. Invariants: the answer is always
 * a canonical address or the peer (it parses back to itself); a forwarded answer is untrusted
 * unless every entry was trusted; a malformed header answers with a trusted hop.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t llen = nl ? (size_t)(nl - (const char *)data) : size;
	size_t xlen = nl ? size - llen - 1 : 0;
	char *list = malloc(llen + sizeof(",127.0.0.1"));
	char *xff = malloc(xlen + 1);
	if (!list || !xff)
		goto out;
	memcpy(list, data, llen);
	memcpy(list + llen, ",127.0.0.1", sizeof(",127.0.0.1"));
	if (nl)
		memcpy(xff, nl + 1, xlen);
	xff[xlen] = '\0';
	struct kw_proxies p;
	char err[200], out[KW_ADDR_MAX], again[KW_ADDR_MAX];
	if (memchr(list, '\0', llen) || kw_proxies_parse(&p, list, err, sizeof(err)) < 0)
		goto out;
	enum kw_fwd f = kw_client_address(&p, "127.0.0.1", 1, xff, out);
	if (strnlen(out, KW_ADDR_MAX) == KW_ADDR_MAX)
		abort();
	/* Canonical: walking the answer alone gives the answer. */
	if (kw_client_address(&p, out, 0, NULL, again) != KW_FWD_PEER || strcmp(out, again))
		abort();
	int trusted = kw_proxies_contains(&p, out, strlen(out));
	if (f == KW_FWD_MALFORMED && !trusted)
		abort();
	if (f == KW_FWD_PEER)
		abort(); /* the peer is trusted and a header was given */
out:
	free(list);
	free(xff);
	return 0;
}
