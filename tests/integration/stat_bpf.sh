#!/bin/bash
# --source bpf (issue 14): the eBPF iterator gives the same report as the
# netlink source on the same namespace, and an exact reuse verdict where
# netlink can only give a bound.
#
# 1. Identical reports: the socket sets of stat_live, stat_filters and
#    stat_pressure (IPv4 and IPv6; TIME_WAIT client and server side,
#    ESTABLISHED, orphaned FIN_WAIT2, listeners), with tcp_tw_reuse=0 so
#    that reuse plays no part: the whole JSON report (less the time, the
#    dump's duration and the source's name) is the same, with and without
#    filters.  The expiry histograms move with the clock, so the bpf report
#    must equal the netlink report taken just before or just after it.
# 2. The exact verdict on loopback: tcp_tw_reuse 1 and 2, delay 1 ms.
# 3. --netns: the iterator walks the namespace it is created in.
# 4. Between hosts (stat_two_hosts' setup): client tcp_tw_reuse=1, range
#    40000-40099; server tcp_timestamps=0: bpf shows 0 reclaimable and the
#    next connect() calls fail with EADDRNOTAVAIL.  Timestamps on, 50
#    TIME_WAIT older than tcp_tw_reuse_delay (3 s here) and 50 younger:
#    reclaimable is 50, and exactly 50 connect() calls succeed, each taking
#    a TIME_WAIT port (TcpExtTWRecycled +50).
# 5. Without privileges: a message naming CAP_BPF and CAP_PERFMON, status 1.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq ip
if ! "$TWKIT" stat --source bpf --state listen >/dev/null 2>"${TMPDIR:-/tmp}/twkit-bpf-$$.err"; then
    why=$(cat "${TMPDIR:-/tmp}/twkit-bpf-$$.err"); rm -f "${TMPDIR:-/tmp}/twkit-bpf-$$.err"
    skip "--source bpf cannot run here: $why"
fi
rm -f "${TMPDIR:-/tmp}/twkit-bpf-$$.err"

P=twkit-t-$$-p R=twkit-t-$$-r Q=twkit-t-$$-q C=twkit-t-$$-c S=twkit-t-$$-s
TMPD=$(mktemp -d)
cleanup() {
    stop_sockgen
    for n in $P $R $Q $C $S; do ip netns del "$n" 2>/dev/null; done
    rm -rf "$TMPD"
}
trap cleanup EXIT
for n in $P $R $Q $C $S; do ip netns add "$n" || skip "ip netns add failed"; ip -n "$n" link set lo up; done
CUR=$P
inp() { ip netns exec $CUR "$@"; }

# the report less what may differ between two runs of one source: the
# times, and the sockstat counters that are host-wide, not the namespace's
# (TCP alloc, orphan and mem count every namespace's sockets: another
# process's connection between two runs moves them)
norm() {
    jq -S 'del(.time) | .namespaces[] |= (del(.dump_seconds) | del(.source) | del(.port_pressure.reuse_exact)
        | del(.kernel.sockstat.alloc, .kernel.sockstat.orphan, .kernel.sockstat.mem_pages))' "$1"
}
# same NAME ARGS...: netlink, bpf, netlink; bpf equals one of the two
same() {
    local name=$1; shift
    inp "$TWKIT" stat --json --top 50 --source netlink "$@" >"$TMPD/n1" &&
    inp "$TWKIT" stat --json --top 50 --source bpf "$@" >"$TMPD/b" &&
    inp "$TWKIT" stat --json --top 50 --source netlink "$@" >"$TMPD/n2" || { fail "$name: stat failed"; return; }
    if [ "$(norm "$TMPD/b")" = "$(norm "$TMPD/n1")" ] || [ "$(norm "$TMPD/b")" = "$(norm "$TMPD/n2")" ]; then
        ok "$name: bpf report = netlink report"
    else
        fail "$name: bpf and netlink reports differ"
        diff <(norm "$TMPD/n1") <(norm "$TMPD/b") | head -20
    fi
}

