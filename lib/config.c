/*
 * config.c — the settings table and its loader (see config.h for the contract).
 *
 * The table is the single source of truth: adding a setting means one row here and one field
 * in struct kw_config. Values are parsed strictly (no trailing junk, no silent clamping): a
 * typo in production must stop the program at start, not surface as odd behaviour later.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "auth.h" /* KW_API_KEY_MIN_LEN, KW_JWT_MIN_SECRET */
#include "codec.h"
#include "kalshi.h"
#include "log.h"
#include "origins.h"
#include "proxy.h"
#include "sentry.h"
#include "category.h"

/* T_MILLI: a decimal setting ("2.2") parsed exactly into thousandths (2200), never through a
 * double, so a comparison against it is exact; min and max are whole units. */
/* T_DBURL: text whose password part is never printed (kw_url_masked). */
enum set_type { T_STR, T_SECRET, T_DBURL, T_INT, T_BOOL, T_ENUM, T_MILLI, T_LOGLEVEL };

typedef int (*check_fn)(const char *value, char *why, size_t whylen);

struct setting {
	const char *name;
	enum set_type type;
	size_t offset;
	const char *def;
	int64_t min, max;    /* T_INT range */
	const char *choices; /* T_ENUM: "a|b"; index stored */
	check_fn check;	     /* extra validation for strings, may be NULL */
	const char *section;
	const char *help;
};

static int check_http_url(const char *v, char *why, size_t n)
{
	if (strncmp(v, "https://", 8) && strncmp(v, "http://", 7)) {
		snprintf(why, n, "an http:// or https:// URL");
		return -1;
	}
	return 0;
}

static int check_optional_url(const char *v, char *why, size_t n)
{
	return *v ? check_http_url(v, why, n) : 0;
}

static int check_database_url(const char *v, char *why, size_t n)
{
	if (!*v || !strncmp(v, "sqlite:///", 10))
		return 0;
	if (!kw_url_is_postgres(v)) {
		snprintf(why, n, "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB");
		return -1;
	}
	/* libpq's own parser: what it refuses here it would refuse at every connect. */
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(v, &msg);
	if (!opts) {
		char m[100];
		snprintf(m, sizeof(m), "%s", msg ? msg : "out of memory");
		m[strcspn(m, "\n")] = '\0';
		snprintf(why, n, "a PostgreSQL URL libpq can read (%s)", m);
		PQfreemem(msg);
		return -1;
	}
	PQconninfoFree(opts);
	return 0;
}

static int check_whale_categories(const char *v, char *why, size_t n)
{
	struct kw_category_threshold cats[KW_CATEGORY_MAX];
	return kw_category_parse(v, cats, KW_CATEGORY_MAX, why, n) < 0 ? -1 : 0;
}

static int check_crypto_prefixes(const char *v, char *why, size_t n)
{
	return kw_category_check_prefixes(v, why, n);
}

static int check_sentry_dsn(const char *v, char *why, size_t n)
{
	char url[512], key[128];
	return *v ? kw_sentry_parse_dsn(v, url, sizeof(url), key, sizeof(key), why, n) : 0;
}

static int check_host(const char *v, char *why, size_t n)
{
	for (const char *p = v; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr(".-:[]", *p)) {
			snprintf(why, n, "a host name or IP address");
			return -1;
		}
	}
	if (!*v) {
		snprintf(why, n, "a host name or IP address");
		return -1;
	}
	return 0;
}

/* A node's name goes into fetch_runs and /api/status: a host name's characters, short. */
#define NODE_NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"

static int check_node_name(const char *v, char *why, size_t n)
{
	size_t len = strlen(v);
	if (*v && (v[strspn(v, NODE_NAME_CHARS)] != '\0' || len > KW_NODE_NAME_MAX)) {
		snprintf(why, n, "1 to %d letters, digits, '.', '-' or '_' (empty: the host name)",
			 KW_NODE_NAME_MAX);
		return -1;
	}
	return 0;
}

#define F(field) offsetof(struct kw_config, field)
#define NOLIM 0, 0

