#!/bin/bash
# Port pressure as the kernel enforces it, between real hosts: client
# namespaces and a server namespace over veth (198.18.0.0/15).
#
# Issue 9 item 1: reuse needs the peer's timestamps, which the socket table
# does not show.  Client tcp_tw_reuse=1, range 40000-40099; server
# tcp_timestamps=0; 100 client-closed connections; 2 s later stat must show
# the destination at 100 % (the reclaimable count only as a labelled bound,
# never subtracted) — and the next 20 connect() calls indeed fail with
# EADDRNOTAVAIL.  With the server's timestamps on, the same picture (twkit
# cannot tell the two apart), and connect() does reuse: the bound was an
# honest upper bound.
#
# Issue 9 item 2: bind() before connect() exhausts the host-wide pool while
# each destination looks half full.  50 + 50 connections to two server
# ports, each bind()ing its port first: stat shows 50 % per destination and
# 100 % host-wide, and the next bind() fails with EADDRINUSE (and connect()
# to a third port with EADDRNOTAVAIL: it skips the ports bind() took).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq ip
C=twkit-t-$$-c C2=twkit-t-$$-b S=twkit-t-$$-s

cleanup() {
    stop_sockgen
    for n in $C $C2 $S; do ip netns del "$n" 2>/dev/null; done
    rm -f "${TMPJ:-}" "${TMPJ:-}.txt"
}
trap cleanup EXIT
for n in $C $C2 $S; do ip netns add "$n" || skip "ip netns add failed"; ip -n "$n" link set lo up; done
ip link add tw$$a netns $C type veth peer name tw$$b netns $S
ip link add tw$$c netns $C2 type veth peer name tw$$d netns $S
ip -n $C addr add 198.18.0.1/30 dev tw$$a; ip -n $S addr add 198.18.0.2/30 dev tw$$b
ip -n $C2 addr add 198.18.0.5/30 dev tw$$c; ip -n $S addr add 198.18.0.6/30 dev tw$$d
ip -n $C link set tw$$a up; ip -n $S link set tw$$b up
ip -n $C2 link set tw$$c up; ip -n $S link set tw$$d up
TMPJ=$(mktemp)
try() { "$HELPERS/sockgen" netns "$@"; }   # try NS [bindport] try SRC DST PORT N
dest() { jq -r ".namespaces[0].port_pressure.destinations[] | select(.remote_port==$1) | $2" "$TMPJ"; }

echo "item 1: tcp_tw_reuse=1, the server sends no timestamps"
ip netns exec $C sysctl -qw net.ipv4.tcp_tw_reuse=1
ip netns exec $C sysctl -qw net.ipv4.ip_local_port_range="40000 40099"
ip netns exec $S sysctl -qw net.ipv4.tcp_timestamps=0
start_sockgen netns $S listen 198.18.0.2 80 listen 198.18.0.2 81 \
    netns $C twc 198.18.0.1 198.18.0.2 80 100
sleep 2   # every TIME_WAIT older than tcp_tw_reuse_delay (1 s)
"$TWKIT" stat --netns $C --json >"$TMPJ"; eq "stat exit" $? 0
eq ":80 in use" "$(dest 80 .in_use)" 100
eq ":80 pressure 100 %, the bound not subtracted" "$(dest 80 .percent)" 100
eq ":80 reclaimable known: 0" "$(dest 80 .reclaimable)" 0
eq ":80 reclaimable at most 100 (a bound)" "$(dest 80 .reclaimable_max)" 100
eq ":80 reuse applies (tcp_tw_reuse=1, timestamps on here)" "$(dest 80 .reuse_applies)" true
"$TWKIT" stat --netns $C --color never >"$TMPJ.txt"
check "table: :80 at 100.0 % with RECLAIM shown as the bound <=100" \
    grep -qE '^  198\.18\.0\.1->198\.18\.0\.2:80 +100 +100 +<=100 +100\.0% ########$' "$TMPJ.txt"
check "table: the bound is labelled (if the peer sent TCP timestamps)" \
    grep -qF "<=N: up to N, if the peer sent TCP timestamps" "$TMPJ.txt"
eq "the kernel agrees: 20 connect() fail with EADDRNOTAVAIL" \
    "$(try $C try 198.18.0.1 198.18.0.2 80 20)" "try ok=0 EADDRNOTAVAIL=20 EADDRINUSE=0 other=0"

echo "item 1, control: the server sends timestamps again"
ip netns exec $S sysctl -qw net.ipv4.tcp_timestamps=1
stop_sockgen
start_sockgen netns $S listen 198.18.0.2 81 netns $C twc 198.18.0.1 198.18.0.2 81 100
sleep 2
"$TWKIT" stat --netns $C --json >"$TMPJ"
eq ":81 the same picture: pressure 100 %" "$(dest 81 .percent)" 100
eq ":81 reclaimable at most 100" "$(dest 81 .reclaimable_max)" 100
eq "the bound was reachable: 20 connect() reuse TIME_WAIT" \
    "$(try $C try 198.18.0.1 198.18.0.2 81 20)" "try ok=20 EADDRNOTAVAIL=0 EADDRINUSE=0 other=0"
stop_sockgen

echo "item 2: bind() before connect(), two server ports"
ip netns exec $C2 sysctl -qw net.ipv4.ip_local_port_range="40000 40099"
ip netns exec $C2 sysctl -qw net.ipv4.tcp_tw_reuse=0
start_sockgen netns $S listen 198.18.0.6 80 listen 198.18.0.6 8081 listen 198.18.0.6 8082 \
    netns $C2 bindport twc 198.18.0.5 198.18.0.6 80 50 twc 198.18.0.5 198.18.0.6 8081 50
"$TWKIT" stat --netns $C2 --json >"$TMPJ"; eq "stat exit" $? 0
eq ":80 pressure 50 %" "$(dest 80 .percent)" 50
eq ":8081 pressure 50 %" "$(dest 8081 .percent)" 50
eq "host-wide ports in use" "$(jq -r '.namespaces[0].port_pressure.host_wide.ports_in_use' "$TMPJ")" 100
eq "host-wide percent" "$(jq -r '.namespaces[0].port_pressure.host_wide.percent' "$TMPJ")" 100
"$TWKIT" stat --netns $C2 --color never >"$TMPJ.txt"
check "table: host-wide 100 % beside the destinations" \
    grep -qF "host-wide: 100 of 100 ports held (100.0%)" "$TMPJ.txt"
check "table: says what the host-wide pool limits" \
    grep -qF "bind() before connect() without IP_BIND_ADDRESS_NO_PORT needs a port" "$TMPJ.txt"
eq "the kernel agrees: bind() before connect() fails with EADDRINUSE" \
    "$(try $C2 bindport try 198.18.0.5 198.18.0.6 80 10)" "try ok=0 EADDRNOTAVAIL=0 EADDRINUSE=10 other=0"
eq "and connect() to a third port skips the bound ports: EADDRNOTAVAIL" \
    "$(try $C2 try 198.18.0.5 198.18.0.6 8082 10)" "try ok=0 EADDRNOTAVAIL=10 EADDRINUSE=0 other=0"
finish
