#!/bin/bash
# Benchmarks of `twkit lab`'s programs in the lab topology (a client and a
# server namespace joined by veth, 198.18.0.1 -> 198.18.0.2), each a median
# of REPS runs, with its anchor measured in the same run:
#   1. load generator, short connections against nginx: conn/s of
#      `twkit lab load -C 64 -k 1` / `ab -c 64` (no keep-alive); target >= 1.5
#   2. load generator, keep-alive against nginx: req/s of
#      `twkit lab load -t 2 -C 64 -k 0` / `wrk -t2 -c64`; target >= 1.0
#   3. backend vs nginx (2 workers each, same 13-byte response) under the
#      same `wrk -t2 -c64` load: req/s ratio; target >= 1.0
# The client namespace has tcp_tw_reuse=1 and a wide port range so that the
# short-connection runs do not exhaust ports (same for both tools).
# Needs root, nginx, ab, wrk.  Env: OUT (build dir), REPS (default 3),
# SECS (default 3), N (short-connection requests per run, default 20000).
set -uo pipefail
cd "$(dirname "$0")/.."
TW=$(realpath "${OUT:-.build}/twkit")
REPS=${REPS:-3} SECS=${SECS:-3} N=${N:-20000}
[ "$(id -u)" -eq 0 ] || { echo "bench lab: SKIP (needs root)"; exit 0; }
for t in ab wrk /usr/sbin/nginx; do
    command -v $t >/dev/null || { echo "bench lab: SKIP ($t not installed)"; exit 0; }
done
c=twkit-b-$$-c s=twkit-b-$$-s
dir=$(mktemp -d /tmp/twkit-bench-lab.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    ip netns del "$c" 2>/dev/null; ip netns del "$s" 2>/dev/null; rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$c" && ip netns add "$s" || exit 1
ip link add twb$$c netns "$c" type veth peer name twb$$s netns "$s" || exit 1
ip -n "$c" addr add 198.18.0.1/24 dev twb$$c; ip -n "$s" addr add 198.18.0.2/24 dev twb$$s
for n in "$c" "$s"; do ip -n "$n" link set lo up; done
ip -n "$c" link set twb$$c up; ip -n "$s" link set twb$$s up
ip netns exec "$c" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65535"

cat >"$dir/nginx.conf" <<NG
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/b; proxy_temp_path $dir/p;
    fastcgi_temp_path $dir/f; uwsgi_temp_path $dir/u; scgi_temp_path $dir/s;
    server { listen 198.18.0.2:80 reuseport; location / { default_type text/plain; return 200 "Hello, world\n"; } }
}
NG
ip netns exec "$s" /usr/sbin/nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
pids+=($!)
ip netns exec "$s" "$TW" lab backend -l 198.18.0.2:8080 -t 2 >/dev/null &
pids+=($!)
sleep 1
C() { ip netns exec "$c" "$@"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

ab_short() { C ab -q -c 64 -n "$N" http://198.18.0.2/ | awk '/Requests per second/ {print $4}'; }
lg_short() { C "$TW" lab load -c 198.18.0.2:80 -C 64 -k 1 -n "$N" -d 60 --json | jq '.connections.per_s'; }
wrk_ka() { C wrk -t2 -c64 -d"${SECS}s" "http://$1/" | awk '/Requests\/sec/ {print $2}'; }
lg_ka() { C "$TW" lab load -c 198.18.0.2:80 -t 2 -C 64 -k 0 -d "$SECS" --json | jq '.requests.per_s'; }

declare -a A B K L W1 W2
for i in $(seq "$REPS"); do
    A+=("$(ab_short)"); B+=("$(lg_short)")
    K+=("$(wrk_ka 198.18.0.2:80)"); L+=("$(lg_ka)")
    W1+=("$(wrk_ka 198.18.0.2:80)"); W2+=("$(wrk_ka 198.18.0.2:8080)")
done
ma=$(printf '%s\n' "${A[@]}" | median); mb=$(printf '%s\n' "${B[@]}" | median)
mk=$(printf '%s\n' "${K[@]}" | median); ml=$(printf '%s\n' "${L[@]}" | median)
m1=$(printf '%s\n' "${W1[@]}" | median); m2=$(printf '%s\n' "${W2[@]}" | median)
r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
echo "bench lab (medians of $REPS, lab topology: veth 198.18.0.1 -> 198.18.0.2)"
printf '  short conns vs nginx: twkit lab load %8.0f conn/s, ab -c 64 %8.0f: ratio %s (target >= 1.5)\n' "$mb" "$ma" "$(r "$mb" "$ma")"
printf '  keep-alive vs nginx:  twkit lab load %8.0f req/s,  wrk      %8.0f: ratio %s (target >= 1.0)\n' "$ml" "$mk" "$(r "$ml" "$mk")"
printf '  backend vs nginx under wrk: backend %8.0f req/s,  nginx    %8.0f: ratio %s (target >= 1.0)\n' "$m2" "$m1" "$(r "$m2" "$m1")"
