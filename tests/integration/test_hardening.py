"""Hardening against hostile upstream data and a hostile host, end to end: the real kw-fetch
reads a fake Kalshi (tests/fake_kalshi) into a stack's database, detection runs inside the
fetch run, and the answers come out of the real kw-api behind lighttpd.

Covered: a market title that is a spreadsheet formula leaves a CSV export neutralised while the
numeric columns stay numbers; maximum-size order books (1000 levels of the largest count on a
side) give exact shares in the API and in order_book_shift alerts, never wrapped ones (under
`make SANITIZE=address,undefined` an overflow aborts the worker); files the programs create are
not world-readable, and the limiter table is never opened through a symlink."""
import csv
import io
import os
import stat
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from kwstack import BUILD, TOP, Stack, db_settings, sanitizer_env, sqlite_only

sys.path.insert(0, os.path.join(TOP, "tests", "fake_kalshi"))
import fake_kalshi as fk  # noqa: E402

API_KEY = "kw_hardening_" + "Q7w8E9r0" * 5
HEADERS = {"X-API-Key": API_KEY}
FORMULA = "-2+3+cmd|' /C calc'!A0"
TICKER = "KXEVIL-26DEC31-T1"
MAX_COUNT = "10000000000.00"  # KW_KALSHI_COUNT_CENTI_MAX: the largest count kw-fetch accepts


def side(levels):
    """levels price levels of the largest count, prices 0.000001 apart (ascending)."""
    return [("%.6f" % ((i + 1) / 1e6), MAX_COUNT) for i in range(levels)]


