"""contract — every answer a test receives from kw-api is checked against the OpenAPI document.

The document comes from the build under test (`kw-api --openapi`, the same bytes as
GET /api/openapi.json, which test_contract.py checks), so loading it costs the servers
nothing and never touches a rate limit. kwstack registers each stack's base URLs with watch();
install() wraps requests' Session.send, so every requests.get/post/... a test makes to a
watched server is checked on arrival, and a mismatch raises AssertionError inside the call:
the test that received the answer fails, naming the route, the status and the first error.

What is checked, for answers under /api/ and /metrics that kw-api made (they carry
X-Request-Id; the web server's own error pages do not):
- a documented operation: the status must be one the document lists for it; a JSON body is
  validated (JSON Schema draft 2020-12, python3-jsonschema) against that status's schema; a
  CSV body's header line must be the documented x-csv-columns; another media type must be the
  documented one.
- no operation (unknown path, another method, a CORS preflight): a JSON body must be an Error.
Bodies of HEAD requests, 304s and streamed responses (stream=True) are not read here.
"""
import functools
import json
import os
import re
import subprocess
import threading
from urllib.parse import urlsplit

import jsonschema
import requests

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("KW_BUILD", os.path.join(TOP, "build"))

_watched = set()
_lock = threading.Lock()
_installed = False


def watch(base):
    """Check answers from base ("http://127.0.0.1:PORT")."""
    with _lock:
        _watched.add(base.rstrip("/"))


@functools.lru_cache(maxsize=1)
def document():
    out = subprocess.run([os.path.join(BUILD, "kw-api"), "--openapi"], check=True,
                         capture_output=True, timeout=30, env={"PATH": os.environ["PATH"]})
    return json.loads(out.stdout)


@functools.lru_cache(maxsize=1)
def _routes():
    """[(regex, path template, path item)] for every documented path."""
    routes = []
    for template, item in document()["paths"].items():
        rx = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        routes.append((re.compile(rx), template, item))
    return routes


def operation(method, path):
    """(template, operation) for method and a concrete path, or (template or None, None)."""
    method = "get" if method.upper() == "HEAD" else method.lower()
    for rx, template, item in _routes():
        if rx.match(path):
            return template, item.get(method)
    return None, None


@functools.lru_cache(maxsize=None)
def _validator(pointer):
    """A validator for the schema at a JSON pointer into the document, refs resolved."""
    doc = document()
    node = doc
    for part in pointer.strip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": doc["components"], "allOf": [node]}
    jsonschema.Draft202012Validator.check_schema(root)
    return jsonschema.Draft202012Validator(root)


def _pointer(template, method, status, media):
    esc = lambda s: s.replace("~", "~0").replace("/", "~1")
    return "/paths/%s/%s/responses/%s/content/%s/schema" % (esc(template), method, status,
                                                              esc(media))


def schema_errors(pointer, body):
    """The validation errors of body against the schema at pointer (a list of strings)."""
    errors = sorted(_validator(pointer).iter_errors(body), key=lambda e: list(e.absolute_path))
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(root)", e.message)
            for e in errors[:5]]


def check(resp, streamed=False):
    """Raise AssertionError when resp does not match the document."""
    url = urlsplit(resp.url)
    base = "%s://%s" % (url.scheme, url.netloc)
    with _lock:
        if base not in _watched:
            return
    path, method, status = url.path, resp.request.method.upper(), resp.status_code
    if not (path.startswith("/api/") or path == "/metrics"):
        return
    # kw-api stamps every answer with X-Request-Id; one without it is the web server's own
    # (a 502 or 503 page while workers restart), which the document does not describe.
    if "X-Request-Id" not in resp.headers:
        return
    what = "%s %s -> %d" % (method, path, status)
    template, op = operation(method, path)
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    no_body = method == "HEAD" or status in (204, 304) or streamed
    if op is None:
        if not no_body and ctype == "application/json":
            errs = schema_errors("/components/schemas/Error", resp.json())
            assert not errs, "%s: not the Error shape: %s" % (what, "; ".join(errs))
        return
    responses = op["responses"]
    assert str(status) in responses, "%s: status %d is not documented for %s %s" % (
        what, status, method, template)
    if no_body:
        return
    content = responses[str(status)].get("content", {})
    verb = "get" if method == "HEAD" else method.lower()
    if ctype == "application/json":
        assert ctype in content, "%s: JSON is not a documented answer" % what
        try:
            body = resp.json()
        except ValueError as e:
            raise AssertionError("%s: invalid JSON: %s" % (what, e))
        errs = schema_errors(_pointer(template, verb, status, ctype), body)
        assert not errs, "%s does not match the document: %s" % (what, "; ".join(errs))
    elif ctype == "text/csv":
        assert ctype in content, "%s: CSV is not a documented answer" % what
        first = resp.content.split(b"\r\n", 1)[0].decode()
        cols = content[ctype]["x-csv-columns"]
        assert resp.content == b"" or first == ",".join(cols), \
            "%s: CSV header %r, documented %r" % (what, first, ",".join(cols))
    elif resp.content:
        documented = {m.split(";")[0].strip() for m in content}
        assert ctype in documented, "%s: media type %r, documented %s" % (
            what, ctype, sorted(documented))


def install():
    """Check every answer requests receives from a watched server (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    send = requests.Session.send

    def checked_send(self, request, **kw):
        resp = send(self, request, **kw)
        check(resp, streamed=bool(kw.get("stream")))
        return resp

    requests.Session.send = checked_send
