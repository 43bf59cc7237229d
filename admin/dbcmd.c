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
 *   copy --to URL  the configured SQLite database copied whole into a new PostgreSQL database
 *                  (store_copy.h): one read snapshot, one transaction, verified by row counts;
 *                  a table of the counts is printed. Exit 64 when the source is not SQLite or
 *                  URL not PostgreSQL, 1 when the target is in use or the copy fails; the URL's
 *                  password is never printed.
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
#include "store_copy.h"
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

static void print_counts(const struct kw_copy_report *rep)
{
	printf("%-32s %12s %12s\n", "table", "source rows", "target rows");
	for (int i = 0; i < rep->ntables; i++) {
		const struct kw_copy_count *t = &rep->tables[i];
		printf("%-32s %12lld %12lld%s\n", t->table, (long long)t->source_rows,
		       (long long)t->target_rows,
		       t->source_rows == t->target_rows ? "" : "  <- differs");
	}
}

static int copy(struct kw_config *cfg, const char *to)
{
	char err[512], shown[512];
	int rc = 1;
	struct kw_copy_report rep = { 0 };
	if (kw_url_is_postgres(cfg->db_target)) {
		fprintf(stderr,
			"kw-admin: db copy reads a SQLite database, but DATABASE_URL names "
			"PostgreSQL; set DATABASE_PATH (or DATABASE_URL=sqlite:///...) to the "
			"file to copy\n");
		return KW_EX_USAGE;
	}
	/* A URL of another kind may carry a password of its own: it is not echoed. */
	if (!kw_url_is_postgres(to)) {
		fprintf(stderr, "kw-admin: db copy --to takes a PostgreSQL URL "
				"(postgresql://USER:PASSWORD@HOST:PORT/DB)\n");
		return KW_EX_USAGE;
	}
	kw_url_masked(to, shown, sizeof(shown));
	struct kw_store *s = kw_store_open(cfg->db_target, 0, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "kw-admin: %s\n", err);
		return 1;
	}
	enum kw_copy_result res = kw_store_copy_to(s, to, &rep, err, sizeof(err));
	if (res == KW_COPY_DONE || res == KW_COPY_MISMATCH)
		print_counts(&rep);
	if (res == KW_COPY_DONE) {
		int64_t rows = 0;
		for (int i = 0; i < rep.ntables; i++)
			rows += rep.tables[i].target_rows;
		printf("copied %s into %s: %d tables, %lld rows, every count matches\n",
		       cfg->database_path, shown, rep.ntables, (long long)rows);
		rc = 0;
	} else if (res == KW_COPY_MISMATCH) {
		fprintf(stderr,
			"kw-admin: row counts differ; the copy was rolled back and %s "
			"is unchanged\n",
			shown);
	} else {
		fprintf(stderr, "kw-admin: db copy: %s\n", err);
	}
	kw_copy_report_free(&rep);
	kw_store_close(s);
	return rc;
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
	    !(!strcmp(sub, "backup") && argc == 2) &&
	    !(!strcmp(sub, "copy") && argc == 3 && !strcmp(argv[1], "--to"))) {
		fprintf(stderr, "kw-admin: usage: db migrate|check|vacuum|activity|backup FILE|"
				"copy --to URL\n");
		return 2;
	}
	if (!strcmp(sub, "copy"))
		return copy(cfg, argv[2]);
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
