/*
 * fuzz_token.c — libFuzzer target for the bearer-token parser (kw_token_verify, lib/auth.c,
 * over libjwt): any bytes as a token. Invariant: nothing but a token signed with the secret
 * by HS256 is accepted — the fuzzer cannot know the secret, so any acceptance is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *tok = malloc(size + 1);
	if (!tok)
		return 0;
	memcpy(tok, data, size);
	tok[size] = '\0';
	struct kw_token_claims c;
	if (kw_token_verify(tok, "fuzz-secret-that-is-long-enough-0123456789", "kalshiwhale",
			    "kalshiwhale-api", 1800000000, &c) == KW_TOKEN_OK)
		abort();
	free(tok);
	return 0;
}
