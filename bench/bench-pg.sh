#!/usr/bin/env bash
# bench-pg.sh BUILD — the PostgreSQL backend beside SQLite, run by `make bench` (alone:
# `make bench BENCH=pg`, or `bash bench/bench-pg.sh BUILD`).
#
# Starts a throwaway PostgreSQL cluster (initdb into a temporary directory, a free port on
# 127.0.0.1, server defaults; as the `postgres` user when run as root) with a database owned by
# an ordinary role, then measures, each figure beside SQLite's from the same run:
#   1. ingest — the bench's saved pages (bench/pagegen.py: BENCH_PG_MARKETS markets, default
#      50,000, and BENCH_PG_TRADES trades over a day, default 200,000) replayed by
#      `kw-fetch --replay` into an empty database of each backend: markets/s and trades/s for
#      the whole process and for the ingest alone (the run minus the rollups and detection it
#      ends with), kw-fetch's peak RSS, and the CPU the PostgreSQL server spent meanwhile;
#      the markets are replayed twice more (all listed again as they were, the usual run)
#      and the third run reported;
#      past 5,000 pages (5,000,000 trades, what kw-fetch reads in one run) the trades are
#      replayed as consecutive runs and their figures added up;
#   2. the data API — the database bench-api.sh measures (bench_api_data: 50,000 markets and
#      BENCH_PG_API_TRADES trades, default 1,000,000), moved into PostgreSQL with
#      `kw-admin db copy --to URL` (the supported migration path) and analyzed
#      (`kw-admin db vacuum`); then lighttpd + kw-api workers + the bare FastCGI responder
#      (bench/lib.sh) on PostgreSQL with the limit shared by nodes (the default), on
#      PostgreSQL with RATE_LIMIT_SCOPE=node (one node's own table) and on SQLite: the
#      FastCGI ceiling, `GET /api/v1/whales?limit=100`,
#      `GET /api/v1/markets?sort=volume_24h&limit=50` and authenticated `/api/status` at
#      8 connections, /api/status and the ceiling again at $BENCH_CONNECTIONS, and the
#      workers' peak RSS.
# Goals (figures, not tests): lists p99 <= 10 ms and >= 0.5 of the ceiling, /api/status >= 0.7
# of the ceiling, worker RSS <= 10 MiB; ingest >= 50,000 markets/s and >= 100,000 trades/s.
# Bounded: the whole script runs under `timeout` (BENCH_PG_TIMEOUT s, default 600; raise it
# with larger BENCH_PG_TRADES / BENCH_PG_API_TRADES) and stops the cluster and the servers it
# started when it ends, however it ends.
set -euo pipefail
if [ -z "${KW_BENCH_PG_BOUNDED:-}" ]; then
	export KW_BENCH_PG_BOUNDED=1
	exec timeout -k 20 "${BENCH_PG_TIMEOUT:-600}" bash "$0" "$@"
