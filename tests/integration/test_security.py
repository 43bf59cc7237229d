"""Security against the real lighttpd and several kw-api workers: keys, tokens,
scopes, CORS, the shared rate limiter, headers on every status, strict bodies, security events,
address blocks and the production start-up refusals.

Time is moved with the workers' test clock (sectools.Clock; KW_TEST_CLOCK_FILE, honoured only
with ENVIRONMENT=development), so no test sleeps for a rate-limit window."""
import json
import os
import re
import subprocess
import threading
import time

import pytest
import requests

from kwstack import BUILD, Stack, db_settings, pg_mode, run_admin, sqlite_only
from sectools import Clock, create_key, events, make_token

SECRET = "s3cr3t-" + "x" * 40
API_KEY = "kw_env_" + "A1b2C3d4" * 6
ORIGIN = "https://app.example.com"
ORIGINS = ORIGIN + ", http://localhost:3000"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}
MAX_TTL = 365 * 86400
RL_HEADERS = ("RateLimit-Policy", "RateLimit", "X-RateLimit-Limit", "X-RateLimit-Remaining",
              "X-RateLimit-Reset")


def start_stack(directory, settings, workers=4):
    """A stack whose workers see the test clock file in the stack's own directory (which its
    kw-api processes can read whichever user they run as)."""
    s = Stack(directory, settings=settings, workers=workers)
    clock = Clock(os.path.join(s.dir, "clock"))
    old = os.environ.get("KW_TEST_CLOCK_FILE")
    os.environ["KW_TEST_CLOCK_FILE"] = clock.path
    try:
        s.start()
    finally:
        if old is None:
            os.environ.pop("KW_TEST_CLOCK_FILE", None)
        else:
            os.environ["KW_TEST_CLOCK_FILE"] = old
    s.clock = clock
    return s


@pytest.fixture(scope="module")
def sec(tmp_path_factory):
    # A year's token lifetime: the test clock runs ahead of kw-admin's real one by an hour per
    # test, and kw-admin's tokens must outlive that offset (test_kw_admin_token_...).
    s = start_stack(tmp_path_factory.mktemp("sec"), {
        "API_KEY": API_KEY, "JWT_SECRET": SECRET, "ALLOWED_ORIGINS": ORIGINS,
        "RATE_LIMIT_PER_MINUTE": "60", "MAX_BODY_BYTES": "256",
        "JWT_MAX_TTL_SECONDS": str(MAX_TTL),
    })
    yield s
    s.stop()


@pytest.fixture
def fresh(sec):
    """Every limiter bucket refilled: one simulated hour later."""
    sec.clock.advance(3600)
    return sec


def anon(stack, method, path, **kw):
    kw.setdefault("timeout", 10)
    return requests.request(method, stack.url(path), **kw)


def token(stack, **over):
    now = stack.clock.now()
    claims = {"iss": "kalshiwhale", "aud": "kalshiwhale-api", "sub": "tok_test", "scope": "read",
              "iat": now, "nbf": now, "exp": now + 600}
    claims.update(over)
    return make_token(SECRET, {k: v for k, v in claims.items() if v is not None})


def admin_route():
    """An admin-scope route from the real route table (POST /api/refresh, /metrics, ...)."""
    src = open(os.path.join(os.path.dirname(__file__), "..", "..", "fcgi", "routes.c")).read()
    for m in re.finditer(r'\{\s*"(GET|POST)",\s*"([^"{]+)",[^}]*?KW_ROUTE_ADMIN', src):
        return m.group(1), m.group(2)
    pytest.fail("routes.c has no KW_ROUTE_ADMIN route yet (POST /api/refresh should be one)")


# ---- authentication -------------------------------------------------------------------------

def test_valid_env_key_db_key_and_token_are_served_with_no_store(fresh):
    key, _ = create_key(fresh, "reader")
    for headers in ({"X-API-Key": API_KEY}, {"X-API-Key": key},
                    {"Authorization": "Bearer " + token(fresh)},
                    {"Authorization": "bearer " + token(fresh)}):
        r = anon(fresh, "GET", "/api/status", headers=headers)
        assert r.status_code == 200, (headers, r.text)
        assert r.json()["status"] == "running"
        assert_not_shared_cacheable(r)


def test_every_credential_failure_gets_the_same_401(fresh):
    revoked, rid = create_key(fresh, "gone")
    assert run_admin(fresh, "key", "revoke", str(rid)).returncode == 0
    cases = [
        {},                                              # missing
        {"X-API-Key": "has a space"},                    # malformed
        {"X-API-Key": "k" * 300},                        # malformed (too long)
        {"X-API-Key": "kw_" + "Z" * 43},                 # well-formed, unknown
        {"X-API-Key": revoked},                          # revoked
        {"X-API-Key": API_KEY[:-1] + "X"},               # near miss of the env key
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer " + token(fresh, exp=fresh.clock.now() - 1)},
    ]
    bodies = set()
    for h in cases:
        r = anon(fresh, "GET", "/api/status", headers=h)
        assert r.status_code == 401, (h, r.text)
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="kalshiwhale"'
        body = r.json()
        assert body["request_id"] == r.headers["X-Request-Id"]
        bodies.add(json.dumps(body["error"], sort_keys=True))
    assert len(bodies) == 1
    reasons = [e["detail"] for e in events(fresh, "auth_failed")]
    for reason in ("missing", "key_malformed", "key_unknown", "key_revoked",
                   "token_malformed", "authorization_not_bearer", "token_expired"):
        assert reason in reasons, reasons


