#!/bin/bash
# The lab's programs against real peers, in a private network namespace on
# loopback: curl, ab (with and without keep-alive) and wrk against
# `twkit lab backend`; `twkit lab load` (short and keep-alive connections)
# against nginx.  Plus the strict parser on the wire (400/501), the
# backend's "port in use", the load generator's refusal to leave the lab's
# address ranges, the commands' usage errors and --help, the missing
# privilege message, and --csv/--plot output.
set -uo pipefail
cd "$(dirname "$0")/../.."
TW=$(realpath "${OUT:-.build}/twkit")
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
if [ -z "${TWKIT_LAB_IN_NETNS:-}" ]; then
    unshare -n true 2>/dev/null || { echo "SKIP: cannot create network namespaces"; exit 77; }
    for t in curl ab wrk jq; do
        command -v $t >/dev/null || { echo "SKIP: $t not installed (scripts/install-deps)"; exit 77; }
    done
    TWKIT_LAB_IN_NETNS=1 exec unshare -n bash "$0"
fi
ip link set lo up
dir=$(mktemp -d /tmp/twkit-lab-interop.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$dir"; }
trap cleanup EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }

"$TW" lab backend -l 127.0.0.1:8080 -t 2 >"$dir/be.out" &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$dir/be.out" 2>/dev/null && break; sleep 0.1; done

