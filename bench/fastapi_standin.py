"""fastapi_standin.py — the original KalshiWhale's kind of app, for bench/bench-security.sh only.

FastAPI + uvicorn (Debian's python3-fastapi and python3-uvicorn), GET /api/status behind the
security checklist's middleware as the original would have wired it: an X-API-Key check and an
in-process per-key rate limit (a dict of timestamps, as its security_middleware.py did), then
the same JSON fields as kw-api's /api/status. Run as a FastAPI deployment is run: one worker
per core on uvloop and httptools (python3-uvloop, python3-httptools), which users always add:
uvicorn fastapi_standin:app --workers $(nproc) --loop uvloop --http httptools.
"""
import os
import time
from collections import defaultdict, deque

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

API_KEY = os.environ.get("API_KEY", "")
LIMIT = int(os.environ.get("RATE_LIMIT_PER_MINUTE", "1000000"))
STARTED = time.time()
app = FastAPI()
hits = defaultdict(deque)


@app.middleware("http")
async def security(request: Request, call_next):
    key = request.headers.get("x-api-key", "")
    if not API_KEY or key != API_KEY:
        return JSONResponse({"error": {"code": "unauthorized"}}, status_code=401)
    now = time.time()
    q = hits[key]
    while q and q[0] < now - 60:
        q.popleft()
    if len(q) >= LIMIT:
        return JSONResponse({"error": {"code": "rate_limited"}}, status_code=429)
    q.append(now)
    response = await call_next(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    return response


@app.get("/api/status")
async def status():
    now = time.time()
    return {"status": "running", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "last_update": None, "active_connections": 0, "total_markets": 0,
            "websocket_enabled": True, "version": "0.1.0", "uptime": int(now - STARTED)}