echo "1. identical reports"
inp ip addr add 198.18.0.1/32 dev lo
inp ip addr add 198.18.0.2/32 dev lo
inp ip addr add 198.18.1.7/32 dev lo
inp sysctl -qw net.ipv4.tcp_tw_reuse=0
start_sockgen netns $P \
    listen 198.18.0.2 80 listen 198.18.0.2 81 listen 198.18.0.2 443 listen ::1 8080 \
    listen 127.0.0.1 9000 listen 198.18.1.7 80 listen ::1 8081 \
    twc 198.18.0.1 198.18.0.2 80 30 twc 198.18.0.1 198.18.0.2 81 20 \
    twc 198.18.0.1 198.18.1.7 80 5 twc any ::1 8080 15 \
    tws 198.18.0.1 198.18.0.2 80 10 tws any ::1 8081 6 tws 198.18.0.1 198.18.0.2 443 3 \
    estab any 127.0.0.1 9000 5 estab any ::1 8080 2 fw2 any 127.0.0.1 9000 3 fw2 any ::1 8081 2
sleep 1.1 # no TIME_WAIT younger than 1 s (tw_young) while comparing
b=$(inp "$TWKIT" stat --json --source bpf)
eq "bpf: source named" "$(jq -r '.namespaces[0].source' <<<"$b")" bpf
eq "bpf: time-wait (IPv4+IPv6)" "$(jq -r '.namespaces[0].states.all["time-wait"]' <<<"$b")" 89
eq "bpf: time-wait IPv6" "$(jq -r '.namespaces[0].states.ipv6["time-wait"]' <<<"$b")" 21
eq "bpf: FIN_WAIT2 minisocks" "$(jq -r '.namespaces[0].states.all["fin-wait-2"]' <<<"$b")" 5
eq "bpf: reuse verdict for every TIME_WAIT" "$(jq -r '.namespaces[0].port_pressure.reuse_exact' <<<"$b")" true
same "everything"
same "IPv6 only" -6
same "IPv4 only" -4
same "--state time-wait --dport 80" --state time-wait --dport 80
same "--dst 198.18.0.0/24 --dst 198.18.1.0/24" --dst 198.18.0.0/24 --dst 198.18.1.0/24
same "--src ::1 --state time-wait,fin-wait-2" --src ::1 --state time-wait,fin-wait-2
same "--sport 443 (server side under a filter)" --sport 443
same "--state established,listen" --state established,listen
same "--state syn-recv (none)" --state syn-recv
stop_sockgen
# stat_pressure's set (in a namespace of its own: the TIME_WAIT above stay
# 60 s): reserved ports, a listener inside the range
CUR=$R
inp ip addr add 198.18.0.1/32 dev lo
inp ip addr add 198.18.0.2/32 dev lo
inp sysctl -qw net.ipv4.tcp_tw_reuse=0
inp sysctl -qw net.ipv4.ip_local_port_range="40000 40999"
inp sysctl -qw net.ipv4.ip_local_reserved_ports="40000-40099"
start_sockgen netns $R listen 198.18.0.2 80 listen 127.0.0.1 9000 listen 198.18.0.2 40500 \
    twc 198.18.0.1 198.18.0.2 80 40 twc any 127.0.0.1 9000 25 estab any 127.0.0.1 9000 2
sleep 1.1
same "pressure set, tcp_tw_reuse=0"