static const struct setting settings[] = {
	/* general */
	{ "ENVIRONMENT", T_ENUM, F(environment), "development", NOLIM, "development|production",
	  NULL, "general",
	  "production turns on fail-closed start-up checks and hides error details" },
	{ "DEBUG", T_BOOL, F(debug), "false", NOLIM, NULL, NULL, "general",
	  "add a `detail` field to error bodies (development only; refused in production)" },
	{ "RELOAD", T_BOOL, F(reload), "false", NOLIM, NULL, NULL, "general",
	  "development: workers exit between requests when their binary or .env changes" },
	{ "LOG_LEVEL", T_LOGLEVEL, F(log_level), "info", NOLIM, "debug|info|warning|error", NULL,
	  "general", "lowest level logged" },
	{ "LOG_FILE", T_STR, F(log_file), "", NOLIM, NULL, NULL, "general",
	  "append log lines to this file instead of stderr (the web server's error log)" },
	{ "HOST", T_STR, F(host), "127.0.0.1", NOLIM, NULL, check_host, "general",
	  "address `make run`'s web server listens on" },
	{ "PORT", T_INT, F(port), "8000", 1, 65535, NULL, NULL, "general",
	  "port `make run`'s web server listens on" },
	{ "DATABASE_PATH", T_STR, F(database_path), "./var/kalshiwhale.db", NOLIM, NULL, NULL,
	  "general", "SQLite database file shared by every program" },
	{ "DATABASE_URL", T_DBURL, F(database_url), "", NOLIM, NULL, check_database_url, "general",
	  "the database, when not DATABASE_PATH: sqlite:///relative/path, "
	  "sqlite:////absolute/path, "
	  "or postgresql://USER:PASSWORD@HOST:PORT/DB (PostgreSQL; DATABASE_PATH then only places "
	  "this node's local files); wins over DATABASE_PATH" },
	{ "CACHE_TTL", T_INT, F(cache_ttl_s), "15", 0, 3600, NULL, NULL, "general",
	  "seconds a client may cache a public GET answer (authenticated ones are no-store)" },
	{ "HEAVY_REQUESTS_MAX", T_INT, F(heavy_requests_max), "1", 1, 256, NULL, NULL, "general",
	  "expensive requests (CSV exports, history, whale lists, analytics) running at once "
	  "across "
	  "all kw-api workers, one per client; more answer 503 with Retry-After" },
	{ "KW_THREADS", T_INT, F(threads), "2", 1, 64, NULL, NULL, "general",
	  "accept threads in each kw-api FastCGI worker process, each with its own database "
	  "connection (a CGI request is always one)" },
	{ "NODE_NAME", T_STR, F(node_name), "", NOLIM, NULL, check_node_name, "general",
	  "this node's name among several sharing one PostgreSQL database (fetch runs, "
	  "/api/status); empty: the host name" },
	/* security */
	{ "API_KEY", T_SECRET, F(api_key), "", NOLIM, NULL, NULL, "security",
	  "bootstrap admin API key (at least 32 characters); kw-admin manages the others" },
	{ "JWT_SECRET", T_SECRET, F(jwt_secret), "", NOLIM, NULL, NULL, "security",
	  "HS256 secret for bearer tokens and WebSocket tickets (at least 32 bytes)" },
	{ "JWT_ISSUER", T_STR, F(jwt_issuer), "kalshiwhale", NOLIM, NULL, NULL, "security",
	  "`iss` claim minted and required" },
	{ "JWT_AUDIENCE", T_STR, F(jwt_audience), "kalshiwhale-api", NOLIM, NULL, NULL, "security",
	  "`aud` claim minted and required" },
	{ "JWT_MAX_TTL_SECONDS", T_INT, F(jwt_max_ttl_s), "86400", 60, 31536000, NULL, NULL,
	  "security", "longest token lifetime kw-admin mints and kw-api accepts (exp - iat)" },
	{ "ALLOWED_ORIGINS", T_STR, F(allowed_origins), "", NOLIM, NULL, NULL, "security",
	  "comma-separated exact origins allowed by CORS and the WebSocket handshake" },
	{ "CORS_ALLOW_CREDENTIALS", T_BOOL, F(cors_allow_credentials), "false", NOLIM, NULL, NULL,
	  "security", "send Access-Control-Allow-Credentials to allowed origins" },
	{ "RATE_LIMIT_PER_MINUTE", T_INT, F(rate_limit_per_minute), "60", 1, 1000000, NULL, NULL,
	  "security", "requests per minute per API key or client address" },
	{ "RATE_LIMIT_BURST", T_INT, F(rate_limit_burst), "0", 0, 1000000, NULL, NULL, "security",
	  "requests allowed at once; 0 means the per-minute limit" },
	{ "RATE_LIMIT_SCOPE", T_ENUM, F(rate_limit_scope), "cluster", NOLIM, "cluster|node", NULL,
	  "security",
	  "on PostgreSQL: cluster counts every node's requests in the database (a statement per "
	  "request); node keeps each host's own table, as on SQLite: for a single node only" },
	{ "TRUSTED_PROXIES", T_STR, F(trusted_proxies), "", NOLIM, NULL, NULL, "security",
	  "comma-separated proxy addresses or CIDR ranges (10.0.0.0/8, ::1/128) whose "
	  "X-Forwarded-For is believed, by kw-api and kw-ws" },
	{ "MAX_BODY_BYTES", T_INT, F(max_body_bytes), "4096", 64, 1048576, NULL, NULL, "security",
	  "largest request body accepted (413 above it)" },
	{ "SUSPICIOUS_AUTH_FAILURES", T_INT, F(suspicious_auth_failures), "20", 1, 100000, NULL,
	  NULL, "security",
	  "failed authentications from one address in 5 minutes before it is blocked" },
	{ "BLOCK_MINUTES", T_INT, F(block_minutes), "15", 1, 10080, NULL, NULL, "security",
	  "how long a suspicious address stays blocked" },
	/* fetcher */
	{ "KALSHI_API_BASE", T_STR, F(kalshi_api_base),
	  "https://api.elections.kalshi.com/trade-api/v2", NOLIM, NULL, check_http_url, "fetcher",
	  "Kalshi Trade API v2 base URL" },
	{ "KALSHI_INCLUDE_COMBOS", T_BOOL, F(kalshi_include_combos), "false", NOLIM, NULL, NULL,
	  "fetcher", "also ingest multivariate combo markets (KXMVE...)" },
	{ "KALSHI_MAX_RPS", T_INT, F(kalshi_max_rps), "10", 1, 100, NULL, NULL, "fetcher",
	  "requests per second the fetcher sends to Kalshi at most" },
	{ "KALSHI_TIMEOUT_SECONDS", T_INT, F(kalshi_timeout_s), "30", 1, 600, NULL, NULL, "fetcher",
	  "total time allowed for one Kalshi request" },
	{ "UPDATE_INTERVAL_SECONDS", T_INT, F(update_interval_s), "120", 10, 86400, NULL, NULL,
	  "fetcher", "seconds between runs in `kw-fetch --loop` (used by make run)" },
	{ "BACKFILL_HOURS", T_INT, F(backfill_hours), "24", 1, 2160, NULL, NULL, "fetcher",
	  "how far back the first run fetches trades" },
	{ "ORDERBOOK_WATCH", T_INT, F(orderbook_watch), "50", 0, 1000, NULL, NULL, "fetcher",
	  "order books fetched per run: the top markets by 24h volume" },
	{ "RETENTION_DAYS", T_INT, F(retention_days), "30", 1, 3650, NULL, NULL, "fetcher",
	  "snapshots and trades older than this are pruned" },
	/* detection */
	{ "WHALE_MIN_NOTIONAL_USD", T_INT, F(whale_min_notional_usd), "5000", 1, 1000000000, NULL,
	  NULL, "detection", "taker premium in dollars that makes a trade a whale trade" },
	{ "WHALE_MIN_NOTIONAL_BY_CATEGORY", T_STR, F(whale_min_notional_by_category), "", NOLIM,
	  NULL, check_whale_categories, "detection",
	  "per-category overrides, e.g. Crypto=2500,Sports=20000" },
	{ "SURGE_WINDOW_MIN", T_INT, F(surge_window_min), "15", 1, 1440, NULL, NULL, "detection",
	  "window in minutes for volume surges" },
	{ "VOLUME_SURGE_MULTIPLIER", T_MILLI, F(volume_surge_multiplier_milli), "3.0", 1, 1000,
	  NULL, NULL, "detection",
	  "window notional over its trailing 24h mean that counts as a surge" },
	{ "SURGE_MIN_NOTIONAL_USD", T_INT, F(surge_min_notional_usd), "1000", 0, 1000000000, NULL,
	  NULL, "detection", "dollar floor below which no surge fires (keeps thin markets quiet)" },
	{ "SURGE_MIN_TRADES", T_INT, F(surge_min_trades), "3", 2, 100000, NULL, NULL, "detection",
	  "trades a surge window needs, and its 24h baseline too (one trade is never a surge)" },
	{ "ODDS_CHANGE_POINTS", T_INT, F(odds_change_points), "15", 1, 100, NULL, NULL, "detection",
	  "yes-price move in percentage points that is an odds flip" },
	{ "ODDS_WINDOW_MIN", T_INT, F(odds_window_min), "60", 1, 10080, NULL, NULL, "detection",
	  "window in minutes for odds flips" },
	{ "ORDERBOOK_CHANGE_PERCENT", T_INT, F(orderbook_change_percent), "25", 1, 1000, NULL, NULL,
	  "detection", "order-book depth or imbalance change that is a shift" },
	{ "ORDERBOOK_BASELINE_MAX_MIN", T_INT, F(orderbook_baseline_max_min), "30", 1, 1440, NULL,
	  NULL, "detection",
	  "oldest previous-run order book (minutes) a book is compared with; older: fresh "
	  "baseline" },
	{ "HIGH_VOLUME_USD", T_INT, F(high_volume_usd), "1000000", 1, 1000000000000LL, NULL, NULL,
	  "detection", "24h dollar volume that marks a market as high volume" },
	{ "ALERT_COOLDOWN_MIN", T_INT, F(alert_cooldown_min), "30", 0, 10080, NULL, NULL,
	  "detection", "minutes before the same market may raise the same signal again" },
	{ "CRYPTO_SERIES_PREFIXES", T_STR, F(crypto_series_prefixes), "", NOLIM, NULL,
	  check_crypto_prefixes, "detection",
	  "extra series tickers (prefixes) counted as crypto besides the Crypto category" },
	/* websocket sidecar */
	{ "WS_HOST", T_STR, F(ws_host), "127.0.0.1", NOLIM, NULL, check_host, "websocket",
	  "address kw-ws listens on" },
	{ "WS_PORT", T_INT, F(ws_port), "8081", 1, 65535, NULL, NULL, "websocket",
	  "port kw-ws listens on" },
	{ "WS_SOCKET", T_STR, F(ws_socket), "", NOLIM, NULL, NULL, "websocket",
	  "unix socket path for kw-ws instead of WS_HOST:WS_PORT" },
	{ "MAX_CONNECTIONS", T_INT, F(max_connections), "1000", 1, 100000, NULL, NULL, "websocket",
	  "WebSocket clients in total" },
	{ "WS_MAX_PER_IP", T_INT, F(ws_max_per_ip), "20", 1, 100000, NULL, NULL, "websocket",
	  "WebSocket clients per client address" },
	{ "WS_MAX_MESSAGE_BYTES", T_INT, F(ws_max_message_bytes), "1024", 16, 1048576, NULL, NULL,
	  "websocket", "largest inbound WebSocket message (close 1009 above it)" },
	{ "WS_MAX_MSGS_PER_SEC", T_INT, F(ws_max_msgs_per_sec), "10", 1, 10000, NULL, NULL,
	  "websocket", "inbound messages per second per client (close 1008 above it)" },
	{ "WEB_SOCKET_TIMEOUT", T_INT, F(web_socket_timeout_s), "300", 5, 86400, NULL, NULL,
	  "websocket", "seconds a silent client is kept before it is closed" },
	/* monitoring */
	{ "MONITORING_ENABLED", T_BOOL, F(monitoring_enabled), "true", NOLIM, NULL, NULL,
	  "monitoring", "record request, security and country metrics in kw-api" },
	{ "METRICS_RETENTION_DAYS", T_INT, F(metrics_retention_days), "14", 1, 3650, NULL, NULL,
	  "monitoring", "per-minute metrics older than this are pruned" },
	{ "METRICS_FLUSH_SECONDS", T_INT, F(metrics_flush_s), "5", 1, 300, NULL, NULL, "monitoring",
	  "seconds a worker keeps metrics in memory before writing them" },
	{ "METRICS_ALLOW", T_STR, F(metrics_allow), "", NOLIM, NULL, NULL, "monitoring",
	  "comma-separated client addresses that may read /metrics without an admin key" },
	{ "GEOIP_DB", T_STR, F(geoip_db), "", NOLIM, NULL, NULL, "monitoring",
	  "MaxMind-format country database (GeoLite2-Country, DB-IP); unset: country unknown" },
	{ "SENTRY_DSN", T_SECRET, F(sentry_dsn), "", NOLIM, NULL, check_sentry_dsn, "monitoring",
	  "report 5xx errors, fetcher failures and crashes to this Sentry DSN; unset: nothing "
	  "sent" },
	{ "SENTRY_SPOOL_DIR", T_STR, F(sentry_spool_dir), "", NOLIM, NULL, NULL, "monitoring",
	  "where crash reports wait to be sent; default crash-reports/ next to the database" },
	{ "ALERT_WEBHOOK_URL", T_SECRET, F(alert_webhook_url), "", NOLIM, NULL, check_optional_url,
	  "monitoring", "POST suspicious-activity alerts here (Slack/Discord-compatible JSON)" },
	{ "WHALE_WEBHOOK_URL", T_SECRET, F(whale_webhook_url), "", NOLIM, NULL, check_optional_url,
	  "monitoring", "POST detection (whale) alerts here (Slack/Discord-compatible JSON)" },
	{ "WEBHOOK_SECRET", T_SECRET, F(webhook_secret), "", NOLIM, NULL, NULL, "monitoring",
	  "HMAC-SHA256 key signing every webhook (at least 32 bytes; required to send any)" },
};

