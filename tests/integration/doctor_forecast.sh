#!/bin/bash
# doctor's time to exhaustion against what the kernel then does (issue 9
# item 3).  Each case runs in its own private network namespace (the client)
# beside a server namespace over veth (198.18.0.1 <-> 198.18.0.2), makes a
# bounded load with tests/helpers/doctor_load, runs `twkit doctor --json`
# while the load runs, and checks the forecast against the connects that
# follow at the same rate:
#   cap      tcp_max_tw_buckets = 600 under a 1000-port range, 60 connects/s:
#            TIME_WAIT can never pass 600, so the ports never run out (the
#            straight line "400 free ports / 60/s = 7 s" was CRIT); 600 more
#            connects fail 0 times, TCPTimeWaitOverflow counts them.
#   reuse    tcp_tw_reuse = 1, delay 2000 ms, 1000 ports, 300 connects/s: the
#            range sustains 500/s.  With --source bpf (the peer's timestamps
#            verified) the forecast is "never" (kept by tcp_tw_reuse); with
#            netlink reuse is unverified: exhaustion is the forecast and
#            "never" only its bound.  3000 connects in 10 s fail 0 times.
#   exhaust  200 ports, 100 in TIME_WAIT, no reuse, 20 connects/s: doctor
#            says crit, exhausted in a few seconds, and connect() fails with
#            EADDRNOTAVAIL when it said (within 1.5 s).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq nsenter
LOAD=$HELPERS/doctor_load
[ -x "$LOAD" ] || skip "needs $LOAD (make all)"

sc() { sysctl -qw "$1=$2"; }
EMPTY=
doctor() { "$TWKIT" doctor --root "$EMPTY" --json "$@"; }
f() { jq -r --arg id "$2" "[.findings[] | select(.id==\$id)][0] | $3" <<<"$1"; }
jqe() { jq -e "$@" >/dev/null; }
kv() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
ctr() { awk -v k="$1" '/^TcpExt:/ { if (!h) { split($0, n); h = 1 } else { split($0, v); for (i in n) if (n[i] == k) print v[i] } }' /proc/net/netstat; }
. tests/helpers/peer_ns.sh # peer_ns, in_peer, wait_listen

server() { # server in the peer namespace, on 198.18.0.2:9001, for $1 s at most
    # nsenter execs doctor_load: SRV is its pid (its serving child leaves with it)
    nsenter -t "$PEER" -n "$LOAD" --connect 198.18.0.2:9001 --count 0 --hold "$1" \
        --time "$(($1 + 10))" >/dev/null &
    SRV=$!
    wait_listen 9001 in_peer || fail "server did not listen"
}