def test_revocation_and_rotation_take_effect_on_the_next_request(fresh):
    key, kid = create_key(fresh, "rot")
    assert fresh.get("/api/status", headers={"X-API-Key": key}).status_code == 200
    r = run_admin(fresh, "key", "rotate", str(kid))
    assert r.returncode == 0, r.stderr
    new = r.stdout.strip()
    assert new != key
    assert fresh.get("/api/status", headers={"X-API-Key": key}).status_code == 401
    assert fresh.get("/api/status", headers={"X-API-Key": new}).status_code == 200
    new_id = int(r.stderr.split("id=")[1].split()[0])
    assert run_admin(fresh, "key", "revoke", str(new_id)).returncode == 0
    assert fresh.get("/api/status", headers={"X-API-Key": new}).status_code == 401
    listing = run_admin(fresh, "key", "list").stdout
    assert key not in listing and new not in listing
    assert re.search(r"^%d\s+rot\s+kw_\S{8}\s+read .* revoked$" % kid, listing, re.M), listing


def test_key_in_the_url_is_not_a_credential_and_keys_never_reach_the_log(fresh):
    key, _ = create_key(fresh, "url")
    for q in ("api_key", "apikey", "key", "token", "access_token"):
        r = anon(fresh, "GET", "/api/status?%s=%s" % (q, key))
        assert r.status_code == 401
        assert key not in r.text
    r = anon(fresh, "GET", "/api/status", headers={"X-API-Key": key})
    assert r.status_code == 200
    log = fresh.log()
    assert key not in log and API_KEY not in log and SECRET not in log
    assert "key:" + key[:11] in log  # only the prefix identifies it


def test_tokens_are_checked_for_alg_signature_time_issuer_and_audience(fresh):
    now = fresh.clock.now()
    good = {"iss": "kalshiwhale", "aud": "kalshiwhale-api", "sub": "tok_x", "scope": "read",
            "nbf": now, "exp": now + 600}
    ok = lambda t: anon(fresh, "GET", "/api/status",
                        headers={"Authorization": "Bearer " + t}).status_code
    assert ok(make_token(SECRET, good)) == 200
    assert ok(make_token(SECRET, dict(good, aud=["other", "kalshiwhale-api"]))) == 200
    bad = {
        "token_expired": make_token(SECRET, dict(good, exp=now - 5)),
        "token_not_yet_valid": make_token(SECRET, dict(good, nbf=now + 120)),
        "token_wrong_audience": make_token(SECRET, dict(good, aud="someone-else")),
        "token_wrong_issuer": make_token(SECRET, dict(good, iss="evil")),
        "token_bad_alg": make_token(SECRET, good, alg="HS512"),
        "token_bad_signature": make_token("another-secret-of-sufficient-length-xx", good),
        "token_bad_claims": make_token(SECRET, dict(good, scope="root")),
    }
    none_tok = make_token(SECRET, good, header={"alg": "none", "typ": "JWT"}, sign=False)
    assert ok(none_tok) == 401
    none_signed = make_token(SECRET, good, header={"alg": "none"})  # alg none with a signature
    assert ok(none_signed) == 401
    no_exp = dict(good)
    del no_exp["exp"]
    assert ok(make_token(SECRET, no_exp)) == 401
    for reason, t in bad.items():
        assert ok(t) == 401, reason
    reasons = {e["detail"] for e in events(fresh, "auth_failed")}
    assert set(bad) <= reasons, reasons


def test_kw_admin_token_is_accepted_with_its_scope(fresh, tmp_path):
    # kw-admin mints with the real clock: mint one valid "now" by the shifted server clock
    # (the offset is added to its lifetime), then move the server's clock past its expiry.
    r = run_admin(fresh, "token", "create", "--scope", "read",
                  "--ttl", str(fresh.clock.offset + 3600))
    assert r.returncode == 0, r.stderr
    tok = r.stdout.strip()
    assert anon(fresh, "GET", "/api/status",
                headers={"Authorization": "Bearer " + tok}).status_code == 200
    method, path = admin_route()
    r = anon(fresh, method, path, headers={"Authorization": "Bearer " + tok})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    fresh.clock.advance(3601)
    assert anon(fresh, "GET", "/api/status",
                headers={"Authorization": "Bearer " + tok}).status_code == 401


@pytest.mark.parametrize("claim,value", [
    ("nbf", "later"), ("nbf", 1.5), ("exp", "tomorrow"), ("iat", [1]), ("exp", 1e12),
])
def test_time_claims_must_be_integers(fresh, claim, value):
    now = fresh.clock.now()
    claims = {"iss": "kalshiwhale", "aud": "kalshiwhale-api", "sub": "tok_x", "scope": "read",
              "iat": now, "nbf": now, "exp": now + 600}
    claims[claim] = value
    r = anon(fresh, "GET", "/api/status",
             headers={"Authorization": "Bearer " + make_token(SECRET, claims)})
    assert r.status_code == 401
    assert events(fresh, "auth_failed")[-1]["detail"] == "token_bad_claims"


