# lib.sh — shared by bench/*.sh (sourced): start a real lighttpd with kw-api workers and the
# bare libfcgi responder (the FastCGI ceiling) behind it, run bounded wrk measurements, stop
# what was started. Loopback only; every wrk run has a fixed duration.
#
#   bench_start BUILD DIR [SETTING=VALUE...]   lighttpd on a free port: /api/* -> kw-api,
#                                              /bench/ceiling -> fcgi-ceiling,
#                                              /bench/ceiling-threaded -> fcgi-ceiling with
#                                              $BENCH_KW_THREADS accept threads,
#                                              /bench/ceiling-close -> the same, accepting and
#                                              closing as kw-api does (-c), static files
#                                              from DIR/www; settings go to DIR/kalshiwhale.env;
#                                              with DIR/replay.txt present, /bench/replay ->
#                                              fcgi-ceiling answering with those bytes
#   bench_wrk NAME PATH [KEY]                  wrk -c$BENCH_CONNECTIONS for $BENCH_DURATION s;
#                                              prints and records "NAME rps p50 p99 errors"
#                                              (wrk script: $BENCH_WRK_SCRIPT, else report.lua)
#   bench_rps NAME / bench_p99 NAME            recorded figures
#   bench_worker_rss_kib                       peak RSS (VmHWM) of the largest kw-api worker
#   bench_stop                                 stop lighttpd and its workers
#   bench_api_data BUILD DB MARKETS TRADES NOW the data API's benchmark database (SQLite)

BENCH_DURATION=${BENCH_DURATION:-8}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_WORKERS=${BENCH_WORKERS:-2}
BENCH_KW_THREADS=${BENCH_KW_THREADS:-2} # kw-api's KW_THREADS (its default) and the threaded ceiling's
bench_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
declare -A BENCH_RESULT

