"""Whale detection end to end: the real kw-fetch replays the bundled sample (deploy/sample, what
`make demo` loads) into a stack's database, detection runs inside the fetch run, and the alerts
come out of the real kw-api. The thresholds and the per-signal arithmetic are tested on crafted
histories in tests/unit/test_whale.c; here: every signal type appears, re-running adds nothing,
and the settings reach detection through kw-fetch."""
import json
import os
import re
import subprocess

import pytest

import apiseed
from apiseed import HEADERS
from kwstack import BUILD, TOP, Stack

SAMPLE = os.path.join(TOP, "deploy", "sample")
GOLDEN = os.path.join(TOP, "tests", "fixtures", "demo-alerts.txt")
TYPES = ["whale_trade", "volume_surge", "odds_flip", "order_book_shift", "high_volume"]


def replay(stack, *extra):
    env = dict(os.environ, KW_ENV_FILE=stack.env_file)
    p = subprocess.run([os.path.join(BUILD, "kw-fetch"), "--replay", SAMPLE] + list(extra),
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stderr


def alerts(stack, query=""):
    r = stack.get("/api/v1/alerts?limit=200" + query, headers=HEADERS)
    assert r.status_code == 200, r.text
    return r.json()["data"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("detect"), settings=apiseed.SETTINGS, workers=1)
    s.start()
    s.first_log = replay(s)
    yield s
    s.stop()


def test_sample_raises_every_signal_type(demo):
    assert "detect:" in demo.first_log  # detection ran inside the fetch run
    for t in TYPES:
        got = alerts(demo, "&type=" + t)
        assert got, "the bundled sample raised no %s alert" % t
        for a in got:
            assert a["type"] == t and a["severity"] in ("high", "medium")
            assert 0.5 <= a["confidence"] <= 1
            assert "thresholds" in a["data"] and "current_value" in a["data"]
            assert a["description"]


def test_replaying_again_adds_nothing(demo):
    before = alerts(demo, "&since_id=0")
    with demo.sql() as db:
        n_before = db.execute("SELECT count(*) FROM alerts").fetchone()[0]
        trades_before = db.execute("SELECT count(*) FROM trades").fetchone()[0]
        keys = db.execute("SELECT count(DISTINCT alert_key) FROM alerts").fetchone()[0]
    assert keys == n_before == len(before)
    # The same recording under the same shift (the first replay logged it): a second later,
    # "the last run is now" would be another shift, and trades at other times are other rows.
    shift = re.search(r"replay: recorded times shifted by (-?\d+) s", demo.first_log).group(1)
    second = replay(demo, "--replay-shift", shift)
    assert "shifted by %s s" % shift in second
    with demo.sql() as db:
        assert db.execute("SELECT count(*) FROM trades").fetchone()[0] == trades_before
        added = db.execute("SELECT alert_key, type, ticker, description FROM alerts"
                           " ORDER BY id").fetchall()[n_before:]
    assert not added, added
    # A client resuming after the last id it saw gets nothing new.
    assert alerts(demo, "&since_id=%d" % before[-1]["id"]) == []


def test_alerts_are_recorded_with_the_thresholds_in_force(demo):
    for a in alerts(demo, "&type=whale_trade"):
        th = a["data"]["thresholds"]
        cat = (a["category"] or "").lower()
        assert th["min_notional_usd"] == apiseed.whale_threshold(cat) // 1000000
        assert a["data"]["notional_usd"] >= th["min_notional_usd"]
    for a in alerts(demo, "&type=odds_flip"):
        assert abs(a["data"]["change_points"]) >= 15
        assert a["data"]["thresholds"]["odds_change_points"] == 15


def test_settings_reach_detection(tmp_path):
    """With thresholds no sample trade reaches, the same replay raises no whale or volume
    signal: the values come from the settings, not from constants."""
    settings = dict(apiseed.SETTINGS, WHALE_MIN_NOTIONAL_USD="1000000000",
                    WHALE_MIN_NOTIONAL_BY_CATEGORY="", HIGH_VOLUME_USD="1000000000000",
                    SURGE_MIN_NOTIONAL_USD="1000000000", ODDS_CHANGE_POINTS="100",
                    ORDERBOOK_CHANGE_PERCENT="1000")
    with Stack(tmp_path, settings=settings, workers=1) as s:
        replay(s)
        assert alerts(s) == []
        with s.sql() as db:
            assert db.execute("SELECT count(*) FROM trades").fetchone()[0] > 0


def golden_line(a):
    """One alert as the golden file holds it: what fired, where, how strongly, by how much."""
    d = a["data"]
    keys = {
        "whale_trade": ("trade_id", "notional_usd", "taker_side"),
        "volume_surge": ("current_value", "growth_multiple", "window_trades",
                         "trailing_24h_trades"),
        "odds_flip": ("previous_value", "current_value", "change_points"),
        "order_book_shift": ("reason", "previous_value", "current_value", "change_percent"),
        "high_volume": ("day", "volume_24h_usd", "trades_24h"),
    }[a["type"]]
    return " ".join([a["type"], a["ticker"], a["severity"], "%.2f" % a["confidence"]] +
                    ["%s=%s" % (k, json.dumps(d.get(k))) for k in keys])


def test_demo_alerts_match_the_golden_file(tmp_path):
    """The alerts `make demo` shows, from the bundled sample at its recorded times (so that
    the surge windows fall where they fell), with the default settings: any change in what
    fires, or in its key numbers, shows up in review as a change to
    tests/fixtures/demo-alerts.txt (KW_UPDATE_GOLDEN=1 rewrites it)."""
    with Stack(tmp_path, settings={"API_KEY": apiseed.API_KEY}, workers=1) as s:
        replay(s, "--replay-keep-time")
        got = [golden_line(a) for a in alerts(s, "&since_id=0")]
    if os.environ.get("KW_UPDATE_GOLDEN"):
        with open(GOLDEN, "w") as f:
            f.write("# tests/integration/test_detection.py: the alerts of deploy/sample with the"
                    " default settings\n")
            f.write("\n".join(got) + "\n")
    with open(GOLDEN) as f:
        want = [line.rstrip("\n") for line in f if not line.startswith("#")]
    assert got == want
