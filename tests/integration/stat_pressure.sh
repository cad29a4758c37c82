#!/bin/bash
# Port pressure: effective range (reserved ports, listeners in range, same-
# parity ends) and reclaimable TIME_WAIT under tcp_tw_reuse 0, 1 and 2.
# Only the tcp_tw_reuse_delay case needs Linux 6.14; before it, the others
# run with the kernel's fixed 1 s age (the report takes 1000 ms).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq
in_private_netns "$@"
HAVE_DELAY=; [ -e /proc/sys/net/ipv4/tcp_tw_reuse_delay ] && HAVE_DELAY=1

ip addr add 198.18.0.1/32 dev lo
ip addr add 198.18.0.2/32 dev lo
sysctl -qw net.ipv4.ip_local_port_range="40000 40999"
sysctl -qw net.ipv4.ip_local_reserved_ports="40000-40099"
[ -n "$HAVE_DELAY" ] && sysctl -qw net.ipv4.tcp_tw_reuse_delay=1
start_sockgen listen 198.18.0.2 80 listen 127.0.0.1 9000 listen 198.18.0.2 40500 \
    twc 198.18.0.1 198.18.0.2 80 40 twc any 127.0.0.1 9000 25 estab any 127.0.0.1 9000 2
trap stop_sockgen EXIT
# every TIME_WAIT older than tcp_tw_reuse_delay (1 ms), or than 1 s before 6.14
if [ -n "$HAVE_DELAY" ]; then sleep 0.2; else sleep 1.2; fi

J() { "$TWKIT" stat --json "$@"; }
r=$(J)
eq "range size" "$(jq -r '.namespaces[0].port_pressure.range.size' <<<"$r")" 1000
eq "reserved in range" "$(jq -r '.namespaces[0].port_pressure.range.reserved' <<<"$r")" 100
eq "listeners in range" "$(jq -r '.namespaces[0].port_pressure.range.listeners' <<<"$r")" 1
eq "parity lost (40000/40999)" "$(jq -r '.namespaces[0].port_pressure.range.parity_lost' <<<"$r")" 0
eq "effective" "$(jq -r '.namespaces[0].port_pressure.range.effective' <<<"$r")" 899
eq "no client port in the reserved part" \
    "$(ss -tanH state time-wait | awk '{split($3,a,":"); p=a[length(a)]; if (p>=40000 && p<40100) n++} END{print n+0}')" 0

pp() { jq -r ".namespaces[0].port_pressure.destinations[] | select(.remote_port==$2) | $3" <<<"$1"; }
for reuse in 0 1 2; do
    sysctl -qw net.ipv4.tcp_tw_reuse=$reuse
    r=$(J)
    case $reuse in
    0) want80=0 want9000=0 ;;
    1) want80=40 want9000=25 ;;
    2) want80=0 want9000=25 ;;
    esac
    # netlink cannot see the peer's timestamps: reclaimable is a bound, never
    # subtracted from the pressure (the exact count stays 0)
    eq "tw_reuse=$reuse: 198.18.0.2:80 reclaimable at most" "$(pp "$r" 80 .reclaimable_max)" $want80
    eq "tw_reuse=$reuse: 127.0.0.1:9000 reclaimable at most" "$(pp "$r" 9000 .reclaimable_max)" $want9000
    eq "tw_reuse=$reuse: 198.18.0.2:80 known reclaimable" "$(pp "$r" 80 .reclaimable)" 0
    eq "tw_reuse=$reuse: :80 percent counts every port held" "$(pp "$r" 80 '.percent*100|round')" \
        "$(awk -v h=40 'BEGIN{printf "%d", 10000*h/899 + 0.5}')"
    eq "tw_reuse=$reuse: :80 percent if reused" "$(pp "$r" 80 '.percent_if_reused*100|round')" \
        "$(awk -v h=$((40 - want80)) 'BEGIN{printf "%d", 10000*h/899 + 0.5}')"
    eq "tw_reuse=$reuse: :9000 in use (25 TW + 2 estab)" "$(pp "$r" 9000 .in_use)" 27
done
sysctl -qw net.ipv4.tcp_tw_reuse=1
bound_on=$(pp "$(J)" 80 .reclaimable_max)
sysctl -qw net.ipv4.tcp_timestamps=0
# tcp_twsk_unique() reads each TIME_WAIT's recorded stamp, not the sysctl:
# the ones made while timestamps were on keep theirs (doctor_facts.sh
# ts_off_keeps_old shows the kernel taking them over).  Still a bound.
eq "timestamps off now: the same bound (made before)" "$(pp "$(J)" 80 .reclaimable_max)" "$bound_on"
eq "timestamps off now: nothing verified" "$(pp "$(J)" 80 .reclaimable)" 0
eq "timestamps off now: reuse still applies" "$(pp "$(J)" 80 .reuse_applies)" true
sysctl -qw net.ipv4.tcp_timestamps=1
if [ -n "$HAVE_DELAY" ]; then
    sysctl -qw net.ipv4.tcp_tw_reuse_delay=60000
    eq "delay 60 s: nothing old enough" "$(pp "$(J)" 80 .reclaimable_max)" 0
else
    skip_case "delay 60 s: nothing old enough" "kernel without tcp_tw_reuse_delay (Linux 6.14+)"
fi

# same-parity ends: one port is not sure to be reachable (each connect()
# scan skips the low or the high end; a failed scan does not move the next
# start, so the same end can stay out of reach)
sysctl -qw net.ipv4.ip_local_port_range="40000 41000" 2>/dev/null
r=$(J)
eq "parity lost (40000/41000)" "$(jq -r '.namespaces[0].port_pressure.range.parity_lost' <<<"$r")" 1
eq "effective with parity" "$(jq -r '.namespaces[0].port_pressure.range.effective' <<<"$r")" 899

# pressure above 50% is listed first: fill a small range
stop_sockgen
sysctl -qw net.ipv4.ip_local_reserved_ports=""
sysctl -qw net.ipv4.ip_local_port_range="50000 50099"
sysctl -qw net.ipv4.tcp_tw_reuse=0
start_sockgen listen 198.18.0.2 81 listen 198.18.0.2 82 \
    twc 198.18.0.1 198.18.0.2 82 10 twc 198.18.0.1 198.18.0.2 81 60
r=$(J)
eq "first destination is the >50% one" "$(jq -r '.namespaces[0].port_pressure.destinations[0].remote_port' <<<"$r")" 81
eq "its percent (60 of 100 ports)" "$(jq -r '.namespaces[0].port_pressure.destinations[0].percent' <<<"$r")" 60
check "table marks it" bash -c "'$TWKIT' stat | grep -q '198.18.0.2:81 .* 60.0%'"

# A server's TIME_WAIT outlive its listener: they stay server-side (local
# port 8080 outside the range, client ports above it), not 5 destinations.
before=$(jq -r '.namespaces[0].time_wait.server_side' <<<"$r")
ip addr add 198.18.0.6/32 dev lo
"$HELPERS/sockgen" listen 198.18.0.6 8080 tws 198.18.0.1 198.18.0.6 8080 5 >/dev/null
r=$(J)
eq "listener gone: its 5 TIME_WAIT are server-side" \
    "$(( $(jq -r '.namespaces[0].time_wait.server_side' <<<"$r") - before ))" 5
eq "listener gone: no destination towards the clients' ports" \
    "$(jq '[.namespaces[0].port_pressure.destinations[] | select(.local_address == "198.18.0.6")] | length' <<<"$r")" 0
finish
