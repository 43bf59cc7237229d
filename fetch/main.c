/*
 * main.c — kw-fetch: refreshes Kalshi market data (markets, trades, order books, series and
 * events) into the SQLite store, once (cron, a systemd timer) or in a loop (make run).
 *
 * This file owns start-up: options, configuration, logging, the single-instance lock, the
 * signal flag, and the --once / --loop / --replay drivers. A run itself is in run.c, the
 * HTTP client, replay and record in client.c.
 *
 * On SQLite the lock is flock(2) on "<DATABASE_PATH>.fetch.lock": the kernel drops it when the
 * process dies (kill -9 included), so a crashed fetcher never blocks the next one. A second
 * instance exits 0 saying so, which is what cron wants every minute.
 *
 * On PostgreSQL several nodes may share the database, each with its kw-fetch. Each run (not
 * the whole process: a --loop on every node takes turns) first takes the cluster's run lock,
 * a session advisory lock on a connection of its own (lib/store_cluster.h), which the server
 * drops with the connection when the process dies. Under the lock it reads the run that
 * finished last: when another node finished one less than the interval ago, this node skips
 * its turn (unless a refresh request waits), so Kalshi sees one client. --once then exits 0
 * with a log line; --loop sleeps until that run's interval is over.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch.h"
#include "log.h"
#include "sentry.h"
#include "store_cluster.h"
#include "store_fetch.h"
#include "version.h"
#include "webhook.h"

#define MAX_REPLAY_RUNS 256
#define RETRIES 4 /* after the first attempt: 5 tries, about 15 s of backoff at 1 s */
#define DEFAULT_BACKOFF_MS 1000
#define WEBHOOK_BUDGET_MS 30000 /* per drain: retries due later wait for the next run */
#define BUSY_RETRY_S 5		/* --loop: next look when another node's run holds the lock */

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: kw-fetch [OPTIONS]\n"
		"Refresh Kalshi market data (markets, trades, order books, series, events) into\n"
		"the KalshiWhale database, then exit (cron) or repeat (--loop).\n"
		"\n"
		"  --once             one run, then exit (the default)\n"
		"  --loop [SECONDS]   run every SECONDS (default UPDATE_INTERVAL_SECONDS) until\n"
		"                     SIGTERM/SIGINT; a POST /api/refresh starts a run early\n"
		"  --dry-run          fetch and parse everything into a throwaway temporary\n"
		"                     database; the real database is not touched\n"
		"  --replay DIR       ingest saved responses from DIR instead of the network (a\n"
		"                     run directory, or a directory of run directories run1/, "
		"...);\n"
		"                     recorded times are shifted so the last run reads as now\n"
		"  --replay-keep-time with --replay: keep the recorded times\n"
		"  --replay-shift SECONDS\n"
		"                     with --replay: shift recorded times by SECONDS (a replay\n"
		"                     logs the shift it used; the same shift again stores nothing\n"
		"                     twice, another one stores the recorded trades again)\n"
		"  --record DIR       save every response a live run fetched under DIR/runNNNN/\n"
		"  --verbose          log at debug level\n"
		"  --version          print the version and exit\n"
		"  -h, --help         show this help and exit\n"
		"\n"
		"Configuration: the environment and the .env file named by KW_ENV_FILE (default\n"
		"./.env): KALSHI_API_BASE, KALSHI_MAX_RPS, KALSHI_TIMEOUT_SECONDS,\n"
		"KALSHI_INCLUDE_COMBOS, UPDATE_INTERVAL_SECONDS, BACKFILL_HOURS, ORDERBOOK_WATCH,\n"
		"RETENTION_DAYS, WHALE_MIN_NOTIONAL_USD, DATABASE_PATH; see the README.\n"
		"Only one kw-fetch runs per database: on SQLite, lock file\n"
		"DATABASE_PATH.fetch.lock; on PostgreSQL, a run lock in the database, and a node\n"
		"skips its run when another node (NODE_NAME) finished one less than the interval\n"
		"ago.\n"
		"\n"
		"Exit status:\n"
		"   0  the run succeeded, or another kw-fetch holds the lock, or another node\n"
		"      ran less than the interval ago, or --loop was stopped\n"
		"   1  the run failed (bad responses from Kalshi, database error, interrupted)\n"
		"   2  usage error\n"
		"   3  partial: markets were refreshed but trades, order books or the catalog\n"
		"      were not all fetched\n"
		"  75  Kalshi unreachable or unavailable (connection failures, timeouts, 429/5xx\n"
		"      after every retry); stored data is unchanged, try again later\n"
		"  78  invalid configuration\n");
}

