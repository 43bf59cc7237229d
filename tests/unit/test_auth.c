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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_claims_and_lifetime),
		cmocka_unit_test(test_max_ttl_is_the_verifiers),
		cmocka_unit_test(test_minted_tokens_carry_a_fresh_jti),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