static char **str_field(struct kw_config *c, const struct setting *s)
{
	return (char **)(void *)((char *)c + s->offset);
}

/* true/1/yes/on or false/0/no/off, any case: 0 with *b set, else -1. */
static int parse_bool(const char *v, int *b)
{
	if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") ||
	    !strcasecmp(v, "on"))
		*b = 1;
	else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") ||
		 !strcasecmp(v, "off"))
		*b = 0;
	else
		return -1;
	return 0;
}

/* v's place among choices ("a|b|c", any case), or -1. */
static int choice_index(const char *choices, const char *v)
{
	int idx = 0;
	const char *p = choices;
	size_t vl = strlen(v);
	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (n == vl && !strncasecmp(p, v, n))
			return idx;
		idx++;
		p = bar ? bar + 1 : NULL;
	}
	return -1;
}

/* A text setting: clean, bounded, and past its own check; why says what was expected. */
static int set_text(struct kw_config *c, const struct setting *s, const char *v, char *why,
		    size_t whylen)
{
	if (strlen(v) > 4096 || !kw_text_is_clean(v, strlen(v))) {
		snprintf(why, whylen, "printable text of at most 4096 bytes");
		return -1;
	}
	if (s->check && s->check(v, why, whylen) < 0)
		return -1;
	char **f = str_field(c, s);
	free(*f);
	*f = kw_xstrdup(v);
	return 0;
}

