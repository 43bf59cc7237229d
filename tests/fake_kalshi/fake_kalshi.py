"""fake_kalshi — a fake Kalshi Trade API v2 for kw-fetch's tests, on 127.0.0.1 only.

Serves the public market-data endpoints kw-fetch uses, schema-faithful to
docs/KALSHI.md: GET /markets, /markets/trades,
/markets/{ticker}/orderbook, /events, /events/{ticker}, /series, /series/{ticker}, under
/trade-api/v2. Pagination uses opaque cursors; it can start with an empty page that still has
a cursor, and end with "", null or no cursor at all. Payloads are whatever dicts the test gives
(helpers below build current and legacy shapes).

Faults, per path ("/markets" exactly, or a prefix ending in "*") and for a number of requests
(times=-1: every request) (FakeKalshi.fault() in-process, or
POST /_control {"fault": {...}} from another process):
  429s / 429o   429 with the documented string body / the observed object body
  500 / 503     server errors with an error object
  401           an authentication error (Kalshi's docs once required auth for order books)
  404           not found
  stuck         a 200 empty page whose cursor never changes
  slow          sleep `seconds` before answering (past the client's timeout)
  truncated     a 200 whose JSON is cut in half
  envelope      a 200 whose list key holds an object instead of an array
  oversize      a 200 body of `size` bytes (default 33 MiB) — gzip-compressed when the client
                accepts it, so the cap must hold on the decoded size
  redirect      301 to the same path (as Kalshi does for trailing slashes)
  drop          close the connection without an answer
A path ending in "/" always gets the 301 Kalshi sends for trailing slashes.
Every request is logged (path, query, headers) for assertions.

Run standalone: python3 fake_kalshi.py PORT  (serves a small built-in data set).
"""
import base64
import calendar
import gzip
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/trade-api/v2"


# ---- payload builders (current schema, with legacy variants) ---------------------------------

def market(ticker, event, yes_bid="0.4100", yes_ask="0.4300", last="0.4200",
           volume="18342.00", volume_24h="9120.00", oi="7410.25", status="active",
           yes_bid_size="250.00", yes_ask_size="118.50", title=None, **extra):
    def comp(p):
        return "%.4f" % (1 - float(p)) if p is not None else None
    m = {
        "ticker": ticker, "event_ticker": event, "market_type": "binary",
        "title": title if title is not None else "Will %s happen?" % ticker,
        "subtitle": "", "yes_sub_title": "Yes side", "no_sub_title": "No side",
        "created_time": "2025-12-30T22:00:03.51Z", "updated_time": "2025-12-30T22:00:03.51Z",
        "open_time": "2025-12-30T22:00:00Z", "close_time": "2026-12-31T22:00:00Z",
        "expected_expiration_time": "2026-12-31T22:05:00Z",
        "latest_expiration_time": "2027-01-07T22:00:00Z", "settlement_timer_seconds": 60,
        "status": status,
        "yes_bid_dollars": yes_bid, "yes_bid_size_fp": yes_bid_size,
        "yes_ask_dollars": yes_ask, "yes_ask_size_fp": yes_ask_size,
        "no_bid_dollars": comp(yes_ask), "no_ask_dollars": comp(yes_bid),
        "last_price_dollars": last, "previous_yes_bid_dollars": "0.3800",
        "previous_yes_ask_dollars": "0.4000", "previous_price_dollars": "0.3900",
        "volume_fp": volume, "volume_24h_fp": volume_24h, "open_interest_fp": oi,
        "notional_value_dollars": "1.0000", "liquidity_dollars": "0.0000", "result": "",
        "can_close_early": False, "expiration_value": "", "strike_type": "greater",
        "floor_strike": 104999.99, "rules_primary": "Resolves Yes if it happens.",
        "rules_secondary": "", "price_level_structure": "linear_cent",
        "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
        "settlement_bounds_type": "default", "occurrence_datetime": None, "exchange_index": 0,
    }
    m.update(extra)
    return m


def legacy_market(ticker, event, yes_bid=41, yes_ask=43, last=42, volume=18342,
                  volume_24h=9120, oi=7410, category="Crypto", status="active"):
    """A 2025-style market: cents and integer counts only."""
    return {
        "ticker": ticker, "event_ticker": event, "market_type": "binary",
        "title": "Legacy %s" % ticker, "subtitle": "", "yes_sub_title": "Y",
        "no_sub_title": "N", "open_time": "2025-01-01T00:00:00Z",
        "close_time": "2026-12-31T00:00:00Z", "status": status,
        "yes_bid": yes_bid, "yes_ask": yes_ask, "no_bid": 100 - yes_ask,
        "no_ask": 100 - yes_bid, "last_price": last, "previous_price": 39,
        "volume": volume, "volume_24h": volume_24h, "open_interest": oi, "liquidity": 0,
        "notional_value": 100, "tick_size": 1, "response_price_units": "usd_cent",
        "category": category,
    }


def ts(unix, frac=""):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(unix)) + frac + "Z"


