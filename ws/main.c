/*
 * main.c — kw-ws: the KalshiWhale WebSocket sidecar. Start-up, settings, the libwebsockets
 * context, signals and shutdown; the hub (hub.c) and the connections (conn.c) do the rest.
 *
 * Start-up validates everything once and refuses to run on a bad setting (exit 78): the verdict
 * every program shares (kw_config_verdict), then JWT_SECRET of at least 32 bytes in production
 * (in development a missing one only disables tickets, so that `make run` works with X-API-Key
 * clients), a listen address, enough file descriptors for
 * MAX_CONNECTIONS (the soft RLIMIT_NOFILE is raised toward the hard one when needed), and the
 * database (exit 1 if it cannot be opened or migrated). It then listens on WS_HOST:WS_PORT or
 * WS_SOCKET, follows the store and serves until SIGTERM/SIGINT: every client then gets a close
 * frame with 1001 (going away), the last ws_stats report says 0 connections, and it exits 0.
 *
 * Test-only: --heartbeat-ms N replaces the 30 s heartbeat interval (so tests need not wait).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "sentry.h"
#include "store_security.h"
#include "ws.h"
#include "version.h"

/* Descriptors kept free for the listener, the database, logs and libwebsockets' own pipes. */
#define FD_RESERVE 64

static volatile sig_atomic_t g_stop;
static struct lws_context *volatile g_ctx;

static void on_stop_signal(int sig)
{
	(void)sig;
	g_stop = 1;
	if (g_ctx)
		lws_cancel_service(g_ctx); /* writes to lws' event pipe: wakes the loop */
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: kw-ws [OPTIONS]\n"
		"KalshiWhale WebSocket sidecar: pushes new alerts, whale trades and market "
		"updates\n"
		"to dashboards. Runs behind lighttpd or Apache, which forward /ws to it.\n"
		"\n"
		"  --check-config       validate the configuration and the database, then exit\n"
		"  --heartbeat-ms N     heartbeat interval in ms (test-only; default 30000)\n"
		"  --version            print the version and exit\n"
		"  -h, --help           show this help and exit\n"
		"\n"
		"Settings (environment or the .env file named by KW_ENV_FILE): WS_HOST, WS_PORT,\n"
		"WS_SOCKET, MAX_CONNECTIONS, WS_MAX_PER_IP, WS_MAX_MESSAGE_BYTES, "
		"WS_MAX_MSGS_PER_SEC,\n"
		"WEB_SOCKET_TIMEOUT, ALLOWED_ORIGINS, TRUSTED_PROXIES, API_KEY, JWT_SECRET,\n"
		"WHALE_MIN_NOTIONAL_USD, DATABASE_PATH; see the README.\n"
		"Exit status: 0 stopped cleanly, 1 start-up failure, 2 usage error, 78 invalid "
		"configuration.\n");
}

