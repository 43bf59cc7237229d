/*
 * test_ticket.c — WebSocket tickets: a minted ticket verifies once; every altered field,
 * another secret, another scope, an expired or over-long lifetime, a ticket from before the
 * verifier started and malformed text are refused with the right result; the used-id memory
 * refuses a second use, forgets expired ids and fails closed when full.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ticket.h"

static const char SECRET[] = "0123456789abcdef0123456789abcdef";
static const int64_t NOW_MS = 1795000000000LL;

static void mint(char *t, int64_t now_ms, const char *scope)
{
	int64_t exp = 0;
	assert_int_equal(kw_ticket_mint(SECRET, scope, now_ms, 60, t, KW_TICKET_MAX_LEN, &exp), 0);
	assert_int_equal(exp, now_ms / 1000 + 60);
}

static void test_roundtrip(void **state)
{
	(void)state;
	char t[KW_TICKET_MAX_LEN];
	struct kw_ticket k;
	mint(t, NOW_MS, "ws");
	assert_int_equal(strncmp(t, "v1.", 3), 0);
	assert_int_equal(kw_ticket_verify(SECRET, t, "ws", NOW_MS + 59000, NOW_MS - 1, &k),
			 KW_TICKET_OK);
	assert_string_equal(k.scope, "ws");
	assert_int_equal(k.issued_ms, NOW_MS);
	assert_int_equal(k.expires_s, NOW_MS / 1000 + 60);
	/* URL-safe as it is: no escaping needed in ?ticket= */
	assert_int_equal(
		strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:"),
		strlen(t));
	char t2[KW_TICKET_MAX_LEN];
	mint(t2, NOW_MS, "ws");
	assert_string_not_equal(t, t2); /* random ids */
}

static void test_refusals(void **state)
{
	(void)state;
	char t[KW_TICKET_MAX_LEN], bad[KW_TICKET_MAX_LEN + 8];
	struct kw_ticket k;
	mint(t, NOW_MS, "ws");
	assert_int_equal(kw_ticket_verify(SECRET, t, "ws", NOW_MS + 60000, 0, &k),
			 KW_TICKET_EXPIRED);
	assert_int_equal(
		kw_ticket_verify("another-secret-another-secret-xx", t, "ws", NOW_MS, 0, &k),
		KW_TICKET_BAD_MAC);
	assert_int_equal(kw_ticket_verify(SECRET, t, "admin", NOW_MS, 0, &k),
			 KW_TICKET_WRONG_SCOPE);
	assert_int_equal(kw_ticket_verify(SECRET, t, "ws", NOW_MS, NOW_MS + 1, &k),
			 KW_TICKET_TOO_OLD);
	/* Every byte of the signed part matters. */
	for (size_t i = 0; i < strlen(t); i++) {
		snprintf(bad, sizeof(bad), "%s", t);
		bad[i] = bad[i] == 'a' ? 'b' : 'a';
		enum kw_ticket_result r = kw_ticket_verify(SECRET, bad, "ws", NOW_MS, 0, &k);
		assert_int_not_equal(r, KW_TICKET_OK);
	}
	const char *junk[] = { "", "v1", "v1.....", "v2.0.0.0.ws.x", t + 1, "v1.zz" };
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		assert_int_equal(kw_ticket_verify(SECRET, junk[i], "ws", NOW_MS, 0, &k),
				 KW_TICKET_MALFORMED);
	snprintf(bad, sizeof(bad), "%s%0*d", t, KW_TICKET_MAX_LEN, 0);
	assert_int_equal(kw_ticket_verify(SECRET, bad, "ws", NOW_MS, 0, &k), KW_TICKET_MALFORMED);
}

/* A key's ticket ("ws:key:12") is a "ws" ticket; a scope that only starts with the letters is
 * not. */
static void test_scope_refinement(void **state)
{
	(void)state;
	static const struct {
		const char *minted, *wanted;
		enum kw_ticket_result want;
	} cases[] = {
		{ "ws:key:12", "ws", KW_TICKET_OK },
		{ "ws", "ws", KW_TICKET_OK },
		{ "wsx", "ws", KW_TICKET_WRONG_SCOPE },
		{ "ws", "ws:key:12", KW_TICKET_WRONG_SCOPE },
		{ "admin:ws", "ws", KW_TICKET_WRONG_SCOPE },
		{ "ws:key:12", "ws:key:1", KW_TICKET_WRONG_SCOPE },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		char t[KW_TICKET_MAX_LEN];
		struct kw_ticket k;
		mint(t, NOW_MS, cases[i].minted);
		if (kw_ticket_verify(SECRET, t, cases[i].wanted, NOW_MS, 0, &k) != cases[i].want)
			fail_msg("case %zu: %s for %s", i, cases[i].minted, cases[i].wanted);
	}
}

static void test_mint_refuses_bad_input(void **state)
{
	(void)state;
	char t[KW_TICKET_MAX_LEN];
	int64_t exp;
	assert_int_equal(kw_ticket_mint("short", "ws", NOW_MS, 60, t, sizeof(t), &exp), -1);
	assert_int_equal(kw_ticket_mint(SECRET, "Bad Scope", NOW_MS, 60, t, sizeof(t), &exp), -1);
	assert_int_equal(kw_ticket_mint(SECRET, "ws", NOW_MS, 61, t, sizeof(t), &exp), -1);
	assert_int_equal(kw_ticket_mint(SECRET, "ws", NOW_MS, 0, t, sizeof(t), &exp), -1);
	assert_int_equal(kw_ticket_mint(SECRET, "ws", NOW_MS, 60, t, 40, &exp), -1);
}

static void test_single_use(void **state)
{
	(void)state;
	char t[KW_TICKET_MAX_LEN];
	struct kw_ticket k;
	struct kw_ticket_seen *seen = kw_ticket_seen_new(4); /* rounded up: 8 live ids */
	int64_t now_s = NOW_MS / 1000;
	mint(t, NOW_MS, "ws");
	assert_int_equal(kw_ticket_verify(SECRET, t, "ws", NOW_MS, 0, &k), KW_TICKET_OK);
	assert_int_equal(kw_ticket_seen_claim(seen, &k, now_s), KW_TICKET_OK);
	assert_int_equal(kw_ticket_seen_claim(seen, &k, now_s), KW_TICKET_REUSED);
	/* Fill it: the memory fails closed rather than forgetting live tickets. */
	size_t live = 1;
	enum kw_ticket_result r = KW_TICKET_OK;
	for (int i = 0; i < 100 && r == KW_TICKET_OK; i++) {
		mint(t, NOW_MS, "ws");
		assert_int_equal(kw_ticket_verify(SECRET, t, "ws", NOW_MS, 0, &k), KW_TICKET_OK);
		r = kw_ticket_seen_claim(seen, &k, now_s);
		live += r == KW_TICKET_OK;
	}
	assert_int_equal(r, KW_TICKET_SEEN_FULL);
	assert_int_equal(kw_ticket_seen_count(seen), live);
	/* A minute later they have all expired and are forgotten. */
	mint(t, NOW_MS + 61000, "ws");
	assert_int_equal(kw_ticket_verify(SECRET, t, "ws", NOW_MS + 61000, 0, &k), KW_TICKET_OK);
	assert_int_equal(kw_ticket_seen_claim(seen, &k, now_s + 61), KW_TICKET_OK);
	assert_int_equal(kw_ticket_seen_count(seen), 1);
	kw_ticket_seen_free(seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_scope_refinement),
		cmocka_unit_test(test_mint_refuses_bad_input),
		cmocka_unit_test(test_single_use),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
