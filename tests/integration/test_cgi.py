"""Shared hosts: kw-api as a plain CGI program (one process per request) behind Apache
(mod_cgid, configured only by deploy/shared-host/htaccess.example) and lighttpd (mod_cgi,
deploy/shared-host/lighttpd-cgi.conf.example). The API answers as under FastCGI, and the
rate limiter and counters stay exact although no process lives longer than its request."""
import concurrent.futures
import os

import pytest
import requests

from kwstack import CGI_SERVERS

KEY = "kwtest_" + "c9d8e7f6" * 5


@pytest.fixture(scope="module", params=sorted(CGI_SERVERS))
def cgi(request, tmp_path_factory):
    s = CGI_SERVERS[request.param](tmp_path_factory.mktemp(request.param),
                                   settings={"API_KEY": KEY, "RATE_LIMIT_PER_MINUTE": "600",
                                             "RATE_LIMIT_BURST": "600"})
    s.start()
    yield s
    s.stop()


def test_api_answers_with_the_same_shapes(cgi):
    h = {"X-API-Key": KEY}
    assert cgi.get("/api/health").json() == {"status": "ok"}
    st = cgi.get("/api/status", headers=h)
    assert st.status_code == 200 and st.json()["websocket_enabled"] is True
    assert st.headers["X-Content-Type-Options"] == "nosniff"
    nf = cgi.get("/api/nope", headers=h)
    assert nf.status_code == 404 and nf.json()["error"]["code"] == "not_found"
    bad = cgi.get("/api/status?x=1", headers=h)
    assert bad.status_code == 400 and "'x'" in bad.json()["error"]["message"]


def test_every_kw_api_path_reaches_the_program(cgi):
    r = cgi.get("/metrics", headers={"X-API-Key": KEY})  # the env key has admin scope
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert "kw_build_info{version=" in r.text
    assert cgi.get("/api/openapi.json").json()["openapi"].startswith("3.1")


def test_credentials_are_required(cgi):
    r = cgi.get("/api/status", anonymous=True)
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    r = cgi.get("/api/status", headers={"X-API-Key": "kwtest_" + "0" * 40})
    assert r.status_code == 401


def test_json_body_is_read_from_stdin(cgi):
    r = cgi.post("/api/v1/refresh", headers={"X-API-Key": KEY}, json={"force_update": True})
    assert r.status_code in (202, 409), r.text
    r = cgi.post("/api/refresh", headers={"X-API-Key": KEY}, json={})
    assert r.status_code == 200 and r.json()["success"] is True, r.text
    r = cgi.post("/api/refresh", data=b'{"force_update": 1}',
                 headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    assert r.status_code == 400  # strict types, through CGI's stdin too
    with cgi.sql() as c:
        assert c.execute("SELECT count(*) FROM refresh_requests").fetchone()[0] >= 1


def test_the_program_and_settings_are_not_downloadable(cgi):
    r = cgi.get("/kw-api.cgi")
    assert not r.content.startswith(b"\x7fELF")
    assert cgi.get("/.htaccess").status_code in (403, 404)


def test_rate_limit_is_exact_across_cgi_processes(tmp_path):
    for name, cls in sorted(CGI_SERVERS.items()):
        s = cls(tmp_path / name, settings={"API_KEY": KEY, "RATE_LIMIT_PER_MINUTE": "7",
                                           "RATE_LIMIT_BURST": "7"})
        s.start()
        try:
            def one(_):
                return requests.get(s.url("/api/status"), headers={"X-API-Key": KEY},
                                    timeout=30).status_code
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(one, range(20)))
            assert codes.count(200) == 7, (name, codes)
            assert codes.count(429) == 13, (name, codes)
        finally:
            s.stop()


def test_a_body_the_program_does_not_read_still_gets_its_reply(cgi):
    # Apache's mod_cgid gives the program its connection socket as stdin: a program that
    # exits with the body unread resets it and the reply is lost (kw-api drains the rest).
    h = {"X-API-Key": KEY, "Content-Type": "application/json"}
    r = cgi.post("/api/ws-ticket", headers=h, data=b'{"pad": "' + b"x" * 2000 + b'"}')
    assert r.status_code == 503 and r.json()["error"]["code"] == "tickets_unavailable"
    r = cgi.post("/api/refresh", headers=h, data=b'{"pad": "' + b"x" * 20000 + b'"}')
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    assert cgi.get("/api/health").status_code == 200


def test_the_server_and_the_program_run_unprivileged(cgi):
    """Run as root (CI), the web server serves and runs kw-api.cgi as RUN_USER, as a host
    would; run as anyone else, as that user. The program created the database: it is
    theirs."""
    from kwstack import pg_mode, process_ids, run_ids
    uid, gid = run_ids() or (os.geteuid(), os.getegid())
    assert cgi.get("/api/health").status_code == 200
    assert cgi.server_pids()
    for pid in cgi.server_pids():
        uids, gids, _ = process_ids(pid)
        assert uids == [uid] * 4 and gids == [gid] * 4, (pid, uids, gids)
    if not pg_mode():  # the SQLite file is the program's; PostgreSQL's files are its own
        assert os.stat(cgi.db).st_uid == uid
