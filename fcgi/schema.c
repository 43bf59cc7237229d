/*
 * schema.c — the table of response components (contract in schema.h) and its translation to
 * JSON Schema draft 2020-12 for the OpenAPI document.
 *
 * Each component lists what its serializer writes, in the serializer's order: api.c (Market,
 * Trade, Alert, OrderBookSummary, Snapshot), markets.c (MarketDetail), stats.c, monitoring.c,
 * legacy.c, status.c, ws_ticket.c, refresh.c and reply.c (Error). Units live in the
 * descriptions and in the field names: prices in dollars (0-1), *_contracts in contracts,
 * *_usd in dollars of taker premium (contracts x the taker side's price). A change to a
 * serializer that adds a field fails tests/unit/test_contract.c until it is named here; one
 * that changes a type or drops a field fails the integration suite, which validates every JSON
 * answer against this document.
 *
 * What it leaves out: an alert's `data` (the numbers that fired it, different per signal) and
 * the legacy `odds_movements` values (those same objects) are free-form objects.
 */
#include "schema.h"

#include <stdio.h>
#include <string.h>

#define N KW_FF_NULLABLE
#define OPT KW_FF_OPTIONAL
#define STR(name, fl, desc)                                                                        \
	{                                                                                          \
		name, KW_FT_STRING, fl, NULL, KW_FT_STRING, NULL, desc                             \
	}
#define ENUM(name, fl, choices, desc)                                                              \
	{                                                                                          \
		name, KW_FT_STRING, fl, NULL, KW_FT_STRING, choices, desc                          \
	}
#define INT(name, fl, desc)                                                                        \
	{                                                                                          \
		name, KW_FT_INTEGER, fl, NULL, KW_FT_STRING, NULL, desc                            \
	}
#define NUM(name, fl, desc)                                                                        \
	{                                                                                          \
		name, KW_FT_NUMBER, fl, NULL, KW_FT_STRING, NULL, desc                             \
	}
#define BOOL(name, fl, desc)                                                                       \
	{                                                                                          \
		name, KW_FT_BOOLEAN, fl, NULL, KW_FT_STRING, NULL, desc                            \
	}
#define TIME(name, fl, desc)                                                                       \
	{                                                                                          \
		name, KW_FT_TIME, fl, NULL, KW_FT_STRING, NULL, desc                               \
	}
#define OBJ(name, fl, ref, desc)                                                                   \
	{                                                                                          \
		name, KW_FT_OBJECT, fl, ref, KW_FT_STRING, NULL, desc                              \
	}
#define ARR(name, fl, ref, desc)                                                                   \
	{                                                                                          \
		name, KW_FT_ARRAY, fl, ref, KW_FT_STRING, NULL, desc                               \
	}
#define ARRT(name, fl, items, desc)                                                                \
	{                                                                                          \
		name, KW_FT_ARRAY, fl, NULL, items, NULL, desc                                     \
	}
#define MAP(name, fl, ref, items, keys, desc)                                                      \
	{                                                                                          \
		name, KW_FT_MAP, fl, ref, items, keys, desc                                        \
	}
#define END                                                                                        \
	{                                                                                          \
		NULL, KW_FT_STRING, 0, NULL, KW_FT_STRING, NULL, NULL                              \
	}

#define SEVERITY "high|medium"
#define WINDOWS "1h|24h|7d"

/* ---- errors and service ------------------------------------------------------------------- */

