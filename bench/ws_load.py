"""ws_load.py — WebSocket load client for bench/bench-ws.sh (python3-websockets, asyncio).

  idle    open N connections to URL and hold them until the file HOLD exists; write the number
          opened to READY once all are open (or "error: ..." if some failed).
  subscribe  open N connections subscribed to the `alerts` channel (READY once they are), record
          when each alert reaches each of them until HOLD exists, then write the records to OUT.
  commit  commit ALERTS alerts to the SQLite store one by one (as kw-fetch does), touch HOLD,
          and from the subscribers' records print, over every client and alert, the time from
          the commit returning to the client receiving it (JSON). Several subscriber processes
          keep the clients' own processing out of the figure as far as possible.

Every loop is bounded in count and time; connections are opened CONCURRENCY at a time.
"""
import argparse
import asyncio
import json
import os
import socket
import sqlite3
import sys
import time

import websockets

CONCURRENCY = 200


def sock_from(src, url):
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.setblocking(False)
    return s, (host, int(port))


async def open_one(url, key, src):
    s, addr = sock_from(src, url)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(s, addr)
    ws = await websockets.connect(url, sock=s, extra_headers={"X-API-Key": key},
                                  compression=None, ping_interval=None, close_timeout=1,
                                  open_timeout=30, max_queue=64)
    first = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert first["type"] == "initial_data", first
    return ws


async def open_many(url, key, srcs, n):
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i):
        async with sem:
            return await open_one(url, key, srcs[i % len(srcs)])
    return await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)


async def idle(a):
    conns = await open_many(a.url, a.key, a.src.split(","), a.n)
    ok = [c for c in conns if not isinstance(c, Exception)]
    bad = [c for c in conns if isinstance(c, Exception)]
    with open(a.ready + ".tmp", "w") as f:
        f.write("%d\n" % len(ok) if not bad else "error: %d failed, first: %r\n"
                % (len(bad), bad[0]))
    os.rename(a.ready + ".tmp", a.ready)

    async def drain(ws):  # read heartbeats so that the server never sees a slow reader
        try:
            async for _ in ws:
                pass
        except websockets.exceptions.ConnectionClosed:
            pass
    readers = [asyncio.ensure_future(drain(ws)) for ws in ok]
    deadline = time.monotonic() + a.max_hold
    while not os.path.exists(a.hold) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    for r in readers:
        r.cancel()
    await asyncio.gather(*(ws.close() for ws in ok), return_exceptions=True)


def percentile(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


async def subscribe(a):
    """Hold N subscribers; record when each alert reaches each of them (wall clock)."""
    conns = await open_many(a.url, a.key, a.src.split(","), a.n)
    bad = [c for c in conns if isinstance(c, Exception)]
    if not bad:
        for ws in conns:
            await ws.send(json.dumps({"type": "subscribe", "channels": ["alerts"]}))
        for ws in conns:
            while json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] != "initial_data":
                pass
    with open(a.ready + ".tmp", "w") as f:
        f.write("%d\n" % len(conns) if not bad else "error: %d failed, first: %r\n"
                % (len(bad), bad[0]))
    os.rename(a.ready + ".tmp", a.ready)
    if bad:
        return 1
    got = []  # (alert id, receive time)

    async def reader(ws):
        try:
            async for raw in ws:
                t = time.time()
                if '"type":"alert"' in raw:
                    got.append((json.loads(raw)["data"]["id"], t))
        except websockets.exceptions.ConnectionClosed:
            pass
    readers = [asyncio.ensure_future(reader(ws)) for ws in conns]
    deadline = time.monotonic() + a.max_hold
    while not os.path.exists(a.hold) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for r in readers:
        r.cancel()
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    with open(a.out, "w") as f:
        json.dump(got, f)
    return 0


def commit(a):
    """Commit ALERTS alerts one by one, GAP seconds apart; then read the subscribers' records
    (files OUT.*) once HOLD is touched by the caller, and print the latency figures."""
    con = sqlite3.connect(a.db, timeout=10)
    committed = {}
    for i in range(a.alerts):
        now = int(time.time())
        cur = con.execute(
            "INSERT INTO alerts (alert_key, type, ticker, severity, confidence, description,"
            " data, created_at, window_end) VALUES (?, 'whale_trade', 'KXBENCH', 'high', 90,"
            " 'bench alert', '{}', ?, ?)", ("bench:%d:%d" % (os.getpid(), i), now, now))
        con.commit()
        committed[cur.lastrowid] = time.time()
        time.sleep(a.gap)
    con.close()
    time.sleep(5)  # late deliveries still count (as late), rather than as missing
    open(a.hold, "w").close()
    got = []
    deadline = time.monotonic() + 60
    for i in range(1, a.procs + 1):
        path = "%s.%d" % (a.out, i)
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        with open(path) as f:
            got.extend(json.load(f))
    lat = [(t - committed[aid]) * 1000.0 for aid, t in got if aid in committed]
    per_alert = {}
    for aid, t in got:
        if aid in committed:
            per_alert.setdefault(aid, []).append((t - committed[aid]) * 1000.0)
    first = [min(v) for v in per_alert.values()]           # commit -> first client
    spread = [max(v) - min(v) for v in per_alert.values()]  # first -> last client
    want = a.alerts * a.n

    def r(v, p):
        return round(percentile(v, p), 1) if v else None
    print(json.dumps({"clients": a.n, "alerts": a.alerts, "deliveries": len(lat),
                      "missing": want - len(lat), "p50_ms": r(lat, 50), "p99_ms": r(lat, 99),
                      "max_ms": round(max(lat), 1) if lat else None,
                      "first_client_p50_ms": r(first, 50), "first_client_max_ms": r(first, 100),
                      "fanout_spread_p50_ms": r(spread, 50),
                      "fanout_spread_max_ms": r(spread, 100)}))
    return 0 if len(lat) == want else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["idle", "subscribe", "commit"])
    p.add_argument("--url")
    p.add_argument("--key")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--src", default="127.0.0.1", help="comma-separated source addresses")
    p.add_argument("--ready")
    p.add_argument("--hold")
    p.add_argument("--max-hold", type=float, default=120)
    p.add_argument("--db")
    p.add_argument("--alerts", type=int, default=20)
    p.add_argument("--gap", type=float, default=0.3)
    p.add_argument("--out", help="subscribe: records file; commit: prefix of them")
    p.add_argument("--procs", type=int, default=1, help="commit: number of subscriber files")
    a = p.parse_args()
    if a.n < 1 or a.n > 20000 or a.alerts < 1 or a.alerts > 1000:
        p.error("--n must be 1..20000 and --alerts 1..1000")
    if a.mode == "commit":
        return commit(a)
    coro = idle(a) if a.mode == "idle" else subscribe(a)
    return asyncio.run(asyncio.wait_for(coro, 600)) or 0


if __name__ == "__main__":
    sys.exit(main())
