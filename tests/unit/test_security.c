/*
 * test_security.c — the pure parts of issue 5: strict JSON bodies (jsonbody.c), origin
 * matching (origins.c), keys and HS256 tokens (auth.c) and the shared GCRA table
 * (ratelimit.c), table-driven. The same code runs behind lighttpd in
 * tests/integration/test_security.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jwt.h>

#include "auth.h"
#include "jsonbody.h"
#include "origins.h"
#include "ratelimit.h"

static const struct kw_body_field decl[] = {
	{ "force_update", KW_BODY_BOOL, 0, 0, 0, 0 },
	{ "limit", KW_BODY_INT, 0, 1, 100, 0 },
	{ "name", KW_BODY_STR, 0, 0, 0, 8 },
	{ NULL, 0, 0, 0, 0, 0 },
};

static void test_body(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		const char *err; /* NULL = accepted; else a fragment of the message */
	} cases[] = {
		{ "{}", NULL },
		{ " {\"force_update\": true, \"limit\": 5, \"name\": \"a:b\"}\n", NULL },
		{ "{\"force_update\": 1}", "'force_update' must be true or false" },
		{ "{\"limit\": 0}", "'limit' must be an integer from 1 to 100" },
		{ "{\"limit\": 5.0}", "'limit' must be an integer" },
		{ "{\"limit\": \"5\"}", "'limit' must be an integer" },
		{ "{\"name\": \"123456789\"}", "'name' must be 1 to 8" },
		{ "{\"name\": \"a\\u0001\"}", "'name' must be 1 to 8" },
		{ "{\"name\": \"a\\u0000b\"}", "'name' must be 1 to 8" },
		{ "{\"nope\": 1}", "unknown field 'nope'" },
		{ "{\"<b>\": 1}", "unknown field" },
		{ "{\"limit\": 1, \"limit\": 2}", "duplicate key" },
		{ "{\"limit\": 1, \"l\\u0069mit\": 2}", "duplicate key" },
		{ "{\"limit\": 1, \"name\": \"x\", \"limit\": 2}", "duplicate key" },
		{ "{\"force_update\": true,}", "not valid JSON" },
		{ "{force_update: true}", "not valid JSON" },
		{ "{'force_update': true}", "not valid JSON" },
		{ "{\"name\": 'abc'}", "not valid JSON" },
		{ "{\"force_update\": tru}", "not valid JSON" },
		{ "{\"force_update\": true", "not valid JSON" },
		{ "[]", "JSON object" },
		{ "true", "JSON object" },
		{ "{} {}", "not valid JSON" },
		{ "{\"a\":[[[[[[[[[[1]]]]]]]]]]}", "nested too deeply" },
		{ "{\"name\": \"\xff\"}", "not valid JSON" },
		{ "", "not valid JSON" },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		json_object *o = (json_object *)1;
		char err[160] = "";
		int rc = kw_json_body_parse(cases[i].body, strlen(cases[i].body), decl, &o, err,
					    sizeof(err));
		if (!cases[i].err) {
			if (rc != 0)
				fail_msg("case %zu refused: %s", i, err);
			assert_non_null(o);
			json_object_put(o);
		} else {
			if (rc != -1 || o != NULL || !strstr(err, cases[i].err))
				fail_msg("case %zu: rc=%d err='%s' want '%s'", i, rc, err,
					 cases[i].err);
		}
	}
	/* An embedded NUL is refused, not truncated. */
	json_object *o;
	char err[160];
	assert_int_equal(kw_json_body_parse("{}\0{\"x\":1}", 10, decl, &o, err, sizeof(err)), -1);
	/* Duplicates inside nested values are found too (none declared, so via unknown). */
	assert_int_equal(
		kw_json_body_parse("{\"a\":{\"b\":1,\"b\":2}}", 19, NULL, &o, err, sizeof(err)),
		-1);
	assert_non_null(strstr(err, "duplicate"));
}

