#!/usr/bin/python3
"""check-pg-schema.py — do the PostgreSQL migrations (sql/pg/) build the schema SQLite has?

Migrates a temporary SQLite file with `kw-admin db migrate`, applies the PostgreSQL migrations
(sql/pg/NNNN_*.sql in order, as kw-admin would) to a fresh database in a running cluster, and compares what a store query can see: table and view
names, column names in order with their types (INTEGER = bigint, TEXT = text, REAL = double
precision, BLOB = bytea), NOT NULL, defaults, primary keys, foreign keys, index names (with
unique and partial flags), trigger names, and the rows the migrations insert. Then it evaluates
the compatibility functions (max/min, ifnull, iif, instr, total, json_extract, json_each,
COLLATE NOCASE) on both engines and compares the answers.

The schema is applied by an ordinary role that owns the database, never a superuser: the
script connects as --user (a role allowed to create roles and databases, e.g. postgres on a
throwaway cluster), creates a login role and a database owned by it, applies the file as that
role, and drops both at the end.

It does not compare CHECK constraint texts or index column lists (the two engines print them
differently); the schema file's comments say how each was translated.

Usage: check-pg-schema.py [--host DIR_OR_HOST] [--port N] [--user ROLE] [--kw-admin PATH]
                          [--schema FILE]
Defaults: KW_PG_HOST, KW_PG_PORT, KW_PG_USER (postgres), $KW_BUILD/kw-admin or
build/kw-admin, every file in sql/pg/ (--schema FILE: that one file instead). Exit status:
0 the schemas agree, 1 they differ (each difference printed), 2 the check could not run.
"""

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import tempfile

import psycopg2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# SQLite declared type -> PostgreSQL type (format_type).
TYPES = {"INTEGER": "bigint", "TEXT": "text", "REAL": "double precision", "BLOB": "bytea"}

# Rows the migrations insert whose values depend on when they ran: compared by key only.
CLOCK_ROWS = {("fetch_state", "activity_cutoff_us")}

# Each compatibility function on a few values. Both engines run the same text; answers are
# compared after normalize(). The last group is how lib/store*.c uses json_each.
PROBES = [
    "SELECT max(3, 5), min(3, 5), max(-1, -7), min(-1, -7)",
    "SELECT max(NULL, 5), min(5, NULL)",
    "SELECT ifnull(NULL, 2), ifnull(7, 2), ifnull(NULL, NULL), ifnull('a', 'b')",
    "SELECT iif(1 > 2, 'a', 'b'), iif(2 > 1, 10, 20), iif(NULL, 1, 0)",
    "SELECT instr('ab', 'b'), instr('ab', 'z'), instr('Crypto', '\"'), instr(NULL, 'a')",
    "SELECT total(x) FROM (SELECT 1 AS x WHERE 1 = 0) AS t",
    "SELECT total(x) FROM (SELECT 1 AS x UNION ALL SELECT NULL UNION ALL SELECT 2) AS t",
    "SELECT json_extract('{\"x\":5}', '$.\"x\"'), json_extract('{\"x\":5}', '$.\"y\"')",
    "SELECT json_extract('{\"crypto\":2500000000,\"sports\":0}', '$.\"crypto\"'),"
    " json_extract('{\"crypto\":2500000000,\"sports\":0}', '$.\"sports\"'),"
    " json_extract('{\"a b\":-3}', '$.\"a b\"'), json_extract('{\"x\":null}', '$.\"x\"')",
    "SELECT 'Crypto' = 'crypto' COLLATE NOCASE, 'Crypto' = 'Cryptos' COLLATE NOCASE",
    "SELECT key, value FROM json_each('[\"KXBTC\",\"KXETH\",7]')",
    "SELECT key, value FROM json_each('{\"crypto\":5,\"sports\":7,\"x\":null}')",
    "SELECT value FROM json_each('[\"KXBTC\",\"KXETH\"]') WHERE value = 'KXETH'",
    "SELECT count(*) FROM json_each('[\"KXBTC\",\"KXE\"]') p"
    " WHERE substr('KXBTCD-25DEC', 1, length(p.value)) = p.value",
    "SELECT CAST(j.value AS BIGINT) + 1 FROM json_each('{\"crypto\":2500000000}') j"
    " WHERE j.key = lower('Crypto')",
    "SELECT ifnull((SELECT CAST(j.value AS BIGINT) FROM json_each('{\"crypto\":5}') j"
    " WHERE j.key = 'sports'), 9)",
]