bench_free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bench_start() {
	local build=$1 dir=$2
	shift 2
	BENCH_DIR=$dir
	BENCH_PORT=$(bench_free_port)
	BENCH_BASE="http://127.0.0.1:$BENCH_PORT"
	mkdir -p "$dir/www"
	: >"$dir/kalshiwhale.env"
	echo "DATABASE_PATH=$dir/kalshiwhale.db" >>"$dir/kalshiwhale.env"
	echo "KW_THREADS=$BENCH_KW_THREADS" >>"$dir/kalshiwhale.env" # a later KW_THREADS= wins
	for kv in "$@"; do echo "$kv" >>"$dir/kalshiwhale.env"; done
	if [ ! -s "$dir/server.pem" ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/k.pem" -out "$dir/c.pem" \
			-days 1 -subj /CN=localhost >/dev/null 2>&1
		cat "$dir/c.pem" "$dir/k.pem" >"$dir/server.pem"
	fi
	local q='"'
	sh "$bench_top/deploy/gen-lighttpd-conf.sh" "$bench_top/lighttpd.conf.example" \
		"$dir/lighttpd.conf" kw_bin="$q$build$q" kw_www="$q$dir/www$q" kw_state="$q$dir$q" \
		kw_log_dir="$q$dir$q" kw_env_file="$q$dir/kalshiwhale.env$q" \
		kw_host='"127.0.0.1"' kw_port="$BENCH_PORT" kw_tls_port="$(bench_free_port)" \
		kw_tls_pem="$q$dir/server.pem$q" kw_ws_port="$(bench_free_port)" \
		kw_workers="$BENCH_WORKERS"
	# The baseline responder, with as many processes as kw-api has, behind the same server.
	cat >>"$dir/lighttpd.conf" <<CONF
\$HTTP["url"] == "/bench/ceiling" {
  fastcgi.server = ( "/" => ((
    "socket" => "$dir/ceiling.sock", "bin-path" => "$build/bench/fcgi-ceiling",
    "max-procs" => $BENCH_WORKERS, "check-local" => "disable" )))
}
\$HTTP["url"] == "/bench/ceiling-threaded" {
  fastcgi.server = ( "/" => ((
    "socket" => "$dir/ceiling-t.sock",
    "bin-path" => "$build/bench/fcgi-ceiling -t $BENCH_KW_THREADS",
    "max-procs" => $BENCH_WORKERS, "check-local" => "disable" )))
}
\$HTTP["url"] == "/bench/ceiling-close" {
  fastcgi.server = ( "/" => ((
    "socket" => "$dir/ceiling-c.sock",
    "bin-path" => "$build/bench/fcgi-ceiling -c -t $BENCH_KW_THREADS",
    "max-procs" => $BENCH_WORKERS, "check-local" => "disable" )))
}
CONF
	if [ -s "$dir/replay.txt" ]; then
		cat >>"$dir/lighttpd.conf" <<CONF
\$HTTP["url"] == "/bench/replay" {
  fastcgi.server = ( "/" => ((
    "socket" => "$dir/replay.sock", "bin-path" => "$build/bench/fcgi-ceiling $dir/replay.txt",
    "max-procs" => $BENCH_WORKERS, "check-local" => "disable" )))
}
CONF
	fi
	# No access log: it would be a disk write per request on every path alike.
	sed -i '/^accesslog.filename/d; s/"mod_accesslog",//' "$dir/lighttpd.conf"
	lighttpd -D -f "$dir/lighttpd.conf" >>"$dir/lighttpd-error.log" 2>&1 &
	BENCH_LIGHTTPD=$!
	for _ in $(seq 1 100); do
		curl -fsS -o /dev/null "$BENCH_BASE/api/health" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench: stack did not start; see $dir/lighttpd-error.log" >&2
	return 1
}

bench_wrk() {
	local name=$1 path=$2 key=${3:-}
	local out
	out=$(KW_BENCH_KEY="$key" timeout $((BENCH_DURATION + 30)) wrk -t"$BENCH_THREADS" \
		-c"$BENCH_CONNECTIONS" -d"${BENCH_DURATION}s" --timeout 5s \
		-s "${BENCH_WRK_SCRIPT:-$bench_top/bench/report.lua}" "$BENCH_BASE$path" |
		grep '^KWBENCH')
	local rps p50 p99 err
	rps=$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' <<<"$out")
	p50=$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$out")
	p99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out")
	err=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$out")
	local kinds
	kinds=$(sed -n 's/.*errors=[0-9]* \((.*)\).*/\1/p' <<<"$out")
	BENCH_RESULT[$name.rps]=$rps
	BENCH_RESULT[$name.p99]=$p99
	printf '%-34s %10.0f req/s   p50 %6.2f ms   p99 %6.2f ms   errors %s%s\n' "$name" "$rps" \
		"$(bc -l <<<"$p50/1000")" "$(bc -l <<<"$p99/1000")" "$err" \
		"$([ "${err:-1}" = 0 ] || echo "   <- INVALID: $kinds")"
}

bench_rps() { echo "${BENCH_RESULT[$1.rps]}"; }
bench_p99() { echo "${BENCH_RESULT[$1.p99]}"; }
bench_ratio() { bc -l <<<"scale=2; $1 / $2" | sed 's/^\./0./'; }

bench_worker_rss_kib() {
	local max=0 pid rss
	# lighttpd's child is `kw-api --workers N`; the workers are its children
	for pid in $(for s in $(pgrep -P "$BENCH_LIGHTTPD" -x kw-api); do pgrep -P "$s" -x kw-api; done); do
		rss=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		[ "${rss:-0}" -gt "$max" ] && max=$rss
	done
	echo "$max"
}

# bench_capture URL KEY OUT — kw-api's reply to URL as a FastCGI response file for
# fcgi-ceiling: its status line and headers (less Date and Accept-Ranges, which the web server
# adds itself) and body.
bench_capture() {
	local url=$1 key=$2 out=$3
	curl -fsS -D "$out.head" -o "$out.body" -H "X-API-Key: $key" "$url"
	{
		sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\) \(.*\)\r$/Status: \1 \2\r/p' "$out.head"
		sed -n '2,$p' "$out.head" | grep -v -i -e '^date:' -e '^accept-ranges:' -e '^server:' \
			-e '^\r$'
		printf '\r\n'
		cat "$out.body"
	} >"$out"
	rm -f "$out.head" "$out.body"
}

bench_stop() {
	if [ -n "${BENCH_LIGHTTPD:-}" ]; then
		local kids
		kids=$(pgrep -P "$BENCH_LIGHTTPD" || true)
		kill -TERM "$BENCH_LIGHTTPD" 2>/dev/null || true
		wait "$BENCH_LIGHTTPD" 2>/dev/null || true
		for p in $kids; do kill -TERM "$p" 2>/dev/null || true; done
		BENCH_LIGHTTPD=
	fi
}

