"""`kw-admin unblock ADDRESS` lifts the block the workers put on an address, however the
operator spells it: the workers record a client in canonical form (lib/proxy.c), so
2001:DB8:0:0::7 must name the block on 2001:db8::7."""
import requests

from kwstack import Stack, run_admin

KEY = "kw_unblock_" + "u" * 40


def status(stack, client, key):
    return requests.get(stack.url("/api/status"), timeout=10,
                        headers={"X-Forwarded-For": client, "X-API-Key": key})


def test_unblock_takes_any_spelling_of_an_ipv6_address(tmp_path):
    s = Stack(tmp_path, settings={"API_KEY": KEY, "SUSPICIOUS_AUTH_FAILURES": "3",
                                  "BLOCK_MINUTES": "60", "TRUSTED_PROXIES": "127.0.0.1"},
              workers=2)
    s.start()
    try:
        for _ in range(3):
            assert status(s, "2001:db8::7", "kw_bad").status_code == 401
        r = status(s, "2001:DB8::7", KEY)  # the same client, spelled otherwise
        assert r.status_code == 403 and r.json()["error"]["code"] == "blocked"
        bad = run_admin(s, "unblock", "2001:db8::7;rm")
        assert bad.returncode == 2 and "usage" in bad.stderr
        done = run_admin(s, "unblock", "2001:DB8:0:0::7")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "2001:db8::7 unblocked"
        assert status(s, "2001:db8::7", KEY).status_code == 200
    finally:
        s.stop()