/* What kw-ws needs beyond kw_config_verdict(), which kw_config_start() applied first. */
static int check_settings(const struct kw_config *cfg, char *err, size_t errlen)
{
	if (strlen(cfg->jwt_secret) < KW_TICKET_MIN_SECRET) {
		if (cfg->environment == KW_ENV_PRODUCTION) {
			snprintf(err, errlen,
				 "config: JWT_SECRET is invalid: expected at least %d bytes (kw-ws "
				 "checks WebSocket tickets with it)",
				 KW_TICKET_MIN_SECRET);
			return -1;
		}
		kw_warn("config: JWT_SECRET is shorter than %d bytes: WebSocket tickets are "
			"refused; "
			"only X-API-Key clients can connect",
			KW_TICKET_MIN_SECRET);
	}
	/* Enough descriptors for every client: raise the soft limit if the hard one allows. */
	struct rlimit rl;
	rlim_t need = (rlim_t)cfg->max_connections + FD_RESERVE;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
			snprintf(err, errlen,
				 "config: MAX_CONNECTIONS=%lld is invalid: it needs %llu file "
				 "descriptors and the hard RLIMIT_NOFILE is %llu (raise "
				 "LimitNOFILE)",
				 (long long)cfg->max_connections, (unsigned long long)need,
				 (unsigned long long)rl.rlim_max);
			return -1;
		}
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			snprintf(err, errlen, "cannot raise RLIMIT_NOFILE to %llu: %s",
				 (unsigned long long)need, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void restore_limiter(struct kw_rl *rl, void *ctx)
{
	struct kw_hub *h = ctx;
	if (kw_store_rl_restore(h->store, rl, kw_now_us()) == 0)
		kw_info("ratelimit: shared table created and restored from the database");
}

/* kw-api's limiter table (lib/ratelimit.h), made the way kw-api makes it if kw-ws comes
 * first: address blocks and failure counts are shared, whichever program saw the failures. */
static int open_limiter(struct kw_hub *h, char *err, size_t errlen)
{
	struct stat st;
	const char *db = h->cfg->database_path;
	uint64_t owner = stat(db, &st) == 0 ? ((uint64_t)st.st_dev << 40) ^ (uint64_t)st.st_ino : 0;
	char *path = kw_rl_path(db);
	h->rl = kw_rl_open(path, owner, restore_limiter, h, err, errlen);
	free(path);
	return h->rl ? 0 : -1;
}

static void lws_log_emit(int level, const char *line)
{
	/* lws lines end with a newline; log.c turns it into a space. */
	if (level & LLL_ERR)
		kw_error("libwebsockets: %s", line);
	else
		kw_warn("libwebsockets: %s", line);
}

/* Parse the command line; -1 to go on, else the exit status (--help, --version, usage). */
static int parse_args(int argc, char **argv, int *check_only, int64_t *heartbeat_ms)
{
	static const struct option opts[] = {
		{ "check-config", no_argument, NULL, 'c' },
		{ "heartbeat-ms", required_argument, NULL, 'H' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': *check_only = 1; break;
		case 'H':
			if (kw_parse_i64(optarg, 50, 3600000, heartbeat_ms) < 0) {
				fprintf(stderr, "kw-ws: --heartbeat-ms must be 50..3600000\n");
				return 2;
			}
			break;
		case 'V': printf("kw-ws %s\n", KW_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kw-ws: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Settings, log and the one verdict on them; -1 to go on, else the exit status. */
static int load_config(struct kw_config *cfg)
{
	char err[512];
	if (kw_config_start(cfg, "kw-ws", -1, err, sizeof(err)) < 0 ||
	    check_settings(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "kw-ws: %s\n", err);
		kw_config_free(cfg);
		return KW_EX_CONFIG;
	}
	return -1;
}

/* The hub's rules and resources: origins, proxies, the bootstrap key, the ticket memory, the
 * database and the limiter table. -1 to go on, else the exit status (printed); the caller
 * frees the hub either way. */
static int open_hub(struct kw_hub *hub, struct kw_config *cfg, int64_t heartbeat_ms)
{
	char err[512];
	hub->cfg = cfg;
	hub->heartbeat_ms = heartbeat_ms;
	hub->started_ms = kw_now_us() / 1000;
	hub->whale_min_micros = cfg->whale_min_notional_usd * 1000000;
	int wild = 0;
	hub->origins = kw_origins_parse(cfg->allowed_origins, &wild, err, sizeof(err));
	if (!hub->origins) { /* kw_config_verdict() parsed the same list: not reached */
		fprintf(stderr, "kw-ws: %s\n", err);
		return KW_EX_CONFIG;
	}
	if (wild)
		kw_warn("config: ALLOWED_ORIGINS: * and null are never allowed; entries ignored");
	if (kw_proxies_parse(&hub->proxies, cfg->trusted_proxies, err, sizeof(err)) < 0) {
		fprintf(stderr, "kw-ws: %s\n", err);
		return KW_EX_CONFIG;
	}
	if (cfg->api_key && *cfg->api_key)
		kw_key_hash(cfg->api_key, strlen(cfg->api_key), hub->api_key_sha256);
	/* A ticket lives 60 s: remember as many as MAX_CONNECTIONS clients could use in that time
	 * when each reconnects every second — and at least 4096. */
	hub->seen = kw_ticket_seen_new(
		(size_t)(cfg->max_connections > 4096 ? cfg->max_connections : 4096) * 4);
	hub->store = kw_store_open(cfg->db_target, KW_DB_MIGRATE, err, sizeof(err));
	if (!hub->store) {
		fprintf(stderr, "kw-ws: %s\n", err);
		return 1;
	}
	kw_store_ws_setup(hub->store);
	if (open_limiter(hub, err, sizeof(err)) < 0) {
		fprintf(stderr, "kw-ws: %s\n", err);
		return 1;
	}
	return -1;
}

/* libwebsockets' context settings for cfg: the listening socket, the ping and hang-up
 * policy (retry, which must outlive the context), the handshake limits. */
static void context_info(struct kw_hub *hub, const struct kw_config *cfg,
			 struct lws_context_creation_info *info, lws_retry_bo_t *retry)
{
	memset(retry, 0, sizeof(*retry));
	/* Ping a quiet client a few times before the hang-up deadline. */
	int64_t ping_s = cfg->web_socket_timeout_s / 3;
	retry->secs_since_valid_ping = (uint16_t)(ping_s < 1 ? 1 : ping_s > 30 ? 30 : ping_s);
	retry->secs_since_valid_hangup =
		(uint16_t)(cfg->web_socket_timeout_s > 65535 ? 65535 : cfg->web_socket_timeout_s);

	memset(info, 0, sizeof(*info));
	info->protocols = kw_ws_protocols;
	info->user = hub;
	info->retry_and_idle_policy = retry;
	info->timeout_secs = 10; /* handshake and close deadlines */
	info->max_http_header_data = 4096;
	/* Handshakes parsed at once (lws' default is 10): reconnect storms after a restart. */
	info->max_http_header_pool = 64;
	info->count_threads = 1;
	info->fd_limit_per_thread = (unsigned int)(cfg->max_connections + FD_RESERVE);
	info->options = LWS_SERVER_OPTION_DISABLE_IPV6;
	if (cfg->ws_socket && *cfg->ws_socket) {
		info->options = LWS_SERVER_OPTION_UNIX_SOCK;
		info->iface = cfg->ws_socket;
	} else {
		if (strcmp(cfg->ws_host, "127.0.0.1") && strcmp(cfg->ws_host, "::1") &&
		    strcmp(cfg->ws_host, "localhost"))
			kw_warn("WS_HOST=%s is not loopback: clients should reach kw-ws only "
				"through "
				"the web server (TLS, and the only peer whose X-Forwarded-For is "
				"believed)",
				cfg->ws_host);
		info->iface = cfg->ws_host;
		info->port = (int)cfg->ws_port;
		if (strchr(cfg->ws_host, ':'))
			info->options = 0;
	}
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* Serve until a stop signal, then close every client with 1001 (up to KW_WS_SHUTDOWN_MS) and
 * destroy the context. The exit status: 1 if the event loop failed. */
static int serve(struct kw_hub *hub)
{
	int loop_failed = 0;
	while (!g_stop) {
		if (lws_service(hub->ctx, 0) < 0) {
			kw_error("event loop failed; stopping");
			loop_failed = 1;
			break;
		}
	}

	kw_info("stopping: closing %lld clients with 1001", (long long)hub->nclients);
	kw_hub_shutdown(hub);
	int64_t deadline = kw_mono_us() + (int64_t)KW_WS_SHUTDOWN_MS * 1000;
	while (hub->nclients > 0 && kw_mono_us() < deadline)
		if (lws_service(hub->ctx, 0) < 0)
			break;
	g_ctx = NULL;
	lws_context_destroy(hub->ctx);
	hub->ctx = NULL;
	hub->nclients = 0;
	kw_hub_write_stats(hub);
	kw_info("stopped");
	return loop_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct kw_config cfg;
	static struct kw_hub hub;
	struct lws_context_creation_info info;
	lws_retry_bo_t retry;
	struct kw_sentry *sentry = NULL;
	int check_only = 0, rc;
	int64_t heartbeat_ms = KW_WS_HEARTBEAT_MS;

	/* Nothing this program creates (database, limiter table, logs, spools) is for other
	 * users: the database holds key hashes and client addresses. */
	umask(027);
	if ((rc = parse_args(argc, argv, &check_only, &heartbeat_ms)) >= 0 ||
	    (rc = load_config(&cfg)) >= 0)
		return rc;
	if ((rc = open_hub(&hub, &cfg, heartbeat_ms)) >= 0)
		goto out;
	rc = 1;
	if (check_only) {
		printf("kw-ws: configuration and database OK (schema version %d)\n",
		       kw_db_schema_version());
		rc = 0;
		goto out;
	}
	sentry = kw_sentry_start(&cfg, "kw-ws"); /* SENTRY_DSN: crash handler */
	kw_sentry_send_spool(sentry);		 /* reports left by earlier crashes */

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	context_info(&hub, &cfg, &info, &retry);
	install_signals();
	hub.ctx = lws_create_context(&info);
	if (!hub.ctx) {
		kw_error("cannot listen on %s%s%lld (address in use or not local?)", info.iface,
			 info.port ? ":" : "", (long long)info.port);
		goto out;
	}
	/* The web server (another user) connects to the socket: owner and group may, others
	 * not; put the web server's user in kw-ws's group. */
	if (cfg.ws_socket && *cfg.ws_socket && chmod(cfg.ws_socket, 0660) < 0) {
		kw_error("cannot set the permissions of %s: %s", cfg.ws_socket, strerror(errno));
		goto out;
	}
	g_ctx = hub.ctx;
	kw_hub_start_timers(&hub);
	kw_info("kw-ws %s listening on %s%s%lld (pid %d, max %lld clients, %lld per address)",
		KW_VERSION, info.iface, info.port ? ":" : "", (long long)info.port, (int)getpid(),
		(long long)cfg.max_connections, (long long)cfg.ws_max_per_ip);
	rc = serve(&hub);
out:
	if (hub.ctx)
		lws_context_destroy(hub.ctx); /* only on a failed start: the normal path did it */
	kw_hub_free(&hub);
	kw_sentry_free(sentry);
	kw_config_free(&cfg);
	return rc;
}
