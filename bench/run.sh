#!/usr/bin/env bash
# run.sh BUILD — `make bench`: measure kw-api against baselines taken in the same run, on the
# same lighttpd, with wrk on loopback ($BENCH_CONNECTIONS connections, $BENCH_DURATION s each):
#   (a) lighttpd serving a static file with the same bytes as the response
#   (b) the bare libfcgi responder (bench/fcgi-ceiling.c): the FastCGI ceiling, one request at
#       a time per process, as many processes as kw-api has
#   (b2) the same responder with $BENCH_KW_THREADS accept threads per process: the threaded
#       ceiling, what kw-api's KW_THREADS (the same number) can approach
#   (b3) the threaded responder accepting and closing as kw-api does (fcgi-ceiling -c: no
#       accept mutex, no lingering close): not a goal's baseline; c/b3 is kw-api's own work
#   (b') the same responder answering with kw-api's own /api/health bytes (captured): what
#       the required security and rate-limit headers cost in the web server and the client,
#       apart from what kw-api spends computing them
#   (c) kw-api GET /api/health and GET /api/status (authenticated, rate-limited when those
#       features are enabled: a bootstrap key with a limit high enough never to throttle)
# then the ratios c/a, c/b and c/b2 and the peak RSS of one worker; then kw-api again with
# KW_THREADS=1 (what the threads add: throughput, and resident memory per thread); then every
# bench/bench-*.sh (each part of the product adds its own) with the same build directory.
# Goals (figures, not tests): health >= 90% of (b); status >= 1.05 of (b) and >= 0.85 of (b2),
# p99 no worse than the single-threaded workers'; worker RSS <= 8 MiB.
# BENCH="pg api" (`make bench BENCH=pg`) runs only bench/bench-pg.sh and bench/bench-api.sh,
# without the foundation figures.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
if [ -n "${BENCH:-}" ]; then
	for name in $BENCH; do
		echo "== bench-$name.sh"
		bash "$here/bench-$name.sh" "$build" || echo "bench: bench-$name.sh failed (exit $?)"
	done
	exit 0
fi
tmp=$(mktemp -d /tmp/kw-bench.XXXXXX)
trap 'bench_stop; rm -rf "$tmp"' EXIT

key="kwbench_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "== make bench: $(nproc) cores, wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d${BENCH_DURATION}s, $BENCH_WORKERS workers each, KW_THREADS=$BENCH_KW_THREADS"
bench_start "$build" "$tmp" "API_KEY=$key" "RATE_LIMIT_PER_MINUTE=1000000" \
	"RATE_LIMIT_BURST=1000000" "LOG_LEVEL=info"
curl -fsS -H "X-API-Key: $key" "$BENCH_BASE/api/status" >"$tmp/www/status.json"
curl -fsS "$BENCH_BASE/api/health" >"$tmp/www/health.json"
bench_capture "$BENCH_BASE/api/health" "$key" "$tmp/replay.txt"
bench_stop
bench_start "$build" "$tmp" "API_KEY=$key" "RATE_LIMIT_PER_MINUTE=1000000" \
	"RATE_LIMIT_BURST=1000000" "LOG_LEVEL=info"

# Warm every path once so that no run pays for worker start-up.
for p in /bench/ceiling /bench/ceiling-threaded /bench/ceiling-close /bench/replay /api/health /health.json; do
	curl -fsS -o /dev/null -H "X-API-Key: $key" "$BENCH_BASE$p"
done

bench_wrk "static file (a, health bytes)" /health.json
bench_wrk "static file (a, status bytes)" /status.json
bench_wrk "fastcgi ceiling (b)" /bench/ceiling
bench_wrk "threaded ceiling (b2)" /bench/ceiling-threaded
bench_wrk "threaded, kw-api's accept and close (b3)" /bench/ceiling-close
bench_wrk "ceiling, kw-api's bytes (b')" /bench/replay
bench_wrk "kw-api GET /api/health" /api/health "$key"
bench_wrk "kw-api GET /api/status" /api/status "$key"
rss=$(bench_worker_rss_kib)

b=$(bench_rps "fastcgi ceiling (b)")
h=$(bench_rps "kw-api GET /api/health")
s=$(bench_rps "kw-api GET /api/status")
echo
echo "health / static (c/a)   $(bench_ratio "$h" "$(bench_rps "static file (a, health bytes)")")"
echo "health / ceiling (c/b)  $(bench_ratio "$h" "$b")   goal >= 0.90"
echo "health / same-bytes ceiling (c/b') $(bench_ratio "$h" "$(bench_rps "ceiling, kw-api's bytes (b')")")"
echo "same-bytes / bare ceiling (b'/b)  $(bench_ratio "$(bench_rps "ceiling, kw-api's bytes (b')")" "$b")   (the headers' own cost)"
echo "status / static (c/a)   $(bench_ratio "$s" "$(bench_rps "static file (a, status bytes)")")"
echo "status / ceiling (c/b)  $(bench_ratio "$s" "$b")   goal >= 1.05 (threads)"
echo "status / threaded ceiling (c/b2) $(bench_ratio "$s" "$(bench_rps "threaded ceiling (b2)")")   goal >= 0.85"
echo "status / threaded, same accept and close (c/b3) $(bench_ratio "$s" "$(bench_rps "threaded, kw-api's accept and close (b3)")")   (kw-api's own work: the same libfcgi calls)"
echo "status p99 / ceiling p99 $(bench_ratio "$(bench_p99 "kw-api GET /api/status")" "$(bench_p99 "fastcgi ceiling (b)")")"
echo "kw-api worker peak RSS  $((rss / 1024)).$(((rss % 1024) * 10 / 1024)) MiB   goal <= 8 MiB"
bench_stop

# The same workers with one accept thread each: what the threads buy, and what each costs.
bench_start "$build" "$tmp" "API_KEY=$key" "RATE_LIMIT_PER_MINUTE=1000000" \
	"RATE_LIMIT_BURST=1000000" "LOG_LEVEL=info" "KW_THREADS=1"
curl -fsS -o /dev/null -H "X-API-Key: $key" "$BENCH_BASE/api/status"
bench_wrk "kw-api GET /api/status, 1 thread" /api/status "$key"
rss1=$(bench_worker_rss_kib)
s1=$(bench_rps "kw-api GET /api/status, 1 thread")
echo
echo "status, $BENCH_KW_THREADS threads / 1 thread  $(bench_ratio "$s" "$s1")"
echo "status p99, $BENCH_KW_THREADS threads / 1 thread  $(bench_ratio "$(bench_p99 "kw-api GET /api/status")" "$(bench_p99 "kw-api GET /api/status, 1 thread")")   goal <= 1"
if [ "$BENCH_KW_THREADS" -gt 1 ]; then
	echo "worker peak RSS per extra thread  $(((rss - rss1) / (BENCH_KW_THREADS - 1))) KiB ($((rss1 / 1024)).$(((rss1 % 1024) * 10 / 1024)) MiB with 1 thread)"
fi
bench_stop

for extra in "$here"/bench-*.sh; do
	[ -e "$extra" ] || continue
	echo
	echo "== $(basename "$extra")"
	bash "$extra" "$build" || echo "bench: $(basename "$extra") failed (exit $?)"
done
