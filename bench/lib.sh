# lib.sh — shared by bench/*.sh (sourced): start a real lighttpd with kw-api workers and the
# bare libfcgi responder (the FastCGI ceiling) behind it, run bounded wrk measurements, stop
# what was started. Loopback only; every wrk run has a fixed duration.
#
#   bench_start BUILD DIR [SETTING=VALUE...]   lighttpd on a free port: /api/* -> kw-api,
#                                              /bench/ceiling -> fcgi-ceiling,
#                                              /bench/ceiling-threaded -> fcgi-ceiling with
#                                              $BENCH_KW_THREADS accept threads, static files
#                                              from DIR/www; settings go to DIR/kalshiwhale.env;
#                                              with DIR/replay.txt present, /bench/replay ->
#                                              fcgi-ceiling answering with those bytes
#   bench_wrk NAME PATH [KEY]                  wrk -c$BENCH_CONNECTIONS for $BENCH_DURATION s;
#                                              prints and records "NAME rps p50 p99 errors"
#                                              (wrk script: $BENCH_WRK_SCRIPT, else report.lua)
#   bench_rps NAME / bench_p99 NAME            recorded figures
#   bench_worker_rss_kib                       peak RSS (VmHWM) of the largest kw-api worker
#   bench_stop                                 stop lighttpd and its workers

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
