#!/bin/bash
# The lab's programs against real peers, in a private network namespace on
# loopback: curl, ab (with and without keep-alive) and wrk against
# `twkit lab backend`; `twkit lab load` (short and keep-alive connections)
# against nginx.  Plus the strict parser on the wire (400/501), the
# backend's "port in use", the load generator's refusal to leave the lab's
# address ranges, its message protocol on stdin and stdout (docs/lab-ipc.md),
# a peer's HTTP reason phrase escaped in the human view, the commands' usage
# errors and --help, and the missing privilege message.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need curl ab wrk jq
TWKIT=$(realpath "$TWKIT")
in_private_netns
dir=$(mktemp -d /tmp/twkit-lab-interop.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$dir"; }
trap cleanup EXIT

"$TWKIT" lab backend -l 127.0.0.1:8080 -t 2 >"$dir/be.out" &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$dir/be.out" 2>/dev/null && break; sleep 0.1; done
eq "backend: its first line is the ready message" "$(head -1 "$dir/be.out")" '{"type":"ready"}'

# curl: status, body, and connection reuse for two URLs
eq "curl body" "$(curl -sS http://127.0.0.1:8080/)" "Hello, world"
check "curl reuses the keep-alive connection" sh -c \
    "curl -sSv http://127.0.0.1:8080/a http://127.0.0.1:8080/b 2>&1 >/dev/null | grep -q 'Re-using existing connection'"
# ab without keep-alive (HTTP/1.0: the server closes) and with -k
ab -q -n 2000 -c 16 http://127.0.0.1:8080/ >"$dir/ab" 2>&1
check "ab -c 16: 2000 requests" grep -q 'Complete requests: *2000' "$dir/ab"
check "ab -c 16: 0 failed" grep -q 'Failed requests: *0' "$dir/ab"
timeout 20 ab -q -k -n 2000 -c 16 http://127.0.0.1:8080/ >"$dir/ab" 2>&1
check "ab -k: 2000 keep-alive requests" grep -q 'Keep-Alive requests: *2000' "$dir/ab"
check "ab -k: 0 failed" grep -q 'Failed requests: *0' "$dir/ab"
wrk -t2 -c16 -d1s http://127.0.0.1:8080/ >"$dir/wrk" 2>&1
check "wrk: requests done" grep -q 'requests in' "$dir/wrk"
check "wrk: no socket errors, all 2xx" sh -c "! grep -qE 'Socket errors|Non-2xx' '$dir/wrk'"

# the strict parser on the wire
req() { exec 3<>/dev/tcp/127.0.0.1/8080; printf "$1" >&3; timeout 2 head -1 <&3 | tr -d '\r'; exec 3<&-; }
eq "no Host: 400" "$(req 'GET / HTTP/1.1\r\n\r\n')" "HTTP/1.1 400 Bad Request"
eq "bare LF: 400" "$(req 'GET / HTTP/1.1\nHost: a\n\n')" "HTTP/1.1 400 Bad Request"
eq "chunked request body: 501" \
    "$(req 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n')" "HTTP/1.1 501 Not Implemented"
eq "valid request: 200" "$(req 'GET / HTTP/1.1\r\nHost: a\r\n\r\n')" "HTTP/1.1 200 OK"

# port in use: a clear message, exit 1
"$TWKIT" lab backend -l 127.0.0.1:8080 >/dev/null 2>"$dir/err"
eq "port in use: exit status" $? 1
check "port in use: says so" grep -q 'Address already in use' "$dir/err"

# the load generator's messages: snapshots on stdin, counters and result out
( printf '{"type":"snapshot","seq":5}\n'; sleep 0.3; printf '{"seq":6,"type":"snapshot","x":[1]}\n'; sleep 1 ) |
    "$TWKIT" lab load -c 127.0.0.1:8080 -k 0 -C 4 -r 200 -d 0.6 --ipc >"$dir/ipc.out"
eq "--ipc: exit status" $? 0
eq "--ipc: two answers and a result" "$(jq -r '.type' "$dir/ipc.out" | tr '\n' ' ')" "counters counters result "
eq "--ipc: answers carry the request's seq" "$(jq -r 'select(.type=="counters") | .seq' "$dir/ipc.out" | tr '\n' ' ')" "5 6 "
check "--ipc: counts grow between answers" sh -c \
    "jq -s '.[1].requests > .[0].requests and .[2].requests.ok >= .[1].requests' '$dir/ipc.out' | grep -qx true"
( printf 'T 100 5 5 5\n'; sleep 2 ) |
    "$TWKIT" lab load -c 127.0.0.1:8080 -C 4 -r 200 -d 3 --ipc >"$dir/ipc2.out" 2>"$dir/err"
eq "--ipc, a malformed request: exit status" $? 1
check "--ipc, a malformed request: says it is not JSON" grep -q 'bad message on standard input: not JSON' "$dir/err"
check "--ipc, a malformed request: the load stopped at once" \
    jq -e 'select(.type=="result") | .duration_s < 1' "$dir/ipc2.out"
"$TWKIT" lab load -c 127.0.0.1:8080 -C 4 -r 500 -d 0.5 --json --series 100 >"$dir/series.out"
eq "--series: exit status" $? 0
check "--series: counters every 100 ms, then the result" sh -c \
    "jq -r .type '$dir/series.out' | uniq -c | awk '\$2==\"counters\" && \$1>=4 {c=1} \$2==\"result\" {r=1} END {exit !(c && r)}'"

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
        location /busy { return 503; }
    }
}
NG
    /usr/sbin/nginx -e "$dir/ng/error.log" -p "$dir/ng" -c "$dir/ng/nginx.conf" -g 'daemon off;' &
    pids+=($!)
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/8081) 2>/dev/null && break; sleep 0.1; done
    for mode in "-k 1" "-k 0" "-k 0 --path /proxy" "-k 1 --close server"; do
        j=$("$TWKIT" lab load -c 127.0.0.1:8081 $mode -C 16 -n 3000 -d 10 --json)
        check "load $mode against nginx: 3000 requests, no error" \
            jq -e '.requests.ok == 3000 and .errors_total == 0' <<<"$j"
    done
    "$TWKIT" lab load -c 127.0.0.1:8081 --path /busy -C 2 -n 10 -d 5 >"$dir/busy" 2>&1
    eq "non-2xx: exit status" $? 0
    check "non-2xx: counted as HTTP_STATUS" grep -qE '^  HTTP_STATUS +10$' "$dir/busy"
    check "non-2xx: the first status and reason, as the peer sent them" \
        grep -q '^first response other than 2xx: 503 Service Temporarily Unavailable$' "$dir/busy"
    "$TWKIT" lab backend -l 127.0.0.1:8081 >/dev/null 2>"$dir/err"
    eq "port held by nginx: exit status" $? 1
    check "port held by nginx: says so" grep -q 'Address already in use' "$dir/err"