# bench_api_data BUILD DB MARKETS TRADES NOW — the data API's benchmark database (SQLite file
# DB): MARKETS markets in 20 series and TRADES trades over the 7 days before NOW (every 50th a
# whale of $5,000 or more), a snapshot of every market and 50 order books, one finished fetch
# run, detection caught up; built in one SQL transaction, then the markets' 24-hour totals and
# the API's rollups recounted as kw-fetch keeps them. bench-api.sh measures SQLite on it;
# bench-pg.sh copies it into PostgreSQL with `kw-admin db copy`.
bench_api_data() {
	local build=$1 db=$2 markets=$3 trades=$4 now=$5
	echo "DATABASE_PATH=$db" >"$db.gen.env"
	KW_ENV_FILE="$db.gen.env" LOG_LEVEL=warning "$build/kw-api" --check-config >/dev/null # creates the schema
	sqlite3 -cmd ".timeout 10000" "$db" >/dev/null <<SQL
PRAGMA journal_mode=WAL;
PRAGMA synchronous=OFF;
BEGIN;
INSERT INTO series (ticker, title, category, frequency, fetched_at)
  WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 19)
  SELECT printf('BS%02d', i), printf('Bench series %d', i),
         CASE i % 5 WHEN 0 THEN 'Crypto' WHEN 1 THEN 'Sports' WHEN 2 THEN 'Politics'
                    WHEN 3 THEN 'Economics' ELSE 'Climate' END, 'daily', $now FROM n;
INSERT INTO markets (ticker, event_ticker, series_ticker, category, title, status, open_at,
                     close_at, yes_bid_micros, yes_ask_micros, no_bid_micros, no_ask_micros,
                     last_price_micros, previous_price_micros, volume_centi, volume_24h_centi,
                     open_interest_centi, first_seen_at, updated_at)
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $markets)
  SELECT printf('BM-%05d', i), printf('BE-%04d', i / 10), printf('BS%02d', i % 20),
         CASE (i % 20) % 5 WHEN 0 THEN 'Crypto' WHEN 1 THEN 'Sports' WHEN 2 THEN 'Politics'
                           WHEN 3 THEN 'Economics' ELSE 'Climate' END,
         printf('Bench market %d', i), 'active', $now - 86400 * 30, $now + (i % 5000) * 600,
         p - 10000, p + 10000, 990000 - p, 1010000 - p, p, 10000 + (i * 53) % 980000,
         (i * 7919) % 1000000 * 100, (i * 104729) % 500000 * 100, (i * 31) % 100000 * 100,
         $now - 86400 * 30, $now
  FROM (SELECT i, 20000 + (i * 37) % 960000 AS p FROM n);
INSERT INTO trades (trade_id, ticker, created_us, count_centi, yes_price_micros,
                    no_price_micros, taker_side, notional_micros)
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $trades)
  SELECT printf('bt-%07d', i), printf('BM-%05d', 1 + (i * 7919) % $markets),
         ($now - 7 * 86400) * 1000000 + i * (7 * 86400000000 / $trades),
         max(1, notional * 100 / CASE WHEN i % 2 THEN 1000000 - yp ELSE yp END), yp,
         1000000 - yp, CASE WHEN i % 2 THEN 'no' ELSE 'yes' END, notional
  FROM (SELECT i, 100000 + (i * 13) % 800000 AS yp,
               CASE WHEN i % 50 = 0 THEN 5000000000 + (i % 997) * 10000000
                    ELSE (1 + i % 900) * 1000000 END AS notional FROM n);
INSERT INTO market_snapshots (ticker, taken_at, last_price_micros, yes_bid_micros,
                              yes_ask_micros, volume_24h_centi)
  SELECT ticker, $now - 240, last_price_micros, yes_bid_micros, yes_ask_micros,
         volume_24h_centi FROM markets;
INSERT INTO orderbook_snapshots (ticker, taken_at, yes_depth_centi, no_depth_centi, yes_levels,
                                 no_levels)
  SELECT ticker, $now - 240, 100000, 100000, 10, 10 FROM markets
   ORDER BY volume_24h_centi DESC LIMIT 50;
INSERT INTO fetch_runs (started_at, finished_at, outcome, open_markets)
  VALUES ($now - 250, $now - 240, 'ok', $markets);
-- Detection has seen all of it (as after the previous kw-fetch run).
INSERT INTO detect_state (id, last_trade_id, last_snapshot_at, last_book_at, updated_at)
  VALUES (1, (SELECT max(id) FROM trades), $now - 240, $now - 240, $now - 240);
COMMIT;
SQL
	# The markets' 24-hour totals, as kw-fetch keeps them after each run.
	KW_ENV_FILE="$db.gen.env" "$build/kw-admin" db activity >/dev/null
	rm -f "$db.gen.env"
}