static const struct kw_field error_f[] = {
	OBJ("error", 0, "ErrorDetail", "what went wrong"),
	STR("request_id", 0, "the X-Request-Id of this answer, also in the server's log line"),
	END,
};
static const struct kw_field error_detail_f[] = {
	STR("code", 0, "machine-readable code, e.g. invalid_parameter, unauthorized, not_found"),
	STR("message", 0, "short human-readable explanation; never echoes the input"),
	STR("detail", OPT, "internal detail; only with DEBUG=true in development"),
	END,
};
static const struct kw_field health_f[] = {
	ENUM("status", 0, "ok|unavailable", "ok when the database answers"),
	END,
};
static const struct kw_field status_f[] = {
	ENUM("status", 0, "running|degraded", "degraded when the database check fails (503)"),
	TIME("timestamp", 0, "when this answer was made"),
	TIME("last_update", N, "end of the last successful kw-fetch run; null before the first"),
	INT("active_connections", 0,
	    "WebSocket clients, as last reported by kw-ws (several nodes: the sum of every "
	    "node's)"),
	INT("total_markets", 0, "open markets stored by the last successful kw-fetch run"),
	BOOL("websocket_enabled", 0, "always true: live updates are served at /ws"),
	STR("version", 0, "kw-api version"),
	INT("uptime_s", 0, "seconds since this worker started"),
	INT("uptime", 0, "the same as uptime_s (the original client reads this name)"),
	ENUM("environment", 0, "development|production", "ENVIRONMENT setting"),
	OBJ("database", 0, "StatusDatabase", "database check"),
	STR("node", 0, "this node's name (NODE_NAME, by default the host name)"),
	OBJ("fetcher", 0, "ClusterFetcher", "kw-fetch as every node sharing the database sees it"),
	END,
};
static const struct kw_field cluster_fetcher_f[] = {
	OBJ("last_run", N, "ClusterRun", "the newest run of any node; null before the first"),
	END,
};
static const struct kw_field cluster_run_f[] = {
	INT("id", 0, "fetch_runs id"),
	STR("node", N, "the node that ran it; null for a run stored before nodes were named"),
	ENUM("outcome", 0, "running|ok|partial|failed", "running while it goes on"),
	TIME("started_at", 0, "start"),
	TIME("finished_at", N, "end; null while running"),
	END,
};
static const struct kw_field status_db_f[] = {
	ENUM("status", 0, "ok|error", "whether the database answered"),
	INT("schema_version", 0, "highest migration this build knows"),
	END,
};
static const struct kw_field ws_ticket_f[] = {
	STR("ticket", 0, "single-use credential for the WebSocket handshake"),
	TIME("expires_at", 0, "the ticket is refused after this time (60 s after it was made)"),
	STR("ws_url", 0, "path and query to open: /ws?ticket=..."),
	END,
};
static const struct kw_field legacy_refresh_f[] = {
	BOOL("success", 0, "true: the request is stored, or a run is already going or waiting"),
	STR("message", 0, "which of those, naming the request or run"),
	INT("count", 0, "open markets stored by the last successful run (total_markets)"),
	TIME("timestamp", 0, "when the request was handled"),
	END,
};
static const struct kw_field refresh_f[] = {
	ENUM("status", 0, "queued", "queued for kw-fetch"),
	INT("request_id", 0, "id of the stored refresh request (named again in a 409)"),
	BOOL("force_update", 0, "the force_update asked for"),
	END,
};

/* ---- v1 data ------------------------------------------------------------------------------ */

