/*
 * test_auth.c — bearer-token claim rules in lib/auth.c that go beyond the signature: time
 * claims must be JSON integers (a string or fraction is refused, never skipped), iat must not
 * be in the future, the lifetime is capped (JWT_MAX_TTL_SECONDS), and minted tokens carry a
 * jti to revoke them by. Table-driven; kw-api applies the same rules in
 * tests/integration/test_security.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jwt.h>

#include "auth.h"

#define SECRET "0123456789abcdef0123456789abcdef-secret"
#define NOW 1800000000LL
#define DAY 86400

static char *sign(const char *claims_json)
{
	jwt_t *j = NULL;
	assert_int_equal(jwt_new(&j), 0);
	assert_int_equal(jwt_add_grants_json(j, claims_json), 0);
	assert_int_equal(
		jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)SECRET, (int)strlen(SECRET)),
		0);
	char *t = jwt_encode_str(j);
	jwt_free(j);
	assert_non_null(t);
	return t;
}

static void test_time_claims_and_lifetime(void **state)
{
	(void)state;
	static const struct {
		const char *times; /* the time claims, as JSON members */
		enum kw_token_result want;
	} cases[] = {
		{ "\"exp\":1800000600", KW_TOKEN_OK },
		{ "\"exp\":1800000600,\"nbf\":1800000000,\"iat\":1800000000", KW_TOKEN_OK },
		{ "\"exp\":1800000600,\"nbf\":\"later\"", KW_TOKEN_BAD_CLAIMS },
		{ "\"exp\":1800000600,\"nbf\":1800000000.5", KW_TOKEN_BAD_CLAIMS },
		{ "\"exp\":1800000600,\"nbf\":null", KW_TOKEN_BAD_CLAIMS },
		{ "\"exp\":\"1800000600\"", KW_TOKEN_BAD_CLAIMS },
		{ "\"exp\":1.8e9", KW_TOKEN_BAD_CLAIMS },
		{ "\"exp\":1800000600,\"iat\":[1]", KW_TOKEN_BAD_CLAIMS },
		{ "\"exp\":1800000600,\"iat\":1800000001", KW_TOKEN_NOT_YET },
		{ "\"exp\":1800000600,\"nbf\":1800000001", KW_TOKEN_NOT_YET },
		{ "\"exp\":1799999999", KW_TOKEN_EXPIRED },
		/* One day from iat is the default cap; a second more is refused. */
		{ "\"exp\":1800086400,\"iat\":1800000000", KW_TOKEN_OK },
		{ "\"exp\":1800086401,\"iat\":1800000000", KW_TOKEN_TOO_LONG },
		/* Without iat the lifetime counts from now. */
		{ "\"exp\":1800086401", KW_TOKEN_TOO_LONG },
		/* An old iat does not buy a longer remaining life. */
		{ "\"exp\":1800000600,\"iat\":1700000000", KW_TOKEN_TOO_LONG },
		{ "\"exp\":1800000600,\"jti\":\"\"", KW_TOKEN_BAD_CLAIMS },
	};
	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		char json[512];
		snprintf(json, sizeof(json),
			 "{\"iss\":\"kalshiwhale\",\"aud\":\"kalshiwhale-api\",\"sub\":\"s\","
			 "\"scope\":\"read\",%s}",
			 cases[i].times);
		char *t = sign(json);
		struct kw_token_claims c;
		enum kw_token_result got = kw_token_verify_ttl(t, SECRET, "kalshiwhale",
							       "kalshiwhale-api", NOW, DAY, &c);
		if (got != cases[i].want)
			fail_msg("case %zu (%s): got %s, want %s", i, cases[i].times,
				 kw_token_result_name(got), kw_token_result_name(cases[i].want));
		free(t);
	}
}

static void test_max_ttl_is_the_verifiers(void **state)
{
	(void)state;
	struct kw_token_claims c;
	char *t = kw_token_mint(SECRET, "kalshiwhale", "kalshiwhale-api", KW_SCOPE_READ, NOW,
				2 * DAY);
	assert_non_null(t);
	assert_int_equal(
		kw_token_verify_ttl(t, SECRET, "kalshiwhale", "kalshiwhale-api", NOW, 2 * DAY, &c),
		KW_TOKEN_OK);
	assert_int_equal(kw_token_verify_ttl(t, SECRET, "kalshiwhale", "kalshiwhale-api", NOW,
					     2 * DAY - 1, &c),
			 KW_TOKEN_TOO_LONG);
	/* kw_token_verify() applies the default (one day). */
	assert_int_equal(kw_token_verify(t, SECRET, "kalshiwhale", "kalshiwhale-api", NOW, &c),
			 KW_TOKEN_TOO_LONG);
	free(t);
}

static void test_minted_tokens_carry_a_fresh_jti(void **state)
{
	(void)state;
	struct kw_token_claims a, b;
	char *t1 = kw_token_mint(SECRET, "i", "a", KW_SCOPE_ADMIN, NOW, 60);
	char *t2 = kw_token_mint(SECRET, "i", "a", KW_SCOPE_ADMIN, NOW, 60);
	assert_non_null(t1);
	assert_non_null(t2);
	assert_int_equal(kw_token_verify(t1, SECRET, "i", "a", NOW, &a), KW_TOKEN_OK);
	assert_int_equal(kw_token_verify(t2, SECRET, "i", "a", NOW, &b), KW_TOKEN_OK);
	assert_int_equal(strlen(a.jti), KW_TOKEN_JTI_LEN);
	assert_string_not_equal(a.jti, b.jti);
	free(t1);
	free(t2);
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
	assert_true(kw_key_is_wellformed(a)); /* the shape itself: test_codec.c */
}

static char *sign_alg(jwt_alg_t alg, const char *secret, const char *claims_json)
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
	char *hs512 = sign_alg(JWT_ALG_HS512, SECRET, claims);
	assert_int_equal(kw_token_verify(hs512, SECRET, "kalshiwhale", "kalshiwhale-api", now, &c),
			 KW_TOKEN_BAD_ALG);
	free(hs512);
	char *none = sign_alg(JWT_ALG_NONE, SECRET, claims);
	assert_int_equal(kw_token_verify(none, SECRET, "kalshiwhale", "kalshiwhale-api", now, &c),
			 KW_TOKEN_BAD_ALG);
	free(none);
	char *ok = sign_alg(JWT_ALG_HS256, SECRET, claims);
	assert_int_equal(kw_token_verify(ok, SECRET, "kalshiwhale", "kalshiwhale-api", now, &c),
			 KW_TOKEN_OK);
	assert_int_equal(c.scope, KW_SCOPE_ADMIN);
	free(ok);
	char *noscope =
		sign_alg(JWT_ALG_HS256, SECRET,
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_claims_and_lifetime),
		cmocka_unit_test(test_max_ttl_is_the_verifiers),
		cmocka_unit_test(test_minted_tokens_carry_a_fresh_jti),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
