#!/usr/bin/env bash
# bench-cluster.sh BUILD — what the cross-node rate limiter costs (docs/cluster.md), measured
# in one run on loopback with wrk ($BENCH_CONNECTIONS connections, $BENCH_DURATION s each;
# bench/lib.sh), against a throwaway PostgreSQL server started here (default durability
# settings; the limiter's table is UNLOGGED):
#   (b)  the bare libfcgi responder behind lighttpd: the FastCGI ceiling ($BENCH_WORKERS procs)
#   (m)  authenticated GET /api/status on SQLite: the shared-memory limiter of one host
#   (p)  the same on PostgreSQL, one node, with a key far below its limit (1,000,000/min): its
#        bucket never runs ahead, so every request is one statement on rate_limit_cluster
#   (pl) the same with a key the load runs past its refill (300,000/min, burst 300,000: the
#        bucket runs ahead within milliseconds and lasts the run): requests are then served
#        from leases of up to nine, one statement each (docs/cluster.md)
#   (n2) as (pl) on two nodes (lighttpd + one kw-api worker each) sharing the database, both
#        loaded at once, half the connections each; the figure is the sum of the two
# Each kw-api figure is measured right after a ceiling of its own ((p) three times in turn with
# it, medians compared), so the ratios compare minutes of the same load on the machine. No key
# is throttled during its run (wrk counts a 429 as an error), so every request pays the full
# limiter cost.
# Figures, not a test: it never fails on a missed goal, only on a broken setup. Without
# PostgreSQL's server programs (Debian's postgresql) it says so and measures nothing.
set -euo pipefail
build=${1:?usage: bench-cluster.sh ABSOLUTE_BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pg_bin" ] || pg_bin=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")
if [ ! -x "$pg_bin/initdb" ]; then
	echo "== cluster: PostgreSQL's server programs (initdb) are not installed; no figures"
	exit 0
fi

tmp=$(mktemp -d /tmp/kw-bench-cluster.XXXXXX)
chmod 755 "$tmp"
pg_dir=$tmp/pg
lighttpd_b=
wrk_pids=
as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
	for p in $wrk_pids; do kill -TERM "$p" 2>/dev/null || true; done
	bench_stop
	if [ -n "$lighttpd_b" ]; then
		BENCH_LIGHTTPD=$lighttpd_b
		bench_stop
	fi
	if [ -f "$pg_dir/data/postmaster.pid" ]; then
		as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$pg_dir"
[ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
pg_port=$(bench_free_port)
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
	-o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=200" \
	start >/dev/null
psql -q -h "$pg_dir" -p "$pg_port" -U postgres -d postgres \
	-c "CREATE ROLE kw LOGIN" -c "CREATE DATABASE kwbench OWNER kw"
url="postgresql://kw@127.0.0.1:$pg_port/kwbench"

env_key="kwbench_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
common=("API_KEY=$env_key" "LOG_LEVEL=warning" "RATE_LIMIT_PER_MINUTE=1000000"
	"RATE_LIMIT_BURST=1000000")
make_key() { # make_key DIR DATABASE_URL RATE: a read key limited to RATE a minute
	DATABASE_PATH="$1/kalshiwhale.db" DATABASE_URL="$2" "$build/kw-admin" key create \
		--name bench --scope read --rate "$3" 2>/dev/null
}
echo "== cluster: $(nproc) cores, wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d${BENCH_DURATION}s, $BENCH_WORKERS workers, PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on loopback"

# (m): SQLite, the shared-memory limiter.
mkdir -p "$tmp/m"
bench_start "$build" "$tmp/m" "${common[@]}"
key=$(make_key "$tmp/m" "" 1000000)
curl -fsS -o /dev/null -H "X-API-Key: $key" "$BENCH_BASE/api/status"
bench_wrk "fastcgi ceiling (b) beside m" /bench/ceiling
bench_wrk "status, shared memory (m)" /api/status "$key"
bench_stop

# (p): PostgreSQL, one node with $BENCH_WORKERS workers.
mkdir -p "$tmp/a"
bench_start "$build" "$tmp/a" "${common[@]}" "DATABASE_URL=$url"
key=$(make_key "$tmp/a" "$url" 1000000)
curl -fsS -o /dev/null -H "X-API-Key: $key" "$BENCH_BASE/api/status"
for i in 1 2 3; do
	bench_wrk "fastcgi ceiling (b) beside p #$i" /bench/ceiling
	bench_wrk "status, cluster limiter (p) #$i" /api/status "$key"
done
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
for name in "fastcgi ceiling (b) beside p" "status, cluster limiter (p)"; do
	BENCH_RESULT["$name.rps"]=$(median "${BENCH_RESULT["$name #1.rps"]}" \
		"${BENCH_RESULT["$name #2.rps"]}" "${BENCH_RESULT["$name #3.rps"]}")
done
key=$(make_key "$tmp/a" "$url" 300000)
curl -fsS -o /dev/null -H "X-API-Key: $key" "$BENCH_BASE/api/status"
bench_wrk "fastcgi ceiling (b) beside pl" /bench/ceiling
bench_wrk "status, cluster, leases (pl)" /api/status "$key"
bench_stop
key=$(make_key "$tmp/a" "$url" 300000) # a fresh bucket for the two nodes

# (n2): two nodes of one worker each on the same database, loaded at once.
workers=$BENCH_WORKERS
BENCH_WORKERS=1
mkdir -p "$tmp/b1" "$tmp/b2"
bench_start "$build" "$tmp/b2" "${common[@]}" "DATABASE_URL=$url"
lighttpd_b=$BENCH_LIGHTTPD
base_b=$BENCH_BASE
bench_start "$build" "$tmp/b1" "${common[@]}" "DATABASE_URL=$url"
base_a=$BENCH_BASE
BENCH_WORKERS=$workers
for base in "$base_a" "$base_b"; do
	curl -fsS -o /dev/null -H "X-API-Key: $key" "$base/api/status"
done
half=$((BENCH_CONNECTIONS / 2))
wrk_pids=
for node in a b; do
	base=$base_a
	[ "$node" = b ] && base=$base_b
	KW_BENCH_KEY="$key" timeout $((BENCH_DURATION + 30)) wrk -t1 -c"$half" \
		-d"${BENCH_DURATION}s" --timeout 5s -s "$here/report.lua" "$base/api/status" \
		>"$tmp/wrk-$node.out" 2>&1 &
	wrk_pids="$wrk_pids $!"
done
for p in $wrk_pids; do wait "$p" || true; done
wrk_pids=
n2=0
p99=0
errors=0
for node in a b; do
	line=$(grep '^KWBENCH' "$tmp/wrk-$node.out" || echo "")
	rps=$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' <<<"$line")
	n_p99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$line")
	err=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$line")
	printf '  node %s: %10.0f req/s   p99 %6.2f ms   errors %s\n' "$node" "${rps:-0}" \
		"$(bc -l <<<"${n_p99:-0}/1000")" "${err:-?}"
	n2=$(bc -l <<<"$n2 + ${rps:-0}")
	[ "${n_p99:-0}" -gt "$p99" ] && p99=$n_p99
	errors=$((errors + ${err:-1}))
done
printf '%-34s %10.0f req/s   p99 %6.2f ms   errors %s%s\n' "status, two nodes (n2)" "$n2" \
	"$(bc -l <<<"$p99/1000")" "$errors" "$([ "$errors" = 0 ] || echo "   <- INVALID")"
bench_stop # node a (the last started)
BENCH_LIGHTTPD=$lighttpd_b
lighttpd_b=
bench_stop # node b
# The ceiling once more, right after the two-node run, for its ratio.
mkdir -p "$tmp/c"
BENCH_WORKERS=$workers
bench_start "$build" "$tmp/c" "${common[@]}"
bench_wrk "fastcgi ceiling (b) beside n2" /bench/ceiling
bench_stop
rows=$(psql -qtA -h "$pg_dir" -p "$pg_port" -U postgres -d kwbench \
	-c "SELECT count(*) FROM rate_limit_cluster" 2>/dev/null || echo "?")

m=$(bench_rps "status, shared memory (m)")
p=$(bench_rps "status, cluster limiter (p)")
pl=$(bench_rps "status, cluster, leases (pl)")
echo
echo "shared memory / ceiling (m/b)                    $(bench_ratio "$m" "$(bench_rps "fastcgi ceiling (b) beside m")")"
echo "cluster, one node, statement each (p/b, medians) $(bench_ratio "$p" "$(bench_rps "fastcgi ceiling (b) beside p")")   goal >= 0.50"
echo "cluster, one node, leases (pl/b)                 $(bench_ratio "$pl" "$(bench_rps "fastcgi ceiling (b) beside pl")")   goal >= 0.50"
echo "cluster, two nodes of one worker, leases (n2/b)  $(bench_ratio "$n2" "$(bench_rps "fastcgi ceiling (b) beside n2")")   goal >= 0.50"
echo "rows in rate_limit_cluster after the run: $rows"