/* Worse status wins when several runs are replayed: failed > tempfail > partial > ok. */
static int worse(int a, int b)
{
	static const int rank[] = {
		[KW_FETCH_EX_OK] = 0, [KW_FETCH_EX_PARTIAL] = 1, [KW_FETCH_EX_FAILED] = 3
	};
	int ra = a == KW_FETCH_EX_TEMPFAIL ? 2 : rank[a];
	int rb = b == KW_FETCH_EX_TEMPFAIL ? 2 : rank[b];
	return rb > ra ? b : a;
}

static int is_dir(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* recorded_at from DIR/manifest.json; 0 if absent or unreadable (the run then uses now). */
static int64_t manifest_time(const char *dir)
{
	char path[4200];
	int64_t t = 0;
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	json_object *root = json_object_from_file(path), *v;
	if (root && json_object_object_get_ex(root, "recorded_at", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    kw_parse_rfc3339(json_object_get_string(v), &t, NULL) < 0)
		t = 0;
	json_object_put(root);
	return t;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_all(struct kw_fetch_ctx *ctx, const char *dir)
{
	char *runs[MAX_REPLAY_RUNS];
	int64_t at[MAX_REPLAY_RUNS];
	int n = 0, status = KW_FETCH_EX_OK;
	char path[4200];
	struct dirent **ents = NULL;

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	int single = access(path, F_OK) == 0;
	snprintf(path, sizeof(path), "%s/markets", dir);
	if (single || is_dir(path)) {
		runs[n++] = kw_xstrdup(dir);
	} else {
		int m = scandir(dir, &ents, NULL, by_name);
		if (m < 0) {
			kw_error("replay: cannot read %s: %s", dir, strerror(errno));
			return KW_FETCH_EX_FAILED;
		}
		for (int i = 0; i < m; i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			if (ents[i]->d_name[0] != '.' && is_dir(path) && n < MAX_REPLAY_RUNS)
				runs[n++] = kw_xstrdup(path);
			free(ents[i]);
		}
		free(ents);
	}
	if (!n) {
		kw_error("replay: %s holds no run (expected manifest.json, markets/ or run "
			 "directories)",
			 dir);
		return KW_FETCH_EX_FAILED;
	}
	int64_t last = 0, now = kw_now_s();
	for (int i = 0; i < n; i++) {
		at[i] = manifest_time(runs[i]);
		if (at[i] > last)
			last = at[i];
	}
	/* Shift so that the newest recorded run happens now: a sample always looks fresh. */
	int64_t shift = ctx->replay_keep_time || !last ? 0 : now - last;
	if (ctx->replay_shift_given)
		shift = ctx->replay_shift_s;
	kw_info("replay: recorded times shifted by %lld s", (long long)shift);
	for (int i = 0; i < n && !g_stop; i++) {
		int64_t run_at = at[i] ? at[i] + shift : now;
		status = worse(status, kw_fetch_run(ctx, runs[i], run_at, at[i] ? shift : 0));
	}
	for (int i = 0; i < n; i++)
		free(runs[i]);
	return status;
}

/* Sleep until the next run is due, waking early for a refresh request or a stop signal. */
static void wait_next(struct kw_fetch_ctx *ctx, int64_t seconds)
{
	int64_t end = kw_mono_us() + seconds * 1000000;
	while (!g_stop && kw_mono_us() < end) {
		int64_t left = end - kw_mono_us();
		if (kw_fetch_sleep_us(left < 1000000 ? left : 1000000, &g_stop))
			return;
		if (kw_store_fetch_refresh_pending(ctx->store) == 1) {
			kw_info("refresh requested; starting a run");
			return;
		}
	}
}

/* SENTRY_DSN: a failed run, or Kalshi unreachable, is one error event, sent at once. */
static void report_run(struct kw_sentry *s, int status)
{
	if (!s || (status != KW_FETCH_EX_FAILED && status != KW_FETCH_EX_TEMPFAIL))
		return;
	const char *tags[] = { "exit_status", status == KW_FETCH_EX_FAILED ? "1" : "75", NULL };
	kw_sentry_capture(s, "error",
			  status == KW_FETCH_EX_FAILED
				  ? "kw-fetch: run failed"
				  : "kw-fetch: Kalshi unreachable or unavailable",
			  tags);
	kw_sentry_flush(s);
}

/* Webhooks go out after a run, never from a request; a webhook problem never fails the run. */
static void drain_webhooks(struct kw_webhooks *w, const volatile sig_atomic_t *stop)
{
	if (w && kw_webhooks_drain(w, WEBHOOK_BUDGET_MS, stop) < 0)
		kw_warn("webhook: queue not drained (database error); next run retries");
}

/* The command line. */
struct args {
	const char *replay, *record;
	int loop, dry, verbose, keep_time;
	int64_t interval;  /* --loop N, else 0: UPDATE_INTERVAL */
	const char *shift; /* --replay-shift SECONDS, else NULL */
	int64_t shift_s;
};

/* Parse the command line into a; -1 to go on, else the exit status (--help, --version, a
 * usage error). */
static int parse_args(int argc, char **argv, struct args *a)
{
	enum {
		O_LOOP = 256,
		O_ONCE,
		O_DRY,
		O_REPLAY,
		O_KEEP,
		O_SHIFT,
		O_RECORD,
		O_VERBOSE,
		O_VERSION
	};
	static const struct option opts[] = {
		{ "once", no_argument, NULL, O_ONCE },
		{ "loop", optional_argument, NULL, O_LOOP },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "replay", required_argument, NULL, O_REPLAY },
		{ "replay-keep-time", no_argument, NULL, O_KEEP },
		{ "replay-shift", required_argument, NULL, O_SHIFT },
		{ "record", required_argument, NULL, O_RECORD },
		{ "verbose", no_argument, NULL, O_VERBOSE },
		{ "version", no_argument, NULL, O_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *loop_arg = NULL;
	int c;
	*a = (struct args){ 0 };
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_ONCE: a->loop = 0; break;
		case O_LOOP:
			a->loop = 1;
			loop_arg = optarg;
			/* "--loop 120" as well as "--loop=120" */
			if (!loop_arg && optind < argc && argv[optind][0] >= '0' &&
			    argv[optind][0] <= '9')
				loop_arg = argv[optind++];
			break;
		case O_DRY: a->dry = 1; break;
		case O_REPLAY: a->replay = optarg; break;
		case O_KEEP: a->keep_time = 1; break;
		case O_SHIFT: a->shift = optarg; break;
		case O_RECORD: a->record = optarg; break;
		case O_VERBOSE: a->verbose = 1; break;
		case O_VERSION: printf("kw-fetch %s\n", KW_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return KW_FETCH_EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kw-fetch: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return KW_FETCH_EX_USAGE;
	}
	if (loop_arg && kw_parse_i64(loop_arg, 1, 86400, &a->interval) < 0) {
		fprintf(stderr, "kw-fetch: --loop takes seconds from 1 to 86400\n");
		return KW_FETCH_EX_USAGE;
	}
	if ((a->replay && (a->record || a->loop)) || ((a->keep_time || a->shift) && !a->replay) ||
	    (a->keep_time && a->shift)) {
		fprintf(stderr, "kw-fetch: --replay cannot be combined with --record or --loop, "
				"--replay-keep-time and --replay-shift need --replay, and only one "
				"of them can be given\n");
		return KW_FETCH_EX_USAGE;
	}
	/* at most ten years either way: a recording older than that is not a market day */
	if (a->shift && kw_parse_i64(a->shift, -315360000, 315360000, &a->shift_s) < 0) {
		fprintf(stderr, "kw-fetch: --replay-shift takes seconds from -315360000 to "
				"315360000\n");
		return KW_FETCH_EX_USAGE;
	}
	return -1;
}

/* Settings, log and the one verdict on them; -1 to go on, else the exit status. */
static int load_config(struct kw_config *cfg, int verbose)
{
	char err[512];
	if (kw_config_start(cfg, "kw-fetch", verbose ? KW_LOG_DEBUG : -1, err, sizeof(err)) < 0) {
		fprintf(stderr, "kw-fetch: %s\n", err);
		return KW_EX_CONFIG;
	}
	return -1;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: sleeps end at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * The database this run writes: a private scratch file for --dry-run (named in tmpdb, which
 * the caller removes), else the configured one. A SQLite file is held under the fetch lock
 * (*lock_fd); a PostgreSQL database gets the cluster's run lock's connection (*run_lock),
 * taken run by run. The store, or NULL (logged) with *status set: KW_FETCH_EX_OK when another
 * kw-fetch holds the lock, which is no failure.
 */
static struct kw_store *open_database(const struct kw_config *cfg, int dry, char *tmpdb,
				      size_t tmplen, int *lock_fd, struct kw_run_lock **run_lock,
				      int *status)
{
	char err[512];
	const char *dbpath = cfg->database_path;
	int pg = !dry && kw_url_is_postgres(cfg->db_target);
	if (dry) {
		/* A private scratch database: the same code path, nothing real is written. */
		const char *tmp = getenv("TMPDIR");
		snprintf(tmpdb, tmplen, "%.40s/kw-fetch-dry-XXXXXX", tmp ? tmp : "/tmp");
		int fd = mkstemp(tmpdb);
		if (fd < 0) {
			kw_error("dry run: cannot create a scratch database: %s", strerror(errno));
			tmpdb[0] = '\0';
			return NULL;
		}
		close(fd);
		dbpath = tmpdb;
		kw_info("dry run: using scratch database %s", tmpdb);
	} else if (!pg) {
		char lock[4200];
		snprintf(lock, sizeof(lock), "%s.fetch.lock", dbpath);
		*lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (*lock_fd < 0) {
			kw_error("cannot open lock file %s: %s", lock, strerror(errno));
			return NULL;
		}
		if (flock(*lock_fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EWOULDBLOCK) {
				kw_info("another kw-fetch is running (lock %s held); exiting",
					lock);
				*status = KW_FETCH_EX_OK;
			} else {
				kw_error("cannot lock %s: %s", lock, strerror(errno));
			}
			return NULL;
		}
	}
	/* A real run opens the configured database (a PostgreSQL URL or the file). */
	struct kw_store *store =
		kw_store_open(dry ? dbpath : cfg->db_target, KW_DB_MIGRATE, err, sizeof(err));
	if (!store) {
		kw_error("%s", err);
		return NULL;
	}
	/* After the store, which applied any migration the lock's connection checks for. */
	if (pg && !(*run_lock = kw_run_lock_open(cfg->db_target, err, sizeof(err)))) {
		kw_error("%s", err);
		kw_store_close(store);
		return NULL;
	}
	/* Everything kw-fetch commits is market data (the run journal included: source_lag_s
	 * follows it), so every commit advances the generation kw-api's caches are keyed on. */
	kw_store_set_data_writer(store, 1);
	if (kw_store_fetch_tune(store) < 0) {
		kw_store_close(store);
		return NULL;
	}
	return store;
}

/* The scratch database of a dry run and its WAL and shared-memory files. */
static void remove_scratch(const char *tmpdb)
{
	char side[128];
	unlink(tmpdb);
	snprintf(side, sizeof(side), "%s-wal", tmpdb);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", tmpdb);
	unlink(side);
}

/* Whether this node's run may go ahead now (PostgreSQL, several nodes). */
enum turn {
	TURN_GO,     /* the run lock is held: run, then release it */
	TURN_BUSY,   /* another node's run holds the lock */
	TURN_RECENT, /* another node finished a run less than the interval ago */
	TURN_ERROR,  /* the database cannot say (logged) */
};

/*
 * Take the cluster's run lock and, unless skip_recent is 0 or a refresh request waits, give
 * the turn up when another node finished a run less than interval seconds ago; *wait_s is then
 * the seconds until that run's interval is over. Without a lock (SQLite, a dry run) always
 * TURN_GO: the process's flock decided already.
 */
static enum turn take_turn(struct kw_fetch_ctx *ctx, struct kw_run_lock *lock, int64_t interval,
			   int skip_recent, int64_t *wait_s)
{
	struct kw_cluster_run last;
	*wait_s = BUSY_RETRY_S;
	if (!lock)
		return TURN_GO;
	int taken = kw_run_lock_try(lock);
	if (taken < 0)
		return TURN_ERROR;
	if (!taken) {
		kw_info("another node's run holds the cluster's run lock; not running now");
		return TURN_BUSY;
	}
	if (!skip_recent)
		return TURN_GO;
	int pending = kw_store_fetch_refresh_pending(ctx->store);
	int found = pending == 0 ? kw_store_cluster_last_finished(ctx->store, &last) : 0;
	if (pending < 0 || found < 0) {
		kw_run_lock_release(lock);
		return TURN_ERROR;
	}
	int64_t age = kw_now_s() - last.finished_at;
	if (found && last.node[0] && strcmp(last.node, ctx->cfg->node_name) != 0 && age >= 0 &&
	    age < interval) {
		kw_run_lock_release(lock);
		*wait_s = interval - age;
		kw_info("node %s finished run %lld %lld s ago (interval %lld s); this node skips "
			"its run",
			last.node, (long long)last.id, (long long)age, (long long)interval);
		return TURN_RECENT;
	}
	return TURN_GO;
}

/* One run when it is this node's turn: *status is the run's, or KW_FETCH_EX_OK when the turn
 * was another node's. The turn, as take_turn() said; *wait_s the seconds to the next look. */
static enum turn run_turn(struct kw_fetch_ctx *ctx, struct kw_run_lock *lock, const char *replay,
			  int64_t interval, int *status, int64_t *wait_s)
{
	enum turn t = take_turn(ctx, lock, interval, replay == NULL, wait_s);
	*status = t == TURN_ERROR ? KW_FETCH_EX_FAILED : KW_FETCH_EX_OK;
	if (t != TURN_GO)
		return t;
	*status = replay ? replay_all(ctx, replay) : kw_fetch_run(ctx, NULL, kw_now_s(), 0);
	if (lock)
		kw_run_lock_release(lock);
	return t;
}

/* One replay, one run, or runs every interval seconds until a stop signal; the exit status.
 * After each run: webhooks, then error reports kw-api's workers and crashes left in the
 * Sentry spool (they never send themselves). lock: the cluster's run lock (PostgreSQL), or
 * NULL. */
static int run_all(struct kw_fetch_ctx *ctx, const struct args *a, int64_t interval,
		   struct kw_run_lock *lock, struct kw_sentry *sentry, struct kw_webhooks *webhooks)
{
	int status;
	int64_t wait_s;
	if (!a->loop) {
		if (run_turn(ctx, lock, a->replay, interval, &status, &wait_s) == TURN_GO) {
			drain_webhooks(webhooks, &g_stop);
			kw_sentry_send_spool(sentry);
		}
		return status;
	}
	kw_info("looping every %lld s against %s", (long long)interval, ctx->cfg->kalshi_api_base);
	while (!g_stop) {
		enum turn t = run_turn(ctx, lock, NULL, interval, &status, &wait_s);
		if (t == TURN_GO) {
			report_run(sentry, status);
			drain_webhooks(webhooks, &g_stop);
			kw_sentry_send_spool(sentry);
			if (status == KW_FETCH_EX_TEMPFAIL)
				kw_warn("Kalshi is unreachable; retrying in %lld s",
					(long long)interval);
			wait_s = interval;
		}
		wait_next(ctx, wait_s < interval ? wait_s : interval);
	}
	kw_info("stopped by signal");
	return KW_FETCH_EX_OK;
}

/* KW_FETCH_BACKOFF_MS (tests: retries without long sleeps) over *backoff_ms; -1 (printed)
 * when it is not 0..60000. */
static int backoff_setting(int64_t *backoff_ms)
{
	const char *bo = getenv("KW_FETCH_BACKOFF_MS");
	if (bo && kw_parse_i64(bo, 0, 60000, backoff_ms) < 0) {
		fprintf(stderr, "kw-fetch: KW_FETCH_BACKOFF_MS must be 0..60000\n");
		return -1;
	}
	return 0;
}

/* libcurl and the Kalshi client (main() pairs it with curl_global_cleanup); NULL (logged)
 * when libcurl cannot start. */
static struct kw_client *open_client(const struct kw_config *cfg, const struct args *a,
				     int64_t backoff_ms)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		kw_error("cannot initialise libcurl");
		return NULL;
	}
	struct kw_client_opts co = {
		.base = cfg->kalshi_api_base,
		.timeout_s = cfg->kalshi_timeout_s,
		.max_rps = cfg->kalshi_max_rps,
		.backoff_ms = backoff_ms,
		.retries = RETRIES,
		.max_body = KW_FETCH_MAX_BODY,
		.record_dir = a->record,
		.stop = &g_stop,
	};
	return kw_client_new(&co);
}

int main(int argc, char **argv)
{
	struct args a;
	struct kw_config cfg = { 0 };
	struct kw_store *store = NULL;
	struct kw_client *client = NULL;
	struct kw_sentry *sentry = NULL;
	struct kw_webhooks *webhooks = NULL;
	struct kw_run_lock *run_lock = NULL;
	int lock_fd = -1, rc;
	int status = KW_FETCH_EX_FAILED;
	char tmpdb[64] = "";

	/* Nothing this program creates (database, spools, recordings) is for other users: the
	 * database holds key hashes and client addresses. */
	umask(027);
	if ((rc = parse_args(argc, argv, &a)) >= 0)
		return rc;
	if ((rc = load_config(&cfg, a.verbose)) >= 0) {
		status = rc;
		goto out;
	}
	int64_t interval = a.interval ? a.interval : cfg.update_interval_s;
	sentry = kw_sentry_start(&cfg, "kw-fetch"); /* NULL without SENTRY_DSN */
	int64_t backoff_ms = DEFAULT_BACKOFF_MS;
	if (backoff_setting(&backoff_ms) < 0) {
		status = KW_EX_CONFIG;
		goto out;
	}
	install_signals();
	store = open_database(&cfg, a.dry, tmpdb, sizeof(tmpdb), &lock_fd, &run_lock, &status);
	if (!store)
		goto out;
	client = open_client(&cfg, &a, backoff_ms);
	if (!client)
		goto out;
	if (!a.dry) /* ALERT_WEBHOOK_URL / WHALE_WEBHOOK_URL: NULL when none is set */
		webhooks = kw_webhooks_new(&cfg, store);
	struct kw_fetch_ctx ctx = { &cfg,	 store,		  client,   &g_stop,
				    a.keep_time, a.shift != NULL, a.shift_s };
	status = run_all(&ctx, &a, interval, run_lock, sentry, webhooks);
out:
	if (!a.loop)
		report_run(sentry, status);
	kw_sentry_free(sentry);
	kw_webhooks_free(webhooks);
	kw_client_free(client);
	kw_run_lock_close(run_lock);
	kw_store_close(store);
	if (client)
		curl_global_cleanup();
	if (tmpdb[0])
		remove_scratch(tmpdb);
	if (lock_fd >= 0)
		close(lock_fd);
	kw_config_free(&cfg);
	return status;
}
