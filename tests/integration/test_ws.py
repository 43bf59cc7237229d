"""kw-ws: real WebSocket clients (python3-websockets 10, legacy asyncio client, plus a raw-socket
client for what a well-behaved library will not send) through the real lighttpd to the real
kw-ws, with events committed to the real SQLite store by another process (this one).

Most tests share one module-scoped stack whose kw-ws sends a heartbeat every 400 ms
(--heartbeat-ms, test-only) and hangs up silent clients after WEB_SOCKET_TIMEOUT=5 s. Tests
that stop kw-ws or need tight connection limits start their own stack.
"""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import resource
import socket
import struct
import subprocess
import time

import pytest
import requests
import websockets
import websockets.exceptions

from apiseed import market_data_written
from detected import Detected
from kwstack import BUILD, SERVERS, Stack, db_settings, pg_mode, run_admin

ORIGIN = "https://dash.example.com"
SECRET = "s3cret-for-ws-tests-" + "x" * 24
HEARTBEAT_MS = 400
OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_CONT = 1, 2, 8, 9, 10, 0


# The /ws path differs per web server, not per way of running kw-api: one stack of each.
WS_SERVERS = ["apache", "lighttpd"]


@pytest.fixture(scope="module", params=WS_SERVERS)
def ws_stack(request, tmp_path_factory):
    s = SERVERS[request.param](tmp_path_factory.mktemp("ws"), ws=True, ws_args=["--heartbeat-ms", str(HEARTBEAT_MS)],
              settings={"ALLOWED_ORIGINS": ORIGIN, "JWT_SECRET": SECRET,
                        "WEB_SOCKET_TIMEOUT": "5", "LOG_LEVEL": "info"})
    s.start()
    yield s
    s.stop()


# ---- helpers ---------------------------------------------------------------------------------

def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


class connect:
    """async with connect(stack) as ws: a client past the handshake and its first message
    (initial_data, kept as ws.initial), with the stack's X-API-Key and the allowed Origin."""

    def __init__(self, stack, url=None, key=True, origin=ORIGIN, headers=None, **kw):
        h = dict(headers or {})
        if key:
            h["X-API-Key"] = stack.api_key
        kw.setdefault("ping_interval", None)
        kw.setdefault("close_timeout", 2)
        self._cm = websockets.connect(url or stack.ws_url, origin=origin, extra_headers=h,
                                      compression=None, **kw)

    async def __aenter__(self):
        ws = await self._cm.__aenter__()
        first = json.loads(await asyncio.wait_for(ws.recv(), 3))
        assert first["type"] == "initial_data", first
        ws.initial = first
        return ws

    async def __aexit__(self, *exc):
        return await self._cm.__aexit__(*exc)


async def next_msg(ws, want, timeout=3.0):
    """The next message whose type is in want (heartbeats skipped unless wanted)."""
    want = (want,) if isinstance(want, str) else want
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no %s message within %.1f s" % (want, timeout))
        msg = json.loads(await asyncio.wait_for(ws.recv(), left))
        if msg["type"] in want:
            return msg
        assert msg["type"] in ("heartbeat", "initial_data"), msg


async def none_of(ws, types, seconds):
    """Assert that no message of these types arrives within seconds."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            msg = json.loads(await asyncio.wait_for(ws.recv(), left))
        except asyncio.TimeoutError:
            return
        assert msg["type"] not in types, msg


async def subscribe(ws, **sub):
    await ws.send(json.dumps(dict(type="subscribe", **sub)))
    msg = await next_msg(ws, "initial_data")
    return msg["data"]


def db(stack):
    con = stack.sql(timeout=10)
    if not pg_mode():
        con.execute("PRAGMA busy_timeout = 10000")
    return con


_seq = [0]


async def next_batch(ws, timeout=1.0):
    """The next whale_alerts batch; the market_update of the same fetch run may come first
    (the default subscription has both)."""
    while True:
        msg = await next_msg(ws, ("whale_alerts", "market_update"), timeout=timeout)
        if msg["type"] == "whale_alerts":
            return msg


async def off_loop(fn, *args):
    """Run a blocking call (a kw-fetch run) without stopping the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


# The helpers below write rows as kw-fetch does, advancing the market-data generation in the
# same transaction: kw-api's caches are keyed on it, and kw-ws on PostgreSQL follows it.
def insert_alert(stack, ticker, type_="whale_trade", description="big trade", data=None,
                 con=None):
    _seq[0] += 1
    own = con is None
    con = con or db(stack)
    now = int(time.time())
    alert_id = con.execute(
        "INSERT INTO alerts (alert_key, type, ticker, severity, confidence, description, data,"
        " created_at, window_end) VALUES (?, ?, ?, 'high', 90, ?, ?, ?, ?) RETURNING id",
        ("%s:%s:%d:%d" % (type_, ticker, now, _seq[0]), type_, ticker, description,
         json.dumps(data or {}), now, now)).fetchone()[0]
    if own:  # a caller's own transaction advances the generation once, as kw-fetch does
        market_data_written(con)
        con.commit()
        con.close()
    return alert_id


