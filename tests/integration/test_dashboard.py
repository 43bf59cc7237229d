"""The dashboard (deploy/www) in a real headless Chromium (python3-selenium + chromium-driver),
served by the real lighttpd with the real kw-api workers and kw-ws: the key is asked for once
and kept in sessionStorage, a whale alert inserted into the store appears in the live feed
within 2 s, Kalshi text is shown as text (never parsed as HTML), the other pages show what the
API answers, and the browser log holds no error and no Content-Security-Policy violation.

Screenshots of every page (desktop and phone width) are saved as test artifacts in $KW_ARTIFACTS
(default: a temporary directory, printed)."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import contract
from detected import Detected
from kwstack import BUILD, TOP, ApacheStack, Stack

TICKER = "KXBTCD-26JAN1017-T98999.99"
CHROME_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,1000"]


@pytest.fixture(scope="module")
def artifacts():
    d = os.environ.get("KW_ARTIFACTS") or tempfile.mkdtemp(prefix="kw-dashboard-")
    d = os.path.join(d, "dashboard") if os.environ.get("KW_ARTIFACTS") else d
    os.makedirs(d, exist_ok=True)
    print("\ndashboard screenshots: %s" % d)
    return d


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("dash"), workers=2, ws=True,
              settings={"METRICS_FLUSH_SECONDS": "1", "WHALE_MIN_NOTIONAL_USD": "1000"})
    # The page's own origin: fetch() sends it on POST and the WebSocket handshake always does.
    s.settings["ALLOWED_ORIGINS"] = s.base
    s.start()
    env = dict(os.environ, KW_ENV_FILE=s.env_file)
    p = subprocess.run([os.path.join(BUILD, "kw-fetch"), "--replay",
                        os.path.join(TOP, "deploy", "sample")], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chrome-profile")
    o = webdriver.ChromeOptions()
    o.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in CHROME_FLAGS + ["--user-data-dir=%s" % profile]:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                         options=o)
    d.set_page_load_timeout(20)
    d.kw_log = []
    yield d
    d.quit()


def drain_log(d):
    d.kw_log.extend(d.get_log("browser"))
    return d.kw_log


def wait(d, cond, timeout=10, poll=0.05):
    # A page that re-renders (sorting, refresh) can replace an element between find and read.
    return WebDriverWait(d, timeout, poll_frequency=poll,
                         ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda drv: cond())


def shot(d, artifacts, name, full=True):
    if full:
        h = d.execute_script("return document.documentElement.scrollHeight")
        d.set_window_size(1280, min(max(h + 120, 800), 6000))
    path = os.path.join(artifacts, name + ".png")
    assert d.save_screenshot(path)
    d.set_window_size(1280, 1000)
    return path


def api(site, path):
    r = site.get(path)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def source(site):
    """Alerts as production makes them: trades from a fake Kalshi, kw-fetch's detection."""
    src = Detected(site)
    yield src
    src.stop()


def test_static_files_carry_a_strict_csp(site):
    for path in ("/", "/markets.html", "/js/common.js", "/css/app.css"):
        r = requests.get(site.url(path), timeout=5)
        assert r.status_code == 200
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "default-src 'none'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    html = requests.get(site.url("/"), timeout=5).text
    assert "<script>" not in html and "style=" not in html and "onclick" not in html
    # The API keeps its own, stricter policy.
    assert site.get("/api/status").headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_apache_serves_the_dashboard_with_the_same_csp(tmp_path):
    s = ApacheStack(tmp_path / "apache", workers=1)
    s.start()
    try:
        for path in ("/", "/monitoring.html", "/js/feed.js"):
            r = requests.get(s.url(path), timeout=5)
            assert r.status_code == 200
            csp = r.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        api_csp = s.get("/api/status").headers["Content-Security-Policy"]
        assert api_csp == "default-src 'none'; frame-ancestors 'none'"
    finally:
        s.stop()


def test_live_feed_shows_a_detected_alert_within_2s(site, browser, artifacts, source):
    d = browser
    d.get(site.url("/"))
    box = d.find_element(By.ID, "keybox")
    wait(d, lambda: box.is_displayed())
    d.find_element(By.ID, "key-input").send_keys(site.api_key)
    d.find_element(By.ID, "key-save").click()
    wait(d, lambda: not box.is_displayed())
    assert d.execute_script("return sessionStorage.getItem('kw_api_key')") == site.api_key
    # Recent alerts from the REST API, then the WebSocket goes live.
    wait(d, lambda: len(d.find_elements(By.CSS_SELECTOR, "#feed li")) > 0)
    live = d.find_element(By.ID, "live")
    wait(d, lambda: "on" in live.get_attribute("class"), timeout=10)

    # Kalshi's text (the market title) carrying markup, on a $123,456 whale trade.
    marker = "Live test whale %d <img src=x id=pwned onerror=alert(1)>" % os.getpid()
    [alert_id] = source.whales("KXBTCD-LIVE-%d" % os.getpid(), 123456, title=marker)
    t0 = time.time()  # detection committed it as kw-fetch ended
    sel = "#feed li[data-kind='alert'][data-id='%d']" % alert_id
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, sel), timeout=2.0, poll=0.02)
    latency = time.time() - t0
    print("alert %d reached the live feed in %.0f ms" % (alert_id, latency * 1000))
    assert latency <= 2.0
    li = d.find_element(By.CSS_SELECTOR, sel)
    assert marker in li.text                     # shown as text...
    assert not d.find_elements(By.ID, "pwned")   # ...never parsed as HTML
    assert "$123,456" in li.text and "high" in li.text
    assert "fresh" in li.get_attribute("class")
    shot(d, artifacts, "feed")

    # The key is asked for once: a reload (same tab session) goes straight to the data.
    d.refresh()
    wait(d, lambda: len(d.find_elements(By.CSS_SELECTOR, "#feed li")) > 0)
    assert not d.find_element(By.ID, "keybox").is_displayed()