static int set_value(struct kw_config *c, const struct setting *s, const char *v, char *err,
		     size_t errlen)
{
	char *base = (char *)c + s->offset;
	char why[160] = "";
	int64_t x;
	int i;
	switch (s->type) {
	case T_STR:
	case T_SECRET:
	case T_DBURL:
		if (set_text(c, s, v, why, sizeof(why)) == 0)
			return 0;
		goto bad;
	case T_INT:
		if (kw_parse_i64(v, s->min, s->max, &x) == 0) {
			memcpy(base, &x, sizeof(x));
			return 0;
		}
		snprintf(why, sizeof(why), "an integer from %lld to %lld", (long long)s->min,
			 (long long)s->max);
		goto bad;
	case T_MILLI:
		if (kw_kalshi_parse_fixed(v, strlen(v), 3, &x) == 0 && x >= s->min * 1000 &&
		    x <= s->max * 1000) {
			memcpy(base, &x, sizeof(x));
			return 0;
		}
		snprintf(why, sizeof(why),
			 "a decimal from %lld to %lld with at most 3 decimal places",
			 (long long)s->min, (long long)s->max);
		goto bad;
	case T_BOOL:
		if (parse_bool(v, &i) == 0) {
			memcpy(base, &i, sizeof(i));
			return 0;
		}
		snprintf(why, sizeof(why), "true or false");
		goto bad;
	case T_LOGLEVEL:
	case T_ENUM:
		i = s->type == T_LOGLEVEL ? kw_log_level_parse(v) : choice_index(s->choices, v);
		if (i >= 0) {
			memcpy(base, &i, sizeof(i));
			return 0;
		}
		snprintf(why, sizeof(why), "one of %s", s->choices);
		goto bad;
	}
	snprintf(why, sizeof(why), "a valid value");
bad:
	if (s->type == T_SECRET) {
		snprintf(err, errlen, "config: %s is invalid: expected %s", s->name, why);
	} else if (s->type == T_DBURL) {
		char masked[256];
		snprintf(err, errlen, "config: %s=\"%.80s\" is invalid: expected %s", s->name,
			 kw_text_is_clean(v, strlen(v)) ? kw_url_masked(v, masked, sizeof(masked))
							: "?",
			 why);
	} else {
		snprintf(err, errlen, "config: %s=\"%.60s\" is invalid: expected %s", s->name,
			 kw_text_is_clean(v, strlen(v)) ? v : "?", why);
	}
	return -1;
}

