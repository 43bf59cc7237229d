/*
 * routes.c — the route table (method + path pattern -> handler, declared parameters) and the
 * dispatcher: 404 for an unknown path, 405 with Allow for a known path and another method,
 * 400 naming the parameter for a query that does not match the declaration.
 *
 * Patterns are literal except for {name} segments, which match one non-empty path segment and
 * are percent-decoded into r->path_args in order. HEAD is served wherever GET is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "log.h"
#include "monitoring.h"

const struct kw_route kw_routes[] = {
	{ "GET", "/api/health", kw_handle_health, NULL, KW_ROUTE_PUBLIC | KW_ROUTE_503_SAME_SHAPE,
	  "liveness for load balancers: 200 when the database answers, 503 otherwise", 200,
	  KW_REPLY_BODY, "Health", NULL, NULL },
	{ "GET", "/api/status", kw_handle_status, NULL, KW_ROUTE_503_SAME_SHAPE,
	  "service status: version, uptime, fetcher freshness, market and connection counts", 200,
	  KW_REPLY_BODY, "Status", NULL, NULL },
	{ "POST", "/api/ws-ticket", kw_handle_ws_ticket, NULL, 0,
	  "a single-use ticket (60 s) for the WebSocket handshake: /ws?ticket=...", 200,
	  KW_REPLY_BODY, "WsTicket", NULL, NULL },
	/* The data API: the original app's shapes (docs/ORIGINAL.md), then v1. */
	{ "GET", "/api/markets", kw_handle_legacy_markets, kw_params_legacy_markets, 0,
	  "legacy: open markets of the crypto view (or ?category=), {markets, count, timestamp}",
	  200, KW_REPLY_BODY, "LegacyMarkets", NULL, NULL },
	{ "GET", "/api/top-markets", kw_handle_legacy_top_markets, kw_params_legacy_view, 0,
	  "legacy: the 5 open markets with the most 24 h volume, {markets, count}", 200,
	  KW_REPLY_BODY, "LegacyTopMarkets", NULL, NULL },
	{ "GET", "/api/markets/top5", kw_handle_legacy_top5, kw_params_legacy_view, 0,
	  "legacy: dashboard cards for the top 5 markets, {markets, count, timestamp}", 200,
	  KW_REPLY_BODY, "LegacyTop5", NULL, NULL },
	{ "GET", "/api/whale-alerts", kw_handle_legacy_whale_alerts, kw_params_legacy_alerts, 0,
	  "legacy: recent alerts, nested under data and at the top level", 200, KW_REPLY_BODY,
	  "LegacyWhaleAlerts", NULL, NULL },
	{ "GET", "/api/whale-analytics", kw_handle_legacy_whale_analytics, kw_params_legacy_view,
	  KW_ROUTE_HEAVY,
	  "legacy: 24 h signal counts, most active markets, volume trends, odds movements", 200,
	  KW_REPLY_BODY, "LegacyWhaleAnalytics", NULL, NULL },
	{ "POST", "/api/refresh", kw_handle_refresh, NULL, KW_ROUTE_ADMIN,
	  "legacy: ask kw-fetch to run soon; 200 {success, message, count, timestamp} whether "
	  "a run was queued or one is already going or waiting",
	  200, KW_REPLY_BODY, "LegacyRefresh", NULL, kw_body_refresh },
	{ "GET", "/api/v1/markets", kw_handle_v1_markets, kw_params_v1_markets, 0,
	  "markets: filter, sort, keyset pagination", 200, KW_REPLY_LIST, "Market", NULL, NULL },
	{ "GET", "/api/v1/markets/{ticker}", kw_handle_v1_market, NULL, 0,
	  "one market with its latest order-book summary, last 50 trades and recent alerts", 200,
	  KW_REPLY_ITEM, "MarketDetail", NULL, NULL },
	{ "GET", "/api/v1/markets/{ticker}/history", kw_handle_v1_market_history,
	  kw_params_v1_history, KW_ROUTE_HEAVY, "a market's snapshots, one per change", 200,
	  KW_REPLY_LIST, "Snapshot", NULL, NULL },
	{ "GET", "/api/v1/whales", kw_handle_v1_whales, kw_params_v1_whales, 0,
	  "whale trades, newest first (JSON or CSV)", 200, KW_REPLY_LIST, "Trade",
	  kw_csv_columns_whales, NULL },
	{ "GET", "/api/v1/alerts", kw_handle_v1_alerts, kw_params_v1_alerts, 0,
	  "detection signals, newest first, or after since_id oldest first (JSON or CSV)", 200,
	  KW_REPLY_LIST, "Alert", kw_csv_columns_alerts, NULL },
	{ "GET", "/api/v1/stats", kw_handle_v1_stats, kw_params_v1_stats, 0,
	  "1 h / 24 h / 7 d: top trades, most active, movers, yes/no flow, whales by category", 200,
	  KW_REPLY_ITEM, "Stats", NULL, NULL },
	{ "POST", "/api/v1/refresh", kw_handle_v1_refresh, NULL,
	  KW_ROUTE_ADMIN | KW_ROUTE_MAY_CONFLICT,
	  "ask kw-fetch to run soon (202); 409 while a run is going or a request waits", 202,
	  KW_REPLY_BODY, "RefreshAccepted", NULL, kw_body_refresh },
	/* Monitoring. /metrics checks METRICS_ALLOW or admin scope itself. */
	{ "GET", "/api/v1/monitoring", kw_handle_v1_monitoring, kw_params_v1_monitoring, 0,
	  "requests, error rates, latency percentiles, security events, countries over a window",
	  200, KW_REPLY_ITEM, "Monitoring", NULL, NULL },
	{ "GET", "/metrics", kw_handle_metrics, NULL, KW_ROUTE_PUBLIC | KW_ROUTE_SELF_GATED,
	  "Prometheus text exposition; admin scope or a client address in METRICS_ALLOW", 200,
	  KW_REPLY_TEXT, "text/plain; version=0.0.4; charset=utf-8", NULL, NULL },
	{ "GET", "/api/openapi.json", kw_handle_openapi, NULL, KW_ROUTE_PUBLIC,
	  "this API's OpenAPI 3.1 document, generated from the route table", 200, KW_REPLY_BODY,
	  NULL, NULL, NULL },
};
const int kw_routes_count = (int)KW_ARRAY_LEN(kw_routes);