static const struct kw_field meta_f[] = {
	TIME("generated_at", 0, "when this answer was made"),
	INT("source_lag_s", N, "seconds since the last successful kw-fetch run; null before one"),
	END,
};
static const struct kw_field market_f[] = {
	STR("ticker", 0, "Kalshi market ticker"),
	STR("event_ticker", 0, "Kalshi event ticker"),
	STR("series_ticker", N, "Kalshi series ticker; null until the event has been fetched"),
	STR("category", N, "the series' category, e.g. Crypto; null until known"),
	STR("title", 0, "market title (Kalshi text: display as text, never as HTML)"),
	STR("yes_sub_title", 0, "what YES means"),
	STR("no_sub_title", 0, "what NO means"),
	STR("market_type", 0, "Kalshi market type, e.g. binary"),
	STR("status", 0,
	    "Kalshi status as reported: active, initialized, inactive, closed, "
	    "determined, disputed, amended, finalized"),
	TIME("open_time", N, "when trading opens or opened"),
	TIME("close_time", N, "when trading closes or closed"),
	NUM("yes_bid", N, "best YES bid, dollars per contract (0-1)"),
	NUM("yes_ask", N, "best YES ask, dollars per contract (0-1)"),
	NUM("no_bid", N, "best NO bid, dollars per contract (0-1)"),
	NUM("no_ask", N, "best NO ask, dollars per contract (0-1)"),
	NUM("last_price", N, "last traded YES price, dollars per contract (0-1)"),
	NUM("previous_price", N, "YES price 24 h ago as reported by Kalshi, dollars (0-1)"),
	NUM("price_change", N, "last_price - previous_price, dollars"),
	NUM("volume_contracts", N, "lifetime volume, contracts"),
	NUM("volume_24h_contracts", N, "volume over the last 24 h, contracts"),
	NUM("open_interest_contracts", N, "open interest, contracts"),
	NUM("volume_24h_usd", 0, "taker premium of stored trades in the last 24 h, dollars"),
	INT("trades_24h", 0, "stored trades in the last 24 h"),
	TIME("updated_at", 0, "when kw-fetch last stored this market"),
	END,
};
static const struct kw_field market_detail_f[] = {
	OBJ("orderbook", N, "OrderBookSummary",
	    "latest order-book snapshot; null if never fetched"),
	ARR("recent_trades", 0, "Trade", "the last 50 trades, newest first"),
	ARR("recent_alerts", 0, "Alert", "the last 20 alerts of this market, newest first"),
	END,
};
static const struct kw_field book_f[] = {
	TIME("taken_at", 0, "when the order book was fetched"),
	NUM("yes_depth_contracts", 0, "sum of YES bid sizes, contracts"),
	NUM("no_depth_contracts", 0, "sum of NO bid sizes, contracts"),
	INT("yes_levels", 0, "YES bid price levels"),
	INT("no_levels", 0, "NO bid price levels"),
	NUM("best_yes_bid", N, "best YES bid, dollars (0-1)"),
	NUM("best_no_bid", N, "best NO bid, dollars (0-1)"),
	NUM("yes_share_percent", N, "YES share of the bid depth, percent; null for an empty book"),
	END,
};
static const struct kw_field snapshot_f[] = {
	TIME("time", 0, "when the snapshot was taken; it holds until the next point"),
	NUM("yes_bid", N, "best YES bid, dollars (0-1)"),
	NUM("yes_ask", N, "best YES ask, dollars (0-1)"),
	NUM("last_price", N, "last traded YES price, dollars (0-1)"),
	NUM("volume_contracts", N, "lifetime volume, contracts"),
	NUM("volume_24h_contracts", N, "24 h volume, contracts"),
	NUM("open_interest_contracts", N, "open interest, contracts"),
	END,
};
static const struct kw_field trade_f[] = {
	INT("id", 0, "arrival order in this database"),
	STR("trade_id", 0, "Kalshi trade id"),
	STR("ticker", 0, "market ticker"),
	STR("title", N, "market title; null if the market is not stored"),
	STR("category", N, "market category; null if unknown"),
	TIME("created_time", 0, "when Kalshi matched the trade (microseconds when not whole)"),
	ENUM("taker_side", N, "yes|no",
	     "the outcome the taker bought; null when Kalshi did not say (then no price or "
	     "premium)"),
	NUM("count_contracts", 0, "size, contracts"),
	NUM("yes_price", 0, "YES price, dollars per contract (0-1)"),
	NUM("no_price", 0, "NO price, dollars per contract (0-1)"),
	NUM("price", N, "the taker side's price, dollars per contract (0-1); null without a side"),
	NUM("notional_usd", N,
	    "taker premium: count_contracts x price, dollars; null without a side"),
	BOOL("is_block_trade", 0, "Kalshi block trade"),
	END,
};
static const struct kw_field alert_f[] = {
	INT("id", 0, "increasing id; resume with /api/v1/alerts?since_id="),
	ENUM("type", KW_FF_SIGNAL, KW_SIGNAL_CHOICES, "the signal that fired"),
	STR("label", 0, "the signal's name for people, e.g. Whale trade (from the signal table)"),
	STR("market_id", 0, "market ticker (the original's name)"),
	STR("ticker", 0, "market ticker"),
	STR("title", N, "market title; null if the market is not stored"),
	STR("category", N, "market category; null if unknown"),
	ENUM("severity", 0, SEVERITY, "high at the signal's high threshold"),
	NUM("confidence", 0, "0-1"),
	STR("description", 0, "one line for people"),
	OBJ("data", 0, NULL, "the numbers that fired the signal and the thresholds in force"),
	TIME("timestamp", 0, "when the alert was raised (the original's name)"),
	TIME("created_at", 0, "when the alert was raised"),
	TIME("window_end", 0, "end of the window the signal looked at"),
	END,
};

/* ---- stats -------------------------------------------------------------------------------- */