def fetch(stack, fake):
    env = dict(os.environ, KW_ENV_FILE=stack.env_file, KALSHI_API_BASE=fake.base,
               KALSHI_MAX_RPS="100", KALSHI_TIMEOUT_SECONDS="5", KW_FETCH_BACKOFF_MS="5")
    env.update(sanitizer_env(stack.dir))
    p = subprocess.run([os.path.join(BUILD, "kw-fetch"), "--once"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stderr


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    now = int(time.time())
    fake = fk.FakeKalshi(
        markets=[fk.market(TICKER, "KXEVIL-26DEC31", title=FORMULA, volume_24h="90000.00")],
        trades=[fk.trade("evil-1", TICKER, count="50000.00", yes="0.4200", side="yes",
                         created=fk.ts(now - 60))],
        events=[fk.event("KXEVIL-26DEC31", "KXEVIL")],
        series_list=[fk.series("KXEVIL", "Politics")],
        books={TICKER: fk.book(side(100), side(1000))}, page_size=50)
    fake.start()
    s = Stack(tmp_path_factory.mktemp("hard"), settings={
        "API_KEY": API_KEY, "RATE_LIMIT_PER_MINUTE": "100000",
        "WHALE_MIN_NOTIONAL_USD": "1000", "ORDERBOOK_CHANGE_PERCENT": "20"}, workers=2)
    s.start()
    s.fake = fake
    s.first = fetch(s, fake)
    yield s
    s.stop()
    fake.stop()


def market_book(stack):
    r = stack.get("/api/v1/markets/" + TICKER, headers=HEADERS)
    assert r.status_code == 200, r.text
    return r.json(parse_float=Decimal)["data"]["orderbook"]


# ---- CSV exports ---------------------------------------------------------------------------

def test_formula_title_from_upstream_is_neutralised_in_csv(upstream):
    r = upstream.get("/api/v1/whales?format=csv", headers=HEADERS)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    recs = list(csv.DictReader(io.StringIO(r.text)))
    evil = [x for x in recs if x["ticker"] == TICKER]
    assert len(evil) == 1
    assert evil[0]["title"] == "'" + FORMULA
    # Numbers stay numbers: a spreadsheet must still be able to sum them.
    assert Decimal(evil[0]["notional_usd"]) == Decimal("21000")
    assert Decimal(evil[0]["count_contracts"]) == Decimal("50000")
    assert not evil[0]["id"].startswith("'")


# ---- order-book arithmetic -----------------------------------------------------------------

def test_maximum_size_books_give_exact_shares(upstream):
    ob = market_book(upstream)
    assert ob["yes_levels"] == 100 and ob["no_levels"] == 1000
    # 10^14 / 1.1 * 10^15 = 9.09 %
    assert ob["yes_share_percent"] == Decimal("9.09")
    # Then the book turns over: 1000 levels of the largest count on YES (a depth of 10^15
    # contracts x 100, whose x 10000 does not fit in 64 bits).
    upstream.fake.books[TICKER] = fk.book(side(1000), side(100))
    time.sleep(1.1)  # the next snapshot is taken at a later second
    fetch(upstream, upstream.fake)
    ob = market_book(upstream)
    assert ob["yes_levels"] == 1000
    assert ob["yes_share_percent"] == Decimal("90.9")
    r = upstream.get("/api/v1/alerts?type=order_book_shift", headers=HEADERS)
    assert r.status_code == 200, r.text
    shifts = [a for a in r.json(parse_float=Decimal)["data"] if a["ticker"] == TICKER]
    assert len(shifts) == 1
    d = shifts[0]["data"]
    assert d["metric"] == "imbalance" and d["direction"] == "up"
    assert d["current_value"] == Decimal("90.9") and d["previous_value"] == Decimal("9.09")


# ---- files ---------------------------------------------------------------------------------

def admin(db, *args):
    env = dict(os.environ, KW_ENV_FILE=os.devnull, **db_settings(db))
    return subprocess.run([os.path.join(BUILD, "kw-admin")] + list(args), env=env,
                          capture_output=True, text=True, timeout=60)


def api_check(db):
    env = dict(os.environ, KW_ENV_FILE=os.devnull, **db_settings(db))
    return subprocess.run([os.path.join(BUILD, "kw-api"), "--check-config"], env=env,
                          capture_output=True, text=True, timeout=60)


def others_may(path):
    return stat.S_IMODE(os.stat(path).st_mode) & 0o007


@sqlite_only("modes of the database file and its -wal/-shm companions; PostgreSQL keeps its"
             " files in its own data directory, closed to others")
def test_what_the_programs_create_is_not_world_readable(upstream, tmp_path):
    # The stack's database, written by kw-api workers and kw-fetch, and the limiter table.
    for suffix in ("", "-wal", "-shm", "-rl.shm"):
        assert others_may(upstream.db + suffix) == 0, suffix
    # A database created by kw-admin, whatever umask it was started with.
    db = tmp_path / "new.db"
    r = subprocess.run(["sh", "-c", 'umask 000 && exec "$0" db migrate',
                        os.path.join(BUILD, "kw-admin")],
                       env=dict(os.environ, DATABASE_PATH=str(db), KW_ENV_FILE=os.devnull),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert others_may(db) == 0
    # One an older release left world-readable is closed the next time it is opened.
    os.chmod(db, 0o644)
    assert admin(db, "db", "migrate").returncode == 0
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o640


def test_limiter_table_is_never_opened_through_a_symlink(tmp_path):
    db = tmp_path / "kw.db"
    assert admin(db, "db", "migrate").returncode == 0
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    os.symlink(victim, str(db) + "-rl.shm")
    r = api_check(db)
    assert r.returncode != 0
    assert "symbolic link" in r.stderr
    assert victim.read_text() == "precious\n"
    # Nor a regular file that others may write (they could set any limit or block).
    os.unlink(str(db) + "-rl.shm")
    rl = str(db) + "-rl.shm"
    open(rl, "w").close()
    os.chmod(rl, 0o666)
    r = api_check(db)
    assert r.returncode != 0 and "writable by no one else" in r.stderr
    os.unlink(rl)
    r = api_check(db)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(rl).st_mode) == 0o600