else
    skip_case "load against nginx" "nginx is not installed (scripts/install-deps)"
fi

# a peer's reason phrase with terminal controls (C1 CSI, as UTF-8 and as a
# raw byte: the grammar's obs-text lets them through): shown escaped
printf 'HTTP/1.1 500 caf\xc3\xa9 \xc2\x9b2J \x9b1m y\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' >"$dir/resp"
"$HELPERS/httpresp" 8090 "$dir/resp" 1 >"$dir/hr.out" &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$dir/hr.out" 2>/dev/null && break; sleep 0.1; done
"$TWKIT" lab load -c 127.0.0.1:8090 -C 1 -n 1 -d 3 >"$dir/esc" 2>&1
check "a peer's reason phrase: escaped in the human view" \
    grep -qF "first response other than 2xx: 500 café \\xc2\\x9b2J \\x9b1m y" "$dir/esc"
c1=$(printf '\233')
check "a peer's reason phrase: no C1 control byte (0x9b) reaches the terminal" \
    sh -c "! LC_ALL=C grep -qa '$c1' '$dir/esc'"

# refusing to leave the lab's ranges
"$TWKIT" lab load -c 192.0.2.1:80 -n 1 2>"$dir/err"
eq "load refuses 192.0.2.1: exit status" $? 2
check "load refuses 192.0.2.1: says why" grep -q 'refusing to send traffic' "$dir/err"

# usage errors: exit 2 with a message naming the option; help: exit 0
usage() { # expected-substring, args...
    local want=$1; shift
    "$TWKIT" "$@" >/dev/null 2>"$dir/err"
    eq "usage: $*: exit status" $? 2
    check "usage: $*: says '$want'" grep -qF -- "$want" "$dir/err"
}
usage "unknown scenario 'bogus'" lab bogus
usage "--rate: '-5' is not a decimal number" lab --rate -5
usage "--rate: 'fast' is not a decimal number" lab --rate fast
usage "--rate: '0x10' is not a decimal number" lab --rate 0x10
usage "--port-range: '5000-100' is not LO-HI" lab --port-range 5000-100
usage "--port-range: '80-90' is not LO-HI" lab --port-range 80-90
usage "--port-range: '40000-40003' is not LO-HI" lab --port-range 40000-40003
usage "--duration: '0' is not a decimal number from 0.1" lab -d 0
usage "--plot: 'out.gif' is not FILE.png or FILE.svg" lab --plot out.gif
usage "--concurrency: '0' is not a whole number" lab -C 0
usage "--duration given twice" lab -d 1 -d 2
usage "--list takes no other option" lab --list -d 1
usage "--rate: '0' is not a decimal number from 0.001" lab load -c 127.0.0.1:8080 --rate 0
usage "--connect: '127.0.0.1' is not IPv4:PORT" lab load -c 127.0.0.1
usage "--connect is required" lab load
usage "--close: 'never' is not client, server or rst" lab load -c 127.0.0.1:8080 --close never
usage "--bind needs --source" lab load -c 127.0.0.1:8080 --bind port
usage "--source and --pool exclude each other" lab load -c 127.0.0.1:8080 --source 127.0.0.1 --pool
usage "--series needs --json" lab load -c 127.0.0.1:8080 --series 100
usage "--series and --ipc exclude each other" lab load -c 127.0.0.1:8080 --json --series 100 --ipc
usage "--listen is required" lab backend
usage "--mode: 'fast' is not keepalive, close or rst" lab backend -l 127.0.0.1:9 -m fast
for c in "lab" "lab load" "lab backend"; do
    "$TWKIT" $c --help >"$dir/help"
    eq "$c --help: exit status" $? 0
    check "$c --help: usage" grep -q '^Usage: twkit' "$dir/help"
    check "$c --help: examples" grep -q '^Examples:' "$dir/help"
done
"$TWKIT" lab --list >"$dir/list"
eq "--list: 12 runs" "$(grep -cE '^[a-z]' "$dir/list")" 12
check "--list fits 80 columns" awk 'length > 80 { exit 1 }' "$dir/list"

# missing privileges: in a user namespace without a mapping the lab cannot
# make its own; it must say what it needs
unshare --user "$TWKIT" lab short -d 1 >/dev/null 2>"$dir/err"
eq "no privilege: exit status" $? 1
check "no privilege: says what it needs" grep -q 'needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)' "$dir/err"
finish