def fail_run(msg):
    print("check-pg-schema: " + msg, file=sys.stderr)
    sys.exit(2)


def normalize(v):
    """One spelling for both engines' answers: SQLite has no booleans, json_each's keys and
    values are typed there and text here, total() is a REAL there."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, int):
        return v
    if v is None:
        return None
    s = str(v)
    return int(s) if re.fullmatch(r"-?[0-9]+", s) else s


def sqlite_default(v):
    """SQLite's dflt_value ("0", "''", "'{}'") as PostgreSQL's column_default prints it."""
    return None if v is None else v


def pg_default(v):
    if v is None:
        return None
    m = re.fullmatch(r"('(?:[^']|'')*')::text", v)
    return m.group(1) if m else v


def migrate_sqlite(kw_admin, path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KW_ENV_FILE")}
    env["DATABASE_PATH"] = path
    r = subprocess.run([kw_admin, "db", "migrate"], cwd=os.path.dirname(path), env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail_run("%s db migrate failed (%d): %s" % (kw_admin, r.returncode, r.stderr.strip()))


def sqlite_schema(db):
    """{"relations": {name: kind}, "columns": {table: [(name, type, notnull, default)]}, ...}"""
    s = {"relations": {}, "columns": {}, "pk": {}, "fk": set(), "indexes": {}, "triggers": set()}
    rows = db.execute("SELECT type, name, tbl_name FROM sqlite_schema"
                      " WHERE name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
    for kind, name, tbl in rows:
        if kind in ("table", "view"):
            s["relations"][name] = kind
        elif kind == "trigger":
            s["triggers"].add((tbl, name))
    for name in s["relations"]:
        cols, pk = [], []
        for cid, col, typ, notnull, dflt, pkpos in db.execute(
                "SELECT cid, name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?)"
                " ORDER BY cid", (name,)):
            # A primary key column is NOT NULL on PostgreSQL always; on SQLite a rowid alias
            # or a WITHOUT ROWID key is too, whatever table_info says.
            cols.append((col, TYPES.get(typ.upper(), typ), bool(notnull) or pkpos > 0,
                         sqlite_default(dflt)))
            if pkpos:
                pk.append((pkpos, col))
        s["columns"][name] = cols
        s["pk"][name] = [c for _, c in sorted(pk)]
        if s["relations"][name] != "table":
            continue
        for _, seq, ref, frm, to, *_ in db.execute(
                "SELECT * FROM pragma_foreign_key_list(?)", (name,)):
            s["fk"].add((name, frm, ref, to))
        for _, idx, unique, origin, partial in db.execute(
                "SELECT * FROM pragma_index_list(?)", (name,)):
            if origin == "c":  # CREATE INDEX; "pk"/"u" back a constraint
                s["indexes"][idx] = (name, bool(unique), bool(partial))
    return s


PG_RELATIONS = """
SELECT c.relname, CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END
  FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace
   AND c.relkind IN ('r', 'p', 'v') ORDER BY 1"""
PG_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid)
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"""
PG_PK = """
SELECT a.attname FROM pg_index i
  CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n)
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
 WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY k.n"""
PG_FK = """
SELECT cl.relname, a.attname, rc.relname, ra.attname
  FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid
  JOIN pg_class rc ON rc.oid = c.confrelid
  CROSS JOIN LATERAL unnest(c.conkey, c.confkey) k(col, refcol)
  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col
  JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = k.refcol
 WHERE c.contype = 'f' AND cl.relnamespace = current_schema()::regnamespace"""
