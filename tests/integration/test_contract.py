"""The API contract: /api/openapi.json is public, byte-identical between requests, workers and
`kw-api --openapi`, passes the checks of a standard OpenAPI linter's recommended rules (done
here: no Debian-packaged linter exists), and describes every answer. Each answer the whole
suite receives is validated against it by contract.py; this module also makes sure that the
check itself refuses a wrong answer, and that CSV exports carry their documented columns.
"""
import json
import re
import subprocess

import jsonschema
import pytest
import requests

import contract
from kwstack import BUILD, Stack


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("contract"), workers=2)
    s.start()
    yield s
    s.stop()


def served(api):
    r = api.get("/api/openapi.json", anonymous=True)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    return r


def test_document_is_public_and_deterministic(api):
    first = served(api)
    tags = {first.headers["ETag"]}
    for _ in range(8):  # several workers answer
        r = served(api)
        assert r.content == first.content
        tags.add(r.headers["ETag"])
    assert len(tags) == 1
    cli = subprocess.run([BUILD + "/kw-api", "--openapi"], capture_output=True, check=True,
                         env={"PATH": "/usr/bin:/bin"})
    assert cli.stdout.strip() == first.content.strip()
    assert json.loads(first.content) == contract.document()
    # A restarted server gives the same bytes and the same ETag.
    api.stop()
    api.start()
    again = served(api)
    assert again.content == first.content and again.headers["ETag"] == first.headers["ETag"]


def schemas():
    return contract.document()["components"]["schemas"]


def operations():
    for path, item in contract.document()["paths"].items():
        for method, op in item.items():
            yield path, method, op


def test_lint_recommended_rules():
    """What Redocly's `recommended` ruleset reports as errors and warnings, checked here."""
    doc = contract.document()
    assert doc["openapi"] == "3.1.0"
    info = doc["info"]
    assert info["title"] and info["version"] and info["description"]
    assert info["license"]["name"] and ("url" in info["license"] or
                                        "identifier" in info["license"])  # info-license-strict
    assert info["contact"]["name"]
    # servers: present, relative (no example.com, no host the document cannot know).
    assert doc["servers"] and all(s["url"].startswith("/") and "://" not in s["url"]
                                  for s in doc["servers"])
    schemes = doc["components"]["securitySchemes"]
    assert doc["security"] and all(set(req) <= set(schemes) for req in doc["security"])
    seen_ids = set()
    for path, method, op in operations():
        where = "%s %s" % (method.upper(), path)
        # security-defined: every operation says what it needs; public ones say nothing.
        assert "security" in op, where
        assert all(set(req) <= set(schemes) for req in op["security"]), where
        # operation-operationId(-unique, -url-safe), operation-summary.
        assert op["operationId"] not in seen_ids and re.match(r"^[A-Za-z0-9_.-]+$",
                                                              op["operationId"]), where
        seen_ids.add(op["operationId"])
        assert op["summary"], where
        codes = set(op["responses"])
        assert any(c.startswith("2") for c in codes), where  # operation-2xx-response
        assert any(c.startswith("4") for c in codes), where  # operation-4xx-response
        for code, resp in op["responses"].items():
            assert resp["description"], (where, code)
        # path-parameters-defined, operation-parameters-unique.
        names = [(p["in"], p["name"]) for p in op["parameters"]]
        assert len(names) == len(set(names)), where
        assert {n for i, n in names if i == "path"} == set(re.findall(r"\{([^}]+)\}", path)), \
            where
        for p in op["parameters"]:
            assert p.get("description") or p["in"] == "path", (where, p["name"])
            # no-enum-type-mismatch
            for v in p["schema"].get("enum", []):
                assert isinstance(v, str) and p["schema"]["type"] == "string", (where, v)
    # no-path-trailing-slash, no-identical-paths, no-ambiguous-paths.
    paths = list(doc["paths"])
    assert all(p == "/" or not p.endswith("/") for p in paths)
    shapes = [re.sub(r"\{[^}]+\}", "{}", p) for p in paths]
    assert len(shapes) == len(set(shapes))
    # struct: every schema is a valid draft 2020-12 schema; no-unused-components.
    used = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(doc)))
    for name, schema in schemas().items():
        jsonschema.Draft202012Validator.check_schema(schema)
        assert name in used, "unused component " + name


