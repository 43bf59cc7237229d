/*
 * test_proxy.c — TRUSTED_PROXIES ranges and the X-Forwarded-For walk (lib/proxy.c), table
 * driven: CIDR parsing and matching, the right-to-left walk that stops at the first untrusted
 * address, a header of any length read whole, canonical address text, and malformed headers
 * that resolve to the nearest trusted hop, never to a client's entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy.h"

static void test_ranges(void **state)
{
	(void)state;
	struct kw_proxies p;
	char err[200];
	assert_int_equal(kw_proxies_parse(&p,
					  " 10.0.0.0/8, ::1/128,192.0.2.7 ,fd00::/8, "
					  "172.16.0.0/12",
					  err, sizeof(err)),
			 0);
	assert_int_equal(p.n, 5);
	static const struct {
		const char *addr;
		int in;
	} cases[] = {
		{ "10.0.0.1", 1 },
		{ "10.255.255.255", 1 },
		{ "11.0.0.1", 0 },
		{ "9.255.255.255", 0 },
		{ "::1", 1 },
		{ "::2", 0 },
		{ "192.0.2.7", 1 },
		{ "192.0.2.8", 0 },
		{ "fd12:3456::1", 1 },
		{ "fe80::1", 0 },
		{ "172.31.255.1", 1 },
		{ "172.32.0.1", 0 },
		{ "::ffff:10.1.2.3", 1 },
		{ "010.0.0.1", 0 },
		{ "10.0.0.1 ", 0 },
		{ "", 0 },
		{ "unknown", 0 },
		{ "10.0.0.1/8", 0 },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++)
		if (kw_proxies_contains(&p, cases[i].addr, strlen(cases[i].addr)) != cases[i].in)
			fail_msg("%s: expected %d", cases[i].addr, cases[i].in);
	static const char *const bad[] = {
		"10.0.0.1/8", "10.0.0.0/33", "abc",	  "10.0.0.0/",	  "10.0.0.0/08",
		"::1/129",    "1.2.3.4/ 8",  "1.2.3.4/x", "10.0.0.0/8/8",
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++)
		if (kw_proxies_parse(&p, bad[i], err, sizeof(err)) == 0)
			fail_msg("%s accepted", bad[i]);
	assert_non_null(strstr(err, "TRUSTED_PROXIES entry 1"));
	assert_int_equal(kw_proxies_parse(&p, "", err, sizeof(err)), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(kw_proxies_contains(&p, "127.0.0.1", 9), 0);
}

static void test_walk(void **state)
{
	(void)state;
	struct kw_proxies p;
	char err[200], out[KW_ADDR_MAX];
	assert_int_equal(kw_proxies_parse(&p, "127.0.0.1, 10.0.0.0/8", err, sizeof(err)), 0);
	static const struct {
		const char *peer, *xff;
		enum kw_fwd want;
		const char *client;
	} cases[] = {
		/* An untrusted peer is the client, whatever it claims. */
		{ "203.0.113.9", "1.2.3.4", KW_FWD_PEER, "203.0.113.9" },
		{ "127.0.0.1", NULL, KW_FWD_PEER, "127.0.0.1" },
		{ "::ffff:203.0.113.9", "1.2.3.4", KW_FWD_PEER, "203.0.113.9" },
		{ "127.0.0.1", "198.51.100.7", KW_FWD_FORWARDED, "198.51.100.7" },
		/* Right to left past trusted hops; the client's own entries stay unread. */
		{ "127.0.0.1", "6.6.6.6, 198.51.100.7, 10.0.0.2", KW_FWD_FORWARDED,
		  "198.51.100.7" },
		{ "127.0.0.1", "junk, 198.51.100.7", KW_FWD_FORWARDED, "198.51.100.7" },
		{ "127.0.0.1", "10.0.0.3,10.0.0.4", KW_FWD_FORWARDED, "10.0.0.3" },
		{ "127.0.0.1", "1.2.3.4,,5.6.7.8", KW_FWD_FORWARDED, "5.6.7.8" },
		{ "127.0.0.1", " \t198.51.100.7\t ", KW_FWD_FORWARDED, "198.51.100.7" },
		/* Canonical text: one client, one spelling. */
		{ "127.0.0.1", "2001:DB8:0:0::1", KW_FWD_FORWARDED, "2001:db8::1" },
		{ "127.0.0.1", "::ffff:198.51.100.7", KW_FWD_FORWARDED, "198.51.100.7" },
		{ "::ffff:127.0.0.1", "198.51.100.7", KW_FWD_FORWARDED, "198.51.100.7" },
		/* What a trusted hop could not have written: the nearest trusted hop. */
		{ "127.0.0.1", "garbage", KW_FWD_MALFORMED, "127.0.0.1" },
		{ "127.0.0.1", "", KW_FWD_MALFORMED, "127.0.0.1" },
		{ "127.0.0.1", "1.2.3.4, ", KW_FWD_MALFORMED, "127.0.0.1" },
		{ "127.0.0.1", "1.2.3.4, 10.0.0.5, junk", KW_FWD_MALFORMED, "127.0.0.1" },
		{ "127.0.0.1", "junk, 10.0.0.5", KW_FWD_MALFORMED, "10.0.0.5" },
		{ "127.0.0.1", "198.51.100.7:443", KW_FWD_MALFORMED, "127.0.0.1" },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		int trusted = kw_proxies_contains(&p, cases[i].peer, strlen(cases[i].peer));
		enum kw_fwd got = kw_client_address(&p, cases[i].peer, trusted, cases[i].xff, out);
		if (got != cases[i].want || strcmp(out, cases[i].client))
			fail_msg("case %zu: got %d %s, want %d %s", i, (int)got, out,
				 (int)cases[i].want, cases[i].client);
	}
	/* A unix-socket peer the caller trusts. */
	assert_int_equal(kw_client_address(&p, "", 1, "198.51.100.7", out), KW_FWD_FORWARDED);
	assert_string_equal(out, "198.51.100.7");
	assert_int_equal(kw_client_address(&p, NULL, 0, "198.51.100.7", out), KW_FWD_PEER);
	assert_string_equal(out, "unknown");
}

