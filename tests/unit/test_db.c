/*
 * test_db.c — the database file's migrations (lib/db.c): a fresh file reaches the latest
 * version in WAL mode, reopening applies nothing, a newer file is refused untouched, and a
 * non-SQLite file is refused without being rewritten.
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

#include "db.h"
#include "util.h"

static void tmpname(char *buf, size_t n)
{
	snprintf(buf, n, "/tmp/kw-test-db-%d-%u.db", (int)getpid(), (unsigned)rand());
}

static void cleanup(const char *path)
{
	char p[600];
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static int user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void test_fresh_and_reopen(void **state)
{
	(void)state;
	char path[512], err[256];
	tmpname(path, sizeof(path));
	sqlite3 *db = kw_db_open(path, KW_DB_MIGRATE, err, sizeof(err));
	assert_non_null(db);
	assert_int_equal(user_version(db), kw_db_schema_version());
	assert_true(kw_db_schema_version() >= 1);
	kw_db_close(db);
	/* Without KW_DB_MIGRATE an up-to-date file opens; nothing is applied twice. */
	db = kw_db_open(path, 0, err, sizeof(err));
	assert_non_null(db);
	kw_db_close(db);
	cleanup(path);
}

static void test_migrations_are_ordered(void **state)
{
	(void)state;
	for (int i = 1; i < kw_migrations_count; i++)
		assert_true(kw_migrations[i].version > kw_migrations[i - 1].version);
	assert_int_equal(kw_migrations[0].version, 1);
}

static void test_newer_is_refused(void **state)
{
	(void)state;
	char path[512], err[256];
	tmpname(path, sizeof(path));
	sqlite3 *raw;
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version=9999", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(raw);
	assert_null(kw_db_open(path, KW_DB_MIGRATE, err, sizeof(err)));
	assert_non_null(strstr(err, "schema version 9999 is newer"));
	assert_null(kw_db_open(path, 0, err, sizeof(err)));
	cleanup(path);
}

static void test_not_sqlite(void **state)
{
	(void)state;
	char path[512], err[256];
	tmpname(path, sizeof(path));
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 100; i++)
		fputs("definitely not a database file\n", f);
	fclose(f);
	assert_null(kw_db_open(path, KW_DB_MIGRATE, err, sizeof(err)));
	assert_non_null(strstr(err, "not a usable SQLite database"));
	f = fopen(path, "r");
	char line[64];
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "definitely not a database file\n");
	fclose(f);
	cleanup(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_and_reopen),
		cmocka_unit_test(test_migrations_are_ordered),
		cmocka_unit_test(test_newer_is_refused),
		cmocka_unit_test(test_not_sqlite),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
