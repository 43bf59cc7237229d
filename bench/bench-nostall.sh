#!/usr/bin/env bash
# bench-nostall.sh BUILD — a request never waits for the fetcher: a client polls
# GET /api/v1/whales one request after another, first idle, then while kw-fetch --replay
# backfills BENCH_NOSTALL_TRADES saved trades (default 300,000) into the same database; prints
# the slowest request and p99 of each beside the other, and kw-fetch's longest write
# transaction (what other writers waited for at most). Bounded: BENCH_NOSTALL_IDLE seconds
# idle (default 5), the backfill's own duration, 120 s at most. A figure, never a test; the
# machine is shared, so read it with its load average.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
trades=${BENCH_NOSTALL_TRADES:-300000}
idle_s=${BENCH_NOSTALL_IDLE:-5}
tmp=$(mktemp -d /tmp/kw-bench-nostall.XXXXXX)
trap 'bench_stop; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$tmp"' EXIT

key="kwbench_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
bench_start "$build" "$tmp" "API_KEY=$key" "RATE_LIMIT_PER_MINUTE=1000000" \
	"RATE_LIMIT_BURST=1000000" "LOG_LEVEL=info" "METRICS_FLUSH_SECONDS=1"
/usr/bin/python3 - "$tmp/backfill" "$trades" <<'PY'
import json, os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(os.path.join(d, "trades"))
now = int(time.time())
json.dump({"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))},
          open(os.path.join(d, "manifest.json"), "w"))
tpl = ('{"trade_id":"%08x-0000-4000-8000-%012x","ticker":"KXBENCH-T%04d","count_fp":"%d.00",'
       '"yes_price_dollars":"0.%02d00","no_price_dollars":"0.%02d00","taker_side":"yes",'
       '"taker_outcome_side":"yes","taker_book_side":"bid","created_time":"%s.%06dZ",'
       '"is_block_trade":false}')
pages = (n + 999) // 1000
for p in range(pages):
    out = []
    for i in range(p * 1000, min(n, p * 1000 + 1000)):
        t = now - 60 - i * 80000 // n
        yes = 1 + i % 98
        out.append(tpl % ((i * 2654435761) & 0xffffffff, i, i % 2000,
                          9000 if i % 997 == 0 else 1 + i % 300, yes, 99 - yes if yes < 99 else 1,
                          time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)), i % 1000000))
    with open(os.path.join(d, "trades", "%04d.json" % (p + 1)), "w") as f:
        f.write('{"trades":[%s],"cursor":"%s"}' % (",".join(out), "" if p == pages - 1 else "c%d" % p))
PY
/usr/bin/python3 - "$BENCH_PORT" "$key" "$idle_s" "$build/kw-fetch" "$tmp/backfill" \
	"$tmp/kalshiwhale.env" "$tmp/fetch.log" <<'PY'
import http.client, os, subprocess, sys, time
port, key, idle_s, fetch, backfill, env_file, log = sys.argv[1:8]
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
def one():
    t0 = time.monotonic()
    conn.request("GET", "/api/v1/whales?limit=20", headers={"X-API-Key": key})
    r = conn.getresponse(); r.read()
    return (time.monotonic() - t0) * 1000, r.status
def poll(until):
    lat, errors = [], 0
    while until():
        ms, status = one()
        lat.append(ms)
        errors += status != 200
    return lat, errors
def show(name, lat, errors):
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0
    print("%-26s %6d requests   p50 %6.2f ms   p99 %6.2f ms   slowest %7.2f ms   errors %d"
          % (name, len(lat), lat[len(lat) // 2] if lat else 0, p99, lat[-1] if lat else 0, errors))
for _ in range(20):
    one()
end = time.monotonic() + float(idle_s)
show("idle", *poll(lambda: time.monotonic() < end))
env = dict(os.environ, KW_ENV_FILE=env_file)
p = subprocess.Popen(["nice", "-n", "5", fetch, "--replay", backfill], env=env,
                     stdout=subprocess.DEVNULL, stderr=open(log, "w"))
deadline = time.monotonic() + 120
lat, errors = poll(lambda: p.poll() is None and time.monotonic() < deadline)
if p.poll() is None:
    p.kill()
p.wait()
show("during the backfill", lat, errors)
PY
longest=$(sed -n 's/.*longest write transaction \([0-9.]*\) ms.*/\1/p' "$tmp/fetch.log" | tail -n 1)
run=$(grep -o 'run [0-9]* [a-z]* in [0-9.]* s' "$tmp/fetch.log" | tail -n 1)
echo "kw-fetch --replay of $trades trades: ${run:-?}; longest write transaction ${longest:-?} ms   goal: no request slower than 100 ms"
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs)"
