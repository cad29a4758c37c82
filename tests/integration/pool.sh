#!/bin/bash
# tests/integration/pool.sh — examples/pool_http end to end, in a private
# network namespace, against the fault server and real nginx.
#
# Asserts: every request succeeds (the server closes connections after 50
# requests and when idle), and the client leaves no more TIME_WAIT sockets
# than its pool holds connections (4), for 20000 requests.  Then the same
# against nginx with keepalive (a skipped case if nginx is not installed).
# Every process it starts is bounded in time (-t, timeout) and stopped by pid.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
EX=$(realpath "$OUT/examples/pool_http")
SRV=$(realpath "$HELPERS/pool_faultd")
for f in "$EX" "$SRV"; do
    [ -x "$f" ] || { echo "pool: $f missing: run make all"; exit 1; }
done
in_private_netns
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

# client-side TIME_WAIT toward PORT: state 06 and remote port PORT
tw_to() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v p=":$hex" '$4 == "06" && substr($3, length($3) - 4) == p' /proc/net/tcp | wc -l
}

"$SRV" -l 18001 -m 50 -i 200 -r 3 -t 60 >"$tmp/srv.out" &
srv=$!
pids+=($srv)
for _ in $(seq 50); do grep -q ready "$tmp/srv.out" 2>/dev/null && break; sleep 0.1; done
"$EX" -n 20000 -c 4 127.0.0.1 18001 >"$tmp/out1"
eq "pool_http against pool_faultd: exit status" $? 0
cat "$tmp/out1"
tw=$(tw_to 18001)
check "faultd: $tw TIME_WAIT <= 4 pooled connections" test "$tw" -le 4
check "faultd: 20000 ok, 0 failed" grep -q '^127.0.0.1:18001: 20000 ok, 0 failed' "$tmp/out1"
kill "$srv"; wait "$srv" 2>/dev/null

if command -v nginx >/dev/null; then
    mkdir -p "$tmp/ng/logs"
    cat >"$tmp/ng/nginx.conf" <<NGX
worker_processes 1;
pid $tmp/ng/nginx.pid;
error_log $tmp/ng/logs/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $tmp/ng/body;
    proxy_temp_path $tmp/ng/proxy;
    fastcgi_temp_path $tmp/ng/fastcgi;
    uwsgi_temp_path $tmp/ng/uwsgi;
    scgi_temp_path $tmp/ng/scgi;
    keepalive_requests 100;
    keepalive_timeout 2s;
    server {
        listen 127.0.0.1:18080;
        location / { return 200 "ok"; }
    }
}
NGX
    timeout 60 nginx -p "$tmp/ng" -c "$tmp/ng/nginx.conf" -g 'daemon off;' &
    pids+=($!)
    for _ in $(seq 50); do
        (exec 3<>/dev/tcp/127.0.0.1/18080) 2>/dev/null && break
        sleep 0.1
    done
    tw0=$(tw_to 18080) # the readiness probe's own
    "$EX" -n 5000 -c 4 127.0.0.1 18080 >"$tmp/out2"
    eq "pool_http against nginx: exit status" $? 0
    cat "$tmp/out2"
    check "nginx: 5000 ok, 0 failed" grep -q '^127.0.0.1:18080: 5000 ok, 0 failed' "$tmp/out2"
    tw=$(( $(tw_to 18080) - tw0 ))
    check "nginx: $tw TIME_WAIT <= 4 pooled connections" test "$tw" -le 4
else
    skip_case "pool_http against nginx" "nginx is not installed"
fi
finish
