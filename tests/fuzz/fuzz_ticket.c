/*
 * fuzz_ticket.c — libFuzzer target for the WebSocket ticket parser (kw_ticket_verify,
 * lib/ticket.c): any bytes as a ticket. Invariant: only a ticket whose MAC was made with the
 * secret is accepted — the fuzzer cannot know the secret, so any acceptance is a bug; and the
 * used-id memory never reports a fresh id as reused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ticket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char secret[] = "fuzz-secret-that-is-long-enough-0123456789";
	char *text = malloc(size + 1);
	struct kw_ticket t;
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (kw_ticket_verify(secret, text, "ws", 1800000000000LL, 0, &t) == KW_TICKET_OK)
		abort();
	/* A genuine ticket still verifies, whatever came before (no hidden state). */
	char good[KW_TICKET_MAX_LEN];
	int64_t exp;
	if (kw_ticket_mint(secret, "ws", 1800000000000LL, 60, good, sizeof(good), &exp) < 0 ||
	    kw_ticket_verify(secret, good, "ws", 1800000000000LL, 0, &t) != KW_TICKET_OK)
		abort();
	free(text);
	return 0;
}
