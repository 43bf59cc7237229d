"""Accept threads: a kw-api worker process serves KW_THREADS requests at once, each thread with
its own database connection, and stops between requests on SIGTERM. (make check also runs the
whole suite with KW_TEST_THREADS=4, and the limiter's exact-count tests with many threads in
many processes are in test_security.py.)"""
import os
import re
import threading

import requests

from kwstack import Stack, pg_mode


def thread_prefixes(log, pid, path):
    """The request-id prefixes (one per accept thread) that answered path in worker pid."""
    pat = r"kw-api\[%d\] .*request id=([0-9a-f]{8})[0-9a-f]{8} method=GET path=%s " % (
        pid, re.escape(path))
    return set(re.findall(pat, log))


def hammer(stack, path, clients, each):
    codes = []
    lock = threading.Lock()

    def client():
        sess = requests.Session()
        for _ in range(each):
            code = sess.get(stack.url(path), headers={"X-API-Key": stack.api_key},
                            timeout=20).status_code
            with lock:
                codes.append(code)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return codes


def thread_names(pid):
    """How many threads of process pid bear each name (a sanitizer adds its own)."""
    names = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
        except FileNotFoundError:
            continue
        names[name] = names.get(name, 0) + 1
    return names


def db_connections(pid, db):
    """Connections of process pid to its database: on SQLite, open descriptors of the file
    itself; on PostgreSQL, its TCP sockets to the server (/proc/net/tcp by socket inode)."""
    fd_dir = "/proc/%d/fd" % pid
    links = []
    for fd in os.listdir(fd_dir):
        try:
            links.append(os.readlink(os.path.join(fd_dir, fd)))
        except FileNotFoundError:
            pass
    if not pg_mode():
        return links.count(os.path.realpath(db))
    import pgcluster
    server = "0100007F:%04X" % pgcluster.cluster().port
    with open("/proc/net/tcp") as f:
        to_server = {cols[9] for cols in (line.split() for line in list(f)[1:])
                     if cols[2] == server}
    return sum(1 for link in links if link.startswith("socket:[") and link[8:-1] in to_server)


def test_one_worker_serves_with_all_its_threads(tmp_path):
    with Stack(tmp_path, settings={"KW_THREADS": "4"}, workers=1) as s:
        [pid] = s.worker_pids()
        # Four accept threads and the write-behind thread, besides the main thread.
        names = thread_names(pid)
        assert names.get("kw-api-accept") == 4, names
        assert names.get("kw-api-writer") == 1, names
        assert "4 threads" in s.log()
        codes = hammer(s, "/api/status", clients=16, each=10)
        assert codes == [200] * 160
        # Every accept thread answered some of them (each has its own request-id prefix): so
        # through lighttpd, where every request is a connection of its own. Apache keeps its
        # connections open (enablereuse), each served by the thread that accepted it, so
        # there as many threads answer as its pool used connections.
        served = len(thread_prefixes(s.log(), pid, "/api/status"))
        if os.environ.get("KW_SERVER", "lighttpd") == "lighttpd":
            assert served == 4
        else:
            assert 1 <= served <= 4
        # Each accept thread holds a connection of its own (the writer opens one more at its
        # first pass).
        assert db_connections(pid, s.db) in (4, 5)
    assert "worker stopping" in s.log()
    assert not os.path.exists("/proc/%d" % pid)


def test_a_single_thread_is_the_same_worker(tmp_path):
    with Stack(tmp_path, settings={"KW_THREADS": "1"}, workers=1) as s:
        [pid] = s.worker_pids()
        names = thread_names(pid)
        assert names.get("kw-api-accept") == 1, names
        assert names.get("kw-api-writer") == 1, names
        assert hammer(s, "/api/status", clients=4, each=5) == [200] * 20
        assert len(thread_prefixes(s.log(), pid, "/api/status")) == 1
    assert "worker stopping" in s.log()