/* 1 if path matches pattern; fills args (owned) for {x} segments. */
static int match(const char *pattern, const char *path, char **args)
{
	int nargs = 0;
	const char *p = pattern, *s = path;
	while (*p && *s) {
		if (*p == '{') {
			const char *pe = strchr(p, '}');
			const char *se = strchr(s, '/');
			size_t n = se ? (size_t)(se - s) : strlen(s);
			if (!pe || n == 0 || nargs == KW_MAX_PATH_ARGS)
				goto fail;
			size_t dlen;
			char *v = kw_percent_decode(s, n, &dlen);
			if (!v || dlen != strlen(v) || !kw_text_is_clean(v, dlen)) {
				free(v);
				goto fail;
			}
			args[nargs++] = v;
			p = pe + 1;
			s += n;
			continue;
		}
		if (*p != *s)
			goto fail;
		p++;
		s++;
	}
	if (*p || *s)
		goto fail;
	return 1;
fail:
	for (int i = 0; i < nargs; i++) {
		free(args[i]);
		args[i] = NULL;
	}
	return 0;
}

static int method_matches(const char *route_method, const char *method)
{
	return !strcmp(route_method, method) ||
	       (!strcmp(route_method, "GET") && !strcmp(method, "HEAD"));
}

void kw_dispatch(struct kw_req *r)
{
	char allow[64] = "";
	const struct kw_route *found = NULL;
	/* Blocks, CORS preflights, credentials and the rate limit come first (security.h). */
	if (kw_sec_before_route(r) < 0)
		return;
	for (int i = 0; i < kw_routes_count && !found; i++) {
		const struct kw_route *rt = &kw_routes[i];
		char *args[KW_MAX_PATH_ARGS] = { NULL };
		if (!match(rt->pattern, r->path, args))
			continue;
		if (method_matches(rt->method, r->method)) {
			found = rt;
			memcpy(r->path_args, args, sizeof(args));
			break;
		}
		for (int j = 0; j < KW_MAX_PATH_ARGS; j++)
			free(args[j]);
		if (!strstr(allow, rt->method)) {
			size_t used = strlen(allow);
			snprintf(allow + used, sizeof(allow) - used, "%s%s%s", used ? ", " : "",
				 rt->method, strcmp(rt->method, "GET") ? "" : ", HEAD");
		}
	}
	if (!found) {
		if (*allow) {
			kw_reply_header(r, "Allow", allow);
			kw_reply_error(r, 405, "method_not_allowed",
				       "this method is not allowed on this path");
		} else {
			kw_reply_error(r, 404, "not_found", "no such endpoint");
		}
		return;
	}
	r->route = found;
	if (kw_sec_route_or_reply(r) < 0) /* 401 / 403 from the route's flags */
		return;
	char err[160];
	const char *bad = NULL;
	if (kw_query_parse(r->query, found->params, &r->q, &bad, err, sizeof(err)) < 0) {
		kw_sec_event(r, "validation_failed", err);
		kw_reply_error(r, 400, "invalid_parameter", err);
		return;
	}
	found->handler(r);
}
