#!/usr/bin/env bash
# conf-check.sh BUILD — the web servers check the example configs themselves:
# `lighttpd -tt -f` on a config generated from lighttpd.conf.example, and `apache2 -t` on a
# minimal server config that loads the modules Debian would enable and includes
# apache.conf.example. Exits non-zero if either server rejects its file.
set -eu
build=$1
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
	-days 1 -subj /CN=localhost >/dev/null 2>&1
cat "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/server.pem"

sh "$top/deploy/gen-lighttpd-conf.sh" "$top/lighttpd.conf.example" "$tmp/lighttpd.conf" \
	kw_bin="\"$build\"" kw_www="\"$top/deploy/www\"" kw_state="\"$tmp\"" \
	kw_log_dir="\"$tmp\"" kw_tls_pem="\"$tmp/server.pem\""
lighttpd -tt -f "$tmp/lighttpd.conf"
echo "conf-check: lighttpd.conf.example ok"
# The example itself, unmodified, must parse too (a missing certificate is only a warning
# in -t mode, which does not load certificates).
lighttpd -t -f "$top/lighttpd.conf.example" >/dev/null

mods=/usr/lib/apache2/modules
cat >"$tmp/httpd.conf" <<CONF
ServerRoot /etc/apache2
PidFile $tmp/apache.pid
ErrorLog $tmp/apache-error.log
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule mime_module $mods/mod_mime.so
LoadModule dir_module $mods/mod_dir.so
LoadModule macro_module $mods/mod_macro.so
LoadModule headers_module $mods/mod_headers.so
LoadModule setenvif_module $mods/mod_setenvif.so
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_fcgi_module $mods/mod_proxy_fcgi.so
LoadModule proxy_wstunnel_module $mods/mod_proxy_wstunnel.so
LoadModule ssl_module $mods/mod_ssl.so
LoadModule socache_shmcb_module $mods/mod_socache_shmcb.so
Listen 127.0.0.1:1
Define KW_TLS_CERT $tmp/cert.pem
Define KW_TLS_KEY $tmp/key.pem
Include $top/apache.conf.example
CONF
apache2 -t -f "$tmp/httpd.conf" 2>&1 | grep -v 'AH00558\|redefined\|AH00112' || true
apache2 -t -f "$tmp/httpd.conf" >/dev/null 2>&1
echo "conf-check: apache.conf.example ok"
