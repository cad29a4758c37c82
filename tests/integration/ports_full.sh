#!/bin/bash
# When a destination's ports are full, connect() fails with EADDRNOTAVAIL
# before any SYN: the kernel's ActiveOpens and AttemptFails do not move, so
# the "0 connects/s" that doctor and watch print during the outage would
# read as "no load".  Both must say so beside the rate.  The kernel part is
# checked too: the failed connects leave both counters unchanged.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need nstat
in_private_netns "$@"
T=$(mktemp)
trap 'stop_sockgen; rm -f "$T"' EXIT
ip addr add 198.18.0.1/32 dev lo
ip addr add 198.18.0.2/32 dev lo
sysctl -qw net.ipv4.ip_local_port_range="40000 40009"
start_sockgen listen 198.18.0.2 80 twc 198.18.0.1 198.18.0.2 80 10
ctr() { nstat -saz "$1" | awk -v k="$1" '$1 == k { print $2 }'; }
a0=$(ctr TcpActiveOpens); f0=$(ctr TcpAttemptFails)
eq "kernel: 5 connects with the range full all fail" \
    "$("$HELPERS/sockgen" try 198.18.0.1 198.18.0.2 80 5)" "try ok=0 EADDRNOTAVAIL=5 EADDRINUSE=0 other=0"
eq "kernel: ActiveOpens did not move" "$(( $(ctr TcpActiveOpens) - a0 ))" 0
eq "kernel: AttemptFails did not move" "$(( $(ctr TcpAttemptFails) - f0 ))" 0
out=$("$TWKIT" doctor --sample 1 | tr -s ' \n' ' ')
check "doctor says its connect rate cannot see EADDRNOTAVAIL" \
    grep -q "refused for want of a local port fails with EADDRNOTAVAIL before any SYN" <<<"$out"
out=$("$TWKIT" watch --batch --count 1 | tr -s ' \n' ' ')
check "watch says its connects/failed cannot see EADDRNOTAVAIL" \
    grep -q "ports full: a connect() refused for want of a port (EADDRNOTAVAIL, or EADDRINUSE at bind()) sends no SYN" <<<"$out"
# the note is only shown when some range is full: another namespace's view
unshare --net bash -c 'ip link set lo up; "$0" doctor --sample 1' "$TWKIT" >"$T.free"
check "doctor: no such note while ports are free" test "$(grep -c 'EADDRNOTAVAIL' "$T.free")" -eq 0
rm -f "$T.free"
finish