def test_token_lifetime_is_capped_when_minted_and_when_accepted(fresh, tmp_path):
    now = fresh.clock.now()
    base = {"iss": "kalshiwhale", "aud": "kalshiwhale-api", "sub": "tok_x", "scope": "read"}
    ok = lambda c: anon(fresh, "GET", "/api/status", headers={
        "Authorization": "Bearer " + make_token(SECRET, dict(base, **c))}).status_code
    assert ok({"iat": now, "exp": now + MAX_TTL}) == 200
    assert ok({"iat": now, "exp": now + MAX_TTL + 1}) == 401
    assert events(fresh, "auth_failed")[-1]["detail"] == "token_lifetime_too_long"
    assert ok({"exp": now + MAX_TTL + 60}) == 401  # without iat: measured from now
    assert ok({"iat": now + 60, "exp": now + 600}) == 401  # issued in the future
    assert events(fresh, "auth_failed")[-1]["detail"] == "token_not_yet_valid"
    # kw-admin refuses to mint past the cap: one day unless JWT_MAX_TTL_SECONDS says otherwise.
    env = tmp_path / "default.env"
    env.write_text("JWT_SECRET=%s\n" % SECRET + "".join(
        "%s=%s\n" % kv for kv in db_settings(tmp_path / "kw.db").items()))
    r = run_admin({}, "token", "create", "--ttl", "86401", env_extra={"KW_ENV_FILE": str(env)})
    assert r.returncode == 2 and "JWT_MAX_TTL_SECONDS" in r.stderr
    r = run_admin({}, "token", "create", "--ttl", "86400", env_extra={"KW_ENV_FILE": str(env)})
    assert r.returncode == 0, r.stderr


def test_kw_admin_token_revoke_refuses_the_token_at_once(fresh):
    r = run_admin(fresh, "token", "create", "--ttl", str(fresh.clock.offset + 3600))
    assert r.returncode == 0, r.stderr
    tok = r.stdout.strip()
    jti = re.search(r"jti=(\S+)", r.stderr).group(1)
    other = run_admin(fresh, "token", "create", "--ttl", str(fresh.clock.offset + 3600))
    auth = lambda t: {"Authorization": "Bearer " + t}
    # Every worker has the token cached as not revoked.
    for _ in range(8):
        assert anon(fresh, "GET", "/api/status", headers=auth(tok)).status_code == 200
    r = run_admin(fresh, "token", "revoke", jti)
    assert r.returncode == 0 and "revoked" in r.stderr, r.stderr
    for _ in range(8):
        assert anon(fresh, "GET", "/api/status", headers=auth(tok)).status_code == 401
    assert events(fresh, "auth_failed")[-1]["detail"] == "token_revoked"
    # Only that token: another one minted the same way still works.
    assert anon(fresh, "GET", "/api/status",
                headers=auth(other.stdout.strip())).status_code == 200
    assert run_admin(fresh, "token", "revoke", "bad jti\x01").returncode == 2


def test_read_scope_is_forbidden_on_admin_routes(fresh):
    key, kid = create_key(fresh, "ro")
    method, path = admin_route()
    r = anon(fresh, method, path, headers={"X-API-Key": key})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    assert any(e["key_id"] == kid for e in events(fresh, "forbidden_scope"))
    r = anon(fresh, method, path)
    assert r.status_code == 401


def test_health_is_public_but_a_bad_credential_is_still_refused(fresh):
    assert anon(fresh, "GET", "/api/health").status_code == 200
    assert anon(fresh, "GET", "/api/health", headers={"X-API-Key": "kw_nope"}).status_code == 401


# ---- CORS -----------------------------------------------------------------------------------

@pytest.mark.parametrize("origin,echoed", [
    (ORIGIN, ORIGIN), ("https://APP.example.com:443", ORIGIN),
    ("http://localhost:3000", "http://localhost:3000")])
def test_allowed_origin_gets_the_configured_origin_never_star(fresh, origin, echoed):
    r = fresh.get("/api/status", headers={"Origin": origin, "X-API-Key": API_KEY})
    assert r.status_code == 200
    # The configured entry, not the raw header: a browser compares it with the Origin it
    # serialised itself (lower case, no default port).
    assert r.headers["Access-Control-Allow-Origin"] == echoed
    assert "Access-Control-Allow-Credentials" not in r.headers
    exposed = r.headers["Access-Control-Expose-Headers"]
    for h in RL_HEADERS + ("Retry-After",):
        assert h in exposed
    assert r.headers["Vary"] == "Origin"


