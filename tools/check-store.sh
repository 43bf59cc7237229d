#!/bin/sh
# check-store.sh — fail if SQL or a SQLite call turns up outside the store (lib/store*.c,
# lib/store*.h and lib/db.c, lib/db.h): programs reach the database only through kw_store_*
# functions, so a second backend can be added behind them. Tests and benchmarks may build
# their fixtures directly and are not checked. Run by `make format-check`, so by `make check`.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files 'lib/*.[ch]' 'fcgi/*.[ch]' 'fetch/*.[ch]' 'ws/*.[ch]' 'admin/*.[ch]' \
	2>/dev/null || find lib fcgi fetch ws admin -name '*.[ch]')
# A SQLite call or handle, the executors, or a string literal that starts like a statement.
sqlite='(^|[^A-Za-z_])(sqlite3_[a-z_]+|sqlite3[[:space:]]*\*|kw_db_(exec|prepare)[[:space:]]*\()'
stmt='"[[:space:]]*(SELECT|INSERT|UPDATE|DELETE|REPLACE|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|VACUUM|CREATE|DROP|ALTER|WITH)[[:space:]]'
hits=$(for f in $files; do
	case "$f" in
	lib/store*.[ch] | lib/db.[ch]) continue ;;
	esac
	# Comments are not code: drop /* ... */ on one line, // ..., and comment lines.
	sed -e 's|/\*.*\*/||g' -e 's|//.*$||' -e 's|^[[:space:]]*/\?\*.*$||' "$f" |
		grep -nE "$sqlite|$stmt" | sed "s|^|$f:|" || true
done)
if [ -n "$hits" ]; then
	echo "SQL or SQLite outside the store (move it behind a kw_store_* function in lib/store*.c):"
	echo "$hits"
	exit 1
fi
echo "check-store: ok"