PG_INDEXES = """
SELECT ic.relname, tc.relname, i.indisunique, i.indpred IS NOT NULL
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid
 WHERE tc.relnamespace = current_schema()::regnamespace
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"""
PG_TRIGGERS = """
SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"""


def pg_schema(cur):
    s = {"relations": {}, "columns": {}, "pk": {}, "fk": set(), "indexes": {}, "triggers": set()}
    cur.execute(PG_RELATIONS)
    s["relations"] = dict(cur.fetchall())
    for name in s["relations"]:
        cur.execute(PG_COLUMNS, (name,))
        s["columns"][name] = [(c, t, bool(nn), pg_default(d)) for c, t, nn, d in cur.fetchall()]
        cur.execute(PG_PK, (name,))
        s["pk"][name] = [r[0] for r in cur.fetchall()]
    cur.execute(PG_FK)
    s["fk"] = set(cur.fetchall())
    cur.execute(PG_INDEXES)
    s["indexes"] = {i: (t, bool(u), bool(p)) for i, t, u, p in cur.fetchall()}
    cur.execute(PG_TRIGGERS)
    s["triggers"] = set(cur.fetchall())
    return s


def compare(lite, pg, diffs):
    for name in sorted(set(lite["relations"]) | set(pg["relations"])):
        if name not in pg["relations"]:
            diffs.append("%s %s: missing on PostgreSQL" % (lite["relations"][name], name))
            continue
        if name not in lite["relations"]:
            diffs.append("%s %s: only on PostgreSQL" % (pg["relations"][name], name))
            continue
        if lite["relations"][name] != pg["relations"][name]:
            diffs.append("%s: a %s on SQLite, a %s on PostgreSQL" % (
                name, lite["relations"][name], pg["relations"][name]))
        lc, pc = lite["columns"][name], pg["columns"][name]
        if [c[0] for c in lc] != [c[0] for c in pc]:
            diffs.append("%s: columns differ\n    SQLite:     %s\n    PostgreSQL: %s" % (
                name, ", ".join(c[0] for c in lc), ", ".join(c[0] for c in pc)))
            continue
        for (col, ltype, lnn, ldef), (_, ptype, pnn, pdef) in zip(lc, pc):
            if ltype != ptype:
                diffs.append("%s.%s: type %s on SQLite, %s on PostgreSQL" % (
                    name, col, ltype, ptype))
            if lnn != pnn:
                diffs.append("%s.%s: %s on SQLite, %s on PostgreSQL" % (
                    name, col, "NOT NULL" if lnn else "nullable",
                    "NOT NULL" if pnn else "nullable"))
            if ldef != pdef:
                diffs.append("%s.%s: default %s on SQLite, %s on PostgreSQL" % (
                    name, col, ldef, pdef))
        if lite["pk"][name] != pg["pk"][name]:
            diffs.append("%s: primary key (%s) on SQLite, (%s) on PostgreSQL" % (
                name, ", ".join(lite["pk"][name]), ", ".join(pg["pk"][name])))
    for fk in sorted(lite["fk"] ^ pg["fk"]):
        diffs.append("foreign key %s.%s -> %s(%s): only on %s" % (
            fk + ("SQLite" if fk in lite["fk"] else "PostgreSQL",)))
    for idx in sorted(set(lite["indexes"]) | set(pg["indexes"])):
        li, pi = lite["indexes"].get(idx), pg["indexes"].get(idx)
        if li != pi:
            def show(x):
                return "absent" if x is None else "on %s%s%s" % (
                    x[0], ", unique" if x[1] else "", ", partial" if x[2] else "")
            diffs.append("index %s: %s on SQLite, %s on PostgreSQL" % (idx, show(li), show(pi)))
    for trig in sorted(lite["triggers"] ^ pg["triggers"]):
        diffs.append("trigger %s on %s: only on %s" % (
            trig[1], trig[0], "SQLite" if trig in lite["triggers"] else "PostgreSQL"))