@pytest.mark.parametrize("origin", [
    "https://malicious-site.com", "http://app.example.com", "https://app.example.com:8443",
    "https://app.example.com.evil.com", "https://evilapp.example.com", "null", "*",
    "https://app.example.com/", "http://localhost:3001", "https://user@app.example.com",
])
def test_refused_origin_gets_403_no_cors_headers_and_an_event(fresh, origin):
    before = len(events(fresh, "cors_origin_denied"))
    r = fresh.get("/api/status", headers={"Origin": origin, "X-API-Key": API_KEY})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "origin_not_allowed"
    assert not [h for h in r.headers if h.lower().startswith("access-control-")]
    assert r.headers["Vary"] == "Origin"
    got = events(fresh, "cors_origin_denied")[before:]
    assert len(got) == 1
    assert got[0]["client"] == "127.0.0.1" and "origin" in got[0]["detail"]
    assert got[0]["request_id"] == r.headers["X-Request-Id"]


def test_own_host_is_not_an_allowed_origin_unless_configured(fresh):
    """DNS rebinding: a name the attacker points at this server is sent as Host and Origin
    alike; only ALLOWED_ORIGINS counts, so it is refused like any other origin."""
    host = "rebind.attacker.example:%d" % fresh.port
    r = fresh.get("/api/status", headers={"Origin": "http://" + host, "Host": host,
                                          "X-API-Key": API_KEY})
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
    assert not [h for h in r.headers if h.lower().startswith("access-control-")]
    r = fresh.get("/api/status", headers={"Origin": fresh.base, "X-API-Key": API_KEY})
    assert r.status_code == 403


