/*
 * dbcmd.c — `kw-admin db ...`: database upkeep an operator runs while the stack keeps serving.
 *
 *   migrate        create the database or apply pending migrations
 *   check          SQLite's integrity check + schema version; exit 1 unless both are right
 *   vacuum         rebuild the file to return free pages, then truncate the WAL
 *   activity       recount market_activity (the markets' 24-hour trade totals) and the stats
 *                  rollups (store_rollup.h) from the stored trades; kw-fetch keeps them
 *                  current itself, this is for trades written by other means (an import, a
 *                  test's data set), changed thresholds or a suspected drift
 *   backup FILE    an online, consistent copy (SQLite backup API, one read snapshot: WAL lets
 *                  kw-fetch and the workers keep writing meanwhile), written to FILE.tmp,
 *                  checked, then renamed into place so FILE is never half-written
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "db.h"
#include "log.h"
#include "store.h"
#include "store_admin.h"
#include "store_fetch.h"
#include "whale.h"

/* Print the check's verdict as "WHAT integrity: ...": 1 when sound. */
static int integrity_ok(int rc, const char *what, const char *res, const char *err)
{
	if (rc < 0)
		fprintf(stderr, "kw-admin: integrity check of %s failed: %s\n", what, err);
	else
		printf("%s integrity: %s\n", what, res);
	return rc == 1;
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int backup(struct kw_store *s, const char *dest)
{
	char tmp[4096], res[256], err[512];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", dest) >= (int)sizeof(tmp)) {
		fprintf(stderr, "kw-admin: backup path too long\n");
		return 2;
	}
	unlink(tmp);
	int ok = kw_store_backup(s, tmp, res, sizeof(res), err, sizeof(err));
	if (ok < 0) {
		fprintf(stderr, "kw-admin: %s\n", err);
		goto fail;
	}
	if (!integrity_ok(ok, "backup", res, err))
		goto fail;
	if (rename(tmp, dest) < 0) {
		fprintf(stderr, "kw-admin: cannot move %s to %s: %s\n", tmp, dest, strerror(errno));
		goto fail;
	}
	printf("backup written to %s (%lld bytes)\n", dest, file_size(dest));
	return 0;
fail:
	unlink(tmp);
	return 1;
}

int kw_admin_db(struct kw_config *cfg, int argc, char **argv)
{
	char err[512];
	int rc = 1;
	const char *sub = argc > 0 ? argv[0] : "";
	int migrate = !strcmp(sub, "migrate");
	if (!((migrate || !strcmp(sub, "check") || !strcmp(sub, "vacuum") ||
	       !strcmp(sub, "activity")) &&
	      argc == 1) &&
	    !(!strcmp(sub, "backup") && argc == 2)) {
		fprintf(stderr, "kw-admin: usage: db migrate|check|vacuum|activity|backup FILE\n");
		return 2;
	}
	struct kw_store *s =
		kw_store_open(cfg->db_target, migrate ? KW_DB_MIGRATE : 0, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "kw-admin: %s\n", err);
		return 1;
	}
	kw_store_set_data_writer(s, 1); /* a recount changes what kw-api's caches hold */
	char shown[512];
	kw_url_masked(cfg->db_target, shown, sizeof(shown));
	if (migrate) {
		printf("database %s is at schema version %d\n", shown, kw_db_schema_version());
		rc = 0;
	} else if (!strcmp(sub, "check")) {
		char res[256];
		int ok = kw_store_integrity(s, res, sizeof(res), err, sizeof(err));
		rc = integrity_ok(ok, "database", res, err) ? 0 : 1;
		printf("schema version: %d\n", kw_db_schema_version());
	} else if (!strcmp(sub, "vacuum") && kw_url_is_postgres(cfg->db_target)) {
		if (kw_store_vacuum(s, err, sizeof(err)) == 0) {
			printf("vacuumed %s\n", shown);
			rc = 0;
		} else {
			fprintf(stderr, "kw-admin: vacuum failed: %s\n", err);
		}
	} else if (!strcmp(sub, "vacuum")) {
		long long before = file_size(cfg->database_path);
		if (kw_store_vacuum(s, err, sizeof(err)) == 0) {
			printf("vacuumed %s: %lld -> %lld bytes\n", cfg->database_path, before,
			       file_size(cfg->database_path));
			rc = 0;
		} else {
			fprintf(stderr, "kw-admin: vacuum failed: %s\n", err);
		}
	} else if (!strcmp(sub, "activity")) {
		int64_t now = kw_now_s();
		if (kw_store_fetch_activity(s, now, 1) == 0 &&
		    kw_whale_rollups(s, cfg, now, 1) == 0) {
			printf("market activity and stats rollups recounted from the stored "
			       "trades\n");
			rc = 0;
		} else {
			fprintf(stderr, "kw-admin: recounting market activity failed\n");
		}
	} else {
		rc = backup(s, argv[1]);
	}
	kw_store_close(s);
	return rc;
}