static const struct setting *find_setting(const char *name, size_t n)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(settings); i++)
		if (strlen(settings[i].name) == n && !strncmp(settings[i].name, name, n))
			return &settings[i];
	return NULL;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/*
 * Read KEY=VALUE lines. Values may be quoted with '...' or "..." (no escapes); an unquoted
 * value ends at " #". Environment variables win, so only keys absent from the environment are
 * applied. Unknown keys are warned about, because they are usually typos.
 */
static int load_env_file(struct kw_config *c, const char *path, int required, char *err,
			 size_t errlen)
{
	int rc = -1;
	char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "re");
	if (!f) {
		if (!required && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "config: cannot read env file %s: %s", path, strerror(errno));
		return -1;
	}
	int lineno = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		if (!strncmp(s, "export ", 7))
			s = trim(s + 7);
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "config: %s:%d: expected KEY=VALUE", path, lineno);
			goto out;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		size_t vl = strlen(val);
		if (vl >= 2 && (val[0] == '"' || val[0] == '\'') && val[vl - 1] == val[0]) {
			val[vl - 1] = '\0';
			val++;
		} else {
			char *hash = strstr(val, " #");
			if (hash) {
				*hash = '\0';
				val = trim(val);
			}
		}
		const struct setting *st = find_setting(key, strlen(key));
		if (!st) {
			if (strcmp(key, "KW_ENV_FILE"))
				kw_warn("config: %s:%d: unknown setting %.64s ignored", path,
					lineno, key);
			continue;
		}
		if (getenv(st->name))
			continue;
		if (set_value(c, st, val, err, errlen) < 0) {
			size_t used = strlen(err);
			snprintf(err + used, errlen - used, " (%s:%d)", path, lineno);
			goto out;
		}
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	return rc;
}