static void test_origins(void **state)
{
	(void)state;
	int wild;
	char err[200];
	struct kw_origins *o = kw_origins_parse(
		" https://app.example.com , http://localhost:3000,https://[::1]:8443,*", &wild, err,
		sizeof(err));
	assert_non_null(o);
	assert_int_equal(wild, 1);
	assert_int_equal(kw_origins_count(o), 3);
	static const struct {
		const char *origin;
		int ok;
	} cases[] = {
		{ "https://app.example.com", 1 },
		{ "HTTPS://App.Example.COM", 1 },
		{ "https://app.example.com:443", 1 },
		{ "http://localhost:3000", 1 },
		{ "https://[::1]:8443", 1 },
		{ "http://app.example.com", 0 },
		{ "https://app.example.com:444", 0 },
		{ "https://app.example.com.evil.com", 0 },
		{ "https://evilapp.example.com", 0 },
		{ "https://app.example.com/", 0 },
		{ "https://app.example.com/x", 0 },
		{ "https://user@app.example.com", 0 },
		{ "http://localhost:03000", 0 },
		{ "http://localhost:300000", 0 },
		{ "http://localhost", 0 },
		{ "null", 0 },
		{ "*", 0 },
		{ "", 0 },
		{ "https://", 0 },
		{ "ftp://app.example.com", 0 },
		{ "https://app.example.com\r\nX: y", 0 },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++)
		if (kw_origins_match(o, cases[i].origin, strlen(cases[i].origin)) != cases[i].ok)
			fail_msg("origin case %zu (%s)", i, cases[i].origin);
	kw_origins_free(o);
	assert_null(kw_origins_parse("https://x.example.com/path", &wild, err, sizeof(err)));
	assert_non_null(strstr(err, "entry 1 is not an origin"));
	o = kw_origins_parse("", &wild, err, sizeof(err));
	assert_int_equal(kw_origins_count(o), 0);
	assert_int_equal(kw_origins_match(o, "https://a.b", 11), 0);
	kw_origins_free(o);
}

