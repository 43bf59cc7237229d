/*
 * main.c — kw-admin: operator commands for KalshiWhale. This file parses the command line and
 * dispatches; each group of commands lives in its own file as it grows (keys, tokens, db).
 *
 * Exit status: 0 done, 1 the command failed, 2 usage error, 64 `db copy` between the wrong
 * kinds of database, 78 invalid configuration.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "admin.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "store.h"
#include "version.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: kw-admin COMMAND [ARGS]\n"
		"KalshiWhale administration.\n"
		"\n"
		"  db migrate         create the database or apply pending migrations\n"
		"  db check           integrity check and schema version\n"
		"  db vacuum          return free pages to the file system\n"
		"  db activity        recount the markets' 24-hour totals and the stats "
		"rollups from the trades\n"
		"  db backup FILE     online, consistent copy of the database (safe while "
		"running)\n"
		"  db copy --to URL   copy the SQLite database into a new PostgreSQL database\n"
		"                     (postgresql://...), verified by row counts per table\n"
		"  key create --name NAME [--scope read|admin] [--rate N]\n"
		"                     new API key, printed once (stored as a SHA-256 hash)\n"
		"  key list           every key: id, name, prefix, scope, rate, last use\n"
		"  key revoke ID      revoke a key (effective on the next request)\n"
		"  key rotate ID      new key with the same name, scope and rate; old revoked\n"
		"  unblock ADDRESS    lift a block on a client address before it expires\n"
		"  token create [--scope read|admin] [--ttl SECONDS]\n"
		"                     HS256 bearer token signed with JWT_SECRET, at most\n"
		"                     JWT_MAX_TTL_SECONDS; its jti is printed on stderr\n"
		"  token revoke JTI   revoke one token (effective on the next request)\n"
		"  config check       validate the configuration; print effective settings\n"
		"                     (secrets masked)\n"
		"  config doc         print the settings table as Markdown (README)\n"
		"  config env         print a commented .env template (.env.example)\n"
		"  --version          print the version\n"
		"  -h, --help         show this help\n"
		"\n"
		"Configuration comes from the environment and KW_ENV_FILE (default ./.env).\n"
		"Exit status: 0 done, 1 failed, 2 usage error, 64 db copy between the wrong\n"
		"kinds of database, 78 invalid configuration.\n");
}

static int load_config(struct kw_config *cfg)
{
	char err[512];
	if (kw_config_load(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "kw-admin: %s\n", err);
		kw_config_free(cfg); /* the settings loaded before the bad one */
		return -1;
	}
	if (kw_log_init("kw-admin", (enum kw_log_level)cfg->log_level, NULL) < 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct kw_config cfg = { 0 };
	int rc = 2;
	/* Nothing this program creates (database, limiter table, logs, spools) is for other
	 * users: the database holds key hashes and client addresses. */
	umask(027);
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("kw-admin %s\n", KW_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "config") && argc == 3 && !strcmp(argv[2], "doc")) {
		kw_config_doc_markdown(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "config") && argc == 3 && !strcmp(argv[2], "env")) {
		kw_config_doc_env(stdout);
		return 0;
	}
	if (load_config(&cfg) < 0)
		return KW_EX_CONFIG;
	if (!strcmp(argv[1], "config") && argc == 3 && !strcmp(argv[2], "check")) {
		/* The same verdict kw-api, kw-ws and kw-fetch give at start, and the same line. */
		char err[512];
		if (kw_config_verdict(&cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "kw-admin: %s\n", err);
			rc = KW_EX_CONFIG;
		} else {
			kw_config_dump(&cfg, stdout);
			rc = 0;
		}
	} else if (!strcmp(argv[1], "key")) {
		rc = kw_admin_key(&cfg, argc - 2, argv + 2);
	} else if (!strcmp(argv[1], "token")) {
		rc = kw_admin_token(&cfg, argc - 2, argv + 2);
	} else if (!strcmp(argv[1], "db")) {
		rc = kw_admin_db(&cfg, argc - 2, argv + 2);
	} else if (!strcmp(argv[1], "unblock")) {
		rc = kw_admin_unblock(&cfg, argc - 2, argv + 2);
	} else {
		fprintf(stderr, "kw-admin: unknown command\n");
		usage(stderr);
	}
	kw_config_free(&cfg);
	return rc;
}