static const struct kw_field stats_f[] = {
	OBJ("1h", OPT, "StatsWindow", "the last hour (absent when ?window= names another)"),
	OBJ("24h", OPT, "StatsWindow", "the last 24 hours"),
	OBJ("7d", OPT, "StatsWindow", "the last 7 days"),
	END,
};
static const struct kw_field stats_window_f[] = {
	ENUM("window", 0, WINDOWS, "this window"),
	TIME("since", 0, "start of the window"),
	TIME("as_of", N, "end of the window: the kw-fetch run that counted it; null before one"),
	ARR("top_trades", 0, "Trade", "largest trades by taker premium, largest first"),
	MAP("whale_counts_by_category", 0, NULL, KW_FT_INTEGER, NULL,
	    "whale trades per category (uncategorized: no category known)"),
	ARR("most_active_markets", 0, "ActiveMarket", "markets by taker premium, largest first"),
	ARR("gainers", 0, "Mover", "largest YES price rises over the window"),
	ARR("losers", 0, "Mover", "largest YES price falls"),
	ARR("flow", 0, "MarketFlow", "yes/no taker premium of the most active markets"),
	INT("markets_traded", 0, "markets with at least one trade in the window"),
	END,
};
static const struct kw_field market_head_f[] = {
	STR("ticker", 0, "market ticker"),
	STR("title", N, "market title; null if the market is not stored"),
	STR("category", N, "market category; null if unknown"),
	END,
};
static const struct kw_field active_f[] = {
	INT("trades", 0, "trades in the window"),
	NUM("volume_usd", 0, "taker premium in the window, dollars"),
	END,
};
static const struct kw_field mover_f[] = {
	NUM("previous_price", N, "last traded YES price in force when the window opened, dollars"),
	NUM("last_price", N, "last traded YES price, dollars (0-1)"),
	NUM("change", N,
	    "last_price - previous_price, dollars; null without a price then (such a "
	    "market is neither a gainer nor a loser)"),
	END,
};
static const struct kw_field flow_f[] = {
	NUM("yes_usd", 0, "taker premium of YES buyers, dollars"),
	NUM("no_usd", 0, "taker premium of NO buyers, dollars"),
	NUM("net_yes_usd", 0, "yes_usd - no_usd, dollars"),
	END,
};

/* ---- monitoring --------------------------------------------------------------------------- */

static const struct kw_field monitoring_f[] = {
	ENUM("window", 0, WINDOWS, "the window asked for"),
	TIME("since", 0, "start of the first bucket"),
	TIME("until", 0, "end of the last bucket"),
	INT("bucket_s", 0, "bucket width, seconds (60, 900 or 3600)"),
	ARRT("latency_buckets_ms", 0, KW_FT_NUMBER, "upper bounds of the latency histogram, ms"),
	OBJ("totals", 0, "RequestTotals", "the whole window"),
	ARR("series", 0, "RequestBucket", "one point per bucket, oldest first"),
	ARR("endpoints", 0, "EndpointTotals", "per route pattern and method, busiest first"),
	OBJ("security", 0, "SecuritySummary", "security events"),
	ARR("countries", 0, "CountryCount", "requests per client country, largest first"),
	OBJ("alerts", 0, "AlertCounts", "alerts raised in the window"),
	OBJ("fetcher", 0, "FetcherHealth", "kw-fetch freshness and runs"),
	OBJ("websocket", 0, "WebSocketHealth", "kw-ws as last reported"),
	END,
};
static const struct kw_field totals_f[] = {
	INT("requests", 0, "requests answered"),
	INT("bytes", 0, "response body bytes"),
	OBJ("status", 0, "StatusClasses", "requests per status class"),
	NUM("server_error_rate", N, "5xx share, percent; null without requests"),
	NUM("client_error_rate", N, "4xx share, percent; null without requests"),
	OBJ("latency_ms", 0, "LatencyPercentiles", "estimated from the histogram"),
	END,
};
static const struct kw_field bucket_f[] = {
	TIME("time", 0, "start of the bucket"),
	END,
};
static const struct kw_field endpoint_f[] = {
	STR("method", 0, "HTTP method"),
	STR("endpoint", 0, "route pattern, e.g. /api/v1/markets/{ticker}, or (unmatched)"),
	END,
};
static const struct kw_field classes_f[] = {
	INT("1xx", 0, "requests"), INT("2xx", 0, "requests"), INT("3xx", 0, "requests"),
	INT("4xx", 0, "requests"), INT("5xx", 0, "requests"), END,
};
static const struct kw_field latency_f[] = {
	NUM("p50", N, "median latency, ms; null without requests"),
	NUM("p95", N, "95th percentile, ms"),
	NUM("p99", N, "99th percentile, ms"),
	END,
};
static const struct kw_field security_f[] = {
	MAP("by_type", 0, NULL, KW_FT_INTEGER, NULL, "events per type, e.g. auth_failed"),
	ARR("series", 0, "EventBucket", "events per bucket, oldest first"),
	ARR("recent", 0, "SecurityEvent", "the newest events (empty without admin scope)"),
	BOOL("recent_requires_admin", 0, "true when `recent` was withheld for want of admin scope"),
	END,
};
static const struct kw_field event_bucket_f[] = {
	TIME("time", 0, "start of the bucket"),
	INT("count", 0, "security events"),
	END,
};
static const struct kw_field sec_event_f[] = {
	TIME("time", 0, "when it happened"),
	STR("type", 0, "event type, e.g. auth_failed, rate_limit_exceeded"),
	STR("client", 0, "client address"),
	STR("detail", 0, "short sanitized detail"),
	END,
};
static const struct kw_field country_f[] = {
	STR("country", 0, "ISO 3166 country code, or unknown"),
	INT("requests", 0, "requests"),
	END,
};
static const struct kw_field alert_counts_f[] = {
	MAP("by_type", 0, NULL, KW_FT_INTEGER, KW_SIGNAL_CHOICES, "alerts per signal type"),
	END,
};
static const struct kw_field fetcher_f[] = {
	TIME("last_success", N, "end of the last ok or partial run; null before one"),
	INT("lag_s", N, "seconds since last_success"),
	TIME("newest_trade", N, "newest stored trade"),
	OBJ("last_run", N, "FetchRun", "the newest run in the window, or null"),
	OBJ("runs", 0, "FetchRunCounts", "runs in the window by outcome"),
	OBJ("ingested", 0, "FetchTotals", "what the window's runs stored"),
	END,
};
static const struct kw_field fetch_run_f[] = {
	INT("id", 0, "fetch_runs id"),
	ENUM("outcome", 0, "running|ok|partial|failed", "how it ended"),
	TIME("started_at", 0, "start"),
	TIME("finished_at", N, "end; null while running"),
	INT("markets", 0, "markets stored"),
	INT("trades", 0, "trades stored"),
	INT("orderbooks", 0, "order books stored"),
	INT("skipped", 0, "records skipped for a missing field"),
	INT("http_errors", 0, "failed Kalshi requests"),
	END,
};
static const struct kw_field run_counts_f[] = {
	INT("ok", 0, "runs"),
	INT("partial", 0, "runs"),
	INT("failed", 0, "runs"),
	INT("running", 0, "runs"),
	END,
};
static const struct kw_field fetch_totals_f[] = {
	INT("markets", 0, "markets stored"),
	INT("trades", 0, "trades stored"),
	INT("orderbooks", 0, "order books stored"),
	INT("skipped", 0, "records skipped"),
	END,
};
static const struct kw_field ws_health_f[] = {
	INT("connections", 0, "clients connected"),
	INT("messages_sent", 0, "messages sent since kw-ws started"),
	INT("messages_received", 0, "messages received since kw-ws started"),
	TIME("reported_at", N, "kw-ws's last report; null if it never reported"),
	BOOL("stale", 0, "true when kw-ws has not reported for 30 s"),
	END,
};

