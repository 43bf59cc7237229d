"""sectools — helpers for the security tests: HS256 tokens made by hand (so that tests can also
forge the bad ones: alg none, HS512, wrong secret), a movable server clock, and key creation
through the real kw-admin."""
import base64
import hashlib
import hmac
import json
import os
import time

import kwstack
from kwstack import run_admin


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(secret, claims, alg="HS256", header=None, sign=True):
    hdr = header if header is not None else {"alg": alg, "typ": "JWT"}
    head = b64url(json.dumps(hdr, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    msg = (head + "." + body).encode()
    if not sign:
        return head + "." + body + "."
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512, "HS384": hashlib.sha384}[alg]
    sig = hmac.new(secret.encode(), msg, digest).digest()
    return head + "." + body + "." + b64url(sig)


class Clock:
    """The server's test clock: KW_TEST_CLOCK_FILE holds an offset in seconds (development
    only). advance() moves every worker's clock forward at once; nothing sleeps."""

    def __init__(self, path):
        self.path = str(path)
        self.offset = 0
        self._write()

    def _write(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % self.offset)
        os.replace(tmp, self.path)

    def advance(self, seconds):
        self.offset += int(seconds)
        self._write()

    def now(self):
        return int(time.time()) + self.offset


def create_key(stack, name="t", scope="read", rate=None):
    args = ["key", "create", "--name", name, "--scope", scope]
    if rate:
        args += ["--rate", str(rate)]
    r = run_admin(stack, *args)
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    assert key.startswith("kw_") and len(key) == 46
    key_id = int(r.stderr.split("id=")[1].split()[0])
    return key, key_id


def _events_now(stack, type_):
    with stack.sql() as db:
        db.row_factory = kwstack.Row
        if type_:
            return [dict(r) for r in db.execute(
                "SELECT * FROM security_events WHERE type = ? ORDER BY id", (type_,))]
        return [dict(r) for r in db.execute("SELECT * FROM security_events ORDER BY id")]


def events(stack, type_=None, settle=None, timeout=3):
    """security_events rows (of one type), once they have stopped changing for `settle` s: a
    worker stores an event before its reply unless another writer holds the database's lock
    at that instant, and then its write-behind thread stores it a moment later (a sanitized
    build, ThreadSanitizer most of all, takes several times longer over that)."""
    if settle is None:
        settle = 0.5 if os.environ.get("KW_SANITIZE") == "1" else 0.15
    got = _events_now(stack, type_)
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(settle)
        again = _events_now(stack, type_)
        if again == got:
            break
        got = again
    return got
