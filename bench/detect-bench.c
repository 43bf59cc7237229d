/*
 * detect-bench.c — time one whale-detection run (kw_detect_run) on the database named by the
 * settings (KW_ENV_FILE), the way kw-fetch runs it after an incremental fetch. Built and run
 * by bench/bench-api.sh against its generated database; prints one line with the figures.
 */
#include <stdio.h>

#include "config.h"
#include "store.h"
#include "whale.h"

int main(void)
{
	struct kw_config cfg = { 0 };
	struct kw_detect_stats st;
	char err[512];
	if (kw_config_load(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "detect-bench: %s\n", err);
		return 1;
	}
	struct kw_store *s = kw_store_open(cfg.database_path, KW_DB_MIGRATE, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "detect-bench: %s\n", err);
		return 1;
	}
	int rc = kw_detect_run(s, &cfg, kw_now_s(), &st);
	if (rc == 0)
		printf("detection: %lld us, %lld alerts (%lld whale, %lld surge, %lld odds, %lld "
		       "book, "
		       "%lld high volume), %lld trades, %lld changed snapshots, %lld books\n",
		       (long long)st.elapsed_us, (long long)st.fired_total,
		       (long long)st.fired[KW_ALERT_WHALE_TRADE],
		       (long long)st.fired[KW_ALERT_VOLUME_SURGE],
		       (long long)st.fired[KW_ALERT_ODDS_FLIP],
		       (long long)st.fired[KW_ALERT_ORDER_BOOK_SHIFT],
		       (long long)st.fired[KW_ALERT_HIGH_VOLUME], (long long)st.trades_examined,
		       (long long)st.snapshots_examined, (long long)st.books_examined);
	kw_store_close(s);
	kw_config_free(&cfg);
	return rc == 0 ? 0 : 1;
}