/* A client sends a long header ending in an address of its choice; the trusted proxy appends
 * the real one. Read whole, only the appended entry counts, however long the rest. */
static void test_long_header_is_read_whole(void **state)
{
	(void)state;
	struct kw_proxies p;
	char err[200], out[KW_ADDR_MAX];
	assert_int_equal(kw_proxies_parse(&p, "127.0.0.1", err, sizeof(err)), 0);
	static const size_t sizes[] = { 1000, 1023, 1024, 1025, 4096, 65536 };
	for (size_t i = 0; i < KW_ARRAY_LEN(sizes); i++) {
		size_t n = sizes[i];
		char *xff = malloc(n + 64);
		assert_non_null(xff);
		size_t o = 0;
		while (o + 16 < n)
			o += (size_t)snprintf(xff + o, 32, "203.0.113.%zu, ", o % 200);
		snprintf(xff + o, 64, "198.51.100.99, 198.51.100.7");
		assert_int_equal(kw_client_address(&p, "127.0.0.1", 1, xff, out), KW_FWD_FORWARDED);
		assert_string_equal(out, "198.51.100.7");
		free(xff);
	}
}

/* Any spelling of an address names the one form the workers record (kw-admin unblock). */
static void test_canonical(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out; /* out NULL: not an address */
	} cases[] = {
		{ "203.0.113.7", "203.0.113.7" },
		{ "2001:DB8:0:0::7", "2001:db8::7" },
		{ "::ffff:198.51.100.1", "198.51.100.1" },
		{ "::1", "::1" },
		{ "203.0.113.7;rm", NULL },
		{ "1.2.3", NULL },
		{ "host.example", NULL },
		{ "", NULL },
		{ "2001:db8::7 ", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[KW_ADDR_MAX] = "";
		int rc = kw_addr_canonical(cases[i].in, out);
		if (cases[i].out) {
			assert_int_equal(rc, 0);
			assert_string_equal(out, cases[i].out);
		} else {
			assert_int_equal(rc, -1);
		}
	}
	assert_int_equal(kw_addr_canonical(NULL, (char[KW_ADDR_MAX]){ 0 }), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_long_header_is_read_whole),
		cmocka_unit_test(test_canonical),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