int kw_config_load(struct kw_config *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(settings); i++)
		if (set_value(c, &settings[i], settings[i].def, err, errlen) < 0)
			return -1; /* a bad default is a bug; still report it */

	const char *envfile = getenv("KW_ENV_FILE");
	if (load_env_file(c, envfile && *envfile ? envfile : ".env", envfile && *envfile, err,
			  errlen) < 0)
		return -1;
	for (size_t i = 0; i < KW_ARRAY_LEN(settings); i++) {
		const char *v = getenv(settings[i].name);
		if (v && set_value(c, &settings[i], v, err, errlen) < 0)
			return -1;
	}

	/* DATABASE_URL, when set, names the database: a PostgreSQL URL as it is (DATABASE_PATH
	 * then only places this node's local files: the limiter's table, locks), or a SQLite
	 * file; sqlite:////abs keeps its leading slash. */
	free(c->db_target);
	c->db_target = NULL;
	if (kw_url_is_postgres(c->database_url)) {
		c->db_target = kw_xstrdup(c->database_url);
	} else if (c->database_url && *c->database_url) {
		const char *p = c->database_url + strlen("sqlite:///");
		if (!*p) {
			snprintf(err, errlen,
				 "config: DATABASE_URL has no path: expected sqlite:///PATH");
			return -1;
		}
		free(c->database_path);
		c->database_path = kw_xstrdup(p);
	}
	if (!*c->database_path) {
		snprintf(err, errlen, "config: DATABASE_PATH is empty: expected a file path");
		return -1;
	}
	if (!c->db_target)
		c->db_target = kw_xstrdup(c->database_path);
	if (c->rate_limit_burst == 0)
		c->rate_limit_burst = c->rate_limit_per_minute;
	if (!*c->node_name) {
		char host[256] = "";
		/* Cut to a valid name: a host name longer than the limit keeps its start. */
		if (gethostname(host, sizeof(host) - 1) < 0 || !*host)
			snprintf(host, sizeof(host), "localhost");
		host[strspn(host, NODE_NAME_CHARS)] = '\0';
		host[KW_NODE_NAME_MAX] = '\0';
		free(c->node_name);
		c->node_name = kw_xstrdup(*host ? host : "localhost");
	}
	return 0;
}

