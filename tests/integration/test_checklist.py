"""The seed security checklist's own curl tests (tests/fixtures/security-checklist.md,
"Security Testing"), run VERBATIM — only `your-api-key` is replaced by a real key — against
the stack `make run` serves on port 8000 (deploy/run.sh, in a fresh state directory).

What "should fail" means here: a request from an origin that is not on ALLOWED_ORIGINS is
refused with 403 origin_not_allowed and carries no CORS headers; a request without a key gets
401. Port 8000 must be free: the test fails (it does not skip) when it is not."""
import os
import signal
import socket
import subprocess
import time

import pytest
import requests

from kwstack import BUILD, TOP, run_admin

PORT = 8000

RATE_LIMIT_TEST = """
# Test dengan curl (should be limited)
for i in {1..110}; do 
    curl -H "X-API-Key: your-api-key" http://localhost:8000/api/status
done
"""
CORS_TEST = """
# Test from unauthorized origin (should fail)
curl -H "Origin: https://malicious-site.com" \\
     -H "X-API-Key: your-api-key" \\
     http://localhost:8000/api/status
"""
NO_KEY_TEST = """
# Test without API key (should fail)
curl http://localhost:8000/api/status
"""
VALID_KEY_TEST = """
# Test with valid API key (should succeed)
curl -H "X-API-Key: your-api-key" http://localhost:8000/api/status
"""


def test_the_commands_are_the_checklists_own():
    # The user's checklist, kept in the tree (a clone has nothing beside it).
    doc = open(os.path.join(TOP, "tests", "fixtures", "security-checklist.md")).read()
    for block in (RATE_LIMIT_TEST, CORS_TEST, NO_KEY_TEST, VALID_KEY_TEST):
        for line in block.strip("\n").splitlines():
            assert line in doc, line


@pytest.fixture(scope="module")
def run_stack(tmp_path_factory):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", PORT))
        except OSError:
            pytest.fail("port %d is busy: stop whatever listens there (a `make run`?) and "
                        "rerun; the checklist's commands name this port" % PORT)
    var = tmp_path_factory.mktemp("run")
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("KW_") or k in ("API_KEY", "DATABASE_PATH", "DATABASE_URL"):
            env.pop(k)
    env.update({"KW_RUN_DIR": str(var), "PORT": str(PORT), "HOST": "127.0.0.1",
                "WS_PORT": str(PORT + 81), "KALSHI_API_BASE": "http://127.0.0.1:9/none",
                "ENVIRONMENT": "development"})
    out = open(var / "run.out", "w+")
    proc = subprocess.Popen(["bash", os.path.join(TOP, "deploy", "run.sh"), BUILD], cwd=TOP,
                            env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            out.seek(0)
            text = out.read()
            if "KalshiWhale is running." in text:
                break
            if proc.poll() is not None:
                pytest.fail("make run's deploy/run.sh exited:\n" + text)
            time.sleep(0.2)
        else:
            pytest.fail("deploy/run.sh not ready in 60 s:\n" + text)
        key = open(var / "dev-api-key").read().strip()
        assert key in text, "make run prints the development key"
        yield {"var": var, "key": key, "env_file": str(var / "run.env"), "out": text}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.close()


def curl(block, key):
    script = block.replace("your-api-key", key)
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    return r.stdout


def new_key(run_stack, name):
    r = run_admin({}, "key", "create", "--name", name, env_extra={
        "KW_ENV_FILE": run_stack["env_file"]})
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_rate_limiting_110_requests_are_limited(run_stack):
    # Its own key: the other checks below must not find this one's quota spent.
    key = new_key(run_stack, "checklist-rate")
    t0 = time.time()
    out = curl(RATE_LIMIT_TEST, key)
    elapsed = time.time() - t0
    served = out.count('"status":"running"')
    limited = out.count('"code":"rate_limited"')
    assert served + limited == 110, out[-500:]
    # RATE_LIMIT_PER_MINUTE=60 with a burst of a minute's quota: 60 at once, then one more
    # per second that the loop itself took.
    assert 60 <= served <= 60 + int(elapsed) + 1, (served, elapsed)
    assert limited >= 110 - 61 - int(elapsed)


def test_make_run_leaves_nothing_world_readable(run_stack):
    """The database holds key hashes and client addresses; var/ also the development key."""
    exposed = []
    for base, dirs, files in os.walk(run_stack["var"]):
        for name in [base] + [os.path.join(base, f) for f in files]:
            if os.lstat(name).st_mode & 0o007:
                exposed.append(name)
    assert not exposed, exposed


def test_cors_unauthorized_origin_fails(run_stack):
    out = curl(CORS_TEST, run_stack["key"])
    assert '"code":"origin_not_allowed"' in out and "running" not in out
    r = requests.get("http://localhost:8000/api/status", timeout=10,
                     headers={"Origin": "https://malicious-site.com",
                              "X-API-Key": run_stack["key"]})
    assert r.status_code == 403
    assert not [h for h in r.headers if h.lower().startswith("access-control-")]


def test_api_key_missing_fails(run_stack):
    out = curl(NO_KEY_TEST, run_stack["key"])
    assert '"code":"unauthorized"' in out and "running" not in out
    r = requests.get("http://localhost:8000/api/status", timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"]


def test_api_key_valid_succeeds(run_stack):
    out = curl(VALID_KEY_TEST, run_stack["key"])
    assert '"status":"running"' in out
    r = requests.get("http://localhost:8000/api/status", timeout=10,
                     headers={"X-API-Key": run_stack["key"]})
    assert r.status_code == 200