def test_preflight_is_answered_before_authentication(fresh):
    r = anon(fresh, "OPTIONS", "/api/status", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-api-key, content-type"})
    assert r.status_code == 204 and r.content == b""
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert r.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    assert r.headers["Access-Control-Allow-Headers"] == "Content-Type, Authorization, X-API-Key"
    assert int(r.headers["Access-Control-Max-Age"]) > 0
    assert r.headers["Vary"] == "Origin"
    for k, v in SECURITY_HEADERS.items():
        assert r.headers[k] == v


@pytest.mark.parametrize("origin,method,headers", [
    ("https://malicious-site.com", "GET", None),
    (ORIGIN, "DELETE", None),
    (ORIGIN, "PUT", None),
    (ORIGIN, "GET", "X-Custom-Header"),
])
def test_refused_preflights_get_403_without_cors_headers(fresh, origin, method, headers):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    r = anon(fresh, "OPTIONS", "/api/status", headers=h)
    assert r.status_code == 403
    assert not [k for k in r.headers if k.lower().startswith("access-control-")]
    assert any(e["type"] == "cors_origin_denied" for e in events(fresh))


def test_refused_preflights_cost_quota(fresh):
    """They used to be free while leaving limiter state behind: a way to crowd the table."""
    h = {"Origin": "https://malicious-site.com", "Access-Control-Request-Method": "GET"}
    # 60 a minute: the 61st finds the quota spent, unless a second went by meanwhile and gave
    # one back (a slow run: each second of it allows one more refusal before the 429).
    t0, codes = time.monotonic(), []
    while len(codes) < 150 and 429 not in codes:
        codes.append(anon(fresh, "OPTIONS", "/api/status", headers=h).status_code)
    spent = time.monotonic()
    assert codes[-1] == 429 and set(codes[:-1]) == {403}
    assert 60 <= len(codes) - 1 <= 60 + int(spent - t0)
    # The same address's other requests find the quota spent (again: unless a second went by).
    code = anon(fresh, "GET", "/api/status").status_code
    assert code == 429 or (code == 200 and time.monotonic() - spent >= 1)
    # An allowed preflight stays free: the browser's own step before the real request.
    ok = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    assert anon(fresh, "OPTIONS", "/api/status", headers=ok).status_code == 204


# ---- rate limiting --------------------------------------------------------------------------

def test_gcra_per_key_headers_retry_after_and_refusals_take_no_quota(fresh):
    key, kid = create_key(fresh, "five", rate=5)
    seen = []
    for i in range(5):
        r = fresh.get("/api/status", headers={"X-API-Key": key})
        assert r.status_code == 200
        assert r.headers["RateLimit-Policy"] == '"default";q=5;w=60'
        assert r.headers["X-RateLimit-Limit"] == "5"
        seen.append(int(r.headers["X-RateLimit-Remaining"]))
        assert re.match(r'^"default";r=%d;t=\d+$' % seen[-1], r.headers["RateLimit"])
    assert seen == [4, 3, 2, 1, 0]
    for _ in range(5):
        r = fresh.get("/api/status", headers={"X-API-Key": key})
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert set(r.json()) == {"error", "request_id"}
        assert r.headers["Cache-Control"] == "no-store"
        assert re.match(r"^[1-9]\d*$", r.headers["Retry-After"])
        assert 1 <= int(r.headers["Retry-After"]) <= 12
        assert r.headers["X-RateLimit-Remaining"] == "0"
    # One request's worth of time (60 s / 5): exactly one more passes, the 429s took nothing.
    fresh.clock.advance(12)
    assert fresh.get("/api/status", headers={"X-API-Key": key}).status_code == 200
    assert fresh.get("/api/status", headers={"X-API-Key": key}).status_code == 429
    # Logged once per key per window, not per refused request.
    assert len([e for e in events(fresh, "rate_limit_exceeded") if e["key_id"] == kid]) == 1
    # Other keys are unaffected.
    assert fresh.get("/api/status", headers={"X-API-Key": API_KEY}).status_code == 200


def test_anonymous_and_failed_attempts_are_limited_per_address(tmp_path):
    # A burst of 60 refilled at one request per 10 s: the 65 requests stay within one refill
    # even where each is a process of its own (plain CGI: tens of ms per request).
    s = start_stack(tmp_path, {"API_KEY": API_KEY, "RATE_LIMIT_PER_MINUTE": "6",
                               "RATE_LIMIT_BURST": "60"}, workers=2)
    try:
        s.clock.advance(3600)  # refilled: start-up's health checks count for this address too
        codes = [anon(s, "GET", "/api/status").status_code for _ in range(65)]
        assert codes[:60] == [401] * 60
        assert codes[60:] == [429] * 5
        # A valid key has its own bucket.
        assert s.get("/api/status", headers={"X-API-Key": API_KEY}).status_code == 200
    finally:
        s.stop()


def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(fresh):
    anon(fresh, "GET", "/api/status", headers={"X-Forwarded-For": "198.51.100.23"})
    assert events(fresh, "auth_failed")[-1]["client"] == "127.0.0.1"


def test_limiter_is_exact_across_workers_and_parallel_clients(tmp_path):
    burst = 37
    s = start_stack(tmp_path, {"API_KEY": API_KEY, "RATE_LIMIT_PER_MINUTE": "1",
                               "RATE_LIMIT_BURST": str(burst)}, workers=4)
    try:
        results = []
        lock = threading.Lock()

        def client():
            sess = requests.Session()
            for _ in range(15):
                code = sess.get(s.url("/api/status"), headers={"X-API-Key": API_KEY},
                                timeout=10).status_code
                with lock:
                    results.append(code)

        threads = [threading.Thread(target=client) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 240
        assert results.count(200) == burst, results
        assert results.count(429) == 240 - burst
        if s.persistent:
            assert len(s.worker_pids()) == 4
            # Served by many threads in many processes (a request id starts with its accept
            # thread's own prefix), all taking from the one shared bucket.
            threads = s.threads
            ids = re.findall(r"request id=([0-9a-f]{8})[0-9a-f]{8} method=GET path=/api/status ",
                             s.log())
            # Through lighttpd every request is a connection of its own, accepted by whichever
            # thread is free; Apache keeps its connections open (enablereuse), each served by
            # the thread that accepted it, so there the spread depends on its pool.
            if threads > 1 and os.environ.get("KW_SERVER", "lighttpd") == "lighttpd":
                assert len(set(ids)) > 4, set(ids)
        else:  # plain CGI: every request was a process of its own
            assert len(set(re.findall(r"kw-api\[(\d+)\].*path=/api/status ", s.log()))) >= 240
    finally:
        s.stop()


def test_limiter_state_survives_a_restart_via_the_database(tmp_path):
    """The node's shared-memory table is written behind to the database (SQLite, or
    PostgreSQL with RATE_LIMIT_SCOPE=node, the one node's own table) and read back when the
    table is gone."""
    settings = {"API_KEY": API_KEY, "RATE_LIMIT_PER_MINUTE": "1", "RATE_LIMIT_BURST": "3",
                "RATE_LIMIT_SCOPE": "node"}
    s = start_stack(tmp_path, settings, workers=2)
    try:
        assert [s.get("/api/status").status_code for _ in range(4)] == [200, 200, 200, 429]
        # Written behind within about a second by the workers' writer thread, with no further
        # request needed (a nudge from this address would spend its own tiny quota, and the
        # restored state would then refuse the harness's readiness probe).
        deadline, stored = time.time() + 5, 0
        while time.time() < deadline and not stored:
            time.sleep(0.3)
            with s.sql() as db:
                stored = db.execute("SELECT count(*) FROM rate_limit_state").fetchone()[0]
        assert stored, "the limiter's state was not written behind within 5 s"
        with s.sql() as db:  # node scope: the cluster's table is never written
            assert db.execute("SELECT count(*) FROM rate_limit_cluster").fetchone()[0] == 0
    finally:
        s.stop()
    # A reboot: the shared table is gone, the database still has the state.
    os.unlink(s.db + "-rl.shm")
    s2 = start_stack(tmp_path, settings, workers=2)
    try:
        assert s2.get("/api/status").status_code == 429
    finally:
        s2.stop()


# ---- headers on every status, validation, bodies ---------------------------------------------

def assert_not_shared_cacheable(r):
    """Authenticated answers are never stored by a cache: no-store."""
    cc = r.headers["Cache-Control"]
    assert cc == "no-store", cc


def check_headers(r, authenticated):
    for k, v in SECURITY_HEADERS.items():
        assert r.headers[k] == v, (r.status_code, k)
    assert r.headers.get("X-XSS-Protection", "0") == "0"
    assert re.match(r"^[0-9a-f]{16}$", r.headers["X-Request-Id"])
    assert r.headers["Vary"] == "Origin"
    assert "Strict-Transport-Security" not in r.headers
    for h in RL_HEADERS:
        assert h in r.headers, (r.status_code, h)
    assert "lighttpd" not in r.headers.get("Server", "")
    if r.status_code >= 400 and (authenticated or r.status_code in (401, 429)):
        assert r.headers["Cache-Control"] == "no-store", r.status_code
    elif authenticated:
        assert_not_shared_cacheable(r)
    if r.status_code != 204:
        assert r.headers["Content-Type"] == "application/json; charset=utf-8"
        body = r.json()
        if r.status_code >= 400:
            assert set(body) == {"error", "request_id"}
            assert set(body["error"]) == {"code", "message"}


def test_every_status_carries_every_header(fresh):
    key5, _ = create_key(fresh, "hdr", rate=1)
    reader, _ = create_key(fresh, "hdr-read")
    method, path = admin_route()
    k = {"X-API-Key": API_KEY}
    cases = [
        (200, True, "GET", "/api/status", k, None),
        (400, True, "GET", "/api/status?verbose=1", k, None),
        (401, False, "GET", "/api/status", {}, None),
        (403, True, method, path, {"X-API-Key": reader}, None),
        (404, True, "GET", "/api/nope", k, None),
        (405, True, "DELETE", "/api/status", k, None),
        (200, True, "GET", "/api/status", {"X-API-Key": key5}, None),
        (429, True, "GET", "/api/status", {"X-API-Key": key5}, None),
    ]
    for status, authed, m, p, h, data in cases:
        r = anon(fresh, m, p, headers=h, data=data)
        assert r.status_code == status, (m, p, r.text)
        check_headers(r, authed)


def test_https_adds_hsts_to_errors_too(fresh):
    r = requests.get(fresh.https_base + "/api/nope", verify=False, timeout=10,
                     headers={"X-API-Key": API_KEY})
    assert r.status_code == 404
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


BODY_CASES = [
    # (content type, raw body, status, code, message fragment)
    ("text/plain", b'{"force_update": true}', 415, "unsupported_media_type", "application/json"),
    ("application/x-www-form-urlencoded", b"force_update=true", 415, "unsupported_media_type", ""),
    ("application/json", b'{"force_update": true, "x": 1}', 400, "invalid_body", "unknown field 'x'"),
    ("application/json", b'{"force_update": "yes"}', 400, "invalid_body", "'force_update'"),
    ("application/json", b'{"force_update": 1}', 400, "invalid_body", "'force_update'"),
    ("application/json", b'{"force_update": true, "force_update": false}', 400, "invalid_body",
     "duplicate key"),
    ("application/json", b'{"force_update": true, "force\\u005fupdate": true}', 400,
     "invalid_body", "duplicate key"),
    ("application/json", b'{"force_update": true,}', 400, "invalid_body", "not valid JSON"),
    ("application/json", b"{'force_update': true}", 400, "invalid_body", "not valid JSON"),
    ("application/json", b'[true]', 400, "invalid_body", "JSON object"),
    ("application/json", b'{"a":' * 20 + b"1" + b"}" * 20, 400, "invalid_body", "nested"),
    ("application/json", b'{"force_update": true} trailing', 400, "invalid_body", "not valid JSON"),
    ("application/json", b'{"force_update": true, "\xff": 1}', 400, "invalid_body", ""),
    ("application/json", b'{"<script>": 1}', 400, "invalid_body", "unknown field"),
]


def refresh_route():
    src = open(os.path.join(os.path.dirname(__file__), "..", "..", "fcgi", "routes.c")).read()
    if '"/api/refresh"' not in src:
        pytest.fail("POST /api/refresh (the first route with a JSON body) is not in routes.c yet")
    return "/api/refresh"


@pytest.mark.parametrize("ctype,body,status,code,frag", BODY_CASES)
def test_post_bodies_are_strict(fresh, ctype, body, status, code, frag):
    r = fresh.post(refresh_route(), data=body, headers={"X-API-Key": API_KEY,
                                                        "Content-Type": ctype})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and frag in err["message"]
    assert "<script>" not in r.text
    check_headers(r, True)


def test_body_over_the_cap_is_413_without_reading_it(fresh):
    big = b'{"force_update": true, "pad": "' + b"x" * 400 + b'"}'
    r = fresh.post(refresh_route(), data=big, headers={"X-API-Key": API_KEY,
                                                       "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    check_headers(r, True)
    assert any(e["type"] == "validation_failed" for e in events(fresh))


def test_validation_failures_are_events_and_never_echo_input(fresh):
    r = fresh.get("/api/status?%3Cimg%20src%3Dx%3E=1", headers={"X-API-Key": API_KEY})
    assert r.status_code == 400 and "<img" not in r.text
    r = fresh.get("/api/status?verbose=1", headers={"X-API-Key": API_KEY})
    assert r.status_code == 400 and "'verbose'" in r.text
    assert events(fresh, "validation_failed")


# ---- events ----------------------------------------------------------------------------------

def test_security_events_are_json_log_lines_and_rows(fresh):
    anon(fresh, "GET", "/api/status", headers={"X-API-Key": "kw_wrong_wrong_wrong"})
    lines = [l for l in fresh.log().splitlines() if '"event":"security"' in l]
    assert lines
    ev = json.loads(lines[-1][lines[-1].index("{"):])
    assert ev["type"] == "auth_failed" and ev["detail"] == "key_unknown"
    assert ev["client"] == "127.0.0.1" and re.match(r"^[0-9a-f]{16}$", ev["request_id"])
    row = events(fresh, "auth_failed")[-1]
    assert row["detail"] == "key_unknown" and row["request_id"] == ev["request_id"]
    with fresh.sql() as db:
        if not pg_mode():  # the bound as SQLite's trigger holds it
            trig = db.execute("SELECT sql FROM sqlite_schema WHERE name='security_events_bound'")
            assert "10000" in trig.fetchone()[0]


# ---- blocks, proxies, credentials mode ---------------------------------------------------------

def test_forwarded_for_is_read_whole_through_trusted_cidr_ranges(tmp_path):
    s = start_stack(tmp_path, {"API_KEY": API_KEY,
                               "TRUSTED_PROXIES": "127.0.0.0/8, 10.0.0.0/8"}, workers=2)
    try:
        def client_of(xff):
            r = anon(s, "GET", "/api/status",
                     headers={"X-Forwarded-For": xff, "X-API-Key": "kw_bad"})
            assert r.status_code == 401, r.text
            return events(s, "auth_failed")[-1]["client"]
        # A client's own 1 KB of entries, then what the trusted proxy appended: the latter.
        assert client_of("203.0.113.66, " * 80 + "198.51.100.7") == "198.51.100.7"
        assert client_of("203.0.113.66, " * 300 + "198.51.100.8") == "198.51.100.8"
        # Trusted hops in a range are skipped; the first untrusted address is the client.
        assert client_of("6.6.6.6, 198.51.100.9, 10.1.2.3") == "198.51.100.9"
        assert client_of("2001:DB8:0:0::1") == "2001:db8::1"
        # What no trusted proxy writes is refused, never resolved to a client's entry.
        r = anon(s, "GET", "/api/status", headers={"X-Forwarded-For": "198.51.100.7, junk"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_forwarded_for"
    finally:
        s.stop()


def test_repeated_failures_block_the_client_address(tmp_path):
    s = start_stack(tmp_path, {
        "API_KEY": API_KEY, "SUSPICIOUS_AUTH_FAILURES": "3", "BLOCK_MINUTES": "2",
        "TRUSTED_PROXIES": "127.0.0.1", "ALLOWED_ORIGINS": ORIGIN,
        "CORS_ALLOW_CREDENTIALS": "true"}, workers=2)
    try:
        attacker = {"X-Forwarded-For": "203.0.113.7"}
        bystander = {"X-Forwarded-For": "198.51.100.1", "X-API-Key": API_KEY}
        for _ in range(3):
            r = anon(s, "GET", "/api/status", headers=dict(attacker, **{"X-API-Key": "kw_bad"}))
            assert r.status_code == 401
        # Blocked now, even with a valid key, before anything else.
        r = anon(s, "GET", "/api/status", headers=dict(attacker, **{"X-API-Key": API_KEY}))
        assert r.status_code == 403 and r.json()["error"]["code"] == "blocked"
        for h in RL_HEADERS:
            assert h in r.headers
        # Another client behind the same proxy is not.
        assert anon(s, "GET", "/api/status", headers=bystander).status_code == 200
        sus = events(s, "suspicious_activity")
        assert len(sus) == 1 and sus[0]["client"] == "203.0.113.7"
        assert '"type":"suspicious_activity"' in s.log()
        with s.sql() as db:
            assert db.execute("SELECT address FROM blocked_addresses").fetchall() == [
                ("203.0.113.7",)]
        # An operator lifts it at once (workers see it on the next request), and it is gone
        # from the database too, so a restart cannot restore it.
        bad = run_admin(s, "unblock", "203.0.113.7;rm")
        assert bad.returncode == 2 and "usage" in bad.stderr
        done = run_admin(s, "unblock", "203.0.113.7")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "203.0.113.7 unblocked"
        r = anon(s, "GET", "/api/status", headers=dict(attacker, **{"X-API-Key": API_KEY}))
        assert r.status_code == 200
        with s.sql() as db:
            assert db.execute("SELECT count(*) FROM blocked_addresses").fetchone()[0] == 0
        assert [e["client"] for e in events(s, "address_unblocked")] == ["203.0.113.7"]
        assert run_admin(s, "unblock", "203.0.113.7").stdout.strip().endswith(
            "was not blocked (nothing to do)")
        # The failure count went with it: three more failures to block again.
        for i in range(3):
            r = anon(s, "GET", "/api/status", headers=dict(attacker, **{"X-API-Key": "kw_bad"}))
            assert r.status_code == 401, i
        r = anon(s, "GET", "/api/status", headers=dict(attacker, **{"X-API-Key": API_KEY}))
        assert r.status_code == 403
        # The block ends after BLOCK_MINUTES.
        s.clock.advance(121)
        r = anon(s, "GET", "/api/status", headers=dict(attacker, **{"X-API-Key": API_KEY}))
        assert r.status_code == 200
        # Credentials mode only when configured.
        r = anon(s, "GET", "/api/status", headers=dict(bystander, Origin=ORIGIN))
        assert r.headers["Access-Control-Allow-Credentials"] == "true"
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    finally:
        s.stop()


# ---- production start-up -------------------------------------------------------------------

def run_api_check(tmp_path, env_extra):
    env = dict(db_settings(tmp_path / "p.db"), PATH=os.environ["PATH"])
    # Migrated beforehand, so that the only output is the refusal itself.
    assert run_admin({}, "db", "migrate", env_extra=env).returncode == 0
    env.update(env_extra)
    return subprocess.run([os.path.join(BUILD, "kw-api"), "--check-config"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=30)


GOOD_PROD = {"ENVIRONMENT": "production", "API_KEY": API_KEY, "JWT_SECRET": SECRET,
             "ALLOWED_ORIGINS": ORIGIN}


@pytest.mark.parametrize("over,expect", [
    ({"API_KEY": ""}, "no API key in production"),
    ({"API_KEY": "too-short-key"}, "API_KEY is too short"),
    ({"DEBUG": "true"}, "DEBUG=true is refused with ENVIRONMENT=production"),
    ({"ALLOWED_ORIGINS": "*"}, "* and null are refused"),
    ({"ALLOWED_ORIGINS": ORIGIN + ",null"}, "* and null are refused"),
    ({"JWT_SECRET": "short-secret"}, "JWT_SECRET is too short"),
    ({"ALLOWED_ORIGINS": "https://x.example.com/path"}, "ALLOWED_ORIGINS entry 1 is not an origin"),
    ({"ENVIRONMENT": "development", "API_KEY": "short"}, "API_KEY is too short"),
])
def test_production_start_up_refusals(tmp_path, over, expect):
    r = run_api_check(tmp_path, dict(GOOD_PROD, **over))
    assert r.returncode == 78, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], r.stderr
    for secret in (API_KEY, SECRET, "short-secret", "too-short-key"):
        assert secret not in r.stderr


def test_production_starts_with_a_key_in_the_database_only(tmp_path):
    good = run_api_check(tmp_path, GOOD_PROD)
    assert good.returncode == 0, good.stderr
    env = db_settings(tmp_path / "p.db")
    r = run_admin({}, "key", "create", "--name", "prod", "--scope", "admin", env_extra=env)
    assert r.returncode == 0, r.stderr
    ok = run_api_check(tmp_path, dict(GOOD_PROD, API_KEY=""))
    assert ok.returncode == 0, ok.stderr


def test_production_stack_hides_details_and_ignores_the_test_clock(tmp_path):
    s = start_stack(tmp_path, dict(GOOD_PROD, RATE_LIMIT_PER_MINUTE="3"), workers=2)
    try:
        r = s.get("/api/nope")
        assert r.status_code == 404 and set(r.json()) == {"error", "request_id"}
        s.clock.advance(3600)  # ignored in production: no refill
        assert "KW_TEST_CLOCK_FILE is set" not in s.log()
        codes = [s.get("/api/status").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
    finally:
        s.stop()


@pytest.mark.parametrize("settings,detail", [
    ({"DEBUG": "true"}, True),
    ({}, False),
    (GOOD_PROD, False),
])
@sqlite_only("the unusable database is a SQLite file of junk, and the detail SQLite's message")
def test_error_detail_only_with_debug_in_development(tmp_path, settings, detail):
    junk = b"not a database " * 300
    s = Stack(tmp_path, settings=dict({"API_KEY": API_KEY}, **settings), workers=1)
    with open(s.db, "wb") as f:
        f.write(junk)
    s.start()
    try:
        r = s.get("/api/status")
        assert r.status_code == 503
        err = r.json()["error"]
        assert err["code"] == "database_unavailable"
        if detail:
            assert "not a usable SQLite database" in err["detail"]
        else:
            assert set(err) == {"code", "message"}
            assert "SQLite" not in r.text and s.dir not in r.text
    finally:
        s.stop()


def test_apache_example_passes_keys_and_bearer_tokens(tmp_path):
    from kwstack import ApacheStack
    s = ApacheStack(tmp_path, settings={"API_KEY": API_KEY, "JWT_SECRET": SECRET}).start()
    try:
        now = int(time.time())
        tok = make_token(SECRET, {"iss": "kalshiwhale", "aud": "kalshiwhale-api", "sub": "ap",
                                  "scope": "read", "exp": now + 60})
        assert anon(s, "GET", "/api/status",
                    headers={"Authorization": "Bearer " + tok}).status_code == 200
        assert anon(s, "GET", "/api/status", headers={"X-API-Key": API_KEY}).status_code == 200
        r = anon(s, "GET", "/api/status")
        assert r.status_code == 401 and r.headers["WWW-Authenticate"]
        assert r.headers["Vary"] == "Origin" and "RateLimit" in r.headers
    finally:
        s.stop()