case_cap() {
    peer_ns
    sc net.ipv4.ip_local_port_range "40000 40999"; sc net.ipv4.tcp_tw_reuse 0
    sc net.ipv4.tcp_max_tw_buckets 600; sc net.ipv4.tcp_rfc1337 1
    server 25
    local out j ov0
    out=$("$LOAD" --connect 198.18.0.2:9001 --no-server --count 700)
    eq "700 connects to fill the cap" "$(kv ok "$out")" 700
    # the cap is checked before the count is raised, not with it: two CPUs
    # closing at once may each pass at 599, so up to one over per extra CPU
    local tw; tw=$(awk '/^TCP:/ {for (i = 1; i < NF; i++) if ($i == "tw") print $(i + 1)}' /proc/net/sockstat)
    check "TIME_WAIT stops at the cap ($tw; 600 to 600 + CPUs - 1)" test "$tw" -ge 600 -a "$tw" -le $((600 + $(nproc) - 1))
    ov0=$(ctr TCPTimeWaitOverflow)
    "$LOAD" --connect 198.18.0.2:9001 --no-server --count 600 --rate 60 --time 15 --keep-going >"$T/load" &
    local bg=$!
    sleep 1
    j=$(doctor --sample 2)
    wait $bg
    out=$(cat "$T/load")
    eq "port-pressure: warn, not crit" "$(f "$j" port-pressure .severity)" warn
    eq "forecast" "$(f "$j" port-pressure .evidence.forecast)" never
    eq "time_to_exhaustion_s" "$(f "$j" port-pressure .evidence.time_to_exhaustion_s)" never
    eq "kept by" "$(f "$j" port-pressure .evidence.kept_by)" tcp_max_tw_buckets
    eq "the cap in the evidence" "$(f "$j" port-pressure .evidence.tcp_max_tw_buckets)" 600
    check "fix says why: the cap, TCPTimeWaitOverflow" jqe '[.findings[] | select(.id=="port-pressure")][0].fix | test("never runs out, but only because tcp_max_tw_buckets = 600 .*TCPTimeWaitOverflow")' <<<"$j"
    check "summary says it never runs out" jqe '[.findings[] | select(.id=="port-pressure")][0].summary | test("never run out at [0-9.]+ connects/s \\(tcp_max_tw_buckets")' <<<"$j"
    check "rate measured (~60/s)" jqe '.rates.active_opens_per_s >= 40 and .rates.active_opens_per_s <= 80' <<<"$j"
    eq "tw-buckets names what the cap protects" "$(f "$j" tw-buckets .evidence.protects_destination)" "198.18.0.1 -> 198.18.0.2:9001"
    check "tw-buckets: ports out without the cap" jqe '[.findings[] | select(.id=="tw-buckets")][0].evidence.exhaustion_without_cap_s | type == "number" and . < 60' <<<"$j"
    eq "no change raises the cap" "$(jq '[.sysctl_changes[] | select(.key=="net.ipv4.tcp_max_tw_buckets")] | length' <<<"$j")" 0
    eq "and indeed 600 connects at 60/s: 0 fail" "$(kv ok "$out")/$(kv fail "$out")" "600/0"
    check "TCPTimeWaitOverflow counted them" test "$(($(ctr TCPTimeWaitOverflow) - ov0))" -ge 500
    kill $SRV 2>/dev/null; wait $SRV 2>/dev/null
}

case_reuse() {
    peer_ns
    sc net.ipv4.ip_local_port_range "40000 40999"; sc net.ipv4.tcp_tw_reuse 1
    sc net.ipv4.tcp_tw_reuse_delay 2000; sc net.ipv4.tcp_rfc1337 1
    server 25
    "$LOAD" --connect 198.18.0.2:9001 --no-server --count 3000 --rate 300 --time 15 --keep-going >"$T/load" &
    local bg=$! j jb= out
    # 4 s in, the oldest TIME_WAIT are well past the 2 s delay even as
    # sock_diag shows their age (the 60 s timer is rounded up by the timer
    # wheel): at 2.5 s none sometimes was, and no bound was printed
    sleep 4
    j=$(doctor --sample 1 --source netlink)
    if "$TWKIT" stat --source bpf --state listen >/dev/null 2>&1; then
        jb=$(doctor --sample 1 --source bpf)
    fi
    wait $bg
    out=$(cat "$T/load")
    eq "netlink: reuse unverified, exhaustion is the forecast" "$(f "$j" port-pressure '.evidence.forecast | . == "now" or . == "at"')" true
    eq "netlink: never is only the bound" "$(f "$j" port-pressure .evidence.time_to_exhaustion_bound_s)" never
    # the ports of connections open at that moment are not free: (1000 - open)
    # / 2 s, where open is every socket of the destination not in TIME_WAIT
    # (established, and any caught in SYN_SENT or FIN_WAIT at 300/s: the
    # check once assumed established alone and failed when one was)
    local sus
    sus=$(f "$j" port-pressure '(.evidence | (.sustainable_rate_max | tonumber) == ((1000 - ((.in_use | tonumber) - (.time_wait | tonumber))) / 2))')
    eq "netlink: sustainable with reuse ((1000 - (in_use - time_wait)) / 2 s), a bound" "$sus" true
    [ "$sus" = true ] || f "$j" port-pressure '.evidence | {in_use, time_wait, established, sustainable_rate_max} | tojson'
    check "netlink: the open connections include the established ones" \
        jqe '[.findings[] | select(.id=="port-pressure")][0].evidence | (.in_use | tonumber) - (.time_wait | tonumber) >= (.established | tonumber)' <<<"$j"
    check "netlink: the summary labels the bound" jqe '[.findings[] | select(.id=="port-pressure")][0].summary | test("never, if the peer sent timestamps: a bound")' <<<"$j"
    check "netlink: the fix labels the bound" jqe '[.findings[] | select(.id=="port-pressure")][0].fix | test("they would then run out never at the latest \\(a bound, not the forecast\\)")' <<<"$j"
    jqe '[.findings[] | select(.id=="port-pressure")][0].fix | test("they would then run out never at the latest \\(a bound, not the forecast\\)")' <<<"$j" ||
        jq -c '[.findings[] | select(.id=="port-pressure")][0] | [.evidence.reclaimable, .evidence.reclaimable_max, .evidence.forecast, .fix]' <<<"$j"
    if [ -n "$jb" ]; then
        eq "bpf: no crit finding" "$(jq '[.findings[] | select(.severity=="crit")] | length' <<<"$jb")" 0
        if [ "$(f "$jb" port-pressure .id)" = port-pressure ]; then
            eq "bpf: forecast" "$(f "$jb" port-pressure .evidence.forecast)" never
            eq "bpf: kept by" "$(f "$jb" port-pressure .evidence.kept_by)" tcp_tw_reuse
            check "bpf: sustainable ~500/s" jqe '[.findings[] | select(.id=="port-pressure")][0].evidence.sustainable_rate > 400' <<<"$jb"
        else
            ok "bpf: no port-pressure finding (verified reuse keeps it below 50%)"
        fi
    else
        skip_case "reuse with --source bpf" "the BPF iterator cannot run here"
    fi
    eq "and indeed 3000 connects at 300/s: 0 fail" "$(kv ok "$out")/$(kv fail "$out")" "3000/0"
    kill $SRV 2>/dev/null; wait $SRV 2>/dev/null
}

