#!/usr/bin/env bash
# bench-security.sh BUILD — what authentication and rate limiting cost, measured in one run on
# loopback with wrk ($BENCH_CONNECTIONS connections, $BENCH_DURATION s each; bench/lib.sh):
#   (b) the bare libfcgi responder behind lighttpd: the FastCGI ceiling
#   (s) kw-api GET /api/status, authenticated with a database key (SHA-256 + indexed lookup)
#       and rate-limited by the shared-memory GCRA table; the key's own limit (1,000,000/min)
#       is high enough never to throttle, so every request pays the full limiter cost
#   (f) a FastAPI + uvicorn stand-in for the original (bench/fastapi_standin.py, API key +
#       in-process rate limit), run as its users run it in production: one worker per core, on
#       uvloop and httptools (Debian's python3-uvloop, python3-httptools; deploy/install-deps.sh)
# and prints the ratios against the goals: s/b >= 0.70, p99(s) <= 1.5 x p99(b), s/f >= 3.5.
# Figures, not a test: it never fails on a missed goal, only on a broken setup.
set -euo pipefail
build=${1:?usage: bench-security.sh ABSOLUTE_BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
tmp=$(mktemp -d /tmp/kw-bench-sec.XXXXXX)
uv_pid=
cleanup() {
	bench_stop
	if [ -n "$uv_pid" ]; then
		kill -TERM "$uv_pid" 2>/dev/null || true
		wait "$uv_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

env_key="kwbench_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "== security: $(nproc) cores, wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d${BENCH_DURATION}s, $BENCH_WORKERS workers"
bench_start "$build" "$tmp" "API_KEY=$env_key" "LOG_LEVEL=warning" \
	"RATE_LIMIT_PER_MINUTE=1000000" "RATE_LIMIT_BURST=1000000"
db_key=$(DATABASE_PATH="$tmp/kalshiwhale.db" "$build/kw-admin" key create --name bench \
	--scope read --rate 1000000 2>/dev/null)
curl -fsS -o /dev/null -H "X-API-Key: $db_key" "$BENCH_BASE/api/status"
curl -fsS -o /dev/null "$BENCH_BASE/bench/ceiling"
policy=$(curl -fsS -D - -o /dev/null -H "X-API-Key: $db_key" "$BENCH_BASE/api/status" |
	tr -d '\r' | sed -n 's/^RateLimit-Policy: //p')
echo "limiter policy for the bench key: $policy"

# (b) and (s) alternate three times and the medians are compared: on a shared 2-core machine
# one run of either can be disturbed by anything else that runs.
for i in 1 2 3; do
	bench_wrk "fastcgi ceiling (b) #$i" /bench/ceiling
	bench_wrk "kw-api status, db key + limiter (s) #$i" /api/status "$db_key"
done
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
for m in rps p99; do
	BENCH_RESULT["fastcgi ceiling (b).$m"]=$(median "${BENCH_RESULT["fastcgi ceiling (b) #1.$m"]}" \
		"${BENCH_RESULT["fastcgi ceiling (b) #2.$m"]}" "${BENCH_RESULT["fastcgi ceiling (b) #3.$m"]}")
	BENCH_RESULT["kw-api status, db key + limiter (s).$m"]=$(median \
		"${BENCH_RESULT["kw-api status, db key + limiter (s) #1.$m"]}" \
		"${BENCH_RESULT["kw-api status, db key + limiter (s) #2.$m"]}" \
		"${BENCH_RESULT["kw-api status, db key + limiter (s) #3.$m"]}")
done
printf 'medians: ceiling %.0f req/s p99 %.2f ms; status %.0f req/s p99 %.2f ms\n' \
	"$(bench_rps "fastcgi ceiling (b)")" "$(bc -l <<<"$(bench_p99 "fastcgi ceiling (b)")/1000")" \
	"$(bench_rps "kw-api status, db key + limiter (s)")" \
	"$(bc -l <<<"$(bench_p99 "kw-api status, db key + limiter (s)")/1000")"
bench_wrk "kw-api status, API_KEY + limiter" /api/status "$env_key"
bench_wrk "kw-api health, db key + limiter" /api/health "$db_key"

# (f) alternates three times with (s) again, both still running, and the medians are compared:
# the two are measured in the same minutes, under whatever else the machine is doing.
f=
sf=
if /usr/bin/python3 -c 'import fastapi, uvicorn, uvloop, httptools' 2>/dev/null; then
	uv_port=$(bench_free_port)
	echo "fastapi stand-in: uvicorn --workers $(nproc) --loop uvloop --http httptools"
	(cd "$here" && API_KEY="$env_key" exec /usr/bin/python3 -m uvicorn fastapi_standin:app \
		--host 127.0.0.1 --port "$uv_port" --workers "$(nproc)" --loop uvloop \
		--http httptools --log-level warning >"$tmp/uvicorn.log" 2>&1) &
	uv_pid=$!
	for _ in $(seq 1 100); do
		curl -fsS -o /dev/null -H "X-API-Key: $env_key" "http://127.0.0.1:$uv_port/api/status" \
			2>/dev/null && break
		sleep 0.1
	done
	saved=$BENCH_BASE
	for i in 1 2 3; do
		BENCH_BASE="http://127.0.0.1:$uv_port"
		bench_wrk "fastapi+uvicorn stand-in (f) #$i" /api/status "$env_key"
		BENCH_BASE=$saved
		bench_wrk "kw-api status beside (f) #$i" /api/status "$db_key"
	done
	f=$(median "${BENCH_RESULT["fastapi+uvicorn stand-in (f) #1.rps"]}" \
		"${BENCH_RESULT["fastapi+uvicorn stand-in (f) #2.rps"]}" \
		"${BENCH_RESULT["fastapi+uvicorn stand-in (f) #3.rps"]}")
	sf=$(median "${BENCH_RESULT["kw-api status beside (f) #1.rps"]}" \
		"${BENCH_RESULT["kw-api status beside (f) #2.rps"]}" \
		"${BENCH_RESULT["kw-api status beside (f) #3.rps"]}")
	kill -TERM "$uv_pid" 2>/dev/null || true
	wait "$uv_pid" 2>/dev/null || true
	uv_pid=
else
	echo "fastapi stand-in: python3-fastapi, -uvicorn, -uvloop or -httptools not installed" \
		"(deploy/install-deps.sh); no s/f figure"
fi
bench_stop
rows=$(sqlite3 -cmd ".timeout 5000" "$tmp/kalshiwhale.db" "SELECT count(*) FROM rate_limit_state" 2>/dev/null || echo "?")

b=$(bench_rps "fastcgi ceiling (b)")
s=$(bench_rps "kw-api status, db key + limiter (s)")
echo
echo "status / ceiling (s/b, medians)  $(bench_ratio "$s" "$b")   goal >= 0.70"
echo "status p99 / ceiling p99        $(bench_ratio "$(bench_p99 "kw-api status, db key + limiter (s)")" "$(bench_p99 "fastcgi ceiling (b)")")   goal <= 1.50"
[ -n "$f" ] && echo "status / fastapi stand-in (s/f, medians of the alternated runs) $(bench_ratio "$sf" "$f")   goal >= 3.50"
echo "health / ceiling (gate on the cheapest route) $(bench_ratio "$(bench_rps "kw-api health, db key + limiter")" "$b")"
echo "limiter rows in SQLite after the run: $rows (buckets not yet full again; written about once a second)"
