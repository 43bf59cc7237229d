/*
 * test_store_api.c — the data API's list queries walk an index: EXPLAIN QUERY PLAN of every
 * list query (lib/store_api.c) shows no full scan of a big table and no sort of a whole table.
 * The plans are printed, so a change of plan is visible in the test log.
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

#include "store.h"
#include "store_api.h"

static int check_plan(void *ctx, const char *query, const char *detail)
{
	int *lines = ctx;
	(*lines)++;
	printf("plan: %-28s %s\n", query, detail);
	/* A bare "SCAN t" / "SCAN a" / "SCAN market_snapshots" reads the whole table. The markets
	 * lists scan an index in sort order (SCAN m USING INDEX markets_v1_...), which stops
	 * after `limit` rows. kw_h is the list of hours a per-market query seeks
	 * (KW_SQL_HOURS_IN): generated, at most the retention's hours. g is market history's
	 * buckets: at most `limit` rows, each found by primary key. */
	if (!strncmp(detail, "SCAN ", 5) && !strstr(detail, "USING INDEX") &&
	    !strstr(detail, "USING COVERING INDEX") && strncmp(detail, "SCAN p", 6) &&
	    strncmp(detail, "SCAN c", 6) && strcmp(detail, "SCAN kw_h") &&
	    strcmp(detail, "SCAN g") && strstr(detail, "CONSTANT ROW") == NULL)
		fail_msg("%s: full scan: %s", query, detail);
	/* One market's trades: its hours of trades_hour_ticker, never the whole table. */
	if ((strstr(query, "ticker") || !strcmp(query, "market trades") ||
	     !strcmp(query, "market hourly")) &&
	    !strncmp(detail, "SEARCH t ", 9) &&
	    !strstr(detail, "trades_hour_ticker (<expr>=? AND ticker=?"))
		fail_msg("%s: not on trades_hour_ticker: %s", query, detail);
	if (!strcmp(query, "top trades") && !strncmp(detail, "SEARCH t ", 9) &&
	    !strstr(detail, "trades_whale"))
		fail_msg("%s: not on trades_whale: %s", query, detail);
	/* Sorting is allowed only for the few rows of one market, event or series, and for the
	 * top trades: the window's trades of $1000 or more, from trades_whale (no index orders
	 * trades by size, see 0008_trade_hours.sql). */
	if (strstr(detail, "TEMP B-TREE FOR ORDER BY") && strncmp(query, "market history", 14) &&
	    strncmp(query, "by ", 3) && strcmp(query, "top trades"))
		fail_msg("%s: sorts the whole result: %s", query, detail);
	/* Keyset pages start at the cursor (SEARCH), not at the top of the index (SCAN). */
	if (!strncmp(query, "markets", 7) && !strncmp(detail, "SCAN m", 6))
		fail_msg("%s: walks from the top of the index: %s", query, detail);
	if (!strncmp(query, "markets", 7) && !strncmp(detail, "SEARCH m", 8) &&
	    !strstr(detail, "markets_v1_"))
		fail_msg("%s: not on its sort index: %s", query, detail);
	if (!strncmp(query, "by event", 8) && !strncmp(detail, "SEARCH m", 8) &&
	    !strstr(detail, "markets_event"))
		fail_msg("%s: not on markets_event: %s", query, detail);
	if (!strncmp(query, "by series", 9) && !strncmp(detail, "SEARCH m", 8) &&
	    !strstr(detail, "markets_series"))
		fail_msg("%s: not on markets_series: %s", query, detail);
	if (!strcmp(query, "whales") && !strncmp(detail, "SEARCH t", 8) &&
	    !strstr(detail, "trades_whale"))
		fail_msg("%s: not on trades_whale: %s", query, detail);
	return 0;
}

static void test_list_plans(void **state)
{
	(void)state;
	char path[256], err[256];
	snprintf(path, sizeof(path), "/tmp/kw-test-store-api-%d.db", (int)getpid());
	struct kw_store *s = kw_store_open(path, KW_DB_MIGRATE, err, sizeof(err));
	assert_non_null(s);
	int lines = 0;
	assert_int_equal(kw_store_api_plans(s, check_plan, &lines), 0);
	assert_true(lines >= 19);
	kw_store_close(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_plans),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
