/*
 * test_post.c — the one outbound POST (lib/post.c) against a one-shot server on 127.0.0.1
 * (loopback.h): the body and the caller's header lines arrive as given, any status is handed
 * back (a 500 is an answer, not an error), and a refused connection or a scheme other than
 * http/https is an error with a reason, never a status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "loopback.h"
#include "post.h"

static void test_post_arrives_as_sent(void **state)
{
	(void)state;
	static const int statuses[] = { 202, 500 };
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		struct loopback lb;
		char url[64], err[128] = "";
		long status = 0;
		const char *headers[] = { "Content-Type: application/json", "X-Test: one two",
					  NULL };
		const char body[] = "{\"text\":\"hello\"}";
		assert_int_equal(loopback_start(&lb, statuses[i]), 0);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook/path?x=1", lb.port);
		int rc = kw_http_post(url, headers, body, sizeof(body) - 1, 5000, &status, err,
				      sizeof(err));
		loopback_wait(&lb);
		assert_int_equal(rc, 0);
		assert_int_equal(status, statuses[i]);
		assert_true(!strncmp(lb.req, "POST /hook/path?x=1 HTTP/1.1\r\n", 30));
		assert_non_null(strstr(lb.req, "\r\nContent-Type: application/json\r\n"));
		assert_non_null(strstr(lb.req, "\r\nX-Test: one two\r\n"));
		assert_non_null(lb.body);
		assert_string_equal(lb.body, body);
	}
}

static void test_no_answer_is_an_error(void **state)
{
	(void)state;
	char url[64], err[128] = "";
	long status = 99;
	int port = loopback_closed_port();
	assert_true(port > 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	assert_int_equal(kw_http_post(url, NULL, "x", 1, 2000, &status, err, sizeof(err)), -1);
	assert_int_equal(status, 0);
	assert_true(err[0] != '\0');
	/* Only http and https: a webhook URL cannot read or write files. */
	err[0] = '\0';
	assert_int_equal(
		kw_http_post("file:///etc/passwd", NULL, "x", 1, 2000, &status, err, sizeof(err)),
		-1);
	assert_true(err[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_arrives_as_sent),
		cmocka_unit_test(test_no_answer_is_an_error),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
