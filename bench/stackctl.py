"""stackctl.py SERVER DIR BUILD [NAME=VALUE...] — start one of the test harness's stacks
(tests/integration/kwstack.py: the same generated configs the tests walk) for a benchmark,
with the bare FastCGI responder reachable at /bench/ceiling beside kw-api; print
"port=N" once it answers, and stop everything it started on SIGTERM, SIGINT or when its
standard input closes."""
import os
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
server, directory, build = sys.argv[1:4]
os.environ["KW_BUILD"] = build
import kwstack  # noqa: E402  (reads KW_BUILD)

settings = dict(kv.split("=", 1) for kv in sys.argv[4:])
workers = int(os.environ.get("BENCH_WORKERS", "2"))
stack = kwstack.SERVERS[server](directory, settings=settings, workers=workers, wait=False)
ceiling = []
if isinstance(stack, kwstack.ApacheStack):
    sock = os.path.join(stack.dir, "ceiling.sock")
    pidfile = os.path.join(stack.dir, "ceiling.pids")
    # Threaded as kw-api is, with its connections kept open as apache.conf.example keeps
    # kw-api's (one Apache child: a connection per thread).
    threads = int(settings.get("KW_THREADS", "2"))
    subprocess.run(["spawn-fcgi", "-s", sock, "-M", "0666", "-F", str(workers), "-P", pidfile,
                    "--", os.path.join(build, "bench", "fcgi-ceiling"), "-t", str(threads)],
                   check=True, stdout=subprocess.DEVNULL)
    ceiling = [int(p) for p in open(pidfile).read().split()]
    stack.extra_conf = ['<Proxy "unix:%s|fcgi://ceiling">' % sock,
                        "ProxySet enablereuse=on max=%d" % (workers * threads), "</Proxy>",
                        'ProxyPass /bench/ceiling "unix:%s|fcgi://ceiling/"' % sock]
else:
    print("stackctl: only Apache stacks need this; lighttpd uses bench/lib.sh", file=sys.stderr)
    sys.exit(2)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
signal.signal(signal.SIGINT, lambda *a: done.set())
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
try:
    stack.start()
    stack.wait_ready()
    print("port=%d" % stack.port, flush=True)
    done.wait()
finally:
    stack.stop()
    for pid in ceiling:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