/* ---- legacy ------------------------------------------------------------------------------- */

static const struct kw_field legacy_market_f[] = {
	STR("id", 0, "market ticker (the original's name)"),
	STR("ticker_symbol", 0, "market ticker (the original's name)"),
	NUM("volume", N, "lifetime volume, contracts (Kalshi's name)"),
	NUM("volume_24h", N, "volume over the last 24 h, contracts (Kalshi's name)"),
	END,
};
static const struct kw_field legacy_markets_f[] = {
	INT("count", 0, "markets in the list"),
	ARR("markets", 0, "LegacyMarket", "open markets of the view by 24 h volume"),
	TIME("timestamp", 0, "when this answer was made"),
	END,
};
static const struct kw_field legacy_top_f[] = {
	ARR("markets", 0, "LegacyMarket", "the 5 open markets of the view with most 24 h volume"),
	INT("count", OPT, "markets in the list (absent when empty)"),
	STR("error", OPT, "present instead of count when the view has no open markets"),
	END,
};
static const struct kw_field legacy_top5_f[] = {
	INT("count", 0, "cards in the list"),
	ARR("markets", 0, "MarketCard", "dashboard cards"),
	TIME("timestamp", 0, "when this answer was made"),
	END,
};
static const struct kw_field card_f[] = {
	STR("id", 0, "market ticker"),
	STR("question", 0, "market title"),
	STR("category", N, "market category"),
	TIME("last_update", 0, "when kw-fetch last stored the market"),
	NUM("volume", 0, "24 h taker premium, dollars (see volume_unit)"),
	ENUM("volume_unit", 0, "usd", "unit of volume"),
	NUM("volume_usd", 0, "24 h taker premium, dollars"),
	NUM("volume_24h_contracts", N, "24 h volume, contracts"),
	STR("cadence", N, "the series' frequency, e.g. daily"),
	BOOL("trending", 0, "price moved 5 points or more in 24 h"),
	ARR("outcomes", 0, "CardOutcome", "YES then NO"),
	BOOL("high_volume", 0, "24 h taker premium >= HIGH_VOLUME_USD"),
	BOOL("high_liquidity", 0, "YES spread of 2 cents or less"),
	BOOL("recent", 0, "opened in the last 24 h"),
	STR("status", 0, "Kalshi status"),
	STR("ticker_symbol", 0, "market ticker"),
	STR("ticker", 0, "market ticker"),
	END,
};
static const struct kw_field outcome_f[] = {
	ENUM("title", 0, "YES|NO", "the outcome"),
	STR("description", N, "what it means"),
	NUM("probability", N, "implied probability 0-1 (last price, else the bid/ask middle)"),
	END,
};
static const struct kw_field legacy_alert_f[] = {
	STR("ticker_symbol", 0, "market ticker (the original's name)"),
	ENUM("market_impact", 0, SEVERITY, "the severity (the original's name)"),
	END,
};
static const struct kw_field legacy_alerts_f[] = {
	OBJ("data", 0, "LegacyWhaleAlertsData", "the original's nested answer"),
	ENUM("status", 0, "success", "always success"),
	ARR("alerts", 0, "LegacyAlert", "the same alerts at the top level"),
	INT("count", 0, "alerts in the list"),
	TIME("timestamp", 0, "when this answer was made"),
	END,
};
static const struct kw_field legacy_alerts_data_f[] = {
	ARR("alerts", 0, "LegacyAlert", "recent alerts of the view, newest first"),
	INT("count", 0, "alerts in the list"),
	INT("whale_signals_count", 0, "alerts other than high_volume"),
	INT("high_volume_count", 0, "high_volume alerts"),
	MAP("detection_types", 0, NULL, KW_FT_BOOLEAN, KW_SIGNAL_CHOICES,
	    "which signals this server raises"),
	OBJ("thresholds", 0, "DetectionThresholds", "the thresholds in force"),
	END,
};
static const struct kw_field thresholds_f[] = {
	INT("whale_min_notional_usd", 0, "dollars"),
	MAP("whale_min_notional_by_category_usd", 0, NULL, KW_FT_INTEGER, NULL,
	    "per-category whale thresholds, dollars"),
	NUM("volume_surge_multiplier", 0, "times the 24 h per-bucket mean"),
	NUM("volume_surge_high_multiplier", 0, "times the mean for high severity"),
	INT("surge_min_trades", 0, "trades a surge window needs at least"),
	INT("surge_window_min", 0, "minutes"),
	INT("surge_min_notional_usd", 0, "dollars"),
	INT("odds_change_points", 0, "percentage points"),
	INT("odds_high_points", 0, "percentage points for high severity"),
	INT("odds_window_min", 0, "minutes"),
	INT("orderbook_change_percent", 0, "percent"),
	INT("orderbook_high_percent", 0, "percent for high severity"),
	INT("high_volume_usd", 0, "dollars of 24 h taker premium"),
	INT("alert_cooldown_min", 0, "minutes"),
	END,
};
static const struct kw_field analytics_f[] = {
	MAP("signal_types", 0, NULL, KW_FT_INTEGER, KW_SIGNAL_CHOICES,
	    "alerts in the last 24 h per type"),
	MAP("most_active_markets", 0, NULL, KW_FT_INTEGER, NULL, "alerts per market ticker"),
	ARR("recent_activity", 0, "LegacyAlert", "the 10 newest alerts"),
	MAP("odds_movements", 0, NULL, KW_FT_OBJECT, NULL,
	    "per ticker, the data of its newest odds_flip alert"),
	INT("total_whale_signals", 0, "alerts in the last 24 h"),
	MAP("volume_trends", 0, "VolumeTrend", KW_FT_OBJECT, NULL,
	    "for the 5 markets with most alerts"),
	ENUM("window", 0, "24h", "the window counted"),
	TIME("timestamp", 0, "when this answer was made"),
	END,
};
static const struct kw_field trend_f[] = {
	NUM("recent_average", 0, "mean hourly taker premium over 24 h, dollars per hour"),
	NUM("last_hour", 0, "taker premium of the current hour, dollars"),
	ENUM("trend", 0, "flat|increasing|decreasing|stable", "last hour against the mean"),
	NUM("volatility", N, "mean absolute deviation over the mean, percent"),
	ENUM("unit", 0, "usd_per_hour", "unit of recent_average"),
	END,
};

