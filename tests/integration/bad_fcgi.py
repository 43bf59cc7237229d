"""bad_fcgi.py MODE — a stand-in for kw-api that fails as a broken deployment would, so that a
test sees what the web server answers itself when no worker answers properly. It is started
as kw-api is (lighttpd's bin-path, or a socket starter) with the listening socket as standard
input, as FastCGI specifies.

  garbage  answer every connection with bytes that are not FastCGI records, then close
  hangup   accept every connection and close it without a word
  badhead  answer in proper FastCGI records, but with a header block that is not HTTP
  refuse   stop listening at once (connections are refused) and stay alive, so that nothing
           restarts it
"""
import signal
import socket
import struct
import sys
import time


def record(kind, request_id, content):
    return struct.pack(">BBHHBB", 1, kind, request_id, len(content), 0, 0) + content


def bad_head(conn):
    """Read records up to the empty STDIN one, then answer with a malformed header block."""
    buf, request_id = b"", 1
    while True:
        while len(buf) < 8:
            more = conn.recv(65536)
            if not more:
                return
            buf += more
        _, kind, rid, clen, plen, _ = struct.unpack(">BBHHBB", buf[:8])
        while len(buf) < 8 + clen + plen:
            more = conn.recv(65536)
            if not more:
                return
            buf += more
        buf = buf[8 + clen + plen:]
        request_id = rid
        if kind == 5 and clen == 0:  # FCGI_STDIN, empty: the request is complete
            break
    conn.sendall(record(6, request_id, b"this line is no header\r\n\r\nbody")
                 + record(6, request_id, b"")
                 + record(3, request_id, b"\0" * 8))


def main():
    mode = sys.argv[1]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.socket(fileno=0)
    if mode == "refuse":
        listener.close()
        while True:
            time.sleep(3600)
    while True:
        conn, _ = listener.accept()
        if mode == "badhead":
            conn.settimeout(5)
            try:
                bad_head(conn)
            except OSError:
                pass
        elif mode == "garbage":
            conn.settimeout(2)
            try:
                conn.recv(65536)
                conn.sendall(b"this is not FastCGI\r\n\r\n")
            except OSError:
                pass
        conn.close()


if __name__ == "__main__":
    main()