def trade(trade_id, ticker, count="25.00", yes="0.4200", side="yes", created=None,
          block=False):
    no = "%.4f" % (1 - float(yes))
    return {
        "trade_id": trade_id, "ticker": ticker, "count_fp": count,
        "yes_price_dollars": yes, "no_price_dollars": no, "taker_side": side,
        "taker_outcome_side": side, "taker_book_side": "bid" if side == "yes" else "ask",
        "created_time": created or ts(time.time()), "is_block_trade": block,
    }


def legacy_trade(trade_id, ticker, count=25, yes=42, side="yes", created=None):
    return {
        "trade_id": trade_id, "ticker": ticker, "count": count, "yes_price": yes,
        "no_price": 100 - yes, "price": yes / 100.0, "taker_side": side,
        "created_time": created or ts(time.time()),
    }


def event(event_ticker, series_ticker, category="", title=None):
    return {
        "event_ticker": event_ticker, "series_ticker": series_ticker,
        "title": title or "Event %s" % event_ticker, "sub_title": "",
        "collateral_return_type": "MECNET", "mutually_exclusive": True, "category": category,
        "settlement_sources": [], "last_updated_ts": "2025-12-30T15:02:11.2Z",
        "exchange_index": 0,
    }


def series(ticker, category, title=None, frequency="daily"):
    return {
        "ticker": ticker, "title": title or "Series %s" % ticker, "frequency": frequency,
        "category": category, "categories": [category], "tags": [], "settlement_sources": [],
        "contract_url": "https://kalshi.example/c.pdf",
        "contract_terms_url": "https://kalshi.example/t.pdf", "fee_type": "quadratic",
        "fee_multiplier": 1, "additional_prohibitions": [], "exchange_index": 0,
    }


def book(yes=(), no=()):
    """Current-shape order book from [(price_str, count_str), ...] ascending."""
    return {"orderbook_fp": {"yes_dollars": [list(x) for x in yes],
                             "no_dollars": [list(x) for x in no]}}


# ---- the server ------------------------------------------------------------------------------

def _cursor(offset):
    return base64.urlsafe_b64encode(("o:%d" % offset).encode()).decode().rstrip("=")


def _offset(cursor):
    if cursor == "EMPTYPAGE":
        return 0
    pad = "=" * (-len(cursor) % 4)
    return int(base64.urlsafe_b64decode(cursor + pad).decode().split(":")[1])


class FakeKalshi:
    """In-process fake; start() picks a free port on 127.0.0.1."""

    def __init__(self, markets=(), trades=(), events=(), series_list=(), books=None,
                 page_size=2, end_cursor="", empty_first_page=False, delay=0.0):
        self.markets = list(markets)
        self.trades = list(trades)  # any order; served newest first
        self.events = list(events)
        self.series = list(series_list)
        self.books = dict(books or {})
        self.page_size = page_size
        self.end_cursor = end_cursor  # "", None (null) or "missing"
        self.empty_first_page = empty_first_page
        self.delay = delay  # seconds added to every answer (kill -9 tests)
        self.faults = []
        self.requests = []
        self.lock = threading.Lock()
        self.httpd = None

    # -- control
    def fault(self, path, kind, times=1, **kw):
        with self.lock:
            self.faults.append(dict(path=path, kind=kind, times=times, **kw))

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def take_fault(self, path):
        with self.lock:
            for f in self.faults:
                p = f["path"]
                hit = path.startswith(p[:-1]) if p.endswith("*") else path == p
                if hit and f["times"] != 0:
                    if f["times"] > 0:
                        f["times"] -= 1
                    return dict(f)
        return None

    def paths(self, prefix=""):
        with self.lock:
            return [r["path"] for r in self.requests if r["path"].startswith(prefix)]

    @property
    def base(self):
        return "http://127.0.0.1:%d%s" % (self.port, PREFIX)

    def start(self):
        fake = self

        class Handler(_Handler):
            pass
        Handler.fake = fake
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- pagination
    def page(self, key, items, q):
        cursor = q.get("cursor")
        limit = min(int(q.get("limit", 100)), 1000)
        size = min(limit, self.page_size)
        if cursor is None and self.empty_first_page:
            return {key: [], "cursor": "EMPTYPAGE"}
        off = _offset(cursor) if cursor else 0
        chunk = items[off:off + size]
        body = {key: chunk}
        if off + size < len(items):
            body["cursor"] = _cursor(off + size)
        elif self.end_cursor != "missing":
            body["cursor"] = self.end_cursor
        return body


