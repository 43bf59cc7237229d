#!/usr/bin/env bash
# bench-scale.sh BUILD — every read route at exchange scale, run by `make bench`.
#
# A real day's size, loaded the way production loads it: the bench's own page generator
# (bench/pagegen.py) writes 50,000 markets and 1,000,000 trades spread over the last 24 h
# (BENCH_SCALE_MARKETS, BENCH_SCALE_TRADES) and `kw-fetch --replay` stores them, with its
# rollups and detection, into the database of a lighttpd + kw-api stack ($BENCH_WORKERS
# workers, bench/lib.sh). BENCH_SCALE_BIG=1 instead loads 10,000,000 trades over 7 days (a long
# run: generation and ingest take many minutes on two cores).
# For every read route a dashboard polls:
#   cold  — the first request after a fetch run (a run with nothing new commits, which
#           expires every worker's reply cache): the larger of the first two requests' times
#   warm  — wrk -c8 for $BENCH_SCALE_DURATION s: requests/s, p50 and p99
# then the mixed load (every route in turn, wrk -c8) as a ratio to /api/status alone in the
# same run. Goals (figures, not tests): warm p99 <= 10 ms, cold <= 50 ms, mixed >= 0.5 of
# status. Loopback only, bounded in time; everything started is stopped at exit.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
tmp=$(mktemp -d /tmp/kw-bench-scale.XXXXXX)
trap 'bench_stop; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$tmp"' EXIT

markets=${BENCH_SCALE_MARKETS:-50000}
trades=${BENCH_SCALE_TRADES:-1000000}
span=80000
if [ "${BENCH_SCALE_BIG:-0}" = 1 ]; then
	trades=${BENCH_SCALE_TRADES:-10000000}
	span=$((7 * 86400 - 3600))
fi
duration=${BENCH_SCALE_DURATION:-5}
key="kwbench_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

echo "generating $markets markets and $trades trades over $((span / 3600)) h as saved pages ..."
/usr/bin/python3 "$here/pagegen.py" "$tmp/pages" "$markets" "$trades" "$span"
bench_start "$build" "$tmp" "API_KEY=$key" "RATE_LIMIT_PER_MINUTE=1000000" \
	"RATE_LIMIT_BURST=1000000" "LOG_LEVEL=warning" "KALSHI_API_BASE=http://127.0.0.1:9/unused"
fetch() { # fetch DIR: one kw-fetch --replay run into the stack's database
	KW_ENV_FILE="$tmp/kalshiwhale.env" timeout 3600 "$build/kw-fetch" --replay "$1" \
		2>>"$tmp/fetch.log" || {
		echo "bench-scale: kw-fetch --replay $1 failed:" >&2
		tail -n 5 "$tmp/fetch.log" >&2
		exit 1
	}
}
t0=$(date +%s.%N)
fetch "$tmp/pages/markets"
fetch "$tmp/pages/trades"
t1=$(date +%s.%N)
stored=$(sqlite3 "$tmp/kalshiwhale.db" "SELECT (SELECT count(*) FROM markets) || ' markets, '
	|| (SELECT count(*) FROM trades) || ' trades, ' || (SELECT count(*) FROM alerts)
	|| ' alerts'")
printf 'loaded with kw-fetch --replay in %.1f s: %s\n' "$(bc -l <<<"$t1 - $t0")" "$stored"

ticker=$(sqlite3 "$tmp/kalshiwhale.db" "SELECT ticker FROM market_activity
	ORDER BY usd_24h_micros DESC LIMIT 1")
routes=(
	/api/status
	"/api/v1/markets?limit=50"
	"/api/v1/whales?limit=100"
	"/api/v1/alerts?limit=50"
	/api/v1/stats
	"/api/v1/stats?window=24h"
	"/api/v1/stats?window=7d"
	"/api/v1/markets/$ticker"
	/api/markets
	/api/top-markets
	/api/markets/top5
	/api/whale-alerts
	/api/whale-analytics
)

echo
printf '%-40s %8s %11s %8s %8s %7s\n' "route ($BENCH_WORKERS workers)" "cold ms" "warm req/s" \
	"p50 ms" "p99 ms" "errors"
c64=$BENCH_CONNECTIONS
d64=$BENCH_DURATION
BENCH_CONNECTIONS=8
BENCH_DURATION=$duration
worst_cold=0 worst_p99=0
for r in "${routes[@]}"; do
	fetch "$tmp/pages/noop" # new generation: every worker's cached replies expire
	cold=0
	for _ in 1 2; do
		out=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -H "X-API-Key: $key" \
			"$BENCH_BASE$r")
		[ "${out%% *}" = 200 ] || echo "bench-scale: $r answered ${out%% *}" >&2
		ms=$(bc -l <<<"${out#* } * 1000")
		[ "$(bc -l <<<"$ms > $cold")" = 1 ] && cold=$ms
	done
	bench_wrk "$r" "$r" "$key" >"$tmp/wrk.line" # not in a subshell: it records figures
	line=$(cat "$tmp/wrk.line")
	p99=$(bc -l <<<"$(bench_p99 "$r") / 1000")
	err=$(sed -n 's/.*errors \([0-9]*\).*/\1/p' <<<"$line")
	p50=$(sed -n 's/.*p50 *\([0-9.]*\) ms.*/\1/p' <<<"$line")
	printf '%-40s %8.1f %11.0f %8.2f %8.2f %7s\n' "$r" "$cold" "$(bench_rps "$r")" "$p50" \
		"$p99" "$err"
	[ "$(bc -l <<<"$cold > $worst_cold")" = 1 ] && worst_cold=$cold
	[ "$(bc -l <<<"$p99 > $worst_p99")" = 1 ] && worst_p99=$p99
done

# The mixed load: all routes in turn, beside /api/status alone, in the same minute.
echo
paths=$(
	IFS=,
	echo "${routes[*]}"
)
bench_wrk "status alone (-c8)" /api/status "$key" >/dev/null
KW_BENCH_PATHS=$paths \
	bench_wrk "every route in turn (-c8)" /api/status "$key"
bench_wrk "status alone (-c8)" /api/status "$key"
BENCH_CONNECTIONS=$c64
BENCH_DURATION=$d64
echo
printf 'slowest cold route %.1f ms   goal <= 50 ms\n' "$worst_cold"
printf 'slowest warm p99 %.2f ms   goal <= 10 ms\n' "$worst_p99"
echo "mixed / status $(bench_ratio "$(bench_rps "every route in turn (-c8)")" \
	"$(bench_rps "status alone (-c8)")")   goal >= 0.50"
echo "(errors: non-2xx answers; a 503 is the cap on expensive requests refusing a second one"
echo " at once from the same client, which the whole wrk load is)"
