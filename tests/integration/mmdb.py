"""mmdb — write a small MaxMind DB file (format 2.0) for tests, built at test time.

Follows the MaxMind DB File Format Specification 2.0 (https://maxmind.github.io/MaxMind-DB/):
a binary search tree over the address bits (24-bit records, IPv4 tree), a 16-byte zero
separator, the data section (control byte: type in the top 3 bits, size in the low 5, extended
types after it, sizes >= 29 in following bytes), then "\\xab\\xcd\\xefMaxMind.com" and the
metadata map. Enough of the format for country databases: maps, UTF-8 strings, unsigned
integers, arrays and booleans. kw-api reads the result with the real libmaxminddb.
"""
import ipaddress
import struct
import time


class U16(int):
    pass


class U32(int):
    pass


class U64(int):
    pass


def _ctrl(type_num, size):
    first, ext = (type_num << 5, b"") if type_num <= 7 else (0, bytes([type_num - 7]))
    if size < 29:
        return bytes([first | size]) + ext
    if size < 285:
        return bytes([first | 29]) + ext + bytes([size - 29])
    if size < 65821:
        return bytes([first | 30]) + ext + (size - 285).to_bytes(2, "big")
    return bytes([first | 31]) + ext + (size - 65821).to_bytes(3, "big")


def encode(v):
    if isinstance(v, bool):
        return _ctrl(14, 1 if v else 0)
    if isinstance(v, str):
        b = v.encode("utf-8")
        return _ctrl(2, len(b)) + b
    if isinstance(v, int):
        if isinstance(v, U16) or (not isinstance(v, (U32, U64)) and v < 1 << 16):
            t = 5
        elif isinstance(v, U32) or (not isinstance(v, U64) and v < 1 << 32):
            t = 6
        else:
            t = 9
        n = (int(v).bit_length() + 7) // 8
        return _ctrl(t, n) + int(v).to_bytes(n, "big") if n else _ctrl(t, 0)
    if isinstance(v, float):
        return _ctrl(3, 8) + struct.pack(">d", v)
    if isinstance(v, dict):
        return _ctrl(7, len(v)) + b"".join(encode(str(k)) + encode(x) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return _ctrl(11, len(v)) + b"".join(encode(x) for x in v)
    raise TypeError("cannot encode %r" % (v,))


def write(path, networks, database_type="KW-Test-Country"):
    """networks: [(IPv4 CIDR, data dict)]. Writes an IPv4 database to path."""
    root = [None, None]
    for cidr, data in networks:
        net = ipaddress.IPv4Network(cidr)
        bits, plen = int(net.network_address), net.prefixlen
        node = root
        for i in range(plen):
            b = (bits >> (31 - i)) & 1
            if i == plen - 1:
                node[b] = ("data", data)
            else:
                if not isinstance(node[b], list):
                    node[b] = [None, None]
                node = node[b]
    nodes, queue = [], [root]
    while queue:
        n = queue.pop(0)
        nodes.append(n)
        queue.extend(c for c in n if isinstance(c, list))
    index = {id(n): i for i, n in enumerate(nodes)}
    data_section, offsets = bytearray(), {}
    for n in nodes:
        for c in n:
            if isinstance(c, tuple):
                enc = encode(c[1])
                if enc not in offsets:
                    offsets[enc] = len(data_section)
                    data_section += enc
    count = len(nodes)

    def record(c):
        if c is None:
            return count
        if isinstance(c, list):
            return index[id(c)]
        return count + 16 + offsets[encode(c[1])]

    tree = b"".join(record(l).to_bytes(3, "big") + record(r).to_bytes(3, "big") for l, r in nodes)
    meta = {
        "binary_format_major_version": U16(2),
        "binary_format_minor_version": U16(0),
        "build_epoch": U64(int(time.time())),
        "database_type": database_type,
        "description": {"en": "KalshiWhale test country database"},
        "ip_version": U16(4),
        "languages": ["en"],
        "node_count": U32(count),
        "record_size": U16(24),
    }
    with open(path, "wb") as f:
        f.write(tree + bytes(16) + bytes(data_section) + b"\xab\xcd\xefMaxMind.com" + encode(meta))
    return path
