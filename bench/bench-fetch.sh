#!/bin/bash
# bench-fetch.sh BUILD_DIR — kw-fetch ingest speed from saved pages (--replay), bounded in
# size and time; a benchmark, never a timed test.
#
#   1. generate BENCH_FETCH_MARKETS markets (default 50,000; 1,000 per page, current schema)
#      and BENCH_FETCH_TRADES trades (default 1,000,000; 1,000 per page) as replay runs
#   2. kw-fetch --replay markets run  -> markets/s and peak RSS
#   3. kw-fetch --replay trades run   -> trades/s and peak RSS (same database, so the trade
#      indexes are as large as they would be in production)
#   4. kw-fetch --replay of a run with nothing new, against that full database -> CPU time
#   5. the same trades inserted by SQLite alone (no JSON, no per-row statement): the floor
# Figures come from /usr/bin/time (wall clock and CPU of the whole process, start-up and
# database open included; peak RSS is the kernel's maximum resident set size) and from
# kw-fetch's log (the run's own duration and CPU time, and the whale detection that ends every
# run, wall and CPU). Ingest = the run minus detection. The machine is often shared: rates per
# CPU second are printed beside rates per wall second, with the load average, because wall
# time on a loaded machine measures the other processes as much as kw-fetch.
# Goals: >= 50,000 markets/s, >= 200,000 trades/s, peak RSS <= 64 MiB, no-op run < 100 ms CPU.
set -euo pipefail
build=${1:?usage: bench-fetch.sh ABSOLUTE_BUILD_DIR}
markets=${BENCH_FETCH_MARKETS:-50000}
trades=${BENCH_FETCH_TRADES:-1000000}
py=/usr/bin/python3
work=$(mktemp -d /tmp/kw-bench-fetch.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "generating $markets markets and $trades trades as saved pages in $work ..."
"$py" "$(dirname "$0")/pagegen.py" "$work" "$markets" "$trades"
du -sh "$work/markets" "$work/trades" | sed 's/^/  /'

: >"$work/empty.env"
export KW_ENV_FILE="$work/empty.env" DATABASE_PATH="$work/bench.db" LOG_LEVEL=info
export KALSHI_API_BASE="http://127.0.0.1:9/unused"
# time_run NAME DIR: runs kw-fetch --replay DIR; sets T_WALL T_CPU T_RSS_KIB
time_run() {
	local name=$1 dir=$2
	if ! timeout 600 /usr/bin/time -f '%e %U %S %M' -o "$work/$name.time" \
		"$build/kw-fetch" --replay "$dir" 2>"$work/$name.log"; then
		echo "bench-fetch: kw-fetch --replay $name failed:" >&2
		tail -n 5 "$work/$name.log" >&2
		exit 1
	fi
	read -r T_WALL u s T_RSS_KIB <"$work/$name.time"
	T_CPU=$(echo "$u + $s" | bc)
	# kw-fetch's own figures: the run's duration, and the whale detection inside it
	T_RUN=$(sed -n 's/.* run [0-9]* ok in \([0-9.]*\) s.*/\1/p' "$work/$name.log" | tail -n 1)
	T_DETECT=$(sed -n 's/.*detect: .* in \([0-9]*\) us.*/\1/p' "$work/$name.log" | tail -n 1)
	T_DETECT=$(echo "scale=3; ${T_DETECT:-0} / 1000000" | bc)
	T_INGEST=$(echo "scale=3; ${T_RUN:-$T_WALL} - $T_DETECT" | bc)
	# CPU seconds of the run and of its detection, from the run's closing log line
	T_RUN_CPU=$(sed -n 's/.* run [0-9]* ok in [0-9.]* s (CPU: \([0-9.]*\) s,.*/\1/p' "$work/$name.log" | tail -n 1)
	T_DET_CPU=$(sed -n 's/.* run [0-9]* ok in .*, of which detection \([0-9.]*\) s).*/\1/p' "$work/$name.log" | tail -n 1)
	# and of the rollups kept for the API (lib/store_rollup.c), which follow every run
	T_ROLL_CPU=$(sed -n 's/.*rollups: .* (CPU \([0-9]*\) us).*/\1/p' "$work/$name.log" | tail -n 1)
	T_ROLL_CPU=$(echo "scale=3; ${T_ROLL_CPU:-0} / 1000000" | bc)
	T_ING_CPU=$(echo "scale=3; ${T_RUN_CPU:-$T_CPU} - ${T_DET_CPU:-0} - $T_ROLL_CPU" | bc)
	T_LOAD=$(cut -d' ' -f1 /proc/loadavg)
}
rate() { echo "scale=0; $1 / $2" | bc; }
mib() { echo "scale=1; $1 / 1024" | bc; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
time_run markets "$work/markets"
m_wall=$T_WALL m_rss=$T_RSS_KIB m_cpu=$T_CPU m_ing=$T_INGEST m_det=$T_DETECT
m_ingc=$T_ING_CPU m_detc=$T_DET_CPU m_load=$T_LOAD m_roll=$T_ROLL_CPU
time_run trades "$work/trades"
t_wall=$T_WALL t_rss=$T_RSS_KIB t_cpu=$T_CPU t_ing=$T_INGEST t_det=$T_DETECT
t_ingc=$T_ING_CPU t_detc=$T_DET_CPU t_load=$T_LOAD t_roll=$T_ROLL_CPU
time_run noop "$work/noop"
n_cpu=$T_CPU n_wall=$T_WALL n_rss=$T_RSS_KIB n_det=$T_DETECT n_detc=$T_DET_CPU n_roll=$T_ROLL_CPU
stored_m=$(sqlite3 "$work/bench.db" 'SELECT count(*) FROM markets')
stored_t=$(sqlite3 "$work/bench.db" 'SELECT count(*) FROM trades')
[ "$stored_m" = "$markets" ] && [ "$stored_t" = "$trades" ] ||
	{ echo "bench-fetch: stored $stored_m markets, $stored_t trades (expected $markets, $trades)" >&2; exit 1; }

echo
echo "(process: whole kw-fetch process, start-up and database open included;"
echo " ingest: the run minus the whale detection and the API's rollups it ends with (CPU), from"
echo " kw-fetch's own log;"
echo " load average (1, 5, 15 min) before the runs: $load0 on $(nproc) CPUs)"
printf 'kw-fetch --replay markets: process %s s wall, %s s CPU -> %s markets/s; ingest %s s wall -> %s markets/s, %s s CPU -> %s markets/CPU-s; detection %s s wall, %s s CPU; peak RSS %s MiB; load %s   goal >= 50000/s, <= 64 MiB\n' \
	"$m_wall" "$m_cpu" "$(rate "$markets" "$m_wall")" "$m_ing" "$(rate "$markets" "$m_ing")" \
	"$m_ingc" "$(rate "$markets" "$m_ingc")" "$m_det" "${m_detc:-?}" "$(mib "$m_rss")" "$m_load"
printf 'kw-fetch --replay trades:  process %s s wall, %s s CPU -> %s trades/s; ingest %s s wall -> %s trades/s, %s s CPU -> %s trades/CPU-s; detection %s s wall, %s s CPU; peak RSS %s MiB; load %s   goal >= 200000/s, <= 64 MiB\n' \
	"$t_wall" "$t_cpu" "$(rate "$trades" "$t_wall")" "$t_ing" "$(rate "$trades" "$t_ing")" \
	"$t_ingc" "$(rate "$trades" "$t_ingc")" "$t_det" "${t_detc:-?}" "$(mib "$t_rss")" "$t_load"
printf 'kw-fetch incremental run, nothing new: %s s CPU (%s s wall, of which detection %s s wall, %s s CPU; rollups %s s CPU), peak RSS %s MiB   goal < 0.100 s CPU\n' \
	"$n_cpu" "$n_wall" "$n_det" "${n_detc:-?}" "$n_roll" "$(mib "$n_rss")"
printf 'rollups after the markets run %s s CPU, after the trades run %s s CPU\n' "$m_roll" "$t_roll"
echo "database after the benchmark: $(du -h "$work/bench.db" | cut -f1) ($stored_m markets, $stored_t trades)"

# 5. The SQLite floor under the trades figure (BENCH_FETCH_FLOOR=0 skips it): the same trades
#    (same tickers, prices, counts, times, ids of the same shape), inserted by SQLite alone, with
#    no JSON and no per-row statement, in transactions of 100,000 rows like a replay's, with
#    kw-fetch's 16 MiB page cache, into kw-fetch's schema; then the same without the per-market
#    index (trades_hour_ticker, sliced by hour since 0008 so that a run's trades land in one
#    slice), to show what it costs.
if [ "${BENCH_FETCH_FLOOR:-1}" = 1 ]; then
	floor() { # floor NAME DROP_SQL
		rm -f "$work/floor.db" "$work/floor.db-wal" "$work/floor.db-shm"
		DATABASE_PATH="$work/floor.db" "$build/kw-fetch" --replay "$work/noop" 2>/dev/null
		sqlite3 "$work/floor.db" "$2" >/dev/null
		{
			echo "PRAGMA cache_size=-16384; PRAGMA mmap_size=0;"
			for ((b = 0; b < (trades + 99999) / 100000; b++)); do
				echo "BEGIN IMMEDIATE;"
				echo "WITH RECURSIVE c(i) AS (SELECT $((b * 100000)) UNION ALL SELECT i + 1 FROM c" \
					"WHERE i < min($(((b + 1) * 100000 - 1)), $((trades - 1))))" \
					"INSERT INTO trades (trade_id, ticker, created_us, count_centi," \
					"yes_price_micros, no_price_micros, taker_side, notional_micros, is_block)" \
					"SELECT printf('%08x-5b0d-5e2f-9a4c-%012x', (i * 2654435761) & 4294967295, i)," \
					"printf('KXBENCH-26DEC31-T%06d', i % $markets)," \
					"($(date +%s) - 60 - i * 80000 / $trades) * 1000000 + i % 1000000," \
					"(1 + i % 500) * 100 + i % 100, (1 + i % 98) * 10000, (99 - i % 98) * 10000," \
					"CASE WHEN i % 3 THEN 'yes' ELSE 'no' END," \
					"((1 + i % 500) * 100 + i % 100) * (1 + i % 98) * 100, 0 FROM c WHERE true" \
					"ON CONFLICT DO NOTHING;"
				echo "COMMIT;"
			done
		} >"$work/floor.sql"
		timeout 600 /usr/bin/time -f '%e %U %S' -o "$work/floor.time" sqlite3 "$work/floor.db" \
			<"$work/floor.sql" >/dev/null
		read -r w u s <"$work/floor.time"
		printf 'SQLite alone, %s: %s s wall, %s s CPU -> %s trades/CPU-s\n' "$1" "$w" \
			"$(echo "$u + $s" | bc)" "$(rate "$trades" "$(echo "$u + $s" | bc)")"
	}
	floor "kw-fetch's schema" "SELECT 1"
	floor "without the per-market index (trades_hour_ticker)" "DROP INDEX trades_hour_ticker"
fi