echo "2. exact verdicts on loopback"
HAVE_DELAY=; [ -e /proc/sys/net/ipv4/tcp_tw_reuse_delay ] && HAVE_DELAY=1
[ -n "$HAVE_DELAY" ] && inp sysctl -qw net.ipv4.tcp_tw_reuse_delay=1
pp() { jq -r ".namespaces[0].port_pressure.destinations[] | select(.remote_port==$2) | $3" <<<"$1"; }
for reuse in 1 2; do
    inp sysctl -qw net.ipv4.tcp_tw_reuse=$reuse
    case $reuse in 1) want80=40 ;; 2) want80=0 ;; esac
    r=$(inp "$TWKIT" stat --json --source bpf)
    eq "tw_reuse=$reuse: 198.18.0.2:80 reclaimable (exact)" "$(pp "$r" 80 .reclaimable)" $want80
    eq "tw_reuse=$reuse: 198.18.0.2:80 bound = exact" "$(pp "$r" 80 .reclaimable_max)" $want80
    eq "tw_reuse=$reuse: 127.0.0.1:9000 reclaimable (loopback)" "$(pp "$r" 9000 .reclaimable)" 25
    eq "tw_reuse=$reuse: :80 percent counts only held ports" "$(pp "$r" 80 '.percent*100|round')" \
        "$(awk -v h=$((40 - want80)) 'BEGIN{printf "%d", 10000*h/899 + 0.5}')"
done
if [ -n "$HAVE_DELAY" ]; then
    inp sysctl -qw net.ipv4.tcp_tw_reuse_delay=60000
    eq "delay 60 s: nothing reclaimable yet" "$(pp "$(inp "$TWKIT" stat --json --source bpf)" 9000 .reclaimable)" 0
else
    skip_case "delay 60 s: nothing reclaimable yet" "kernel without tcp_tw_reuse_delay (Linux 6.14+)"
fi
r=$(inp "$TWKIT" stat --source bpf --color never)
check "table: RECLAIM is a count, no bound legend" \
    bash -c '! grep -qF "<=N: up to N" <<<"$1" && grep -qE "^  127\.0\.0\.1->127\.0\.0\.1:9000 +27 +25 +0 " <<<"$1"' _ "$r"
stop_sockgen

echo "3. --netns"
start_sockgen netns $Q listen 127.0.0.1 7000 twc any 127.0.0.1 7000 9
"$TWKIT" stat --netns $Q --source bpf --json >"$TMPD/b"; eq "--netns NAME exit" $? 0
eq "--netns NAME: the namespace's TIME_WAIT" "$(jq -r '.namespaces[0].time_wait.total' "$TMPD/b")" 9
eq "--netns NAME: its listener" "$(jq -r '.namespaces[0].states.all.listen' "$TMPD/b")" 1
"$TWKIT" stat --netns $C --source bpf --json >"$TMPD/b"
eq "another namespace: none of those" "$(jq -r '.namespaces[0].states.total' "$TMPD/b")" 0
"$TWKIT" stat --netns all --source bpf --json >"$TMPD/b"; eq "--netns all exit" $? 0
inode=$(stat -L -c %i "/run/netns/$Q")
eq "--netns all: ours has its 9" \
    "$(jq -r --argjson i "$inode" '.namespaces[] | select(.netns.inode==$i) | .time_wait.total' "$TMPD/b")" 9
stop_sockgen

echo "4. between hosts: the verdict the kernel applies"
ip link add tw$$a netns $C type veth peer name tw$$b netns $S
ip -n $C addr add 198.18.0.1/30 dev tw$$a; ip -n $S addr add 198.18.0.2/30 dev tw$$b
ip -n $C link set tw$$a up; ip -n $S link set tw$$b up
ip netns exec $C sysctl -qw net.ipv4.tcp_tw_reuse=1
ip netns exec $C sysctl -qw net.ipv4.ip_local_port_range="40000 40099"
ip netns exec $S sysctl -qw net.ipv4.tcp_timestamps=0
try() { "$HELPERS/sockgen" netns "$@"; }
dest() { jq -r ".namespaces[0].port_pressure.destinations[] | select(.remote_port==$1) | $2" "$TMPD/b"; }
recycled() { ip netns exec $C awk '/^TcpExt:/ { if (!h) { split($0, n); h = 1 } else { for (i = 2; i <= NF; i++) if (n[i] == "TWRecycled") print $i } }' /proc/net/netstat; }
start_sockgen netns $S listen 198.18.0.2 80 listen 198.18.0.2 81 netns $C twc 198.18.0.1 198.18.0.2 80 100
sleep 2 # older than tcp_tw_reuse_delay (1 s)
"$TWKIT" stat --netns $C --source bpf --json >"$TMPD/b"; eq "stat exit" $? 0
eq "timestamps off: :80 in use" "$(dest 80 .in_use)" 100
eq "timestamps off: reclaimable 0 (exact)" "$(dest 80 .reclaimable)" 0
eq "timestamps off: no bound either" "$(dest 80 .reclaimable_max)" 0
eq "timestamps off: pressure 100 %" "$(dest 80 .percent)" 100
eq "the kernel agrees: 20 connect() fail with EADDRNOTAVAIL" \
    "$(try $C try 198.18.0.1 198.18.0.2 80 20)" "try ok=0 EADDRNOTAVAIL=20 EADDRINUSE=0 other=0"
