#!/usr/bin/env bash
# bench-servers.sh BUILD — the same kw-api endpoints through Apache (mod_proxy_fcgi with
# connection reuse to kw-api --workers N, as apache.conf.example and the tests deploy it: one
# Apache child, a kept connection per kw-api thread) and through lighttpd (mod_fastcgi, a
# connection per request, lighttpd.conf.example), each beside the bare FastCGI responder with as
# many threads (bench/fcgi-ceiling.c -t) behind the same server, in one run. Which deployment is
# faster for kw-api is read off these lines.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
tmp=$(mktemp -d /tmp/kw-bench-srv.XXXXXX)
ctl=
trap 'bench_stop; [ -n "$ctl" ] && kill -TERM "$ctl" 2>/dev/null; wait 2>/dev/null; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$tmp"' EXIT
key="kwbench_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
set_ups=("API_KEY=$key" "RATE_LIMIT_PER_MINUTE=1000000" "RATE_LIMIT_BURST=1000000"
	"KW_THREADS=$BENCH_KW_THREADS")

echo "-- lighttpd (mod_fastcgi)"
bench_start "$build" "$tmp/l" "${set_ups[@]}"
for p in /bench/ceiling-threaded /api/health /api/status; do curl -fsS -o /dev/null -H "X-API-Key: $key" "$BENCH_BASE$p"; done
bench_wrk "lighttpd: fastcgi ceiling" /bench/ceiling-threaded
bench_wrk "lighttpd: kw-api /api/health" /api/health "$key"
bench_wrk "lighttpd: kw-api /api/status" /api/status "$key"
bench_stop

echo "-- Apache (mod_proxy_fcgi, enablereuse=on)"
mkdir -p "$tmp/a"
mkfifo "$tmp/ctl.in"
BENCH_WORKERS=$BENCH_WORKERS /usr/bin/python3 "$here/stackctl.py" apache "$tmp/a" "$build" \
	"${set_ups[@]}" <"$tmp/ctl.in" >"$tmp/ctl.out" 2>"$tmp/ctl.err" &
ctl=$!
exec 9>"$tmp/ctl.in" # holding the fifo open keeps stackctl running
for _ in $(seq 1 150); do grep -q '^port=' "$tmp/ctl.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^port=//p' "$tmp/ctl.out")
[ -n "$port" ] || { echo "bench: Apache stack did not start"; cat "$tmp/ctl.err"; exit 1; }
BENCH_BASE="http://127.0.0.1:$port"
for p in /bench/ceiling /api/health /api/status; do curl -fsS -o /dev/null -H "X-API-Key: $key" "$BENCH_BASE$p"; done
bench_wrk "Apache: fastcgi ceiling" /bench/ceiling
bench_wrk "Apache: kw-api /api/health" /api/health "$key"
bench_wrk "Apache: kw-api /api/status" /api/status "$key"
exec 9>&-
wait "$ctl" || true
ctl=

echo
for e in "fastcgi ceiling" "kw-api /api/health" "kw-api /api/status"; do
	echo "Apache / lighttpd, $e: $(bench_ratio "$(bench_rps "Apache: $e")" "$(bench_rps "lighttpd: $e")")"
done
