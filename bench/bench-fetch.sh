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
"$py" - "$work" "$markets" "$trades" <<'PY'
import json, os, sys, time
work, n_markets, n_trades = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
now = int(time.time())
stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
def run_dir(name):
    d = os.path.join(work, name)
    os.makedirs(d)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump({"recorded_at": stamp}, f)
    return d
def pages(d, kind, items_json, per_page=1000):
    os.makedirs(os.path.join(d, kind))
    n = max(1, (len(items_json) + per_page - 1) // per_page)
    for p in range(n):
        chunk = items_json[p * per_page:(p + 1) * per_page]
        cursor = "" if p == n - 1 else "cur%06d" % (p + 1)
        with open(os.path.join(d, kind, "%04d.json" % (p + 1)), "w") as f:
            f.write('{"%s":[%s],"cursor":"%s"}' % (kind, ",".join(chunk), cursor))
base = {
    "market_type": "binary", "title": "Will the benchmark market resolve Yes?", "subtitle": "",
    "yes_sub_title": "Yes", "no_sub_title": "No", "created_time": "2026-01-01T00:00:00.51Z",
    "updated_time": "2026-01-01T00:00:00.51Z", "open_time": "2026-01-01T00:00:00Z",
    "close_time": "2027-01-01T00:00:00Z", "expected_expiration_time": "2027-01-01T00:05:00Z",
    "latest_expiration_time": "2027-01-08T00:00:00Z", "settlement_timer_seconds": 60,
    "status": "active", "yes_bid_size_fp": "250.00", "yes_ask_size_fp": "118.50",
    "previous_yes_bid_dollars": "0.3800", "previous_yes_ask_dollars": "0.4000",
    "previous_price_dollars": "0.3900", "notional_value_dollars": "1.0000",
    "liquidity_dollars": "0.0000", "result": "", "can_close_early": False,
    "expiration_value": "", "strike_type": "greater", "floor_strike": 104999.99,
    "rules_primary": "If the benchmark index is above the strike at close, Yes.",
    "rules_secondary": "", "price_level_structure": "linear_cent",
    "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
    "settlement_bounds_type": "default", "occurrence_datetime": None, "exchange_index": 0}
ms = []
for i in range(n_markets):
    m = dict(base)
    bid = 1 + i % 97
    m.update({"ticker": "KXBENCH-26DEC31-T%06d" % i, "event_ticker": "KXBENCH-E%05d" % (i // 10),
              "yes_bid_dollars": "0.%02d00" % bid, "yes_ask_dollars": "0.%02d00" % (bid + 1),
              "no_bid_dollars": "0.%02d00" % (98 - bid), "no_ask_dollars": "0.%02d00" % (99 - bid),
              "last_price_dollars": "0.%02d00" % bid, "volume_fp": "%d.00" % (i * 7 % 100000),
              "volume_24h_fp": "%d.50" % (i * 13 % 50000), "open_interest_fp": "%d.25" % (i % 9999)})
    ms.append(json.dumps(m, separators=(",", ":")))
pages(run_dir("markets"), "markets", ms)
del ms
tpl = ('{"trade_id":"%08x-5b0d-5e2f-9a4c-%012x","ticker":"KXBENCH-26DEC31-T%06d",'
       '"count_fp":"%d.%02d","yes_price_dollars":"0.%02d00","no_price_dollars":"0.%02d00",'
       '"taker_side":"%s","taker_outcome_side":"%s","taker_book_side":"%s",'
       '"created_time":"%s.%06dZ","is_block_trade":false}')
d = run_dir("trades")
os.makedirs(os.path.join(d, "trades"))
per = 1000
npages = max(1, (n_trades + per - 1) // per)
for p in range(npages):
    out = []
    for i in range(p * per, min(n_trades, (p + 1) * per)):
        t = now - 60 - i * 80000 // max(1, n_trades)  # newest first, spread over ~22 h
        side = "yes" if i % 3 else "no"
        yes = 1 + i % 98
        # trade ids are UUIDs at Kalshi: random order in the unique index, as here
        out.append(tpl % ((i * 2654435761) & 0xffffffff, i, i % max(1, n_markets), 1 + i % 500, i % 100, yes, 99 - yes + 1 if yes < 99 else 1,
                          side, side, "bid" if side == "yes" else "ask",
                          time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)), i % 1000000))
    with open(os.path.join(d, "trades", "%04d.json" % (p + 1)), "w") as f:
        f.write('{"trades":[%s],"cursor":"%s"}' % (",".join(out), "" if p == npages - 1 else "t%d" % p))
d = run_dir("noop")
os.makedirs(os.path.join(d, "trades"))
with open(os.path.join(d, "trades", "0001.json"), "w") as f:
    f.write('{"trades":[],"cursor":""}')
PY
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
	T_ING_CPU=$(echo "scale=3; ${T_RUN_CPU:-$T_CPU} - ${T_DET_CPU:-0}" | bc)
	T_LOAD=$(cut -d' ' -f1 /proc/loadavg)
}
rate() { echo "scale=0; $1 / $2" | bc; }
mib() { echo "scale=1; $1 / 1024" | bc; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
time_run markets "$work/markets"
m_wall=$T_WALL m_rss=$T_RSS_KIB m_cpu=$T_CPU m_ing=$T_INGEST m_det=$T_DETECT
m_ingc=$T_ING_CPU m_detc=$T_DET_CPU m_load=$T_LOAD
time_run trades "$work/trades"
t_wall=$T_WALL t_rss=$T_RSS_KIB t_cpu=$T_CPU t_ing=$T_INGEST t_det=$T_DETECT
t_ingc=$T_ING_CPU t_detc=$T_DET_CPU t_load=$T_LOAD
time_run noop "$work/noop"
n_cpu=$T_CPU n_wall=$T_WALL n_rss=$T_RSS_KIB n_det=$T_DETECT n_detc=$T_DET_CPU
stored_m=$(sqlite3 "$work/bench.db" 'SELECT count(*) FROM markets')
stored_t=$(sqlite3 "$work/bench.db" 'SELECT count(*) FROM trades')
[ "$stored_m" = "$markets" ] && [ "$stored_t" = "$trades" ] ||
	{ echo "bench-fetch: stored $stored_m markets, $stored_t trades (expected $markets, $trades)" >&2; exit 1; }

echo
echo "(process: whole kw-fetch process, start-up and database open included;"
echo " ingest: the run minus the whale detection it ends with, from kw-fetch's own log;"
echo " load average (1, 5, 15 min) before the runs: $load0 on $(nproc) CPUs)"
printf 'kw-fetch --replay markets: process %s s wall, %s s CPU -> %s markets/s; ingest %s s wall -> %s markets/s, %s s CPU -> %s markets/CPU-s; detection %s s wall, %s s CPU; peak RSS %s MiB; load %s   goal >= 50000/s, <= 64 MiB\n' \
	"$m_wall" "$m_cpu" "$(rate "$markets" "$m_wall")" "$m_ing" "$(rate "$markets" "$m_ing")" \
	"$m_ingc" "$(rate "$markets" "$m_ingc")" "$m_det" "${m_detc:-?}" "$(mib "$m_rss")" "$m_load"
printf 'kw-fetch --replay trades:  process %s s wall, %s s CPU -> %s trades/s; ingest %s s wall -> %s trades/s, %s s CPU -> %s trades/CPU-s; detection %s s wall, %s s CPU; peak RSS %s MiB; load %s   goal >= 200000/s, <= 64 MiB\n' \
	"$t_wall" "$t_cpu" "$(rate "$trades" "$t_wall")" "$t_ing" "$(rate "$trades" "$t_ing")" \
	"$t_ingc" "$(rate "$trades" "$t_ingc")" "$t_det" "${t_detc:-?}" "$(mib "$t_rss")" "$t_load"
printf 'kw-fetch incremental run, nothing new: %s s CPU (%s s wall, of which detection %s s wall, %s s CPU), peak RSS %s MiB   goal < 0.100 s CPU\n' \
	"$n_cpu" "$n_wall" "$n_det" "${n_detc:-?}" "$(mib "$n_rss")"
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