/* Rules that span settings or follow ENVIRONMENT: each value passed its own check in
 * kw_config_load(). The order is fixed so that every program names the same first fault. */
int kw_config_verdict(const struct kw_config *c, char *err, size_t errlen)
{
	int prod = c->environment == KW_ENV_PRODUCTION;
	size_t klen = strlen(c->api_key);
	if (klen && klen < KW_API_KEY_MIN_LEN) {
		snprintf(err, errlen,
			 "config: API_KEY is too short: at least %d characters (generate one with "
			 "`kw-admin key create`)",
			 KW_API_KEY_MIN_LEN);
		return -1;
	}
	if (klen && !kw_key_is_wellformed(c->api_key)) {
		snprintf(err, errlen, "config: API_KEY must be printable ASCII without spaces");
		return -1;
	}
	if (prod && c->debug) {
		snprintf(err, errlen, "config: DEBUG=true is refused with ENVIRONMENT=production");
		return -1;
	}
	size_t slen = strlen(c->jwt_secret);
	if (prod && slen && slen < KW_JWT_MIN_SECRET) {
		snprintf(err, errlen,
			 "config: JWT_SECRET is too short for production: at least %d bytes",
			 KW_JWT_MIN_SECRET);
		return -1;
	}
	int wild = 0;
	struct kw_origins *o = kw_origins_parse(c->allowed_origins, &wild, err, errlen);
	if (!o)
		return -1;
	kw_origins_free(o);
	if (wild && prod) {
		snprintf(
			err, errlen,
			"config: ALLOWED_ORIGINS must list exact origins in production: * and null "
			"are refused");
		return -1;
	}
	struct kw_proxies proxies;
	if (kw_proxies_parse(&proxies, c->trusted_proxies, err, errlen) < 0)
		return -1;
	if (c->ws_max_per_ip > c->max_connections) {
		snprintf(err, errlen,
			 "config: WS_MAX_PER_IP=%lld is invalid: expected at most MAX_CONNECTIONS "
			 "(%lld)",
			 (long long)c->ws_max_per_ip, (long long)c->max_connections);
		return -1;
	}
	return 0;
}

int kw_config_start(struct kw_config *c, const char *prog, int level, char *err, size_t errlen)
{
	if (kw_config_load(c, err, errlen) < 0)
		return -1;
	if (kw_log_init(prog, (enum kw_log_level)(level < 0 ? c->log_level : level), c->log_file) <
	    0) {
		snprintf(err, errlen, "config: LOG_FILE=%s cannot be opened: %s", c->log_file,
			 strerror(errno));
		return -1;
	}
	return kw_config_verdict(c, err, errlen);
}

void kw_config_free(struct kw_config *c)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(settings); i++) {
		if (settings[i].type == T_STR || settings[i].type == T_SECRET ||
		    settings[i].type == T_DBURL) {
			char **f = str_field(c, &settings[i]);
			free(*f);
			*f = NULL;
		}
	}
	free(c->db_target);
	c->db_target = NULL;
}