const struct kw_schema kw_schemas[] = {
	{ "Error", "the one error shape of every 4xx and 5xx answer", NULL, error_f },
	{ "ErrorDetail", "code and message of an error", NULL, error_detail_f },
	{ "Health", "liveness", NULL, health_f },
	{ "Status", "service status", NULL, status_f },
	{ "StatusDatabase", "database check", NULL, status_db_f },
	{ "ClusterFetcher", "the fetcher's state across nodes", NULL, cluster_fetcher_f },
	{ "ClusterRun", "a kw-fetch run and the node that ran it", NULL, cluster_run_f },
	{ "WsTicket", "a WebSocket ticket", NULL, ws_ticket_f },
	{ "LegacyRefresh", "the original's answer to a refresh request", NULL, legacy_refresh_f },
	{ "RefreshAccepted", "a queued refresh request (count is 0: kw-fetch does the work later)",
	  "LegacyRefresh", refresh_f },
	{ "Meta", "freshness of a v1 answer", NULL, meta_f },
	{ "Market", "a market as stored by kw-fetch", NULL, market_f },
	{ "MarketDetail", "a market with its order book, trades and alerts", "Market",
	  market_detail_f },
	{ "OrderBookSummary", "the latest order-book snapshot of a market", NULL, book_f },
	{ "Snapshot", "a market's state from one change to the next", NULL, snapshot_f },
	{ "Trade", "one trade (a whale trade in /api/v1/whales)", NULL, trade_f },
	{ "Alert", "one detection signal", NULL, alert_f },
	{ "Stats", "statistics per window", NULL, stats_f },
	{ "StatsWindow", "statistics of one window", NULL, stats_window_f },
	{ "MarketHead", "a market named in statistics", NULL, market_head_f },
	{ "ActiveMarket", "a market by taker premium", "MarketHead", active_f },
	{ "Mover", "a market by YES price change", "MarketHead", mover_f },
	{ "MarketFlow", "a market's yes/no taker flow", "MarketHead", flow_f },
	{ "Monitoring", "requests, errors, latency, security, fetcher and WebSocket health", NULL,
	  monitoring_f },
	{ "RequestTotals", "request counts of a window", NULL, totals_f },
	{ "RequestBucket", "request counts of one bucket", "RequestTotals", bucket_f },
	{ "EndpointTotals", "request counts of one route", "RequestTotals", endpoint_f },
	{ "StatusClasses", "requests per status class", NULL, classes_f },
	{ "LatencyPercentiles", "latency percentiles, ms", NULL, latency_f },
	{ "SecuritySummary", "security events of the window", NULL, security_f },
	{ "EventBucket", "security events of one bucket", NULL, event_bucket_f },
	{ "SecurityEvent", "one security event", NULL, sec_event_f },
	{ "CountryCount", "requests of one country", NULL, country_f },
	{ "AlertCounts", "alerts per type", NULL, alert_counts_f },
	{ "FetcherHealth", "kw-fetch freshness", NULL, fetcher_f },
	{ "FetchRun", "one kw-fetch run", NULL, fetch_run_f },
	{ "FetchRunCounts", "runs by outcome", NULL, run_counts_f },
	{ "FetchTotals", "records stored by runs", NULL, fetch_totals_f },
	{ "WebSocketHealth", "kw-ws as last reported", NULL, ws_health_f },
	{ "LegacyMarket", "a market in the original's routes", "Market", legacy_market_f },
	{ "LegacyMarkets", "GET /api/markets", NULL, legacy_markets_f },
	{ "LegacyTopMarkets", "GET /api/top-markets", NULL, legacy_top_f },
	{ "LegacyTop5", "GET /api/markets/top5", NULL, legacy_top5_f },
	{ "MarketCard", "a dashboard card", NULL, card_f },
	{ "CardOutcome", "one outcome of a card", NULL, outcome_f },
	{ "LegacyAlert", "an alert in the original's routes", "Alert", legacy_alert_f },
	{ "LegacyWhaleAlerts", "GET /api/whale-alerts", NULL, legacy_alerts_f },
	{ "LegacyWhaleAlertsData", "the nested part of GET /api/whale-alerts", NULL,
	  legacy_alerts_data_f },
	{ "DetectionThresholds", "detection settings in force", NULL, thresholds_f },
	{ "LegacyWhaleAnalytics", "GET /api/whale-analytics", NULL, analytics_f },
	{ "VolumeTrend", "a market's hourly taker premium over 24 h", NULL, trend_f },
};
const int kw_schemas_count = (int)(sizeof(kw_schemas) / sizeof(kw_schemas[0]));