stop_sockgen
# the TIME_WAIT towards :80 stay; they do not hold ports towards :81 (another 4-tuple)
ip netns exec $S sysctl -qw net.ipv4.tcp_timestamps=1
if [ -n "$HAVE_DELAY" ]; then
    # nothing reusable while the two batches are made (the second would take
    # the first's ports), then a delay that only the first batch has passed
    ip netns exec $C sysctl -qw net.ipv4.tcp_tw_reuse_delay=60000
    start_sockgen netns $S listen 198.18.0.2 81 netns $C twc 198.18.0.1 198.18.0.2 81 50 \
        sleep 3500 twc 198.18.0.1 198.18.0.2 81 50
    ip netns exec $C sysctl -qw net.ipv4.tcp_tw_reuse_delay=3000
    "$TWKIT" stat --netns $C --source bpf --json >"$TMPD/b"
    eq "timestamps on: :81 in use" "$(dest 81 .in_use)" 100
    eq "timestamps on: reclaimable = the 50 older than the delay" "$(dest 81 .reclaimable)" 50
    eq "timestamps on: pressure counts the other 50" "$(dest 81 .percent)" 50
    before=$(recycled)
    eq "the kernel agrees: 50 connect() take TIME_WAIT ports, then EADDRNOTAVAIL" \
        "$(try $C try 198.18.0.1 198.18.0.2 81 60)" "try ok=50 EADDRNOTAVAIL=10 EADDRINUSE=0 other=0"
    eq "TcpExtTWRecycled +50" "$(( $(recycled) - before ))" 50
else
    start_sockgen netns $S listen 198.18.0.2 81 netns $C twc 198.18.0.1 198.18.0.2 81 100
    sleep 2
    "$TWKIT" stat --netns $C --source bpf --json >"$TMPD/b"
    eq "timestamps on: reclaimable 100" "$(dest 81 .reclaimable)" 100
    before=$(recycled)
    eq "the kernel agrees: 100 connect() take TIME_WAIT ports" \
        "$(try $C try 198.18.0.1 198.18.0.2 81 110)" "try ok=100 EADDRNOTAVAIL=10 EADDRINUSE=0 other=0"
    eq "TcpExtTWRecycled +100" "$(( $(recycled) - before ))" 100
fi
stop_sockgen

echo "5. without privileges"
if command -v setpriv >/dev/null; then
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
        "$TWKIT" stat --source bpf 2>&1); rc=$?
    eq "unprivileged --source bpf exit" $rc 1
    check "the message names CAP_BPF and CAP_PERFMON" grep -q "needs root, or CAP_BPF and CAP_PERFMON" <<<"$out"
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
        "$TWKIT" stat --json 2>&1); rc=$?
    eq "unprivileged default source still works" "$rc $(jq -r '.namespaces[0].source' <<<"$out" 2>/dev/null)" "0 netlink"
else
    fail "setpriv missing (util-linux)"
fi
finish