class _Handler(BaseHTTPRequestHandler):
    fake = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj, raw=None, extra_headers=()):
        data = raw if raw is not None else json.dumps(obj).encode()
        if "gzip" in (self.headers.get("Accept-Encoding") or ""):
            data = gzip.compress(data, 1)
            extra_headers = list(extra_headers) + [("Content-Encoding", "gzip")]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        if self.path != "/_control":
            return self.send_json(404, {"error": {"code": "not_found", "message": "not found"}})
        n = int(self.headers.get("Content-Length", "0"))
        cmd = json.loads(self.rfile.read(n) or b"{}")
        if "fault" in cmd:
            self.fake.fault(**cmd["fault"])
        if cmd.get("clear"):
            self.fake.clear_faults()
        self.send_json(200, {"ok": True})

    def do_GET(self):
        f = self.fake
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        with f.lock:
            f.requests.append({"path": url.path, "query": q, "headers": dict(self.headers),
                               "at": time.monotonic()})
        if url.path.endswith("/"):
            return self.send_json(301, {}, raw=b"", extra_headers=[
                ("Location", url.path.rstrip("/"))])
        if not url.path.startswith(PREFIX):
            return self.send_json(404, {"error": {"code": "not_found", "message": "not found"}})
        path = url.path[len(PREFIX):]
        if f.delay:
            time.sleep(f.delay)
        fault = f.take_fault(path)
        body = None
        if fault:
            k = fault["kind"]
            if k == "429s":
                return self.send_json(429, {"error": "too many requests"})
            if k == "429o":
                return self.send_json(429, {"error": {"code": "too_many_requests",
                                                      "message": "too many requests"}})
            if k in ("500", "503"):
                return self.send_json(int(k), {"error": {"code": "internal_error",
                                                         "message": "upstream failure %s" % k,
                                                         "service": "exchange"}})
            if k == "401":
                return self.send_json(401, {"error": {"code": "missing_parameters",
                                                      "message": "authentication required"}})
            if k == "stuck":
                return self.send_json(200, {"markets": [], "trades": [], "cursor": "STUCK"})
            if k == "404":
                return self.send_json(404, {"error": {"code": "not_found",
                                                      "message": "not found"}})
            if k == "redirect":
                return self.send_json(301, {}, raw=b"", extra_headers=[
                    ("Location", PREFIX + path + "/")])
            if k == "drop":
                self.close_connection = True
                return
            if k == "slow":
                time.sleep(fault.get("seconds", 3))
            if k == "oversize":
                size = fault.get("size", 33 << 20)
                raw = b'{"markets":[],"cursor":"","pad":"' + b"x" * size + b'"}'
                return self.send_json(200, None, raw=raw)
        body = self.route(path, q)
        if body is None:
            return self.send_json(404, {"error": {"code": "not_found", "message": "not found"}})
        if fault and fault["kind"] == "envelope":
            for key in ("markets", "trades", "events", "series"):
                if key in body:
                    body[key] = {"not": "an array"}
        raw = json.dumps(body).encode()
        if fault and fault["kind"] == "truncated":
            raw = raw[:max(1, len(raw) // 2)]
        self.send_json(200, None, raw=raw)

    def route(self, path, q):
        f = self.fake
        parts = path.strip("/").split("/")
        with f.lock:
            if path == "/markets":
                items = f.markets
                if q.get("mve_filter") == "exclude":
                    items = [m for m in items if not isinstance(m, dict) or
                             not str(m.get("ticker")).startswith("KXMVE")]
                if q.get("status") == "open":
                    items = [m for m in items if not isinstance(m, dict) or
                             m.get("status") in ("active", "open")]
                return f.page("markets", items, q)
            if path == "/markets/trades":
                items = sorted(f.trades, key=lambda t: str(t.get("created_time", "")),
                               reverse=True)
                if "min_ts" in q:
                    lo = int(q["min_ts"])
                    items = [t for t in items
                             if _unix(t.get("created_time")) is None or
                             _unix(t["created_time"]) >= lo]
                return f.page("trades", items, q)
            if len(parts) == 3 and parts[0] == "markets" and parts[2] == "orderbook":
                return f.books.get(parts[1], {"orderbook_fp": {"yes_dollars": [],
                                                               "no_dollars": []}})
            if path == "/events":
                return f.page("events", f.events, q)
            if len(parts) == 2 and parts[0] == "events":
                for e in f.events:
                    if e.get("event_ticker") == parts[1]:
                        return {"event": e, "markets": []}
                return None
            if path == "/series":
                return {"series": f.series}
            if len(parts) == 2 and parts[0] == "series":
                for s in f.series:
                    if s.get("ticker") == parts[1]:
                        return {"series": s}
                return None
        return None


def _unix(created):
    if not isinstance(created, str) or len(created) < 19:
        return None
    try:
        return calendar.timegm(time.strptime(created[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    now = int(time.time())
    fk = FakeKalshi(
        markets=[market("KXBTCD-25DEC3117-T104999.99", "KXBTCD-25DEC3117")],
        trades=[trade("6f1c2a8e-5b0d-5e2f-9a4c-3d7e8b1f0a92", "KXBTCD-25DEC3117-T104999.99",
                      created=ts(now - 60))],
        events=[event("KXBTCD-25DEC3117", "KXBTCD")],
        series_list=[series("KXBTCD", "Crypto")])
    fk.httpd = None
    Handler = type("Handler", (_Handler,), {"fake": fk})
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("fake Kalshi on http://127.0.0.1:%d%s" % (srv.server_address[1], PREFIX), flush=True)
    srv.serve_forever()