def insert_market(con, ticker, category, updated_at=None, volume=100):
    now = int(time.time())
    con.execute(
        "INSERT INTO markets (ticker, event_ticker, category, title, status,"
        " volume_24h_centi, first_seen_at, updated_at) VALUES (?, ?, ?, ?, 'open', ?, ?, ?)"
        " ON CONFLICT (ticker) DO UPDATE SET event_ticker = excluded.event_ticker,"
        " category = excluded.category, title = excluded.title, status = excluded.status,"
        " volume_24h_centi = excluded.volume_24h_centi, first_seen_at = excluded.first_seen_at,"
        " updated_at = excluded.updated_at",
        (ticker, ticker + "-EV", category, "Market " + ticker, volume, now,
         updated_at or now))
    market_data_written(con)


def insert_trade(con, ticker, notional_usd):
    _seq[0] += 1
    price = 500000
    count_centi = int(notional_usd * 1000000 * 100 // price)
    trade_id = con.execute(
        "INSERT INTO trades (trade_id, ticker, created_us, count_centi, yes_price_micros,"
        " no_price_micros, taker_side, notional_micros) VALUES (?, ?, ?, ?, ?, ?, 'yes', ?)"
        " RETURNING id",
        ("t-%d-%d" % (time.time_ns(), _seq[0]), ticker, time.time_ns() // 1000, count_centi,
         price, 1000000 - price, notional_usd * 1000000)).fetchone()[0]
    market_data_written(con)
    return trade_id


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def forge_ticket(secret, issued_ms=None, ttl=60, scope="ws", exp=None):
    issued_ms = int(time.time() * 1000) if issued_ms is None else issued_ms
    exp = issued_ms // 1000 + ttl if exp is None else exp
    payload = "v1.%s.%d.%d.%s" % (os.urandom(16).hex(), issued_ms, exp, scope)
    mac = hmac.new(secret.encode(), b"kalshiwhale-ws-ticket\n" + payload.encode(),
                   hashlib.sha256).digest()
    return payload + "." + b64url(mac)


def raw_connect(port, headers, path="/ws", rcvbuf=None, src="127.0.0.1"):
    """A bare RFC 6455 client: returns (socket, status, bytes after the response head)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    head = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
            % (path, port, key))
    head += "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
    s.sendall(head.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    status = int(buf.split(b" ", 2)[1]) if buf.startswith(b"HTTP/") else 0
    return s, status, buf.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in buf else b""


def frame(opcode, payload, fin=True):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_close_code(s, pending=b"", timeout=10):
    """Read frames until a close frame (its code) or EOF (None)."""
    s.settimeout(timeout)
    buf = pending
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while len(buf) >= 2:
            op, n = buf[0] & 0x0F, buf[1] & 0x7F
            off = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, off = struct.unpack("!H", buf[2:4])[0], 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, off = struct.unpack("!Q", buf[2:10])[0], 10
            if len(buf) < off + n:
                break
            payload, buf = buf[off:off + n], buf[off + n:]
            if op == OP_CLOSE:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return None
        if not chunk:
            return None
        buf += chunk
    return None


def close_code(exc_info):
    exc = exc_info.value
    return exc.rcvd.code if exc.rcvd else None


# ---- the program itself ----------------------------------------------------------------------

def run_ws(env_extra, *args, timeout=10, nofile=None):
    env = dict(os.environ)
    env.pop("KW_ENV_FILE", None)
    env.update(env_extra)

    def limit():
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    return subprocess.run([os.path.join(BUILD, "kw-ws")] + list(args), env=env,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=limit)


def test_help_version_and_usage_errors(tmp_path):
    r = run_ws({}, "--help")
    assert r.returncode == 0 and "Usage: kw-ws" in r.stdout and "--heartbeat-ms" in r.stdout
    r = run_ws({}, "--version")
    assert r.returncode == 0 and r.stdout.startswith("kw-ws ")
    assert run_ws({}, "--bogus").returncode == 2
    assert run_ws({}, "--heartbeat-ms", "7").returncode == 2
    assert run_ws({}, "extra").returncode == 2


@pytest.mark.parametrize("settings,needle", [
    ({"JWT_SECRET": "tiny-secret", "ENVIRONMENT": "production"}, "JWT_SECRET"),
    ({"JWT_SECRET": "", "ENVIRONMENT": "production"}, "JWT_SECRET"),
    ({"ALLOWED_ORIGINS": "*", "ENVIRONMENT": "production"}, "ALLOWED_ORIGINS"),
    ({"ALLOWED_ORIGINS": "https://a.example.com/path"}, "ALLOWED_ORIGINS"),
    ({"API_KEY": "tiny-key"}, "API_KEY"),
    ({"WS_PORT": "0"}, "WS_PORT"),
    ({"MAX_CONNECTIONS": "abc"}, "MAX_CONNECTIONS"),
    ({"WS_MAX_PER_IP": "50", "MAX_CONNECTIONS": "10"}, "WS_MAX_PER_IP"),
    ({"WS_MAX_MESSAGE_BYTES": "8"}, "WS_MAX_MESSAGE_BYTES"),
    ({"MAX_CONNECTIONS": "5000"}, "RLIMIT_NOFILE"),  # more clients than descriptors
])
def test_invalid_configuration_exits_78(tmp_path, settings, needle):
    env = dict(db_settings(tmp_path / "db.sqlite"), JWT_SECRET=SECRET)
    env.update(settings)
    r = run_ws(env, "--check-config", nofile=1024 if needle == "RLIMIT_NOFILE" else None)
    assert r.returncode == 78, r.stderr
    assert needle in r.stderr
    # Secrets are never echoed (the refusal may say "too short"; the values start "tiny-").
    assert SECRET not in r.stderr and "tiny-" not in r.stderr


def test_development_without_jwt_secret_runs_without_tickets(tmp_path):
    r = run_ws(dict(db_settings(tmp_path / "db.sqlite"), JWT_SECRET=""),
               "--check-config")
    assert r.returncode == 0, r.stderr
    assert "WebSocket tickets are refused" in r.stderr


def test_check_config_ok_and_unopenable_database(tmp_path):
    r = run_ws(dict(db_settings(tmp_path / "db.sqlite"), JWT_SECRET=SECRET),
               "--check-config")
    assert r.returncode == 0, r.stderr
    # Unopenable: a file in a directory that does not exist; a database the server lacks.
    here = db_settings(tmp_path / "db.sqlite")
    missing = (dict(here, DATABASE_URL=here["DATABASE_URL"] + "_missing")
               if pg_mode() else {"DATABASE_PATH": str(tmp_path / "missing" / "db.sqlite")})
    r = run_ws(dict(missing, JWT_SECRET=SECRET),
               "--check-config")
    assert r.returncode == 1 and "kw-ws:" in r.stderr


# ---- handshake -------------------------------------------------------------------------------

def test_handshake_with_api_key_gets_initial_data_and_pong(ws_stack):
    async def go():
        async with connect(ws_stack) as ws:
            first = ws.initial
            d = first["data"]
            assert d["subscription"] == {"channels": ["whale_alerts", "markets"], "tickers": [],
                                         "categories": [], "min_notional": 0}
            assert isinstance(d["markets"], list) and d["count"] == len(d["markets"])
            assert isinstance(d["last_alert_id"], int)
            await ws.send(json.dumps({"type": "ping"}))
            pong = await next_msg(ws, "pong")
            assert pong["timestamp"].endswith("Z")
    run(go())


def test_plain_http_on_ws_is_refused_with_426(ws_stack):
    r = requests.get("http://127.0.0.1:%d/ws" % ws_stack.ws_port, timeout=10)
    assert r.status_code == 426
    assert r.json()["error"]["code"] == "upgrade_required"
    # Through the web server: lighttpd passes kw-ws's answer on; Apache's wstunnel proxy only
    # forwards upgrades and answers a plain GET itself.
    assert requests.get(ws_stack.url("/ws"), timeout=10).status_code in (426, 404)


@pytest.mark.parametrize("origin,key,status,reason", [
    ("https://evil.example.com", "good", 403, "origin_not_allowed"),
    ("https://dash.example.com.evil.com", "good", 403, "origin_not_allowed"),
    ("http://dash.example.com", "good", 403, "origin_not_allowed"),
    ("null", "good", 403, "origin_not_allowed"),
    (ORIGIN, None, 401, "missing_credentials"),
    (ORIGIN, "kw_wrong_key_0000000000000000000000000000", 401, "key_unknown"),
    (ORIGIN, "key with spaces", 401, "key_malformed"),
])
def test_refused_origins_and_credentials_get_no_upgrade(ws_stack, origin, key, status, reason):
    headers = {}
    if key == "good":
        headers["X-API-Key"] = ws_stack.api_key
    elif key is not None:
        headers["X-API-Key"] = key

    async def go():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            async with connect(ws_stack, key=False, origin=origin, headers=headers):
                pass
        return e.value.status_code
    assert run(go()) == status
    time.sleep(0.1)
    # The types kw-api uses: a refused origin is cors_origin_denied (at most one a minute per
    # address), a refused credential auth_failed.
    events = [json.loads(line[line.index("{"):]) for line in ws_stack.log().splitlines()
              if ('"event":"auth_failed"' in line or '"event":"cors_origin_denied"' in line)
              and "kw-ws[" in line]
    assert any(e["reason"] == reason and e["status"] == status for e in events), events
    with db(ws_stack) as con:
        types = {t for (t,) in con.execute(
            "SELECT type FROM security_events WHERE detail LIKE 'kw-ws: %'")}
    assert ("cors_origin_denied" if status == 403 else "auth_failed") in types
    assert ws_stack.api_key not in ws_stack.log()


def test_database_keys_are_accepted_until_revoked(ws_stack):
    r = run_admin(ws_stack, "key", "create", "--name", "ws-bot", "--scope", "read")
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip().splitlines()[-1]
    key_id = [l.split()[0] for l in run_admin(ws_stack, "key", "list").stdout.splitlines()
              if " ws-bot " in l][0]

    async def go(expect_ok):
        if expect_ok:
            async with connect(ws_stack, key=False, headers={"X-API-Key": key}) as ws:
                return ws.initial["type"]
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            async with connect(ws_stack, key=False, headers={"X-API-Key": key}):
                pass
        return e.value.status_code
    assert run(go(True)) == "initial_data"
    assert run_admin(ws_stack, "key", "revoke", key_id).returncode == 0
    assert run(go(False)) == 401
    assert '"reason":"key_revoked"' in ws_stack.log()
    assert key not in ws_stack.log()


async def closed_with(ws, timeout):
    """Read until the server closes; its close code (None if it did not within timeout)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.exceptions.ConnectionClosed as e:
        return e.code
    except asyncio.TimeoutError:
        return None


def test_a_revoked_keys_sockets_are_closed_with_1008(tmp_path):
    with Stack(tmp_path, ws=True, settings={"JWT_SECRET": SECRET, "ALLOWED_ORIGINS": ORIGIN}) as st:
        r = run_admin(st, "key", "create", "--name", "ws-live", "--scope", "read")
        assert r.returncode == 0, r.stderr
        key = r.stdout.strip().splitlines()[-1]
        key_id = [l.split()[0] for l in run_admin(st, "key", "list").stdout.splitlines()
                  if " ws-live " in l][0]
        other = st.api_key  # API_KEY: unaffected
        # A browser's way in: a ticket minted for the key.
        t = st.post("/api/ws-ticket", headers={"X-API-Key": key}).json()["ws_url"]
        url = "ws://127.0.0.1:%d%s" % (st.port, t)

        async def go():
            async with connect(st, key=False, headers={"X-API-Key": key}) as direct, \
                    connect(st, url=url, key=False) as ticketed, connect(st) as bystander:
                assert await closed_with(direct, 1.5) is None  # open and served
                t0 = time.time()
                assert run_admin(st, "key", "revoke", key_id).returncode == 0
                assert await closed_with(direct, 5) == 1008
                assert await closed_with(ticketed, 5) == 1008
                assert time.time() - t0 < 5
                await bystander.send(json.dumps({"type": "ping"}))
                assert (await next_msg(bystander, "pong"))["type"] == "pong"
        run(go())
        assert other not in st.log() and key not in st.log()


def test_failures_on_ws_count_with_kw_apis_and_blocks_are_shared(tmp_path):
    with Stack(tmp_path, ws=True, settings={"JWT_SECRET": SECRET, "ALLOWED_ORIGINS": ORIGIN,
                                            "SUSPICIOUS_AUTH_FAILURES": "3",
                                            "BLOCK_MINUTES": "5"}) as st:
        bad = {"X-API-Key": "kw_wrong_key_0000000000000000000000000000"}
        # Two failures on the API, one on /ws (straight to kw-ws, from the same address).
        for _ in range(2):
            assert st.get("/api/status", headers=bad).status_code == 401
        s, status, _ = raw_connect(st.ws_port, bad)
        s.close()
        assert status == 401
        # Blocked now, on both, before credentials are even looked at.
        s, status, body = raw_connect(st.ws_port, {"X-API-Key": st.api_key})
        s.close()
        assert status == 403 and b'"blocked"' in body
        assert st.get("/api/status").status_code == 403
        with db(st) as con:
            rows = con.execute("SELECT type, client, detail FROM security_events"
                               " ORDER BY id").fetchall()
            blocked = con.execute("SELECT address FROM blocked_addresses").fetchall()
        assert [r for r in rows if r[0] == "auth_failed" and r[2].startswith("kw-ws")]
        assert [r[0] for r in rows].count("suspicious_activity") == 1
        assert blocked == [("127.0.0.1",)]


def test_ticket_from_api_single_use_and_checked(ws_stack):
    r = ws_stack.post("/api/ws-ticket")
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert set(body) == {"ticket", "expires_at", "ws_url"}
    assert body["ws_url"] == "/ws?ticket=" + body["ticket"]
    exp = time.mktime(time.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert 0 < exp - time.time() <= 61
    url = "ws://127.0.0.1:%d%s" % (ws_stack.port, body["ws_url"])

    async def go():
        async with connect(ws_stack, url=url, key=False) as ws:  # a browser: Origin, ticket
            assert ws.initial["data"]["subscription"]["channels"] == ["whale_alerts", "markets"]
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:  # second use
            async with connect(ws_stack, url=url, key=False):
                pass
        return e.value.status_code
    assert run(go()) == 401
    assert '"reason":"ticket_reused"' in ws_stack.log()
    # Without credentials kw-api mints nothing.
    assert ws_stack.post("/api/ws-ticket", anonymous=True).status_code == 401


@pytest.mark.parametrize("make,status,reason", [
    (lambda: forge_ticket(SECRET, issued_ms=int(time.time() * 1000) - 120000), 401,
     "ticket_expired"),
    (lambda: forge_ticket(SECRET, ttl=120), 401, "ticket_expired"),  # lifetime over 60 s
    (lambda: forge_ticket("another-secret-of-sufficient-length-000"), 401,
     "ticket_bad_signature"),
    (lambda: forge_ticket(SECRET, scope="admin"), 403, "ticket_wrong_scope"),
    (lambda: forge_ticket(SECRET, issued_ms=int(time.time() * 1000) - 40000, ttl=60), 401,
     "ticket_issued_before_start"),  # before this kw-ws started (tickets from its past life)
    (lambda: forge_ticket(SECRET)[:-2] + "AA", 401, "ticket_bad_signature"),
    (lambda: "v1.nothex", 401, "ticket_malformed"),
])
def test_bad_tickets_are_refused(ws_stack, make, status, reason):
    url = ws_stack.ws_url + "?ticket=" + make()

    async def go():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            async with connect(ws_stack, url=url, key=False):
                pass
        return e.value.status_code
    assert run(go()) == status
    time.sleep(0.05)
    assert '"reason":"%s"' % reason in ws_stack.log()


def test_forged_ticket_with_the_right_secret_works_once(ws_stack):
    url = ws_stack.ws_url + "?ticket=" + forge_ticket(SECRET)

    async def go():
        async with connect(ws_stack, url=url, key=False):
            pass
        with pytest.raises(websockets.exceptions.InvalidStatusCode):
            async with connect(ws_stack, url=url, key=False):
                pass
    run(go())


# ---- events, subscriptions and filters -------------------------------------------------------

def test_alert_reaches_subscribed_client_within_1s_and_not_others(ws_stack):
    async def go():
        async with connect(ws_stack) as a, connect(ws_stack) as b, connect(ws_stack) as c:
            sub = await subscribe(a, channels=["alerts"], tickers=["KXBTC-26NOV28-B90000"])
            assert sub["subscription"]["tickers"] == ["KXBTC-26NOV28-B90000"]
            await subscribe(b, channels=["alerts"], tickers=["KXOTHER"])
            # c keeps the default subscription: the original's whale_alerts batches.
            src = Detected(ws_stack)
            try:
                [aid] = await off_loop(src.whales, "KXBTC-26NOV28-B90000", 30000)
                t0 = time.monotonic()  # detection committed it as kw-fetch ended
                msg = await next_msg(a, "alert", timeout=1.0)
                assert time.monotonic() - t0 < 1.0
                assert msg["data"]["id"] == aid
                assert msg["data"]["ticker"] == "KXBTC-26NOV28-B90000"
                assert msg["data"]["type"] == "whale_trade"
                assert msg["data"]["severity"] == "high"
                batch = await next_batch(c)
                assert [x["id"] for x in batch["data"]["alerts"]] == [aid]
                await none_of(b, ("alert", "whale_alerts"), 0.8)
                # New alerts only: the next batch does not repeat the first alert.
                [aid2] = await off_loop(src.whales, "KXETH-1", 8000)
                batch = await next_batch(c)
                assert [x["id"] for x in batch["data"]["alerts"]] == [aid2]
                await none_of(a, ("alert",), 0.6)  # other ticker
            finally:
                src.stop()
    run(go())


def test_trades_filtered_by_category_min_notional_and_whale_floor(ws_stack):
    with db(ws_stack) as con:
        insert_market(con, "KXBTC-T1", "Crypto")
        insert_market(con, "KXPRES-T1", "Politics")

    async def go():
        async with connect(ws_stack) as big, connect(ws_stack) as any_, \
                connect(ws_stack) as alerts_only:
            await subscribe(big, channels=["trades"], categories=["crypto"], min_notional=10000)
            await subscribe(any_, channels=["trades"])
            await subscribe(alerts_only, channels=["alerts"])
            with db(ws_stack) as con:
                small = insert_trade(con, "KXBTC-T1", 6000)     # whale, under big's minimum
                tiny = insert_trade(con, "KXBTC-T1", 1000)      # under WHALE_MIN_NOTIONAL_USD
                other = insert_trade(con, "KXPRES-T1", 50000)   # another category
                large = insert_trade(con, "KXBTC-T1", 20000)
            m = await next_msg(big, "trade", timeout=1.0)
            assert m["data"]["id"] == large and m["data"]["category"] == "Crypto"
            assert m["data"]["notional_micros"] == 20000 * 1000000
            await none_of(big, ("trade",), 0.5)
            got = []
            while len(got) < 3:
                got.append((await next_msg(any_, "trade", timeout=1.0))["data"]["id"])
            assert got == [small, other, large] and tiny not in got
            await none_of(alerts_only, ("trade",), 0.3)
    run(go())


def test_binary_frames_get_an_error(ws_stack):
    async def go():
        async with connect(ws_stack) as ws:
            await ws.send(b'{"type":"ping"}')
            assert (await next_msg(ws, "error"))["data"]["code"] == "binary_not_supported"
    run(go())


def test_market_update_after_a_fetch_run_respects_filters(ws_stack):
    async def go():
        async with connect(ws_stack) as all_, connect(ws_stack) as pol, \
                connect(ws_stack) as quiet:
            await subscribe(pol, channels=["markets"], categories=["Politics"])
            await subscribe(quiet, channels=["alerts"])
            now = int(time.time())
            with db(ws_stack) as con:
                insert_market(con, "KXBTC-U1", "Crypto", updated_at=now, volume=900)
                insert_market(con, "KXPRES-U1", "Politics", updated_at=now, volume=800)
                con.execute("INSERT INTO fetch_runs (started_at, finished_at, outcome,"
                            " open_markets) VALUES (?, ?, 'ok', 2)", (now, now))
            m = await next_msg(all_, "market_update", timeout=1.0)
            tickers = [x["ticker"] for x in m["data"]["markets"]]
            assert "KXBTC-U1" in tickers and "KXPRES-U1" in tickers
            m = await next_msg(pol, "market_update", timeout=1.0)
            assert {x["category"] for x in m["data"]["markets"]} == {"Politics"}
            await none_of(quiet, ("market_update",), 0.4)
            # initial_data is the snapshot for the subscription.
            snap = await subscribe(pol, channels=["markets"], tickers=["KXPRES-U1"])
            assert [x["ticker"] for x in snap["markets"]] == ["KXPRES-U1"]
            snap = await subscribe(pol, channels=["markets"],
                                   tickers=["KXPRES-U1", "KXNONE-1", "KXBTC-U1"])
            assert [x["ticker"] for x in snap["markets"]] == ["KXBTC-U1", "KXPRES-U1"]
            snap = await subscribe(pol, channels=["alerts"], tickers=["KXBTC-U1"])
            assert snap["markets"] == []  # markets not subscribed
    run(go())


@pytest.mark.parametrize("message,code", [
    ({"type": "subscribe", "channels": ["nope"]}, "invalid_subscribe"),
    ({"type": "subscribe", "channels": "alerts"}, "invalid_subscribe"),
    ({"type": "subscribe", "tickers": ["bad ticker"]}, "invalid_subscribe"),
    ({"type": "subscribe", "tickers": ["T"] * 51}, "invalid_subscribe"),
    ({"type": "subscribe", "min_notional": -1}, "invalid_subscribe"),
    ({"type": "subscribe", "min_notional": 1.5}, "invalid_subscribe"),
    ({"type": "subscribe", "extra": 1}, "invalid_subscribe"),
    ({"type": "resume"}, "invalid_resume"),
    ({"type": "resume", "since_id": -3}, "invalid_resume"),
    ({"type": "ping", "x": 1}, "invalid_message"),
    ({"type": "hello"}, "unknown_type"),
    ({"kind": "ping"}, "invalid_message"),
    ([1, 2], "invalid_json"),
])
def test_invalid_client_messages_get_an_error(ws_stack, message, code):
    async def go():
        async with connect(ws_stack) as ws:
            await ws.send(json.dumps(message))
            err = await next_msg(ws, "error")
            assert err["data"]["code"] == code
            await ws.send(json.dumps({"type": "ping"}))  # still served
            await next_msg(ws, "pong")
    run(go())


def test_repeated_abuse_closes_1008(ws_stack):
    async def go():
        async with connect(ws_stack) as ws:
            for text in ["hello", "{", '{"type":"x"}', "[]"]:
                await ws.send(text)
                await next_msg(ws, "error")
            await ws.send("5th")
            with pytest.raises(websockets.exceptions.ConnectionClosed) as e:
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            return close_code(e)
    assert run(go()) == 1008


def test_resume_replays_missed_alerts_bounded(ws_stack):
    async def go():
        async with connect(ws_stack) as watcher:
            await subscribe(watcher, channels=["alerts"], tickers=["KXRES-1"])
            src = Detected(ws_stack)
            try:
                [first] = await off_loop(src.whales, "KXRES-1", 6000)
                await next_msg(watcher, "alert")
                src.add_whales("KXRES-1", 6000, n=150)
                src.add_whales("KXRES-OTHER", 6000)
                ids = await off_loop(src.run, "KXRES-1")
            finally:
                src.stop()
            assert len(ids) == 150
            while (await next_msg(watcher, "alert"))["data"]["id"] != ids[-1]:
                pass
        async with connect(ws_stack) as ws:
            await subscribe(ws, channels=["alerts"], tickers=["KXRES-1"])
            await ws.send(json.dumps({"type": "resume", "since_id": first}))
            r = (await next_msg(ws, "resumed"))["data"]
            assert r["since_id"] == first and r["more"] is True and r["count"] == 100
            assert [a["id"] for a in r["alerts"]] == ids[:100]
            await ws.send(json.dumps({"type": "resume", "since_id": r["last_id"]}))
            r = (await next_msg(ws, "resumed"))["data"]
            assert [a["id"] for a in r["alerts"]] == ids[100:] and r["more"] is False
            await ws.send(json.dumps({"type": "resume", "since_id": r["last_id"]}))
            r = (await next_msg(ws, "resumed"))["data"]
            assert r["alerts"] == [] and r["more"] is False
    run(go())


def test_heartbeats_reach_a_silent_client(ws_stack):
    async def go():
        async with connect(ws_stack) as ws:
            beats = []
            t0 = time.monotonic()
            while len(beats) < 3:
                beats.append(await next_msg(ws, "heartbeat", timeout=2))
            assert time.monotonic() - t0 < 3 * HEARTBEAT_MS / 1000 + 1
            assert all(b["connections"] >= 1 and b["timestamp"].endswith("Z") for b in beats)
    run(go())


# ---- limits and close codes ------------------------------------------------------------------

def test_message_over_limit_closes_1009_and_limit_itself_is_fine(ws_stack):
    async def go(payload):
        async with connect(ws_stack) as ws:
            await ws.send(payload)
            try:
                await next_msg(ws, "pong")
                return "pong"
            except websockets.exceptions.ConnectionClosed as e:
                return e.rcvd.code if e.rcvd else None
    exact = " " * (1024 - len('{"type":"ping"}')) + '{"type":"ping"}'
    assert run(go(exact)) == "pong"
    assert run(go(" " + exact)) == 1009
    # Fragmented: each fragment is small, the message is not.
    assert run(go([" " * 400, " " * 400, " " * 400 + '{"type":"ping"}'])) == 1009


def test_fragmented_message_is_refused_before_it_is_complete(ws_stack):
    s, status, rest = raw_connect(ws_stack.port, {"X-API-Key": ws_stack.api_key})
    assert status == 101
    s.sendall(frame(OP_TEXT, b" " * 600, fin=False) + frame(OP_CONT, b" " * 600, fin=False))
    # No final fragment is ever sent: the close comes from counting, not from reassembly.
    assert read_close_code(s, rest, timeout=5) == 1009
    s.close()


def test_invalid_utf8_closes_1007(ws_stack):
    s, status, rest = raw_connect(ws_stack.port, {"X-API-Key": ws_stack.api_key})
    assert status == 101
    s.sendall(frame(OP_TEXT, b'{"type":"ping","x":"\xc0\xaf"}'))  # overlong "/"
    assert read_close_code(s, rest) == 1007
    s.close()
    s, status, rest = raw_connect(ws_stack.port, {"X-API-Key": ws_stack.api_key})
    s.sendall(frame(OP_TEXT, b'{"type":', fin=False) + frame(OP_CONT, b'"\xed\xa0\x80"}'))
    assert read_close_code(s, rest) == 1007  # a surrogate, split across fragments
    s.close()


def test_too_many_messages_per_second_closes_1008(ws_stack):
    async def go():
        async with connect(ws_stack) as ws:
            for _ in range(11):  # WS_MAX_MSGS_PER_SEC = 10
                await ws.send(json.dumps({"type": "ping"}))
            with pytest.raises(websockets.exceptions.ConnectionClosed) as e:
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            return close_code(e)
    assert run(go()) == 1008


def test_silent_client_is_hung_up_after_web_socket_timeout(ws_stack):
    # The raw client never answers libwebsockets' pings: silent past 5 s, it is closed.
    s, status, rest = raw_connect(ws_stack.port, {"X-API-Key": ws_stack.api_key})
    assert status == 101
    t0 = time.monotonic()
    s.settimeout(1)
    while time.monotonic() - t0 < 12:
        try:
            if not s.recv(65536):
                break
        except socket.timeout:
            pass
    elapsed = time.monotonic() - t0
    s.close()
    assert 4 <= elapsed < 11, elapsed


def test_slow_reader_is_closed_and_never_delays_a_fast_one(ws_stack):
    # The slow reader connects to kw-ws directly: lighttpd would buffer for it, and what is
    # tested here is kw-ws's own bounded queue.
    slow, status, _ = raw_connect(ws_stack.ws_port, {"X-API-Key": ws_stack.api_key},
                                  rcvbuf=4096)
    assert status == 101
    slow.sendall(frame(OP_TEXT, json.dumps({"type": "subscribe",
                                            "channels": ["alerts"]}).encode()))
    # More than the kernel buffers (4 MB on loopback) plus the 256-message queue can hold.
    n, desc = 4000, "x" * 2000

    async def go():
        async with connect(ws_stack, max_queue=None) as fast:
            await subscribe(fast, channels=["alerts"])

            def write():  # one transaction, written beside the clients as kw-fetch would
                con = db(ws_stack)
                ids = [insert_alert(ws_stack, "KXSLOW", description=desc, con=con)
                       for _ in range(n)]
                market_data_written(con)
                con.commit()
                con.close()
                return ids
            ids = await off_loop(write)
            t0 = time.monotonic()
            seen = 0
            while seen < n:
                m = await next_msg(fast, "alert", timeout=5)
                assert m["data"]["id"] == ids[seen]
                seen += 1
            return time.monotonic() - t0
    took = run(go())
    assert took < 10, took
    deadline = time.time() + 5
    while "send queue full" not in ws_stack.log() and time.time() < deadline:
        time.sleep(0.1)
    assert "send queue full" in ws_stack.log()
    slow.close()


def test_status_shows_active_connections(ws_stack):
    def active():
        return ws_stack.get("/api/status").json()["active_connections"]

    def wait_for(n):
        deadline = time.time() + 6
        while time.time() < deadline:
            if active() == n:
                return True
            time.sleep(0.2)
        return False

    assert wait_for(0)

    async def go():
        async with connect(ws_stack), connect(ws_stack), connect(ws_stack):
            assert await asyncio.get_running_loop().run_in_executor(None, wait_for, 3)
    run(go())
    assert wait_for(0)
    with db(ws_stack) as con:
        row = con.execute("SELECT pid, messages_sent, messages_received FROM ws_stats").fetchone()
    assert row[0] == ws_stack.ws_proc.pid and row[1] > 0 and row[2] > 0


@pytest.mark.parametrize("server", WS_SERVERS)
def test_connection_limits_per_address_and_total(tmp_path, server):
    with SERVERS[server](tmp_path, ws=True, settings={"MAX_CONNECTIONS": "3",
                                                      "WS_MAX_PER_IP": "2",
                                                      "JWT_SECRET": SECRET}) as st:
        key = {"X-API-Key": st.api_key}
        socks = []
        for _ in range(2):
            s, status, _ = raw_connect(st.port, key)
            assert status == 101
            socks.append(s)
        # Through the web server the address is the one it appended; a client's own
        # X-Forwarded-For entry does not make it someone else.
        s, status, _ = raw_connect(st.port, dict(key, **{"X-Forwarded-For": "10.9.9.9"}))
        assert status == 429
        s.close()
        # Directly from another loopback address: its own count, but the total is 3.
        s, status, _ = raw_connect(st.ws_port, key, src="127.0.0.2")
        assert status == 101
        socks.append(s)
        s, status, _ = raw_connect(st.ws_port, key, src="127.0.0.3")
        assert status == 503
        s.close()
        for s in socks:
            s.close()
        time.sleep(0.3)
        s, status, _ = raw_connect(st.port, key)  # slots are given back on close
        assert status == 101
        s.close()
        log = st.log()
        assert '"reason":"max_per_ip"' in log and '"reason":"max_connections"' in log


@pytest.mark.parametrize("trusted", ["", "127.0.0.0/8"])
def test_forwarded_for_is_believed_only_from_trusted_proxies(tmp_path, trusted):
    with Stack(tmp_path, ws=True, settings={"WS_MAX_PER_IP": "1", "JWT_SECRET": SECRET,
                                            "TRUSTED_PROXIES": trusted}) as st:
        key = {"X-API-Key": st.api_key}
        # Straight to kw-ws from loopback: a client's header over 512 bytes included.
        pad = "203.0.113.66, " * 60
        a, status, _ = raw_connect(st.ws_port, dict(key, **{"X-Forwarded-For": pad + "10.9.9.1"}))
        assert status == 101
        b, status, _ = raw_connect(st.ws_port, dict(key, **{"X-Forwarded-For": pad + "10.9.9.2"}))
        # Untrusted, the loopback peer is the client both times (one per address); trusted,
        # the last entry (what the proxy appended) is, read past the client's long prefix.
        assert status == (101 if trusted else 429)
        c, status, _ = raw_connect(st.ws_port, dict(key, **{"X-Forwarded-For": "10.9.9.3"}))
        assert status == (101 if trusted else 429)
        d, status, _ = raw_connect(st.ws_port, dict(key, **{"X-Forwarded-For": "10.9.9.4, x"}))
        assert status == (400 if trusted else 429)
        for s in (a, b, c, d):
            s.close()


def test_sigterm_closes_every_client_with_1001(tmp_path):
    with Stack(tmp_path, ws=True, settings={"JWT_SECRET": SECRET}) as st:
        async def go():
            async with connect(st, origin=None) as a, connect(st, origin=None) as b:
                loop = asyncio.get_running_loop()
                rc = loop.run_in_executor(None, st.stop_ws)
                codes = []
                for ws in (a, b):
                    with pytest.raises(websockets.exceptions.ConnectionClosed) as e:
                        while True:
                            await asyncio.wait_for(ws.recv(), 5)
                    codes.append(close_code(e))
                return codes, await rc
        codes, rc = run(go())
        assert codes == [1001, 1001]
        assert rc == 0
        with db(st) as con:
            assert con.execute("SELECT connections FROM ws_stats").fetchone()[0] == 0


def test_systemd_unit_verifies_and_is_hardened(tmp_path):
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "systemd",
                           "kalshiwhale-ws.service")) as f:
        unit = f.read()
    for option in ("Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict",
                   "ReadWritePaths=/var/lib/kalshiwhale", "PrivateTmp=yes",
                   "RestartPreventExitStatus=78", "LimitNOFILE="):
        assert option in unit
    path = tmp_path / "kalshiwhale-ws.service"
    path.write_text(unit.replace("/usr/local/bin/kw-ws", os.path.join(BUILD, "kw-ws")))
    r = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_unix_socket_mode_trusts_the_proxy_address_and_limits_by_it(tmp_path):
    sock = str(tmp_path / "kw-ws.sock")
    key = "kw_unix_" + "k" * 40
    env = dict(os.environ)
    env.pop("KW_ENV_FILE", None)
    env.update(db_settings(tmp_path / "db.sqlite"))
    env.update({"JWT_SECRET": SECRET,
                "API_KEY": key, "WS_SOCKET": sock, "WS_MAX_PER_IP": "1"})
    log = open(tmp_path / "kw-ws.log", "ab")
    proc = subprocess.Popen([os.path.join(BUILD, "kw-ws")], env=env, stdout=subprocess.DEVNULL,
                            stderr=log)
    try:
        deadline = time.time() + 10
        while not os.path.exists(sock) and time.time() < deadline:
            time.sleep(0.05)
        assert oct(os.stat(sock).st_mode & 0o777) == "0o660"

        def client(addr):
            return websockets.unix_connect(sock, "ws://localhost/ws", compression=None,
                                           extra_headers={"X-API-Key": key,
                                                          "X-Forwarded-For": addr})

        async def go():
            async with client("203.0.113.7") as ws:
                assert json.loads(await ws.recv())["type"] == "initial_data"
                async with client("203.0.113.8") as other:  # another client address
                    assert json.loads(await other.recv())["type"] == "initial_data"
                with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
                    async with client("203.0.113.7"):
                        pass
                return e.value.status_code
        assert run(go()) == 429
    finally:
        proc.send_signal(2)
        assert proc.wait(timeout=10) == 0
        log.close()
    text = open(tmp_path / "kw-ws.log").read()
    assert '"reason":"max_per_ip","client":"203.0.113.7"' in text