static void test_keys(void **state)
{
	(void)state;
	char a[KW_KEY_LEN + 1], b[KW_KEY_LEN + 1], h1[65], h2[65], p[KW_KEY_PREFIX_LEN + 1];
	assert_int_equal(kw_key_generate(a), 0);
	assert_int_equal(kw_key_generate(b), 0);
	assert_int_equal(strlen(a), KW_KEY_LEN);
	assert_memory_equal(a, "kw_", 3);
	assert_string_not_equal(a, b);
	assert_int_equal(strspn(a + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				       "0123456789-_"),
			 43);
	kw_key_hash(a, strlen(a), h1);
	kw_key_hash(b, strlen(b), h2);
	assert_int_equal(strlen(h1), 64);
	assert_string_not_equal(h1, h2);
	kw_key_hash("abc", 3, h1);
	assert_string_equal(h1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	kw_key_prefix(a, p);
	assert_int_equal(strlen(p), KW_KEY_PREFIX_LEN);
	assert_true(kw_key_is_wellformed(a));
	assert_false(kw_key_is_wellformed(""));
	assert_false(kw_key_is_wellformed("a b"));
	assert_false(kw_key_is_wellformed("a\x01"));
	char long_key[KW_KEY_MAX_LEN + 2];
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	assert_false(kw_key_is_wellformed(long_key));
}

#define SECRET "0123456789abcdef0123456789abcdef-secret"

static char *sign(jwt_alg_t alg, const char *secret, const char *claims_json)
{
	jwt_t *j = NULL;
	assert_int_equal(jwt_new(&j), 0);
	assert_int_equal(jwt_add_grants_json(j, claims_json), 0);
	if (alg != JWT_ALG_NONE)
		assert_int_equal(
			jwt_set_alg(j, alg, (const unsigned char *)secret, (int)strlen(secret)), 0);
	char *t = jwt_encode_str(j);
	jwt_free(j);
	assert_non_null(t);
	return t;
}

static void test_tokens(void **state)
{
	(void)state;
	struct kw_token_claims c;
	const int64_t now = 1800000000;
	char *t = kw_token_mint(SECRET, "kalshiwhale", "kalshiwhale-api", KW_SCOPE_READ, now, 60);
	assert_non_null(t);
	assert_int_equal(kw_token_verify(t, SECRET, "kalshiwhale", "kalshiwhale-api", now, &c),
			 KW_TOKEN_OK);
	assert_int_equal(c.scope, KW_SCOPE_READ);
	assert_memory_equal(c.sub, "tok_", 4);
	assert_int_equal(kw_token_verify(t, SECRET, "kalshiwhale", "kalshiwhale-api", now + 60, &c),
			 KW_TOKEN_EXPIRED);
	assert_int_equal(kw_token_verify(t, SECRET, "kalshiwhale", "kalshiwhale-api", now - 1, &c),
			 KW_TOKEN_NOT_YET);
	assert_int_equal(kw_token_verify(t, SECRET, "other", "kalshiwhale-api", now, &c),
			 KW_TOKEN_WRONG_ISS);
	assert_int_equal(kw_token_verify(t, SECRET, "kalshiwhale", "other", now, &c),
			 KW_TOKEN_WRONG_AUD);
	assert_int_equal(kw_token_verify(t, SECRET "x", "kalshiwhale", "kalshiwhale-api", now, &c),
			 KW_TOKEN_BAD_SIGNATURE);
	assert_int_equal(kw_token_verify(t, "short", "kalshiwhale", "kalshiwhale-api", now, &c),
			 KW_TOKEN_BAD_SIGNATURE);
	/* Flip one signature character. */
	size_t n = strlen(t);
	t[n - 2] = t[n - 2] == 'A' ? 'B' : 'A';
	assert_int_equal(kw_token_verify(t, SECRET, "kalshiwhale", "kalshiwhale-api", now, &c),
			 KW_TOKEN_BAD_SIGNATURE);
	free(t);
	assert_null(kw_token_mint("short", "i", "a", KW_SCOPE_READ, now, 60));

	const char *claims = "{\"iss\":\"kalshiwhale\",\"aud\":\"kalshiwhale-api\",\"sub\":\"s\","
			     "\"scope\":\"admin\",\"exp\":1800000100}";
	char *hs512 = sign(JWT_ALG_HS512, SECRET, claims);
	assert_int_equal(kw_token_verify(hs512, SECRET, "kalshiwhale", "kalshiwhale-api", now, &c),
			 KW_TOKEN_BAD_ALG);
	free(hs512);
	char *none = sign(JWT_ALG_NONE, SECRET, claims);
	assert_int_equal(kw_token_verify(none, SECRET, "kalshiwhale", "kalshiwhale-api", now, &c),
			 KW_TOKEN_BAD_ALG);
	free(none);
	char *ok = sign(JWT_ALG_HS256, SECRET, claims);
	assert_int_equal(kw_token_verify(ok, SECRET, "kalshiwhale", "kalshiwhale-api", now, &c),
			 KW_TOKEN_OK);
	assert_int_equal(c.scope, KW_SCOPE_ADMIN);
	free(ok);
	char *noscope = sign(JWT_ALG_HS256, SECRET,
			     "{\"iss\":\"kalshiwhale\",\"aud\":\"kalshiwhale-api\",\"sub\":\"s\","
			     "\"exp\":1800000100}");
	assert_int_equal(
		kw_token_verify(noscope, SECRET, "kalshiwhale", "kalshiwhale-api", now, &c),
		KW_TOKEN_BAD_CLAIMS);
	free(noscope);
	static const char *const junk[] = {
		"", "a", "a.b", "a.b.c.d", "....", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.!!!"
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(junk); i++) {
		enum kw_token_result r =
			kw_token_verify(junk[i], SECRET, "kalshiwhale", "kalshiwhale-api", now, &c);
		if (r == KW_TOKEN_OK)
			fail_msg("junk token %zu accepted", i);
	}
}

static void restore_none(struct kw_rl *rl, void *ctx)
{
	(void)rl;
	(*(int *)ctx)++;
}

static void test_ratelimit(void **state)
{
	(void)state;
	char path[] = "/tmp/kw-test-rl-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char err[200];
	int restored = 0;
	struct kw_rl *rl = kw_rl_open(path, 7, restore_none, &restored, err, sizeof(err));
	assert_non_null(rl);
	assert_int_equal(restored, 1);
	const int64_t t0 = 1800000000LL * 1000000, iv = 1000000; /* 1 per second, burst 3 */
	struct kw_rl_result r;
	for (int i = 0; i < 3; i++) {
		kw_rl_take(rl, "k:1", t0, iv, 3, &r);
		assert_true(r.allowed);
		assert_int_equal(r.remaining, 2 - i);
		assert_int_equal(r.limit, 3);
	}
	for (int i = 0; i < 5; i++) { /* refusals take nothing */
		kw_rl_take(rl, "k:1", t0, iv, 3, &r);
		assert_false(r.allowed);
		assert_int_equal(r.retry_after_s, 1);
		assert_int_equal(r.remaining, 0);
		assert_int_equal(r.reset_s, 3);
	}
	kw_rl_take(rl, "k:1", t0 + iv, iv, 3, &r); /* one interval later: exactly one */
	assert_true(r.allowed);
	kw_rl_take(rl, "k:1", t0 + iv, iv, 3, &r);
	assert_false(r.allowed);
	kw_rl_peek(rl, "k:2", t0, iv, 3, &r); /* another key, untouched, and peek takes none */
	assert_true(r.allowed);
	assert_int_equal(r.remaining, 3);
	kw_rl_peek(rl, "k:2", t0, iv, 3, &r);
	assert_int_equal(r.remaining, 3);
	assert_int_equal(kw_rl_value(rl, "b:x"), 0);
	assert_int_equal(kw_rl_raise(rl, "b:x", t0 + 50), 0);
	assert_int_equal(kw_rl_raise(rl, "b:x", t0 + 10), t0 + 50);
	assert_int_equal(kw_rl_value(rl, "b:x"), t0 + 50);

	/* Write-behind: one election per second; collect returns changed live entries once. */
	assert_true(kw_rl_flush_due(rl, t0));
	assert_false(kw_rl_flush_due(rl, t0 + 10));
	assert_true(kw_rl_flush_due(rl, t0 + 1000001));
	struct kw_rl_entry *e = calloc(kw_rl_capacity(rl), sizeof(*e));
	size_t n = kw_rl_collect(rl, t0, e, kw_rl_capacity(rl));
	assert_int_equal(n, 2); /* k:1 and b:x (k:2 was only peeked) */
	assert_int_equal(kw_rl_collect(rl, t0, e, kw_rl_capacity(rl)), 0);
	kw_rl_take(rl, "k:1", t0 + 5 * iv, iv, 3, &r);
	n = kw_rl_collect(rl, t0, e, kw_rl_capacity(rl));
	assert_int_equal(n, 1);
	assert_int_equal(e[0].key, kw_rl_digest("k:1"));
	kw_rl_close(rl);

	/* Same owner: the table is reused. Another owner (a new database): rebuilt. */
	rl = kw_rl_open(path, 7, restore_none, &restored, err, sizeof(err));
	assert_int_equal(restored, 1);
	assert_int_equal(kw_rl_value(rl, "b:x"), t0 + 50);
	kw_rl_close(rl);
	rl = kw_rl_open(path, 8, restore_none, &restored, err, sizeof(err));
	assert_int_equal(restored, 2);
	assert_int_equal(kw_rl_value(rl, "b:x"), 0);
	kw_rl_load(rl, kw_rl_digest("b:x"), t0 + 99);
	assert_int_equal(kw_rl_value(rl, "b:x"), t0 + 99);
	/* Cleared (kw-admin unblock): gone, and nothing for the write-behind to store. */
	kw_rl_clear(rl, "b:x");
	kw_rl_clear(rl, "b:never-seen");
	assert_int_equal(kw_rl_value(rl, "b:x"), 0);
	assert_int_equal(kw_rl_collect(rl, t0, e, kw_rl_capacity(rl)), 0);

	/* Far more keys than one group holds: evictions, never a failure. */
	char key[32];
	for (int i = 0; i < 200000; i++) {
		snprintf(key, sizeof(key), "a:10.0.%d.%d", i / 256, i % 256);
		kw_rl_take(rl, key, t0, iv, 3, &r);
		assert_true(r.allowed);
	}
	assert_true(kw_rl_evictions(rl) > 0);
	kw_rl_close(rl);
	free(e);
	unlink(path);
}

/* Several processes on one table: exactly `burst` takes succeed, however they interleave. */
static void test_ratelimit_processes_exact(void **state)
{
	(void)state;
	char path[] = "/tmp/kw-test-rlp-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char err[200];
	struct kw_rl *rl = kw_rl_open(path, 1, NULL, NULL, err, sizeof(err));
	assert_non_null(rl);
	const int procs = 4, tries = 4000, burst = 2500;
	const int64_t t0 = kw_now_us(), hour = 3600LL * 1000000;
	int pipes[4][2];
	for (int i = 0; i < procs; i++) {
		assert_int_equal(pipe(pipes[i]), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct kw_rl *c = kw_rl_open(path, 1, NULL, NULL, err, sizeof(err));
			int ok = 0;
			struct kw_rl_result r;
			for (int j = 0; c && j < tries; j++) {
				/* A different key now and then exercises claiming in parallel. */
				char other[32];
				snprintf(other, sizeof(other), "a:%d.%d", i, j % 50);
				kw_rl_take(c, other, t0, hour, 1, &r);
				kw_rl_take(c, "k:shared", t0 + j, hour, burst, &r);
				ok += r.allowed;
			}
			if (write(pipes[i][1], &ok, sizeof(ok)) != sizeof(ok))
				_exit(2);
			_exit(c ? 0 : 1);
		}
		close(pipes[i][1]);
	}
	int total = 0;
	for (int i = 0; i < procs; i++) {
		int ok = 0;
		assert_int_equal(read(pipes[i][0], &ok, sizeof(ok)), sizeof(ok));
		close(pipes[i][0]);
		total += ok;
	}
	for (int i = 0; i < procs; i++) {
		int status;
		assert_true(wait(&status) > 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(total, burst);
	kw_rl_close(rl);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body),	  cmocka_unit_test(test_origins),
		cmocka_unit_test(test_keys),	  cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_ratelimit), cmocka_unit_test(test_ratelimit_processes_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