def test_feed_filters(site, browser, source):
    d = browser
    d.get(site.url("/"))
    live = d.find_element(By.ID, "live")
    wait(d, lambda: "on" in live.get_attribute("class"))
    # The signal choices are the API's own list, read from its OpenAPI document.
    types = contract.document()["components"]["schemas"]["Alert"]["properties"]["type"]["enum"]
    wait(d, lambda: [o.get_attribute("value")
                     for o in d.find_elements(By.CSS_SELECTOR, "#f-type option")] == [""] + types)
    d.find_element(By.ID, "f-ticker").send_keys(TICKER)
    d.find_element(By.ID, "f-min").send_keys("50000")
    d.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    time.sleep(0.5)
    [small] = source.whales(TICKER, 2000)
    [big] = source.whales(TICKER, 90000)
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#feed li[data-id='%d']" % big), timeout=2)
    time.sleep(0.3)
    assert not d.find_elements(By.CSS_SELECTOR, "#feed li[data-id='%d']" % small)
    for li in d.find_elements(By.CSS_SELECTOR, "#feed li"):
        assert TICKER in li.text


def test_pages_show_api_numbers(site, browser, artifacts):
    d = browser
    d.get(site.url("/markets.html"))
    wait(d, lambda: len(d.find_elements(By.CSS_SELECTOR, "#markets tbody tr")) > 0)
    rows = d.find_elements(By.CSS_SELECTOR, "#markets tbody tr")
    markets = api(site, "/api/v1/markets?sort=volume_24h&limit=50")["data"]
    assert len(rows) == len(markets)
    for row, m in zip(rows, markets):
        assert m["ticker"] in row.text and (m["title"] or m["ticker"]) in row.text
    # One sortable column per sort order the OpenAPI document lists.
    sorts = [p for p in contract.document()["paths"]["/api/v1/markets"]["get"]["parameters"]
             if p["name"] == "sort"][0]["schema"]["enum"]
    assert len(d.find_elements(By.CSS_SELECTOR, "#markets th button.sort")) == len(sorts)
    # Sorting asks the server for another order.
    d.find_element(By.XPATH, "//button[contains(., 'Open interest')]").click()
    by_oi = api(site, "/api/v1/markets?sort=open_interest&limit=50")["data"]
    wait(d, lambda: by_oi[0]["ticker"] in d.find_elements(By.CSS_SELECTOR, "#markets tbody tr")[0].text)
    shot(d, artifacts, "markets")

    d.get(site.url("/market.html?ticker=" + TICKER))
    m = api(site, "/api/v1/markets/" + TICKER)["data"]
    wait(d, lambda: d.find_element(By.ID, "m-title").text == m["title"])
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#charts svg.chart"))
    assert len(d.find_elements(By.CSS_SELECTOR, "#trades tbody tr")) == len(m["recent_trades"])
    assert len(d.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")) == len(m["recent_alerts"])
    facts = d.find_element(By.ID, "m-facts").text
    assert "%d\u00a2" % round(m["last_price"] * 100) in facts
    shot(d, artifacts, "market")

    d.get(site.url("/monitoring.html"))
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#endpoints tbody tr"), timeout=10)
    mon = api(site, "/api/v1/monitoring?window=1h")["data"]
    text = d.find_element(By.ID, "endpoints").text
    for e in mon["endpoints"][:3]:
        assert e["endpoint"] in text
    assert d.find_elements(By.CSS_SELECTOR, "#traffic svg.chart")
    assert "AU" in d.find_element(By.ID, "countries").text or "unknown" in d.find_element(By.ID, "countries").text
    d.find_element(By.CSS_SELECTOR, "#window button[data-window='7d']").click()
    wait(d, lambda: "active" in d.find_element(By.CSS_SELECTOR, "#window button[data-window='7d']").get_attribute("class"))
    shot(d, artifacts, "monitoring")


def test_reads_on_a_phone(site, browser, artifacts):
    d = browser
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    try:
        for page, ready in (("/", "#feed li"), ("/markets.html", "#markets tbody tr"),
                            ("/market.html?ticker=" + TICKER, "#charts svg"),
                            ("/monitoring.html", "#cards .card")):
            d.get(site.url(page))
            wait(d, lambda: d.find_elements(By.CSS_SELECTOR, ready))
            # Nothing wider than the screen except inside the scrolling table wrappers.
            width = d.execute_script("return document.documentElement.scrollWidth")
            assert width <= 392, "%s is %d px wide on a 390 px phone" % (page, width)
            name = "phone-" + (page.strip("/").split(".")[0] or "feed")
            path = os.path.join(artifacts, name + ".png")
            assert d.save_screenshot(path)
    finally:
        d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_no_console_errors_and_no_csp_violations(browser):
    log = drain_log(browser)
    bad = [e for e in log if e["level"] == "SEVERE" or "Content Security Policy" in e["message"]
           or "Content-Security-Policy" in e["message"]]
    assert not bad, "browser log:\n" + "\n".join(e["message"] for e in bad)
