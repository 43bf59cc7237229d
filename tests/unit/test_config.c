/*
 * test_config.c — configuration loading: defaults, the .env file, environment precedence,
 * strict validation with one clear message per bad value, and secret masking.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define SECRET32 "0123456789abcdef0123456789abcdef"

static char envpath[] = "/tmp/kw-test-config-XXXXXX";

static void write_env(const char *text)
{
	FILE *f = fopen(envpath, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	setenv("KW_ENV_FILE", envpath, 1);
}

static int setup(void **state)
{
	(void)state;
	int fd = mkstemp(envpath);
	assert_true(fd >= 0);
	close(fd);
	write_env("");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(envpath);
	unsetenv("KW_ENV_FILE");
	return 0;
}

static void test_defaults(void **state)
{
	(void)state;
	struct kw_config c = { 0 };
	char err[256] = "";
	write_env("");
	assert_int_equal(kw_config_load(&c, err, sizeof(err)), 0);
	assert_int_equal(c.environment, KW_ENV_DEVELOPMENT);
	assert_int_equal(c.port, 8000);
	assert_int_equal(c.rate_limit_per_minute, 60);
	assert_int_equal(c.rate_limit_burst, 60); /* 0 means "the per-minute limit" */
	assert_int_equal(c.update_interval_s, 120);
	assert_int_equal(c.max_connections, 1000);
	assert_int_equal(c.web_socket_timeout_s, 300);
	assert_string_equal(c.database_path, "./var/kalshiwhale.db");
	assert_string_equal(c.kalshi_api_base, "https://api.elections.kalshi.com/trade-api/v2");
	assert_int_equal(c.volume_surge_multiplier_milli, 3000);
	assert_int_equal(c.surge_min_trades, 3);
	/* NODE_NAME: the host name, as far as it is a valid name */
	char host[256] = "";
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_true(c.node_name[0] != '\0');
	assert_int_equal(strncmp(host, c.node_name, strlen(c.node_name)), 0);
	kw_config_free(&c);
	write_env("NODE_NAME=web-2.eu_west\n");
	assert_int_equal(kw_config_load(&c, err, sizeof(err)), 0);
	assert_string_equal(c.node_name, "web-2.eu_west");
	kw_config_free(&c);
}

static void test_env_file_forms(void **state)
{
	(void)state;
	struct kw_config c = { 0 };
	char err[256] = "";
	write_env("# comment\n\n"
		  "export PORT=9000\n"
		  "LOG_LEVEL = WARNING\n"
		  "ALLOWED_ORIGINS=\"https://a.example,https://b.example\"\n"
		  "JWT_ISSUER='iss # not a comment'\n"
		  "HOST=127.0.0.2 # trailing comment\n"
		  "DATABASE_URL=sqlite:////abs/kw.db\n");
	assert_int_equal(kw_config_load(&c, err, sizeof(err)), 0);
	assert_int_equal(c.port, 9000);
	assert_int_equal(c.log_level, 2);
	assert_string_equal(c.allowed_origins, "https://a.example,https://b.example");
	assert_string_equal(c.jwt_issuer, "iss # not a comment");
	assert_string_equal(c.host, "127.0.0.2");
	assert_string_equal(c.database_path, "/abs/kw.db");
	kw_config_free(&c);
}

static void test_environment_wins(void **state)
{
	(void)state;
	struct kw_config c = { 0 };
	char err[256] = "";
	write_env("PORT=9000\n");
	setenv("PORT", "9100", 1);
	assert_int_equal(kw_config_load(&c, err, sizeof(err)), 0);
	assert_int_equal(c.port, 9100);
	unsetenv("PORT");
	kw_config_free(&c);
}

/* Decimal settings are read exactly: 1.1 is 1100 thousandths, not 1.10000000000000008882. */
static void test_decimal_settings_exact(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int64_t milli;
	} cases[] = { { "1.1", 1100 },	   { "2.2", 2200 },   { "3", 3000 },	 { "2.50", 2500 },
		      { "1000", 1000000 }, { "1.125", 1125 }, { "2.2000", 2200 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kw_config c = { 0 };
		char err[256] = "", line[64];
		snprintf(line, sizeof(line), "VOLUME_SURGE_MULTIPLIER=%s\n", cases[i].text);
		write_env(line);
		assert_int_equal(kw_config_load(&c, err, sizeof(err)), 0);
		assert_int_equal(c.volume_surge_multiplier_milli, cases[i].milli);
		kw_config_free(&c);
	}
}

struct bad_case {
	const char *line;
	const char *expect;
};

