#!/bin/bash
# twkit export under hostile or wrong clients: TLS and basic auth from a
# web-config.yml (right and wrong password, unknown user, plain HTTP to the
# TLS port, a TLS version it does not allow: 401 or no connection, and not a
# byte of the page), malformed and oversized requests, other methods, slow-
# loris headers (the request deadline), the per-address limit.  After each
# the exporter must still answer a scrape.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
. tests/lib_export.sh
need_root
need curl promtool htpasswd openssl
in_private_netns "$@"

T=$(mktemp -d)
trap '[ -n "${EXP_PID:-}" ] && kill "$EXP_PID" 2>/dev/null; rm -rf "$T"' EXIT
FIX=$PWD/tests/fixtures/export
PROBE=$HELPERS/httpprobe
P=$T/page

still_serving() { # NAME: a plain scrape still works
    eq "$1: still serving" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${CURL_TLS[@]}" "${CURL_AUTH[@]}" "$EXP_URL")" 200
}
CURL_TLS=() CURL_AUTH=()

echo "== basic auth (bcrypt)"
hash=$(htpasswd -nbBC 10 prom 'correct horse' | cut -d: -f2)
printf 'basic_auth_users:\n  prom: %s\n' "$hash" > "$T/auth.yml"
start_export --web-config "$T/auth.yml" --min-interval 0
for path in /metrics / /-/healthy; do
    eq "no credentials: $path" "$(curl -s -o "$T/b" -w '%{http_code}' "$EXP_BASE$path")" 401
done
curl -s -D "$T/h" -o "$T/b" "$EXP_URL"
check "401 asks for basic auth" grep -qi '^www-authenticate: basic realm="twkit export"' "$T/h"
eq "wrong password" "$(curl -s -u 'prom:wrong horse' -o "$T/b1" -w '%{http_code}' "$EXP_URL")" 401
eq "unknown user" "$(curl -s -u 'mallory:correct horse' -o "$T/b2" -w '%{http_code}' "$EXP_URL")" 401
eq "empty password" "$(curl -s -u 'prom:' -o "$T/b3" -w '%{http_code}' "$EXP_URL")" 401
eq "garbage Authorization" "$(curl -s -H 'Authorization: Basic !!!' -o "$T/b4" -w '%{http_code}' "$EXP_URL")" 401
check "nothing of the page leaked in a 401" bash -c "! grep -q twkit_ '$T'/b '$T'/b1 '$T'/b2 '$T'/b3 '$T'/b4"
check "the same answer for an unknown user and a wrong password" cmp -s "$T/b1" "$T/b2"
CURL_AUTH=(-u 'prom:correct horse')
scrape "right password" "$P" "${CURL_AUTH[@]}"
scrape "right password again (the cache)" "$P" "${CURL_AUTH[@]}"
stop_export

echo "== TLS"
printf 'tls_server_config:\n  cert_file: %s/server.crt\n  key_file: %s/server.key\nbasic_auth_users:\n  prom: %s\nhttp_server_config:\n  headers:\n    Strict-Transport-Security: max-age=63072000\n' \
    "$FIX" "$FIX" "$hash" > "$T/tls.yml"
start_export --web-config "$T/tls.yml" --min-interval 0
case $EXP_URL in https://*) ok "the URL says https";; *) fail "the URL is $EXP_URL";; esac
CURL_TLS=(--cacert "$FIX/server.crt")
scrape "TLS + password" "$P" "${CURL_TLS[@]}" "${CURL_AUTH[@]}"
curl -s -D "$T/h" -o /dev/null "${CURL_TLS[@]}" "${CURL_AUTH[@]}" "$EXP_URL"
check "the configured header" grep -qi '^strict-transport-security: max-age=63072000' "$T/h"
eq "TLS, no password" "$(curl -s -o "$T/b" -w '%{http_code}' "${CURL_TLS[@]}" "$EXP_URL")" 401
check "nothing leaked" bash -c "! grep -q twkit_ '$T/b'"
PLAIN=http://${EXP_URL#https://}
curl -s --max-time 5 -o "$T/b" "${CURL_AUTH[@]}" "$PLAIN"; rc=$?
check "plain HTTP to the TLS port fails (curl $rc)" test "$rc" -ne 0
check "and gets no page" bash -c "! grep -q twkit_ '$T/b'"
"$PROBE" raw 127.0.0.1 "$EXP_PORT" 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' 3 > "$T/r"
check "plain bytes: no HTTP answer" grep -qx 'status none' "$T/r"
curl -s --max-time 5 -o /dev/null "${CURL_TLS[@]}" "${CURL_AUTH[@]}" --tlsv1.1 --tls-max 1.1 "$EXP_URL"; rc=$?
check "TLS 1.1 is refused (curl $rc)" test "$rc" -ne 0
echo | openssl s_client -connect "127.0.0.1:$EXP_PORT" -tls1_3 -CAfile "$FIX/server.crt" > "$T/s" 2>&1
check "TLS 1.3 works" grep -q 'Verify return code: 0 (ok)' "$T/s"
curl -s --max-time 5 -o /dev/null "$EXP_URL"; rc=$?
check "an untrusted certificate fails on the client (curl $rc)" test "$rc" -eq 60
still_serving "after the TLS failures"
stop_export
CURL_TLS=() CURL_AUTH=()