const struct kw_schema *kw_schema_find(const char *name)
{
	for (int i = 0; name && i < kw_schemas_count; i++)
		if (!strcmp(kw_schemas[i].name, name))
			return &kw_schemas[i];
	return NULL;
}

json_object *kw_schema_choices(const char *choices)
{
	json_object *e = json_object_new_array();
	const char *c = choices;
	while (c && *c) {
		const char *bar = strchr(c, '|');
		size_t n = bar ? (size_t)(bar - c) : strlen(c);
		json_object_array_add(e, json_object_new_string_len(c, (int)n));
		c = bar ? bar + 1 : NULL;
	}
	return e;
}

json_object *kw_schema_ref(const char *name)
{
	char buf[128];
	json_object *o = json_object_new_object();
	snprintf(buf, sizeof(buf), "#/components/schemas/%s", name);
	json_object_object_add(o, "$ref", json_object_new_string(buf));
	return o;
}

/* The schema of a value of type t (ref for objects and elements), without nullability. */
static json_object *type_schema(enum kw_ftype t, const char *r, enum kw_ftype items,
				const char *choices)
{
	static const char *const names[] = { "string", "integer", "number", "boolean",
					     "string", "object",  "array",  "object" };
	json_object *s;
	if (t == KW_FT_OBJECT && r)
		return kw_schema_ref(r);
	s = json_object_new_object();
	json_object_object_add(s, "type", json_object_new_string(names[t]));
	if (t == KW_FT_TIME)
		json_object_object_add(s, "format", json_object_new_string("date-time"));
	if (t == KW_FT_STRING && choices)
		json_object_object_add(s, "enum", kw_schema_choices(choices));
	if (t == KW_FT_ARRAY)
		json_object_object_add(
			s, "items", type_schema(r ? KW_FT_OBJECT : items, r, KW_FT_STRING, NULL));
	if (t == KW_FT_MAP) {
		if (choices) {
			json_object *k = json_object_new_object();
			json_object_object_add(k, "enum", kw_schema_choices(choices));
			json_object_object_add(s, "propertyNames", k);
		}
		json_object_object_add(
			s, "additionalProperties",
			type_schema(r ? KW_FT_OBJECT : items, r, KW_FT_STRING, NULL));
	}
	return s;
}

