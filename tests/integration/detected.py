"""detected — alerts for a test stack, made the way production makes them.

A fake Kalshi (tests/fake_kalshi) serves markets and trades; the real kw-fetch fetches them
into the stack's database and its detection raises the alerts. Tests that need alerts on the
WebSocket, the dashboard or the webhooks get them from here instead of writing alert rows.

    src = Detected(stack)                     # starts a fake Kalshi
    ids = src.whales("KXBTC-1", 6000, n=3)    # three $6,000 whale trades -> three alert ids
    src.stop()
"""
import itertools
import os
import subprocess
import sys
import time

from kwstack import BUILD, TOP

sys.path.insert(0, os.path.join(TOP, "tests", "fake_kalshi"))
import fake_kalshi as fk  # noqa: E402

CATEGORY_SERIES = {"Crypto": "KXBTCD", "Politics": "KXPRES", "Sports": "KXNFL",
                   "Economics": "KXGDP"}
_ids = itertools.count(1)


class Detected:
    def __init__(self, stack, env=None, series=None):
        """series: category -> series ticker the fake lists (CATEGORY_SERIES by default);
        a market of category C is listed under event series[C] + "-EV"."""
        self.stack = stack
        self.env = dict(env or {})
        self.series = dict(series or CATEGORY_SERIES)
        self.fake = fk.FakeKalshi(
            page_size=1000,
            series_list=[fk.series(s, c) for c, s in self.series.items()],
            events=[fk.event(s + "-EV", s) for s in self.series.values()]).start()
        self.known = set()
        self.last = None

    def stop(self):
        self.fake.stop()

    def _market(self, ticker, category, title=None):
        if ticker not in self.known:
            self.fake.markets.append(fk.market(ticker, self.series[category] + "-EV",
                                               last="0.5000", title=title))
            self.known.add(ticker)

    def max_id(self):
        with self.stack.sql() as db:
            return db.execute("SELECT coalesce(max(id), 0) FROM alerts").fetchone()[0]

    def run(self, ticker=None):
        """One kw-fetch run against the fake; returns the ids of the alerts it raised (on
        ticker only, when given: trades other tests wrote are detected in the same run)."""
        before = self.max_id()
        env = dict(os.environ, KW_ENV_FILE=self.stack.env_file, KALSHI_API_BASE=self.fake.base,
                   KALSHI_MAX_RPS="100", KW_FETCH_BACKOFF_MS="5", **self.env)
        p = subprocess.run([os.path.join(BUILD, "kw-fetch"), "--once"], env=env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        self.last = p  # the run's exit status and log, for tests that read them
        with self.stack.sql() as db:
            return [r[0] for r in db.execute(
                "SELECT id FROM alerts WHERE id > ? AND (?2 IS NULL OR ticker = ?2) ORDER BY id",
                (before, ticker))]

    def add_whales(self, ticker, usd, n=1, category="Crypto", title=None):
        """Queue n trades of usd taker premium each (at $0.50 a contract) on ticker (a new
        market gets title, as Kalshi's text)."""
        self._market(ticker, category, title)
        now = time.time()
        for i in range(n):
            self.fake.trades.append(fk.trade(
                "det-%d" % next(_ids), ticker, count="%.2f" % (usd * 2), yes="0.5000",
                created=fk.ts(now - 30, ".%06d" % i)))

    def whales(self, ticker, usd, n=1, category="Crypto", title=None):
        """n whale trades on ticker, fetched and detected: the new alert ids, oldest first."""
        self.add_whales(ticker, usd, n, category, title)
        return self.run(ticker)
