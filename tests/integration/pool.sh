#!/bin/bash
# tests/integration/pool.sh — examples/pool_http end to end, in a private
# network namespace (unshare -n), against the fault server and real nginx.
#
# Asserts: every request succeeds (the server closes connections after 50
# requests and when idle), and the client leaves no more TIME_WAIT sockets
# than its pool holds connections (4), for 20000 requests.  Then the same
# against nginx with keepalive (skipped if nginx is not installed).
# Exit 0 pass, 77 skip (prints SKIP and why), other fail.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-.build}
EX=$OUT/examples/pool_http
SRV=$OUT/helpers/pool_faultd

if [ "$(id -u)" -ne 0 ] || ! unshare -n true 2>/dev/null; then
    echo "SKIP pool: needs root (CAP_SYS_ADMIN) for unshare -n"
    exit 77
fi
for f in "$EX" "$SRV"; do
    [ -x "$f" ] || { echo "pool: $f missing: run make all"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Everything below runs inside one new network namespace; every process it
# starts is bounded in time (-t, timeout) and stopped by pid.
unshare -n env EX="$EX" SRV="$SRV" TMP="$tmp" bash -s <<'EOF'
set -uo pipefail
ip link set lo up

# client-side TIME_WAIT toward PORT: state 06 and remote port PORT
tw_to() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v p=":$hex" '$4 == "06" && substr($3, length($3) - 4) == p' \
        /proc/net/tcp | wc -l
}

fail=0
"$SRV" -l 18001 -m 50 -i 200 -r 3 -t 60 >/dev/null &
srv=$!
sleep 0.3
if "$EX" -n 20000 -c 4 127.0.0.1 18001 >"$TMP/out1"; then
    echo "ok: pool_http against pool_faultd exits 0"
else
    echo "FAIL: pool_http against pool_faultd"; cat "$TMP/out1"; fail=1
fi
cat "$TMP/out1"
tw=$(tw_to 18001)
echo "client-side TIME_WAIT after 20000 requests: $tw (pool of 4)"
if [ "$tw" -le 4 ]; then echo "ok: faultd: $tw TIME_WAIT <= 4 pooled connections"
else echo "FAIL: more TIME_WAIT than pooled connections"; fail=1; fi
if grep -q '^127.0.0.1:18001: 20000 ok, 0 failed' "$TMP/out1"; then echo "ok: faultd: 20000 ok, 0 failed"
else echo "FAIL: faultd: not 20000 ok, 0 failed"; fail=1; fi
kill "$srv"; wait "$srv" 2>/dev/null

if command -v nginx >/dev/null; then
    mkdir -p "$TMP/ng/logs"
    cat >"$TMP/ng/nginx.conf" <<NGX
worker_processes 1;
pid $TMP/ng/nginx.pid;
error_log $TMP/ng/logs/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $TMP/ng/body;
    proxy_temp_path $TMP/ng/proxy;
    fastcgi_temp_path $TMP/ng/fastcgi;
    uwsgi_temp_path $TMP/ng/uwsgi;
    scgi_temp_path $TMP/ng/scgi;
    keepalive_requests 100;
    keepalive_timeout 2s;
    server {
        listen 127.0.0.1:18080;
        location / { return 200 "ok"; }
    }
}
NGX
    timeout 60 nginx -p "$TMP/ng" -c "$TMP/ng/nginx.conf" -g 'daemon off;' &
    ng=$!
    for _ in $(seq 50); do
        (exec 3<>/dev/tcp/127.0.0.1/18080) 2>/dev/null && break
        sleep 0.1
    done
    tw0=$(tw_to 18080) # the readiness probe's own
    if "$EX" -n 5000 -c 4 127.0.0.1 18080 >"$TMP/out2"; then
        echo "ok: pool_http against nginx exits 0"
    else
        echo "FAIL: pool_http against nginx"; fail=1
    fi
    cat "$TMP/out2"
    if grep -q '^127.0.0.1:18080: 5000 ok, 0 failed' "$TMP/out2"; then echo "ok: nginx: 5000 ok, 0 failed"
    else echo "FAIL: nginx: not 5000 ok, 0 failed"; fail=1; fi
    tw=$(( $(tw_to 18080) - tw0 ))
    echo "nginx: client-side TIME_WAIT after 5000 requests: $tw (pool of 4)"
    if [ "$tw" -le 4 ]; then echo "ok: nginx: $tw TIME_WAIT <= 4 pooled connections"
    else echo "FAIL: more TIME_WAIT than pooled connections"; fail=1; fi
    kill "$ng"; wait "$ng" 2>/dev/null
else
    echo "  SKIP: nginx: nginx is not installed"
fi
exit $fail
EOF