/* The signal table's labels and meanings, keyed by name, beside an enum of signal names. */
static void add_signal_texts(json_object *s)
{
	json_object *labels = json_object_new_object(), *texts = json_object_new_object();
	for (int i = 0; i < KW_ALERT_NTYPES; i++) {
		json_object_object_add(labels, kw_signals[i].name,
				       json_object_new_string(kw_signals[i].label));
		json_object_object_add(texts, kw_signals[i].name,
				       json_object_new_string(kw_signals[i].description));
	}
	json_object_object_add(s, "x-enum-labels", labels);
	json_object_object_add(s, "x-enumDescriptions", texts);
}

static json_object *field_schema(const struct kw_field *f)
{
	json_object *s = type_schema(f->type, f->ref, f->items, f->choices);
	if (f->flags & KW_FF_SIGNAL)
		add_signal_texts(s);
	if (f->flags & KW_FF_NULLABLE) {
		/* 3.1: a null alternative; an enum lists null too, or it would refuse it. */
		json_object *any = json_object_new_array(), *null = json_object_new_object();
		json_object_object_add(null, "type", json_object_new_string("null"));
		json_object_array_add(any, s);
		json_object_array_add(any, null);
		s = json_object_new_object();
		json_object_object_add(s, "anyOf", any);
	}
	json_object_object_add(s, "description", json_object_new_string(f->desc ? f->desc : ""));
	return s;
}

static void add_fields(const struct kw_schema *sc, json_object *props, json_object *req, int depth)
{
	const struct kw_schema *base = kw_schema_find(sc->base);
	if (base && depth < 4)
		add_fields(base, props, req, depth + 1);
	for (const struct kw_field *f = sc->fields; f && f->name; f++) {
		json_object_object_add(props, f->name, field_schema(f));
		if (!(f->flags & KW_FF_OPTIONAL))
			json_object_array_add(req, json_object_new_string(f->name));
	}
}

json_object *kw_schema_json(const struct kw_schema *sc)
{
	json_object *s = json_object_new_object(), *props = json_object_new_object();
	json_object *req = json_object_new_array();
	json_object_object_add(s, "type", json_object_new_string("object"));
	json_object_object_add(s, "description", json_object_new_string(sc->desc));
	add_fields(sc, props, req, 0);
	json_object_object_add(s, "properties", props);
	if (json_object_array_length(req))
		json_object_object_add(s, "required", req);
	else
		json_object_put(req);
	json_object_object_add(s, "additionalProperties", json_object_new_boolean(0));
	return s;
}