# curl: status, body, and connection reuse for two URLs
body=$(curl -sS http://127.0.0.1:8080/)
[ "$body" = "Hello, world" ] && ok "curl body" || bad "curl body '$body'"
curl -sSv http://127.0.0.1:8080/a http://127.0.0.1:8080/b 2>&1 >/dev/null | grep -q 'Re-using existing connection' \
    && ok "curl reuses the keep-alive connection" || bad "curl keep-alive"
# ab without keep-alive (HTTP/1.0: the server closes) and with -k
a=$(ab -q -n 2000 -c 16 http://127.0.0.1:8080/ 2>&1)
grep -q 'Complete requests: *2000' <<<"$a" && grep -q 'Failed requests: *0' <<<"$a" \
    && ok "ab -c 16: 2000 requests, 0 failed" || { bad "ab"; echo "$a"; }
a=$(timeout 20 ab -q -k -n 2000 -c 16 http://127.0.0.1:8080/ 2>&1)
grep -q 'Keep-Alive requests: *2000' <<<"$a" && grep -q 'Failed requests: *0' <<<"$a" \
    && ok "ab -k: 2000 keep-alive requests" || { bad "ab -k"; echo "$a"; }
w=$(wrk -t2 -c16 -d1s http://127.0.0.1:8080/ 2>&1)
if grep -q 'requests in' <<<"$w" && ! grep -qE 'Socket errors|Non-2xx' <<<"$w"; then
    ok "wrk: no socket errors, all 2xx"
else bad "wrk"; echo "$w"; fi

# the strict parser on the wire
req() { exec 3<>/dev/tcp/127.0.0.1/8080; printf "$1" >&3; timeout 2 head -1 <&3 | tr -d '\r'; exec 3<&-; }
[ "$(req 'GET / HTTP/1.1\r\n\r\n')" = "HTTP/1.1 400 Bad Request" ] && ok "no Host: 400" || bad "no Host"
[ "$(req 'GET / HTTP/1.1\nHost: a\n\n')" = "HTTP/1.1 400 Bad Request" ] && ok "bare LF: 400" || bad "bare LF"
[ "$(req 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n')" = "HTTP/1.1 501 Not Implemented" ] \
    && ok "chunked request body: 501" || bad "chunked body"
[ "$(req 'GET / HTTP/1.1\r\nHost: a\r\n\r\n')" = "HTTP/1.1 200 OK" ] && ok "valid request: 200" || bad "valid"

# port in use: a clear message, exit 1
"$TW" lab backend -l 127.0.0.1:8080 >/dev/null 2>"$dir/err" &
p=$!; wait $p; rc=$?
[ $rc -eq 1 ] && grep -q 'Address already in use' "$dir/err" && ok "port in use: exit 1, message" \
    || { bad "port in use (rc $rc)"; cat "$dir/err"; }

# our load generator against nginx (nginx answers itself, and proxies to us)
if [ -x /usr/sbin/nginx ]; then
    mkdir -p "$dir/ng"
    cat >"$dir/ng/nginx.conf" <<NG
worker_processes 2;
pid $dir/ng/nginx.pid;
error_log $dir/ng/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/ng/b; proxy_temp_path $dir/ng/p;
    fastcgi_temp_path $dir/ng/f; uwsgi_temp_path $dir/ng/u; scgi_temp_path $dir/ng/s;
    upstream be { server 127.0.0.1:8080; keepalive 8; }
    server {
        listen 127.0.0.1:8081;
        location / { default_type text/plain; return 200 "Hello, world\n"; }
        location /proxy { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /chunked { proxy_pass http://be/; proxy_http_version 1.1; proxy_set_header Connection "";
                            proxy_buffering off; chunked_transfer_encoding on; gzip off; }
    }
}
NG
    /usr/sbin/nginx -e "$dir/ng/error.log" -p "$dir/ng" -c "$dir/ng/nginx.conf" -g 'daemon off;' &
    pids+=($!)
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/8081) 2>/dev/null && break; sleep 0.1; done
    for mode in "-k 1" "-k 0" "-k 0 --path /proxy" "-k 1 --close server"; do
        j=$("$TW" lab load -c 127.0.0.1:8081 $mode -C 16 -n 3000 -d 10 --json)
        if jq -e '.requests.ok == 3000 and .errors_total == 0' <<<"$j" >/dev/null; then
            ok "load $mode against nginx: 3000 requests, no error"
        else bad "load $mode against nginx: $j"; fi
    done
    "$TW" lab backend -l 127.0.0.1:8081 >/dev/null 2>"$dir/err"
    [ $? -eq 1 ] && grep -q 'Address already in use' "$dir/err" && ok "port held by nginx: refused" \
        || bad "port held by nginx"
else
    echo "SKIP part: nginx not installed"
fi

# refusing to leave the lab's ranges
"$TW" lab load -c 192.0.2.1:80 -n 1 2>"$dir/err"; rc=$?
[ $rc -eq 2 ] && grep -q 'refusing to send traffic' "$dir/err" && ok "load refuses 192.0.2.1" || bad "refuse (rc $rc)"

# usage errors: exit 2 with a message; help: exit 0 with examples
usage() { # expected-substring, args...
    local want=$1; shift
    "$TW" "$@" >/dev/null 2>"$dir/err"; local rc=$?
    if [ $rc -eq 2 ] && grep -qi -- "$want" "$dir/err"; then ok "usage: $* -> 2"; else bad "usage: $* (rc $rc): $(cat "$dir/err")"; fi
}
usage "unknown scenario" lab bogus
usage "bad --rate" lab --rate -5
usage "bad --rate" lab --rate fast
usage "bad --port-range" lab --port-range 5000-100
usage "bad --port-range" lab --port-range 80-90
usage "bad --port-range" lab --port-range 40000-40003
usage "bad --duration" lab -d 0
usage "bad --plot" lab --plot out.gif
usage "bad --concurrency" lab -C 0
usage "bad --rate" lab load -c 127.0.0.1:8080 --rate 0
usage "bad --connect" lab load -c 127.0.0.1
usage "--connect is required" lab load
usage "bad --close" lab load -c 127.0.0.1:8080 --close never
usage "--bind needs --source" lab load -c 127.0.0.1:8080 --bind port
usage "--listen is required" lab backend
usage "bad --mode" lab backend -l 127.0.0.1:9 -m fast
for c in "lab" "lab load" "lab backend"; do
    h=$("$TW" $c --help); rc=$?
    [ $rc -eq 0 ] && grep -q '^Usage: twkit' <<<"$h" && grep -q '^Examples:' <<<"$h" \
        && ok "$c --help" || bad "$c --help"
done
[ "$("$TW" lab --list | wc -l)" -eq 12 ] && ok "--list: 12 runs" || bad "--list"

# missing privileges: in a user namespace without a mapping the lab cannot
# make its own; it must say what it needs
unshare --user "$TW" lab short -d 1 >/dev/null 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q 'needs root' "$dir/err" && ok "no privilege: exit 1, says what it needs" \
    || bad "no privilege (rc $rc): $(cat "$dir/err")"

# --csv and --plot
"$TW" lab short rst -p 40000-40199 -r 1000 -d 1 --csv "$dir/csv" --plot "$dir/p.svg" >"$dir/table"; rc=$?
[ $rc -eq 0 ] && ok "lab with --csv --plot" || bad "lab --csv --plot (rc $rc)"
head -1 "$dir/csv/short.csv" | grep -q '^t_s,attempted,connections,requests,EADDRNOTAVAIL,' \
    && ok "csv header" || bad "csv header"
[ "$(tail -1 "$dir/csv/short.csv" | cut -d, -f17)" -ge 180 ] && ok "csv: short ends with ~200 client TIME_WAIT" \
    || bad "csv values: $(tail -1 "$dir/csv/short.csv")"
[ "$(wc -l <"$dir/csv/rst.csv")" -ge 5 ] && ok "csv rst series" || bad "csv rst"
if command -v gnuplot >/dev/null; then
    grep -q '<svg' "$dir/p.svg" && grep -q 'short' "$dir/p.svg" && ok "svg plot" || bad "svg plot"
fi
awk 'length > 80 { exit 1 }' "$dir/table" && ok "table fits 80 columns" || bad "table too wide"
grep -q '^short ' "$dir/table" && ok "table row" || bad "table"
exit $fail