def test_public_and_protected_routes():
    public = {(m, p) for p, m, op in operations() if op["security"] == []}
    assert public == {("get", "/api/health"), ("get", "/api/openapi.json")}
    metrics = contract.document()["paths"]["/metrics"]["get"]
    assert {} in metrics["security"] and "401" in metrics["responses"]
    assert contract.document()["paths"]["/api/refresh"]["post"]["x-required-scope"] == "admin"


def test_every_answer_is_named():
    """Every JSON answer has a named, closed component; lists use the typed envelope."""
    s = schemas()
    for path, method, op in operations():
        ok = [c for c in op["responses"] if c.startswith("2")][0]
        content = op["responses"][ok]["content"]
        if "application/json" not in content:
            continue
        ref = content["application/json"]["schema"].get("$ref", "")
        if path == "/api/openapi.json":
            continue
        name = ref.rsplit("/", 1)[-1]
        assert path.startswith("/api/v1/") == name.endswith(("List", "Envelope")) or \
            path == "/api/v1/refresh", path
        assert name in s and s[name]["additionalProperties"] is False, (path, name)
        if name.endswith(("List", "Envelope")):
            data = s[name]["properties"]["data"]
            assert data.get("$ref") or data["items"]["$ref"], path
    for name in ("Market", "MarketDetail", "Snapshot", "Trade", "Alert", "OrderBookSummary",
                 "Stats", "Monitoring", "Status", "Health", "WsTicket", "LegacyMarkets",
                 "LegacyRefresh", "RefreshAccepted",
                 "LegacyTop5", "LegacyWhaleAlerts", "LegacyWhaleAnalytics", "Error"):
        props = s[name]["properties"]
        assert props and all(v.get("description") for v in props.values()), name
    # Units are in the descriptions: money in dollars, sizes in contracts.
    market = s["Market"]["properties"]
    assert "dollars" in market["volume_24h_usd"]["description"]
    assert "contracts" in market["volume_24h_contracts"]["description"]
    # Nullable fields say so; enums carry the signal list.
    assert {"type": "null"} in market["close_time"]["anyOf"]
    assert s["Alert"]["properties"]["type"]["enum"] == [
        "whale_trade", "volume_surge", "odds_flip", "order_book_shift", "high_volume"]
    assert s["Alert"]["properties"]["type"]["x-enum-labels"]["order_book_shift"] == \
        "Order-book shift"
    alerts = contract.document()["paths"]["/api/v1/alerts"]["get"]
    assert [p for p in alerts["parameters"] if p["name"] == "type"][0]["schema"]["enum"] == \
        s["Alert"]["properties"]["type"]["enum"]


def test_csv_columns_are_documented(api):
    doc = contract.document()
    for path, component in (("/api/v1/whales", "Trade"), ("/api/v1/alerts", "Alert")):
        csv = doc["paths"][path]["get"]["responses"]["200"]["content"]["text/csv"]
        r = api.get(path + "?format=csv")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
        assert r.text.split("\r\n", 1)[0] == ",".join(csv["x-csv-columns"])
        # The CSV columns are JSON fields of the same list.
        item = doc["components"]["schemas"][component]
        assert set(csv["x-csv-columns"]) <= set(item["properties"]), path


def test_the_check_refuses_a_wrong_answer(api):
    """contract.check() fails on an answer that does not match, and on an undocumented status."""
    good = api.get("/api/status")
    assert good.status_code == 200

    def forged(status, body, path="/api/status"):
        r = requests.Response()
        r.status_code = status
        r._content = json.dumps(body).encode()
        r.headers["Content-Type"] = "application/json"
        r.headers["X-Request-Id"] = good.headers["X-Request-Id"]
        r.url = api.base + path
        r.request = good.request
        return r

    body = good.json()
    contract.check(forged(200, body))
    with pytest.raises(AssertionError, match="extra_field"):
        contract.check(forged(200, dict(body, extra_field=1)))
    with pytest.raises(AssertionError, match="total_markets"):
        contract.check(forged(200, dict(body, total_markets="12")))
    with pytest.raises(AssertionError, match="not documented"):
        contract.check(forged(418, body))
    with pytest.raises(AssertionError, match="Error shape"):
        contract.check(forged(404, {"error": "no"}, path="/api/nope"))
    # An answer kw-api did not make (the web server's own error page) is not its contract.
    page = forged(502, body)
    del page.headers["X-Request-Id"]
    contract.check(page)