def compare_rows(db, cur, tables, diffs):
    """The rows the migrations inserted, table by table (the clock-dependent ones by key)."""
    for name, kind in sorted(tables.items()):
        if kind != "table":
            continue
        lrows = db.execute('SELECT * FROM "%s"' % name).fetchall()
        cur.execute('SELECT * FROM "%s"' % name)
        prows = cur.fetchall()

        def key(rows):
            return sorted(tuple(normalize(v) for v in (
                r[:1] if (name, r[0]) in CLOCK_ROWS else r)) for r in rows)
        if key(lrows) != key(prows):
            diffs.append("rows of %s differ\n    SQLite:     %s\n    PostgreSQL: %s" % (
                name, key(lrows), key(prows)))


def compare_probes(db, cur, diffs):
    for sql in PROBES:
        lite = [tuple(normalize(v) for v in r) for r in db.execute(sql).fetchall()]
        try:
            cur.execute(sql)
            pg = [tuple(normalize(v) for v in r) for r in cur.fetchall()]
        except psycopg2.Error as e:
            cur.connection.rollback()
            pg = "error: " + str(e).strip().splitlines()[0]
        if lite != pg:
            diffs.append("%s\n    SQLite:     %s\n    PostgreSQL: %s" % (sql, lite, pg))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default=os.environ.get("KW_PG_HOST"))
    ap.add_argument("--port", default=os.environ.get("KW_PG_PORT"))
    ap.add_argument("--user", default=os.environ.get("KW_PG_USER", "postgres"))
    build = os.environ.get("KW_BUILD", os.path.join(ROOT, "build"))
    ap.add_argument("--kw-admin", default=os.path.join(build, "kw-admin"))
    ap.add_argument("--schema", default=None)
    args = ap.parse_args()
    if not args.host or not args.port:
        fail_run("name the cluster: --host and --port, or KW_PG_HOST and KW_PG_PORT")
    pgdir = os.path.join(ROOT, "sql", "pg")
    files = [args.schema] if args.schema else [
        os.path.join(pgdir, n) for n in sorted(os.listdir(pgdir)) if n.endswith(".sql")]
    schema_sql = ""
    for path in files:
        with open(path, encoding="utf-8") as f:
            schema_sql += f.read() + "\n"
    args.schema = args.schema or "sql/pg/"

    tag = "kwcheck_%d" % os.getpid()
    admin = psycopg2.connect(host=args.host, port=args.port, user=args.user, dbname="postgres")
    admin.autocommit = True
    acur = admin.cursor()
    diffs = []
    try:
        acur.execute("CREATE ROLE %s LOGIN" % tag)
        acur.execute("CREATE DATABASE %s OWNER %s" % (tag, tag))
        with tempfile.TemporaryDirectory(prefix="kw-pg-schema-") as tmp:
            path = os.path.join(tmp, "kw.db")
            migrate_sqlite(args.kw_admin, path)
            db = sqlite3.connect(path)
            conn = psycopg2.connect(host=args.host, port=args.port, user=tag, dbname=tag)
            try:
                cur = conn.cursor()
                try:
                    cur.execute(schema_sql)  # one transaction: all of it or nothing
                    conn.commit()
                except psycopg2.Error as e:
                    fail_run("%s does not apply as the database owner: %s" % (
                        args.schema, str(e).strip()))
                lite, pg = sqlite_schema(db), pg_schema(cur)
                compare(lite, pg, diffs)
                compare_rows(db, cur, {n: k for n, k in lite["relations"].items()
                                       if n in pg["relations"]}, diffs)
                compare_probes(db, cur, diffs)
                tables = len(pg["relations"])
            finally:
                conn.close()
                db.close()
    finally:
        acur.execute("DROP DATABASE IF EXISTS %s" % tag)
        acur.execute("DROP ROLE IF EXISTS %s" % tag)
        admin.close()

    for d in diffs:
        print("DIFF " + d)
    if diffs:
        print("check-pg-schema: %d difference(s) between SQLite and %s" % (
            len(diffs), args.schema), file=sys.stderr)
        return 1
    print("check-pg-schema: %d tables and views, their columns, keys, indexes, triggers,"
          " seed rows and %d compatibility probes agree" % (tables, len(PROBES)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
