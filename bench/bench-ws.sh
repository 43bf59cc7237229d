#!/bin/bash
# bench-ws.sh BUILD_DIR — kw-ws under load, on loopback, bounded in time (never a timed test).
#
#   1. 10,000 concurrent idle connections (4 client processes, source addresses 127.0.0.1-4 so
#      that ephemeral ports never run short): kw-ws RSS must stay <= 256 MiB, and its ws_stats
#      row must count them all.
#   2. 1,000 clients subscribed to alerts (4 client processes): 30 alerts committed to the store
#      one by one; the time from each commit to each client's receipt must have p99 <= 500 ms.
# The clients connect to kw-ws directly (its listener is loopback-only, as in production behind
# the web server). Prints the figures and exits non-zero if a target is missed.
set -euo pipefail
build=${1:?usage: bench-ws.sh ABSOLUTE_BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
idle_n=10000
procs=4
lat_n=1000
rss_limit_kib=$((256 * 1024))
p99_limit_ms=500

work=$(mktemp -d /tmp/kw-bench-ws.XXXXXX)
ws_pid=
client_pids=()
cleanup() {
	touch "$work/hold" 2>/dev/null || true
	for p in "${client_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -n "$ws_pid" ] && kill -0 "$ws_pid" 2>/dev/null; then
		kill -TERM "$ws_pid"
		for _ in $(seq 50); do kill -0 "$ws_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$ws_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# One descriptor per client on both sides, plus a reserve.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((idle_n + 200)) ]; then
	echo "bench-ws: need RLIMIT_NOFILE >= $((idle_n + 200)), have $(ulimit -n)" >&2
	exit 1
fi

port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
key="kw_bench_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat > "$work/env" <<EOF
DATABASE_PATH=$work/kalshiwhale.db
JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
API_KEY=$key
WS_PORT=$port
MAX_CONNECTIONS=$((idle_n + 100))
WS_MAX_PER_IP=$((idle_n + 100))
LOG_LEVEL=warning
EOF
KW_ENV_FILE=$work/env "$build/kw-ws" 2> "$work/kw-ws.log" &
ws_pid=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
url="ws://127.0.0.1:$port/ws"

rss() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$ws_pid/status"; }
echo "kw-ws $("$build/kw-ws" --version | cut -d' ' -f2) pid $ws_pid, RSS at start $(rss VmRSS) KiB"

# ---- 1. idle connections -------------------------------------------------------------------
t0=$(date +%s.%N)
for i in $(seq $procs); do
	timeout 300 $py "$top/bench/ws_load.py" idle --url "$url" --key "$key" \
		--n $((idle_n / procs)) --src "127.0.0.$i" --ready "$work/ready.$i" \
		--hold "$work/hold" --max-hold 240 &
	client_pids+=($!)
done
for i in $(seq $procs); do
	for _ in $(seq 1800); do [ -e "$work/ready.$i" ] && break; sleep 0.1; done
	if ! grep -qx '[0-9]*' "$work/ready.$i" 2>/dev/null; then
		echo "bench-ws: client $i: $(cat "$work/ready.$i" 2>/dev/null || echo 'not ready')" >&2
		exit 1
	fi
done
t1=$(date +%s.%N)
opened=$(cat "$work"/ready.* | awk '{ s += $1 } END { print s }')
sleep 3 # a ws_stats report, and the heap settled
rss_kib=$(rss VmRSS)
hwm_kib=$(rss VmHWM)
stats=$($py -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT connections FROM ws_stats").fetchone()[0])' "$work/kalshiwhale.db")
printf 'idle: %d connections open in %.1f s; kw-ws RSS %d KiB (%.1f MiB), peak %d KiB; ws_stats.connections=%s\n' \
	"$opened" "$(echo "$t1 - $t0" | bc)" "$rss_kib" "$(echo "$rss_kib / 1024" | bc -l)" "$hwm_kib" "$stats"
touch "$work/hold"
for p in "${client_pids[@]}"; do wait "$p" || true; done
client_pids=()

# ---- 2. alert latency to 1,000 subscribers ---------------------------------------------------
sleep 1
rm -f "$work/hold"
for i in $(seq $procs); do
	timeout 300 $py "$top/bench/ws_load.py" subscribe --url "$url" --key "$key" \
		--n $((lat_n / procs)) --src "127.0.1.$i" --ready "$work/sub-ready.$i" \
		--hold "$work/hold" --max-hold 200 --out "$work/got.$i" &
	client_pids+=($!)
done
for i in $(seq $procs); do
	for _ in $(seq 600); do [ -e "$work/sub-ready.$i" ] && break; sleep 0.1; done
	if ! grep -qx '[0-9]*' "$work/sub-ready.$i" 2>/dev/null; then
		echo "bench-ws: subscriber $i: $(cat "$work/sub-ready.$i" 2>/dev/null || echo 'not ready')" >&2
		exit 1
	fi
done
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$ws_pid/stat"; }
cpu0=$(cpu_ticks)
lat=$(timeout 300 $py "$top/bench/ws_load.py" commit --n $lat_n --db "$work/kalshiwhale.db" \
	--alerts 30 --gap 0.25 --hold "$work/hold" --out "$work/got" --procs $procs) || true
for p in "${client_pids[@]}"; do wait "$p" || true; done
client_pids=()
echo "latency: $lat"
cpu1=$(cpu_ticks)
echo "kw-ws CPU while 30 alerts went to $lat_n clients (plus heartbeats): $(( (cpu1 - cpu0) * 1000 / $(getconf CLK_TCK) )) ms"
# Both sides share the CPUs: a busy machine shows up here, and in the figures above.
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
p99=$(echo "$lat" | $py -c 'import json,sys; print(json.load(sys.stdin).get("p99_ms", 1e9))')

fail=0
[ "$opened" -eq $idle_n ] || { echo "FAIL: only $opened of $idle_n idle connections"; fail=1; }
[ "$stats" -eq $idle_n ] || { echo "FAIL: ws_stats counted $stats, not $idle_n"; fail=1; }
[ "$rss_kib" -le $rss_limit_kib ] || { echo "FAIL: RSS $rss_kib KiB > $rss_limit_kib KiB"; fail=1; }
awk -v p="$p99" -v l=$p99_limit_ms 'BEGIN { exit !(p <= l) }' ||
	{ echo "FAIL: p99 $p99 ms > $p99_limit_ms ms"; fail=1; }
if grep -q ' error ' "$work/kw-ws.log"; then
	echo "kw-ws logged errors:"; grep ' error ' "$work/kw-ws.log" | head -5; fail=1
fi
[ $fail -eq 0 ] && echo "bench-ws: OK (RSS <= 256 MiB with $idle_n idle clients, p99 <= 500 ms to $lat_n)"
exit $fail
