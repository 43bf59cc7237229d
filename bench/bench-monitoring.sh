#!/usr/bin/env bash
# bench-monitoring.sh BUILD — what request metrics cost (recording must be cheap),
# measured in one run on loopback with wrk ($BENCH_CONNECTIONS connections, $BENCH_DURATION s
# each; bench/lib.sh), kw-api GET /api/status (authenticated, rate-limited):
#   (off) MONITORING_ENABLED=false
#   (on)  MONITORING_ENABLED=true: every request added to the worker's in-memory aggregate,
#         written to SQLite every METRICS_FLUSH_SECONDS (5) — not once per request
# then the ratio on/off (goal: >= 0.95, p99 no worse than 1.2x), the requests the metrics
# tables counted against what wrk sent (rps x duration), and GET /metrics and
# GET /api/v1/monitoring?window=7d answer times after the load.
# Figures, not a test: it never fails on a missed goal, only on a broken setup.
set -euo pipefail
build=${1:?usage: bench-monitoring.sh ABSOLUTE_BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
tmp=$(mktemp -d /tmp/kw-bench-mon.XXXXXX)
trap 'bench_stop; rm -rf "$tmp"' EXIT

key="kwbench_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "== monitoring: $(nproc) cores, wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d${BENCH_DURATION}s, $BENCH_WORKERS workers"
for mode in false true; do
	rm -f "$tmp"/kalshiwhale.db*
	bench_start "$build" "$tmp" "API_KEY=$key" "LOG_LEVEL=warning" "MONITORING_ENABLED=$mode" \
		"RATE_LIMIT_PER_MINUTE=1000000" "RATE_LIMIT_BURST=1000000"
	curl -fsS -o /dev/null -H "X-API-Key: $key" "$BENCH_BASE/api/status"
	bench_wrk "status, monitoring=$mode" /api/status "$key"
	if [ "$mode" = true ]; then
		sleep 6 # one flush period
		counted=$(sqlite3 -cmd ".timeout 5000" "$tmp/kalshiwhale.db" \
			"SELECT sum(requests) FROM metrics_request_totals WHERE endpoint = '/api/status'")
		for p in /metrics "/api/v1/monitoring?window=7d"; do
			t=$(curl -fsS -o /dev/null -w '%{time_total}' -H "X-API-Key: $key" "$BENCH_BASE$p")
			echo "GET $p after the load: ${t} s"
		done
	fi
	bench_stop
done
on=$(bench_rps "status, monitoring=true")
off=$(bench_rps "status, monitoring=false")
echo
echo "monitoring on / off (rps) $(bench_ratio "$on" "$off")   goal >= 0.95"
echo "p99 on / off              $(bench_ratio "$(bench_p99 "status, monitoring=true")" "$(bench_p99 "status, monitoring=false")")   goal <= 1.2"
echo "requests counted in metrics_request_totals: $counted (wrk: about $(bc <<<"$on * $BENCH_DURATION / 1") + 1 warm-up)"
