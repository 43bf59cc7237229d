/*
 * config.h — every setting KalshiWhale reads, typed and validated once at start-up.
 *
 * Sources, later ones winning: built-in defaults, the .env file (path from KW_ENV_FILE, default
 * ./.env; a missing default file is fine, a missing named file is an error), then the process
 * environment. One table in config.c declares each setting's name, type, default, range and
 * meaning; the README table, .env.example and `kw-admin config check` are all derived from it.
 *
 * An invalid value is reported as one line naming the setting and what is allowed; programs
 * exit with KW_EX_CONFIG (78, EX_CONFIG from sysexits.h). Secrets (API_KEY, JWT_SECRET, DSNs)
 * are never printed: kw_config_dump() masks them.
 */
#ifndef KW_CONFIG_H
#define KW_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "util.h"

#define KW_EX_CONFIG 78

enum kw_env { KW_ENV_DEVELOPMENT = 0, KW_ENV_PRODUCTION = 1 };
/* RATE_LIMIT_SCOPE, on PostgreSQL: the limit of the whole cluster (one statement per request
 * on the database's table, docs/cluster.md), or each host's own shared-memory table. */
enum kw_rl_scope { KW_RL_SCOPE_CLUSTER = 0, KW_RL_SCOPE_NODE = 1 };

/* Longest NODE_NAME (a node's name in fetch_runs and /api/status), without the NUL. */
#define KW_NODE_NAME_MAX 63

struct kw_config {
	/* general */
	int environment; /* enum kw_env */
	int debug;
	int reload;
	int log_level; /* enum kw_log_level */
	char *log_file;
	char *host;
	int64_t port;
	char *database_path; /* resolved from DATABASE_PATH or DATABASE_URL */
	char *database_url;
	/* What kw_store_open opens: the PostgreSQL URL, or the SQLite file (database_path). */
	char *db_target;
	int64_t cache_ttl_s;
	int64_t heavy_requests_max; /* kw-api: expensive requests at once (lib/heavy.h) */
	int64_t threads;	    /* kw-api: accept threads per FastCGI worker process */
	char *node_name;	    /* NODE_NAME, or the host name when it is empty */
	/* security */
	char *api_key;
	char *jwt_secret;
	char *jwt_issuer;
	char *jwt_audience;
	int64_t jwt_max_ttl_s;
	char *allowed_origins;
	int cors_allow_credentials;
	int64_t rate_limit_per_minute;
	int64_t rate_limit_burst; /* 0 = same as per minute */
	int rate_limit_scope;	  /* enum kw_rl_scope */
	char *trusted_proxies;
	int64_t max_body_bytes;
	int64_t suspicious_auth_failures;
	int64_t block_minutes;
	/* fetcher */
	char *kalshi_api_base;
	int kalshi_include_combos;
	int64_t kalshi_max_rps;
	int64_t kalshi_timeout_s;
	int64_t update_interval_s;
	int64_t backfill_hours;
	int64_t orderbook_watch;
	int64_t retention_days;
	/* detection */
	int64_t whale_min_notional_usd;
	char *whale_min_notional_by_category;
	int64_t surge_window_min;
	int64_t volume_surge_multiplier_milli; /* thousandths: 3.0 = 3000 (exact) */
	int64_t surge_min_trades;
	int64_t surge_min_notional_usd;
	int64_t odds_change_points;
	int64_t odds_window_min;
	int64_t orderbook_change_percent;
	int64_t orderbook_baseline_max_min;
	int64_t high_volume_usd;
	int64_t alert_cooldown_min;
	char *crypto_series_prefixes;
	/* websocket sidecar */
	char *ws_host;
	int64_t ws_port;
	char *ws_socket;
	int64_t max_connections;
	int64_t ws_max_per_ip;
	int64_t ws_max_message_bytes;
	int64_t ws_max_msgs_per_sec;
	int64_t web_socket_timeout_s;
	/* monitoring */
	int monitoring_enabled;
	int64_t metrics_retention_days;
	int64_t metrics_flush_s;
	char *metrics_allow;
	char *geoip_db;
	char *sentry_dsn;
	char *sentry_spool_dir;
	char *alert_webhook_url;
	char *whale_webhook_url;
	char *webhook_secret;
};

/*
 * Load defaults, the .env file and the environment into *c (which the caller zeroes or
 * frees). On failure returns -1 with one line in err naming the setting and the allowed values.
 */
int kw_config_load(struct kw_config *c, char *err, size_t errlen) KW_WUR;
void kw_config_free(struct kw_config *c);

/*
 * The one verdict on loaded settings that every program applies before it starts (kw-api,
 * kw-ws, kw-fetch, and `kw-admin config check`): the rules that span settings or follow
 * ENVIRONMENT. Production refuses DEBUG=true, * or null in ALLOWED_ORIGINS and a JWT_SECRET
 * shorter than KW_JWT_MIN_SECRET; any environment refuses a malformed ALLOWED_ORIGINS, an
 * API_KEY shorter than KW_API_KEY_MIN_LEN or not printable ASCII, a TRUSTED_PROXIES entry that
 * is not an address or CIDR range, and WS_MAX_PER_IP above MAX_CONNECTIONS. Returns 0, or -1
 * with one line in err (never a secret's value); the caller prints it and exits KW_EX_CONFIG. What needs more than the settings (a key in the database,
 * file descriptors) each program checks itself.
 */
int kw_config_verdict(const struct kw_config *c, char *err, size_t errlen) KW_WUR;

/*
 * What kw-api, kw-ws and kw-fetch do first: load the settings into *c, start the log as prog
 * at level (< 0: LOG_LEVEL's) into LOG_FILE, then the verdict. 0, or -1 with one line in err;
 * the caller prints "prog: err" and exits KW_EX_CONFIG (the settings stay in *c to free).
 */
int kw_config_start(struct kw_config *c, const char *prog, int level, char *err,
		    size_t errlen) KW_WUR;

/* Print every setting's effective value, secrets masked, as NAME=value lines. */
void kw_config_dump(const struct kw_config *c, FILE *out);
/* Print the settings table as Markdown (the README's table). */
void kw_config_doc_markdown(FILE *out);
/* Print a commented .env template with every default. */
void kw_config_doc_env(FILE *out);

#endif