echo "== malformed, oversized and other requests"
start_export --min-interval 0 --idle-timeout 3
raw() { # NAME DATA WANT...: the status line is one of WANT ("none" = closed without one)
    local name=$1 data=$2; shift 2
    "$PROBE" raw 127.0.0.1 "$EXP_PORT" "$data" 5 > "$T/r"
    local st
    st=$(awk '$1 == "status" { print $2 }' "$T/r")
    if printf '%s\n' "$@" | grep -qx -- "$st"; then ok "$name: $st"; else fail "$name: got status $st, want one of $*"; fi
    check "$name: closed" grep -qx 'closed yes' "$T/r"
    check "$name: no page" bash -c "! grep -q twkit_ '$T/r'"
}
raw "not HTTP" 'HELLO WORLD\r\n\r\n' 400 none
raw "no version" 'GET /metrics\r\n\r\n' 400 505 none
raw "HTTP/9.9" 'GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n' 505 400
raw "header without a colon" 'GET /metrics HTTP/1.1\r\nHost x\r\n\r\n' 400
raw "NUL in the request line" 'GET /met\x00rics HTTP/1.1\r\nHost: x\r\n\r\n' 400 404 none
raw "HTTP/1.1 without Host" 'GET /metrics HTTP/1.1\r\n\r\n' 400
raw "a body on GET" 'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' 400
raw "chunked GET" 'GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' 400
raw "CONNECT" 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n' 405 400
raw "a 100 KiB body on POST" "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 102400\r\n\r\n$(head -c 102400 /dev/zero | tr '\0' a)" 405
big=$(head -c 20000 /dev/zero | tr '\0' a)
# request headers over 8 KiB: 431 Request Header Fields Too Large, whatever
# their size (a 9 KB one was served, one of about 16 KB got no answer)
for n in 9000 12000 15000 20000; do
    h=$(head -c $n /dev/zero | tr '\0' a)
    raw "a $n-byte header" "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: $h\r\n\r\n" 431
done
h=$(head -c 7000 /dev/zero | tr '\0' a)
"$PROBE" raw 127.0.0.1 "$EXP_PORT" "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: $h\r\n\r\n" 5 > "$T/r"
check "a 7000-byte header is within the limit: served" grep -qx 'status 200' "$T/r"
many=$(for i in $(seq 400); do printf 'X-H%d: vvvvvvvvv\\r\\n' "$i"; done)
raw "400 small headers (10 KB)" "GET /metrics HTTP/1.1\r\nHost: x\r\n${many}\r\n" 431
raw "a 20 KB URI" "GET /$big HTTP/1.1\r\nHost: x\r\n\r\n" 414 431 400 none
many=$(for i in $(seq 2000); do printf 'X-H%d: v\\r\\n' "$i"; done)
raw "2000 headers" "GET /metrics HTTP/1.1\r\nHost: x\r\n${many}\r\n" 431
"$PROBE" raw 127.0.0.1 "$EXP_PORT" 'GET /metrics HTTP/1.0\r\n\r\n' 5 > "$T/r"
check "HTTP/1.0 is served" grep -qx 'status 200' "$T/r"
still_serving "after the malformed requests"

echo "== slow-loris: the request deadline"
"$PROBE" slow 127.0.0.1 "$EXP_PORT" 20 500 7 > "$T/s"
held=$(awk '$1 == "held_max" { print $2 }' "$T/s")
check "20 connections dripping a header are closed within the 3 s deadline (longest $held s)" \
    awk -v h="$held" 'BEGIN { exit !(h > 2.5 && h <= 4.0) }'
eq "none left open" "$(awk '$1 == "open_at_end" { print $2 }' "$T/s")" 0
"$PROBE" raw 127.0.0.1 "$EXP_PORT" '' 6 > "$T/r"
check "an idle connection is closed at the deadline" grep -qx 'closed yes' "$T/r"
still_serving "after slow-loris"
stop_export

echo "== the per-address limit"
start_export --max-connections-per-ip 8 --idle-timeout 30
"$PROBE" load 127.0.0.1 "$EXP_PORT" /metrics 20 20 2 127.0.0.2 > "$T/l"
check "scrapes from another address pass while one address is at its limit: $(cat "$T/l")" \
    awk '{ for (i = 1; i < NF; i += 2) v[$i] = $(i + 1) } END { exit !(v["failed"] == 0 && v["ok"] >= 30 && v["reopened"] >= 12) }' "$T/l"
still_serving "after the per-address limit"
stop_export
finish