static void print_value(const struct kw_config *c, const struct setting *s, FILE *out)
{
	const char *base = (const char *)c + s->offset;
	switch (s->type) {
	case T_STR: fputs(*(char *const *)(const void *)base, out); break;
	case T_DBURL: {
		char masked[4200];
		fputs(kw_url_masked(*(char *const *)(const void *)base, masked, sizeof(masked)),
		      out);
		break;
	}
	case T_SECRET: {
		const char *v = *(char *const *)(const void *)base;
		fputs(v && *v ? "********" : "", out);
		break;
	}
	case T_INT: {
		int64_t x;
		memcpy(&x, base, sizeof(x));
		fprintf(out, "%lld", (long long)x);
		break;
	}
	case T_MILLI: {
		int64_t x;
		char frac[8];
		memcpy(&x, base, sizeof(x));
		snprintf(frac, sizeof(frac), "%03lld", (long long)(x % 1000));
		for (int i = 2; i >= 0 && frac[i] == '0'; i--)
			frac[i] = '\0';
		fprintf(out, "%lld%s%s", (long long)(x / 1000), frac[0] ? "." : "", frac);
		break;
	}
	case T_BOOL: {
		int b;
		memcpy(&b, base, sizeof(b));
		fputs(b ? "true" : "false", out);
		break;
	}
	case T_LOGLEVEL: {
		int lv;
		memcpy(&lv, base, sizeof(lv));
		fputs(kw_log_level_name((enum kw_log_level)lv), out);
		break;
	}
	case T_ENUM: {
		int idx;
		memcpy(&idx, base, sizeof(idx));
		const char *p = s->choices;
		for (int i = 0; i < idx && p; i++) {
			p = strchr(p, '|');
			p = p ? p + 1 : NULL;
		}
		if (p)
			fprintf(out, "%.*s", (int)strcspn(p, "|"), p);
		break;
	}
	}
}

void kw_config_dump(const struct kw_config *c, FILE *out)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(settings); i++) {
		fprintf(out, "%s=", settings[i].name);
		print_value(c, &settings[i], out);
		fputc('\n', out);
	}
}

static void allowed(const struct setting *s, char *buf, size_t n)
{
	switch (s->type) {
	case T_INT: snprintf(buf, n, "%lld–%lld", (long long)s->min, (long long)s->max); break;
	case T_MILLI:
		snprintf(buf, n, "%lld–%lld (decimal, 3 places)", (long long)s->min,
			 (long long)s->max);
		break;
	case T_BOOL: snprintf(buf, n, "true/false"); break;
	case T_ENUM:
	case T_LOGLEVEL: {
		/* "a|b" would split a Markdown table cell: print "a, b". */
		size_t o = 0;
		for (const char *p = s->choices; *p && o + 3 < n; p++) {
			if (*p == '|') {
				buf[o++] = ',';
				buf[o++] = ' ';
			} else {
				buf[o++] = *p;
			}
		}
		buf[o] = '\0';
		break;
	}
	case T_SECRET: snprintf(buf, n, "secret"); break;
	case T_STR: snprintf(buf, n, "text"); break;
	case T_DBURL: snprintf(buf, n, "URL"); break;
	}
}

void kw_config_doc_markdown(FILE *out)
{
	fputs("| setting | default | allowed | meaning |\n|---|---|---|---|\n", out);
	for (size_t i = 0; i < KW_ARRAY_LEN(settings); i++) {
		char a[64];
		allowed(&settings[i], a, sizeof(a));
		fprintf(out, "| `%s` | %s%s%s | %s | %s |\n", settings[i].name,
			*settings[i].def ? "`" : "", *settings[i].def ? settings[i].def : "(empty)",
			*settings[i].def ? "`" : "", a, settings[i].help);
	}
}

void kw_config_doc_env(FILE *out)
{
	const char *section = "";
	for (size_t i = 0; i < KW_ARRAY_LEN(settings); i++) {
		const struct setting *s = &settings[i];
		char a[64];
		if (strcmp(section, s->section)) {
			section = s->section;
			fprintf(out, "\n# ---- %s ----\n", section);
		}
		allowed(s, a, sizeof(a));
		fprintf(out, "# %s (%s)\n%s=%s\n", s->help, a, s->name, s->def);
	}
}
