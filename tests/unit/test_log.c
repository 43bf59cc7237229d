/*
 * test_log.c — the line logger (lib/log.c) writing to a LOG_FILE: one line per event in the
 * documented shape "TIME LEVEL PROG[PID] file:line: message", levels below the configured one
 * dropped, a newline inside a message unable to forge a second line, an overlong message cut
 * to one line, JSON lines for security events, the level names LOG_LEVEL accepts, and a file
 * that cannot be opened reported.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* Every line of the file at path, read whole (the caller frees). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *text = calloc(1, 65536);
	assert_non_null(text);
	size_t n = fread(text, 1, 65535, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

static int count_lines(const char *text)
{
	int n = 0;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	return n;
}

static void test_lines_in_a_file(void **state)
{
	(void)state;
	char path[128];
	snprintf(path, sizeof(path), "/tmp/kw-test-log-%d.log", (int)getpid());
	unlink(path);
	assert_int_equal(kw_log_init("kw-test", KW_LOG_INFO, path), 0);
	kw_debug("not written: %d", 1);
	int line = __LINE__ + 1;
	kw_info("fetched %d pages", 12);
	kw_warn("two\nlines\rin one");
	kw_log_set_level(KW_LOG_ERROR);
	kw_warn("not written either");
	kw_error("kept");
	kw_log_json(KW_LOG_WARNING, "{\"dropped\":true}");
	kw_log_json(KW_LOG_ERROR, "{\"event\":\"auth_failed\"}");
	char big[4000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kw_error("%s", big);
	kw_log_set_level(KW_LOG_INFO);

	char *text = slurp(path);
	assert_int_equal(count_lines(text), 5);
	assert_null(strstr(text, "not written"));
	assert_null(strstr(text, "dropped"));

	/* The documented shape, with this file and line. */
	char want[256];
	snprintf(want, sizeof(want),
		 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z info "
		 "kw-test\\[%d\\] tests/unit/test_log\\.c:%d: fetched 12 pages$",
		 (int)getpid(), line);
	regex_t re;
	assert_int_equal(regcomp(&re, want, REG_EXTENDED | REG_NEWLINE), 0);
	assert_int_equal(regexec(&re, text, 0, NULL, 0), 0);
	regfree(&re);
	assert_non_null(strstr(text, ": two lines in one\n"));
	assert_non_null(strstr(text, " error kw-test["));
	assert_non_null(strstr(text, "] {\"event\":\"auth_failed\"}\n"));
	/* The long line is cut, still one line ending in a newline. */
	const char *last = strrchr(text, '\n');
	assert_non_null(last);
	assert_true(last[1] == '\0');
	assert_non_null(strstr(text, "xxxxxxxx\n"));
	free(text);
	unlink(path);
	assert_int_equal(kw_log_init("kw-test", KW_LOG_INFO, NULL), 0);
}

static void test_unusable_file(void **state)
{
	(void)state;
	assert_int_equal(kw_log_init("kw-test", KW_LOG_INFO, "/nonexistent-dir/kw.log"), -1);
}

static void test_levels(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int level;
	} cases[] = {
		{ "debug", KW_LOG_DEBUG },
		{ "INFO", KW_LOG_INFO },
		{ "warning", KW_LOG_WARNING },
		{ "Warn", KW_LOG_WARNING },
		{ "error", KW_LOG_ERROR },
		{ "critical", KW_LOG_ERROR },
		{ "", -1 },
		{ "verbose", -1 },
		{ "info ", -1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(kw_log_level_parse(cases[i].text), cases[i].level);
	assert_string_equal(kw_log_level_name(KW_LOG_DEBUG), "debug");
	assert_string_equal(kw_log_level_name(KW_LOG_WARNING), "warning");
	kw_log_set_level(KW_LOG_WARNING);
	assert_false(kw_log_enabled(KW_LOG_INFO));
	assert_true(kw_log_enabled(KW_LOG_WARNING));
	assert_true(kw_log_enabled(KW_LOG_ERROR));
	kw_log_set_level(KW_LOG_INFO);
	assert_int_equal(kw_log_pid(), getpid());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_in_a_file),
		cmocka_unit_test(test_unusable_file),
		cmocka_unit_test(test_levels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