case_exhaust() {
    peer_ns
    sc net.ipv4.ip_local_port_range "40000 40199"; sc net.ipv4.tcp_tw_reuse 0; sc net.ipv4.tcp_rfc1337 1
    server 25
    local out j t0 t1
    out=$("$LOAD" --connect 198.18.0.2:9001 --no-server --count 100)
    eq "100 in TIME_WAIT" "$(kv ok "$out")" 100
    t0=$(date +%s.%N)
    "$LOAD" --connect 198.18.0.2:9001 --no-server --count 200 --rate 20 --time 12 --keep-going >"$T/load" &
    local bg=$!
    sleep 0.5
    j=$(doctor --sample 1)
    t1=$(date +%s.%N)
    wait $bg
    out=$(cat "$T/load")
    eq "crit" "$(f "$j" port-pressure .severity)" crit
    eq "forecast" "$(f "$j" port-pressure .evidence.forecast)" at
    check "exhausted within a minute" jqe '[.findings[] | select(.id=="port-pressure")][0].evidence.time_to_exhaustion_s | type == "number" and . < 60' <<<"$j"
    eq "connect() then fails" "$(kv first_errno "$out")" EADDRNOTAVAIL
    local tte at
    tte=$(f "$j" port-pressure .evidence.time_to_exhaustion_s)
    at=$(kv fail_at "$out")
    # the first failing connect was made at t0 + at / 20; doctor said t1 + tte
    check "the ports ran out when doctor said (predicted $(awk -v a="$t1" -v b="$t0" -v c="$tte" 'BEGIN{printf "%.1f", a - b + c}') s, failed at $(awk -v a="$at" 'BEGIN{printf "%.1f", a / 20}') s)" \
        awk -v a="$t1" -v b="$t0" -v c="$tte" -v f="$at" 'BEGIN { d = (a - b + c) - f / 20; exit !(d < 1.5 && d > -1.5) }'
    kill $SRV 2>/dev/null; wait $SRV 2>/dev/null
}

if [ -n "${TW_FC_CASE:-}" ]; then
    ip link set lo up
    T=$(mktemp -d)
    SRV=
    trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; rm -rf "$T"; [ -n "$PEER" ] && kill "$PEER" 2>/dev/null' EXIT
    EMPTY=$T/empty-root
    mkdir -p "$EMPTY/etc"
    : >"$EMPTY/etc/sysctl.conf"
    "case_$TW_FC_CASE"
    finish
    exit
fi

failed=()
for c in ${TW_FC_CASES:-cap reuse exhaust}; do
    echo "== $c"
    TW_FC_CASE=$c unshare --net -- bash "$0" || failed+=("$c")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed cases: ${failed[*]}"
    exit 1
fi
echo "all doctor forecast cases passed"
