#!/bin/bash
# bench/pool.sh — tw_pool benchmarks (run by `make bench` with OUT set).
#
# Builds two private network namespaces joined by a veth pair
# (client 198.18.0.1/30 <-> server 198.18.0.2/30), starts the pool_faultd
# HTTP/1.1 server (no faults) in the server namespace, and runs
# $OUT/bench/pool_bench in the client namespace:
#   1. ns per uncontended get+put of an idle connection, against the
#      liveness check alone (recv MSG_PEEK);
#   2. requests/s through the pool against a new connection per request,
#      same server, same concurrency, with the TIME_WAIT sockets each leaves
#      per 100k requests.
# Everything it creates (namespaces, veth, server) is removed on exit.
# Bounded: about a minute.  Needs root; otherwise says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-.build}
BENCH=$OUT/bench/pool_bench
SERVER=$OUT/helpers/pool_faultd

echo "== tw_pool benchmark"
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP bench/pool.sh: needs root for network namespaces"
    exit 0
fi
for f in "$BENCH" "$SERVER"; do
    if [ ! -x "$f" ]; then
        echo "bench/pool.sh: $f missing (make all $BENCH)" >&2
        exit 1
    fi
done

NC=twpool-c-$$
NS=twpool-s-$$
VC=twpc$$
VS=twps$$
srv=

cleanup() {
    if [ -n "$srv" ]; then
        kill "$srv" 2>/dev/null || true
        wait "$srv" 2>/dev/null || true
    fi
    ip netns del "$NC" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

ip netns add "$NC"
ip netns add "$NS"
ip link add "$VC" type veth peer name "$VS"
ip link set "$VC" netns "$NC"
ip link set "$VS" netns "$NS"
ip -n "$NC" addr add 198.18.0.1/30 dev "$VC"
ip -n "$NS" addr add 198.18.0.2/30 dev "$VS"
for n in "$NC" "$NS"; do ip -n "$n" link set lo up; done
ip -n "$NC" link set "$VC" up
ip -n "$NS" link set "$VS" up
# room for the new-connection runs: ~150k client-side TIME_WAIT sockets,
# each run on its own destination port
ip netns exec "$NC" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
ip netns exec "$NC" sysctl -qw net.ipv4.tcp_max_tw_buckets=1000000
ip netns exec "$NS" sysctl -qw net.core.somaxconn=4096

ports="9101,9102,9103,9104,9105,9106"
largs=(-l 198.18.0.2:9100)
for p in ${ports//,/ }; do largs+=(-l "198.18.0.2:$p"); done
ip netns exec "$NS" "$SERVER" -t 300 "${largs[@]}" >/dev/null &
srv=$!
for _ in $(seq 50); do
    ip netns exec "$NC" bash -c 'exec 3<>/dev/tcp/198.18.0.2/9100' 2>/dev/null && break
    sleep 0.1
done

start=$(date +%s)
ip netns exec "$NC" "$BENCH" cycle --dst 198.18.0.2:9100 --n 1000000 --runs 5
ip netns exec "$NC" "$BENCH" rps --dst 198.18.0.2 --ports "$ports" \
    --threads 8 --requests 50000 --pool-requests 200000 --secs 5
echo "bench/pool.sh: done in $(( $(date +%s) - start )) s"