fi
build=${1:?usage: bench-pg.sh ABSOLUTE_BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

markets=${BENCH_PG_MARKETS:-50000}
trades=${BENCH_PG_TRADES:-200000}
api_trades=${BENCH_PG_API_TRADES:-1000000}
parts=${BENCH_PG_PARTS:-ingest api}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
	echo "bench-pg: PostgreSQL server binaries not found (Debian: apt-get install postgresql)"
	exit 0
fi

tmp=$(mktemp -d /tmp/kw-bench-pg.XXXXXX)
pgdir=$(mktemp -d /tmp/kw-bench-pgdata.XXXXXX) # the cluster's own, owned by its user
as_pg=()
if [ "$(id -u)" = 0 ]; then
	chown postgres: "$pgdir"
	as_pg=(runuser -u postgres --)
fi
pg_stop() {
	if [ -s "$pgdir/data/postmaster.pid" ]; then
		"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
}
trap 'bench_stop; pg_stop; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$tmp" "$pgdir"' EXIT
trap 'exit 143' TERM INT

pgport=$(bench_free_port)
"${as_pg[@]}" "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres -E UTF8 >"$pgdir/initdb.log"
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -t 60 \
	-o "-p $pgport -k $pgdir -c listen_addresses=127.0.0.1" start >/dev/null
psql_su() { psql -X -q -v ON_ERROR_STOP=1 -h "$pgdir" -p "$pgport" -U postgres -d postgres "$@"; }
psql_su -c "CREATE ROLE kwbench LOGIN" -c "CREATE DATABASE kw_ingest OWNER kwbench" \
	-c "CREATE DATABASE kw_api OWNER kwbench"
url() { echo "postgresql://kwbench@127.0.0.1:$pgport/$1"; }
psql_kw() { psql -X -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pgport" -U kwbench -d "$1" -c "$2"; }
echo "PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pgport, server" \
	"defaults (shared_buffers $(psql_su -At -c 'SHOW shared_buffers'), synchronous_commit" \
	"$(psql_su -At -c 'SHOW synchronous_commit')); $(nproc) cores, load average" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"

# CPU seconds spent by the whole server so far: the postmaster and its live processes, plus the
# backends that have exited (counted in the postmaster's children's time).
pg_cpu() {
	local pm ticks=0 pid f
	pm=$(head -n 1 "$pgdir/data/postmaster.pid")
	for pid in "$pm" $(pgrep -P "$pm"); do
		f=$(cut -d')' -f2- "/proc/$pid/stat" 2>/dev/null) || continue
		# after the command: state is field 1, utime 12, stime 13, cutime 14, cstime 15
		ticks=$((ticks + $(awk '{print $12 + $13 + $14 + $15}' <<<"$f")))
	done
	echo "scale=2; $ticks / $(getconf CLK_TCK)" | bc
}

# ---- 1. ingest --------------------------------------------------------------------------------
if [[ " $parts " == *" ingest "* ]]; then
echo "generating $markets markets and $trades trades as saved pages ..."
/usr/bin/python3 "$here/pagegen.py" "$tmp/pages" "$markets" "$trades"
: >"$tmp/empty.env"
# fetch_run NAME BACKEND DIR: kw-fetch --replay DIR into BACKEND's database; sets F_WALL F_CPU
# F_RSS (KiB) F_ROLL F_DET (s wall) F_ING (the run minus rollups and detection) F_PG (server
# CPU s)
fetch_run() {
	local name=$1 backend=$2 dir=$3 u s pg0 run
	local env=(KW_ENV_FILE="$tmp/empty.env" LOG_LEVEL=info KALSHI_API_BASE=http://127.0.0.1:9/unused
		DATABASE_PATH="$tmp/fetch-$backend.db")
	[ "$backend" = pg ] && env+=(DATABASE_URL="$(url kw_ingest)")
	pg0=$(pg_cpu)
	if ! env "${env[@]}" timeout "${BENCH_PG_TIMEOUT:-600}" /usr/bin/time -f '%e %U %S %M' \
		-o "$tmp/$name.time" "$build/kw-fetch" --replay "$dir" 2>"$tmp/$name.log"; then
		echo "bench-pg: kw-fetch --replay $dir on $backend failed:" >&2
		tail -n 5 "$tmp/$name.log" >&2
		exit 1
	fi
	F_PG=$(echo "$(pg_cpu) - $pg0" | bc | sed 's/^\./0./')
	read -r F_WALL u s F_RSS <"$tmp/$name.time"
	F_CPU=$(echo "$u + $s" | bc | sed 's/^\./0./')
	run=$(sed -n 's/.* run [0-9]* ok in \([0-9.]*\) s.*/\1/p' "$tmp/$name.log" | tail -n 1)
	F_ROLL=$(sed -n 's/.*rollups: .* updated in \([0-9]*\) us.*/\1/p' "$tmp/$name.log" | tail -n 1)
	F_DET=$(sed -n 's/.*detect: .* in \([0-9]*\) us.*/\1/p' "$tmp/$name.log" | tail -n 1)
	F_ROLL=$(echo "scale=2; ${F_ROLL:-0} / 1000000" | bc | sed 's/^\./0./')
	F_DET=$(echo "scale=2; ${F_DET:-0} / 1000000" | bc | sed 's/^\./0./')
	F_ING=$(echo "scale=2; ${run:-$F_WALL} - $F_ROLL - $F_DET" | bc | sed 's/^\./0./')
}
rate() { echo "scale=0; $1 / $2" | bc; }
ingest_line() { # ingest_line LABEL COUNT UNIT
	printf '%-34s %7s s wall -> %7s %s/s; ingest alone %6s s -> %7s/s (rollups %s s, detection %s s); kw-fetch %s s CPU, peak RSS %s MiB; server CPU %s s\n' \
		"$1" "$F_WALL" "$(rate "$2" "$F_WALL")" "$3" "$F_ING" "$(rate "$2" "$F_ING")" "$F_ROLL" \
		"$F_DET" "$F_CPU" "$(echo "scale=1; $F_RSS / 1024" | bc)" "$4"
}
# kw-fetch reads at most 5,000 pages (5,000,000 trades) in a run (fetch/pages.c): more trades
# are replayed as consecutive runs of 5,000 pages, the way successive runs would store them,
# and their figures added up (BENCH_PG_RUN_PAGES: fewer pages a run, to try the split small).
per_run=${BENCH_PG_RUN_PAGES:-5000}
trade_runs=("$tmp/pages/trades")
npages=$(find "$tmp/pages/trades/trades" -name '*.json' | wc -l)
if [ "$npages" -gt "$per_run" ]; then
	trade_runs=()
	for ((k = 0; k * per_run < npages; k++)); do
		d="$tmp/pages/trades-run$((k + 1))" last=$(((k + 1) * per_run < npages ? (k + 1) * per_run : npages))
		mkdir -p "$d/trades"
		cp "$tmp/pages/trades/manifest.json" "$d/"
		for ((p = k * per_run + 1; p <= last; p++)); do
			mv "$tmp/pages/trades/trades/$(printf %04d "$p").json" \
				"$d/trades/$(printf %04d $((p - k * per_run))).json"
		done
		sed -i 's/"cursor":"[^"]*"}$/"cursor":""}/' "$d/trades/$(printf %04d $((last - k * per_run))).json"
		trade_runs+=("$d")
	done
fi
declare -A ING
for backend in sqlite pg; do
	fetch_run "$backend-markets" "$backend" "$tmp/pages/markets"
	ING[$backend.m.wall]=$F_WALL ING[$backend.m.ing]=$F_ING
	ingest_line "kw-fetch markets, $backend" "$markets" markets "$([ "$backend" = pg ] && echo "$F_PG" || echo -)"
	# The same pages twice more: every market listed again as it was, what most markets are
	# in most runs. The third run is reported, past the first update of each row.
	for again in 2 3; do
		fetch_run "$backend-markets-$again" "$backend" "$tmp/pages/markets"
	done
	ING[$backend.r.wall]=$F_WALL ING[$backend.r.ing]=$F_ING
	ingest_line "  listed again (3rd run), $backend" "$markets" markets "$([ "$backend" = pg ] && echo "$F_PG" || echo -)"
	sum=(0 0 0 0 0 0 0)
	for d in "${trade_runs[@]}"; do
		fetch_run "$backend-trades" "$backend" "$d"
		[ "${#trade_runs[@]}" = 1 ] && continue
		echo "  one run of $(basename "$d"): ${F_WALL} s wall, rollups ${F_ROLL} s, detection ${F_DET} s"
		sum=("$(bc <<<"${sum[0]} + $F_WALL")" "$(bc <<<"${sum[1]} + $F_ING")" \
			"$(bc <<<"${sum[2]} + $F_ROLL")" "$(bc <<<"${sum[3]} + $F_DET")" \
			"$(bc <<<"${sum[4]} + $F_CPU")" "$((F_RSS > sum[5] ? F_RSS : sum[5]))" \
			"$(bc <<<"${sum[6]} + ${F_PG:-0}")")
	done
	if [ "${#trade_runs[@]}" -gt 1 ]; then
		F_WALL=${sum[0]} F_ING=${sum[1]} F_ROLL=${sum[2]} F_DET=${sum[3]} F_CPU=${sum[4]}
		F_RSS=${sum[5]} F_PG=${sum[6]}
	fi
	ING[$backend.t.wall]=$F_WALL ING[$backend.t.ing]=$F_ING
	ingest_line "kw-fetch trades, $backend" "$trades" trades "$([ "$backend" = pg ] && echo "$F_PG" || echo -)"
done
stored=$(psql_kw kw_ingest "SELECT (SELECT count(*) FROM markets) || ' ' || (SELECT count(*) FROM trades)")
[ "$stored" = "$markets $trades" ] ||
	{ echo "bench-pg: PostgreSQL holds $stored markets/trades, expected $markets $trades" >&2; exit 1; }
printf 'PostgreSQL / SQLite, markets: %s (whole run), %s (ingest alone)   goal >= 50000 markets/s\n' \
	"$(bench_ratio "${ING[sqlite.m.wall]}" "${ING[pg.m.wall]}")" \
	"$(bench_ratio "${ING[sqlite.m.ing]}" "${ING[pg.m.ing]}")"
printf 'PostgreSQL / SQLite, markets listed again: %s (whole run), %s (ingest alone)\n' \
	"$(bench_ratio "${ING[sqlite.r.wall]}" "${ING[pg.r.wall]}")" \
	"$(bench_ratio "${ING[sqlite.r.ing]}" "${ING[pg.r.ing]}")"
printf 'PostgreSQL / SQLite, trades:  %s (whole run), %s (ingest alone)   goal >= 100000 trades/s\n' \
	"$(bench_ratio "${ING[sqlite.t.wall]}" "${ING[pg.t.wall]}")" \
	"$(bench_ratio "${ING[sqlite.t.ing]}" "${ING[pg.t.ing]}")"
echo "(rates per second of wall time, on a machine that may be busy with other work;"
echo " the PostgreSQL server's CPU is spent beside kw-fetch's, on the same 2 cores)"
psql_su -c "DROP DATABASE kw_ingest"
rm -rf "$tmp/pages" "$tmp"/fetch-*.db*
fi
[[ " $parts " == *" api "* ]] || exit 0

# ---- 2. the data API --------------------------------------------------------------------------
now=$(date +%s)
key="kwbench_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$tmp/sqlite" "$tmp/pg"
t0=$(date +%s.%N)
bench_api_data "$build" "$tmp/sqlite/kalshiwhale.db" 50000 "$api_trades" "$now"
t1=$(date +%s.%N)
echo "DATABASE_PATH=$tmp/sqlite/kalshiwhale.db" >"$tmp/copy.env"
pg0=$(pg_cpu)
timeout "${BENCH_PG_TIMEOUT:-600}" env KW_ENV_FILE="$tmp/copy.env" "$build/kw-admin" db copy --to "$(url kw_api)" \
	>"$tmp/copy.log" 2>&1 || { echo "bench-pg: db copy failed:" >&2; tail -n 20 "$tmp/copy.log" >&2; exit 1; }
t2=$(date +%s.%N)
echo "DATABASE_URL=$(url kw_api)" >>"$tmp/copy.env"
timeout "${BENCH_PG_TIMEOUT:-600}" env KW_ENV_FILE="$tmp/copy.env" "$build/kw-admin" db vacuum >"$tmp/vacuum.log" 2>&1 ||
	{ echo "bench-pg: db vacuum failed:" >&2; tail -n 5 "$tmp/vacuum.log" >&2; exit 1; }
t3=$(date +%s.%N)
printf 'database: 50000 markets, %d trades: SQLite built in %.1f s (%s); kw-admin db copy --to postgresql in %.1f s (%.0f trades/s), then db vacuum (VACUUM ANALYZE) %.1f s; server CPU %s s; PostgreSQL database %s\n' \
	"$api_trades" "$(bc -l <<<"$t1 - $t0")" "$(du -h "$tmp/sqlite/kalshiwhale.db" | cut -f1)" \
	"$(bc -l <<<"$t2 - $t1")" "$(bc -l <<<"$api_trades / ($t2 - $t1)")" "$(bc -l <<<"$t3 - $t2")" \
	"$(echo "$(pg_cpu) - $pg0" | bc | sed 's/^\./0./')" "$(psql_kw kw_api "SELECT pg_size_pretty(pg_database_size('kw_api'))")"

whales="/api/v1/whales?limit=100"
mkts="/api/v1/markets?sort=volume_24h&limit=50"
c64=$BENCH_CONNECTIONS
api_runs() { # api_runs BACKEND: the runs on the stack started for BACKEND
	local b=$1
	for p in /bench/ceiling "$whales" "$mkts" /api/status; do
		curl -fsS -o /dev/null -H "X-API-Key: $key" "$BENCH_BASE$p"
	done
	BENCH_CONNECTIONS=8
	bench_wrk "$b: fastcgi ceiling, -c8 (before)" /bench/ceiling
	bench_wrk "$b: GET $whales, -c8" "$whales" "$key"
	bench_wrk "$b: GET $mkts, -c8" "$mkts" "$key"
	bench_wrk "$b: GET /api/status, -c8" /api/status "$key"
	bench_wrk "$b: fastcgi ceiling, -c8 (after)" /bench/ceiling
	# the baseline: the mean of the ceiling before and after, so a neighbour's burst during
	# one of them moves the ratios less
	local before after
	before=$(bench_rps "$b: fastcgi ceiling, -c8 (before)")
	after=$(bench_rps "$b: fastcgi ceiling, -c8 (after)")
	BENCH_RESULT["$b: fastcgi ceiling, -c8.rps"]=$(bc -l <<<"($before + $after) / 2")
	BENCH_CONNECTIONS=$c64
	bench_wrk "$b: fastcgi ceiling, -c$c64" /bench/ceiling
	bench_wrk "$b: GET /api/status, -c$c64" /api/status "$key"
	BENCH_RESULT["$b.rss"]=$(bench_worker_rss_kib)
}
settings=("API_KEY=$key" "RATE_LIMIT_PER_MINUTE=1000000" "RATE_LIMIT_BURST=1000000" "LOG_LEVEL=warning")
bench_start "$build" "$tmp/pg" "${settings[@]}" "DATABASE_URL=$(url kw_api)"
api_runs pg
bench_stop
# The same database with RATE_LIMIT_SCOPE=node: one node's limits in its own shared-memory
# table, no limiter statement per request (docs/cluster.md).
bench_start "$build" "$tmp/pgnode" "${settings[@]}" "DATABASE_URL=$(url kw_api)" \
	"RATE_LIMIT_SCOPE=node"
api_runs pgnode
bench_stop
bench_start "$build" "$tmp/sqlite" "${settings[@]}"
api_runs sqlite
bench_stop

echo
printf '%-44s %-22s %-22s %-20s %s\n' "8 connections, ratio to the ceiling" \
	"PostgreSQL, cluster" "PostgreSQL, node" SQLite goal
verdict() { # verdict NAME BACKEND [CEILING_SUFFIX] -> "0.55, p99 1.2 ms"
	local c r p
	c=$(bench_rps "$2: fastcgi ceiling${3:-, -c8}")
	r=$(bench_ratio "$(bench_rps "$2: $1")" "$c")
	p=$(bc -l <<<"scale=2; $(bench_p99 "$2: $1") / 1000" | sed 's/^\./0./')
	echo "$r, p99 $p ms"
}
row() { # row LABEL NAME GOAL [CEILING_SUFFIX]
	printf '%-44s %-22s %-22s %-20s %s\n' "$1" "$(verdict "$2" pg "${4:-}")" \
		"$(verdict "$2" pgnode "${4:-}")" "$(verdict "$2" sqlite "${4:-}")" "$3"
}
row "GET $whales" "GET $whales, -c8" ">= 0.50, p99 <= 10 ms"
row "GET $mkts" "GET $mkts, -c8" ">= 0.50, p99 <= 10 ms"
row "GET /api/status (API key)" "GET /api/status, -c8" ">= 0.70"
row "GET /api/status (API key), -c$c64" "GET /api/status, -c$c64" ">= 0.70" ", -c$c64"
mib() { echo "scale=1; $1 / 1024" | bc | sed 's/^\./0./'; }
printf '%-44s %-22s %-22s %-20s %s\n' "kw-api worker peak RSS" "$(mib "${BENCH_RESULT[pg.rss]}") MiB" \
	"$(mib "${BENCH_RESULT[pgnode.rss]}") MiB" "$(mib "${BENCH_RESULT[sqlite.rss]}") MiB" "<= 10 MiB"
echo "(a machine shared with other work moves these figures by 20% or more; compare within a run)"