static void test_bad_values(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{ "PORT=0\n", "PORT=\"0\" is invalid: expected an integer from 1 to 65535" },
		{ "PORT=80x\n", "PORT=\"80x\" is invalid" },
		{ "PORT=\n", "PORT=\"\" is invalid" },
		{ "RATE_LIMIT_PER_MINUTE=99999999999999999999\n", "RATE_LIMIT_PER_MINUTE" },
		{ "DEBUG=yesplease\n", "expected true or false" },
		{ "ENVIRONMENT=staging\n", "expected one of development|production" },
		{ "VOLUME_SURGE_MULTIPLIER=nan\n", "VOLUME_SURGE_MULTIPLIER" },
		{ "VOLUME_SURGE_MULTIPLIER=0.5\n", "expected a decimal from 1 to 1000" },
		{ "VOLUME_SURGE_MULTIPLIER=2.2001\n", "at most 3 decimal places" },
		{ "VOLUME_SURGE_MULTIPLIER=1e1\n", "VOLUME_SURGE_MULTIPLIER" },
		{ "VOLUME_SURGE_MULTIPLIER=inf\n", "VOLUME_SURGE_MULTIPLIER" },
		{ "SURGE_MIN_TRADES=1\n", "expected an integer from 2 to 100000" },
		{ "KW_THREADS=0\n",
		  "KW_THREADS=\"0\" is invalid: expected an integer from 1 to 64" },
		{ "KW_THREADS=65\n", "expected an integer from 1 to 64" },
		{ "DATABASE_URL=mysql://x\n", "expected sqlite:///PATH" },
		{ "DATABASE_URL=sqlite:///\n", "DATABASE_URL has no path" },
		{ "HOST=a b\n", "expected a host name or IP address" },
		{ "NODE_NAME=node a\n",
		  "NODE_NAME=\"node a\" is invalid: expected 1 to 63 letters" },
		{ "NODE_NAME=n\xc3\xb8"
		  "de\n",
		  "NODE_NAME" },
		{ "NODE_NAME=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		  "NODE_NAME" }, /* 64 characters */
		{ "NOEQUALS\n", "expected KEY=VALUE" },
		{ "API_KEY=\"bad\x07key\"\n", "API_KEY is invalid" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kw_config c = { 0 };
		char err[256] = "";
		write_env(cases[i].line);
		assert_int_equal(kw_config_load(&c, err, sizeof(err)), -1);
		if (!strstr(err, cases[i].expect))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].expect);
		assert_null(strchr(err, '\n'));
		assert_null(strstr(err, "bad\x07key")); /* secrets are never echoed */
		kw_config_free(&c);
	}
}

/* The verdict every program applies after loading: the first rule broken names the fault. */
static void test_verdict(void **state)
{
	(void)state;
	struct verdict_case {
		const char *env;
		const char *expect; /* NULL: accepted */
	};
	static const struct verdict_case cases[] = {
		{ "", NULL },
		{ "ENVIRONMENT=production\nJWT_SECRET=" SECRET32
		  "\nALLOWED_ORIGINS=https://a.example\n",
		  NULL },
		{ "DEBUG=true\nALLOWED_ORIGINS=*\n", NULL }, /* development: warned, not refused */
		{ "ENVIRONMENT=production\nDEBUG=true\nALLOWED_ORIGINS=*\n",
		  "config: DEBUG=true is refused with ENVIRONMENT=production" },
		{ "ENVIRONMENT=production\nALLOWED_ORIGINS=*\n", "* and null are refused" },
		{ "ENVIRONMENT=production\nALLOWED_ORIGINS=https://a.example,null\n",
		  "* and null are refused" },
		{ "ALLOWED_ORIGINS=https://a.example/path\n", "ALLOWED_ORIGINS entry 1" },
		{ "ENVIRONMENT=production\nJWT_SECRET=tiny-secret\n",
		  "config: JWT_SECRET is too short for production: at least 32 bytes" },
		{ "JWT_SECRET=tiny-secret\n", NULL }, /* development: tokens refused, still runs */
		{ "API_KEY=tiny-key\n", "config: API_KEY is too short: at least 32 characters" },
		{ "API_KEY=\"" SECRET32 " x\"\n",
		  "API_KEY must be printable ASCII without spaces" },
		{ "TRUSTED_PROXIES=10.0.0.0/8, ::1\n", NULL },
		{ "TRUSTED_PROXIES=10.0.0.1/8\n", "TRUSTED_PROXIES entry 1" }, /* host bits set */
		{ "WS_MAX_PER_IP=50\nMAX_CONNECTIONS=10\n", "WS_MAX_PER_IP=50 is invalid" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kw_config c = { 0 };
		char err[256] = "";
		write_env(cases[i].env);
		assert_int_equal(kw_config_load(&c, err, sizeof(err)), 0);
		int rc = kw_config_verdict(&c, err, sizeof(err));
		if (!cases[i].expect && rc != 0)
			fail_msg("case %zu: refused: %s", i, err);
		if (cases[i].expect && (rc != -1 || !strstr(err, cases[i].expect)))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].expect);
		assert_null(strstr(err, "tiny-"));  /* secrets are never echoed */
		assert_null(strstr(err, SECRET32)); /* (nor the long ones) */
		kw_config_free(&c);
	}
}

static void test_dump_masks_secrets(void **state)
{
	(void)state;
	struct kw_config c = { 0 };
	char err[256] = "", *out = NULL;
	size_t len = 0;
	write_env("API_KEY=kw_supersecretvalue_0123456789abcdef\n");
	assert_int_equal(kw_config_load(&c, err, sizeof(err)), 0);
	FILE *f = open_memstream(&out, &len);
	kw_config_dump(&c, f);
	fclose(f);
	assert_non_null(strstr(out, "API_KEY=********\n"));
	assert_non_null(strstr(out, "JWT_SECRET=\n"));
	assert_null(strstr(out, "supersecret"));
	free(out);
	kw_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_env_file_forms),
		cmocka_unit_test(test_environment_wins),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_dump_masks_secrets),
		cmocka_unit_test(test_verdict),
		cmocka_unit_test(test_decimal_settings_exact),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
