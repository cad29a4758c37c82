#!/bin/bash
# The kernel facts `twkit doctor` prints, re-measured on the running kernel
# (kernel-facts.md sections in brackets).  Each fact runs in its own private
# network namespace with a small port range, so each takes seconds.
#   timewait_len   TIME_WAIT lasts ~60 s whatever tcp_fin_timeout is   [1]
#   reuse2_loopback tcp_tw_reuse=2 reuses only for loopback destinations [2]
#   reuse_needs_ts reuse needs timestamps                                [2]
#   ts_off_keeps_old  tcp_timestamps=0 leaves TIME_WAIT made before reusable [2]
#   overflow       TCPTimeWaitOverflow counts overflow; sockstat tw caps [4]
#   bind_no_port   IP_BIND_ADDRESS_NO_PORT restores per-destination sharing [5]
#   parity         same-parity ends: a scan skips a port; different: none [5]
#   rfc1337        an in-window RST kills TIME_WAIT unless tcp_rfc1337=1 [7]
#   linger0        SO_LINGER {1,0}: no TIME_WAIT, TCPAbortOnData counts  [8, 10]
#   reuse_needs_peer_ts  a peer at tcp_timestamps=0: tcp_tw_reuse=1 reclaims
#                  nothing, although every TIME_WAIT is older than the delay  [11]
#   peer_ts_tshark the tshark line doctor prints shows a TSval exactly when
#                  the peer sends timestamps                              [2]
#   bind_pool      bind(0) before connect(): two destinations share no port,
#                  and bind() fails with EADDRINUSE once the range is used up [5]
#   syn_takeover   a new SYN takes a server-side TIME_WAIT over whatever
#                  tcp_rfc1337 is, and PassiveOpens counts it          [7, RFC 6191]
#   listener_port  a service port inside the range is taken by connect();
#                  the service cannot bind it even after the clients closed;
#                  ip_local_reserved_ports prevents it; "\n" clears the list [5, 11]
#   sock_destroy   ss -K (SOCK_DESTROY) ends TIME_WAIT sockets, no counter moves [11]
#   tw_buckets_default  a new namespace gets tcp_max_tw_buckets =
#                  |tcp_ehash_entries| / 2                                  [4]
# tcp_rfc1337=1 is set where exact counts matter: on this kernel a plain
# connect/close loop sees a few TIME_WAIT killed by peer RSTs (kernel-facts
# section 2, "3 to 16 successes beyond"), which would blur exact numbers.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
not_sanitized "kernel facts, measured with the kernel and small helpers (twkit's part is a few stat and doctor calls that other scripts run under the sanitizers); make test runs it"
need ss
LOAD=$HELPERS/doctor_load
[ -x "$LOAD" ] || skip "needs $LOAD (make all)"

sc() { sysctl -qw "$1=$2"; }
# ctr SECTION NAME: a counter from /proc/net/snmp or /proc/net/netstat
ctr() {
    awk -v s="$1:" -v k="$2" '$1 == s { if (!(s in h)) { h[s] = 1; for (i = 2; i <= NF; i++) n[i] = $i }
        else for (i = 2; i <= NF; i++) if (n[i] == k) print $i }' /proc/net/snmp /proc/net/netstat
}
kv() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
tw_count() { ss -tanH state time-wait | wc -l; }
small_range() { sc net.ipv4.ip_local_port_range "40000 40099"; }

fact_timewait_len() {
    sc net.ipv4.tcp_fin_timeout 5
    "$LOAD" --connect 127.0.0.1:9001 --count 1 >/dev/null
    local t
    t=$(ss -tanoH state time-wait | sed -n 's/.*timer:(timewait,\([0-9]*\)sec.*/\1/p' | head -1)
    check "TIME_WAIT timer right after close is 55-60 s with tcp_fin_timeout=5 (got ${t:-none})" \
        test -n "$t" -a "${t:-0}" -ge 55 -a "${t:-0}" -le 60
    sleep 6
    t=$(ss -tanoH state time-wait | sed -n 's/.*timer:(timewait,\([0-9]*\)sec.*/\1/p' | head -1)
    check "still in TIME_WAIT 6 s later, past tcp_fin_timeout (left: ${t:-gone})" \
        test -n "$t" -a "${t:-0}" -ge 45 -a "${t:-0}" -le 54
}

fact_reuse2_loopback() {
    small_range; sc net.ipv4.tcp_tw_reuse 2; sc net.ipv4.tcp_rfc1337 1
    [ -e /proc/sys/net/ipv4/tcp_tw_reuse_delay ] && sc net.ipv4.tcp_tw_reuse_delay 1
    ip addr add 198.18.0.1/32 dev lo
    local r0 out
    r0=$(ctr TcpExt TWRecycled)
    # 150 connects over 1.5 s: reuse has time to apply even with a 1 s delay
    out=$("$LOAD" --connect 127.0.0.1:9001 --count 150 --rate 100 --time 10)
    eq "to 127.0.0.1: every connect succeeds beyond the 100-port range" "$(kv ok "$out")" 150
    check "TWRecycled rose by >= 50" test $(( $(ctr TcpExt TWRecycled) - r0 )) -ge 50
    out=$("$LOAD" --connect 198.18.0.1:9002 --bind 198.18.0.1 --count 150 --rate 100 --time 10)
    eq "to the host's own 198.18.0.1: exactly the range" "$(kv ok "$out")" 100
    eq "then" "$(kv first_errno "$out")" EADDRNOTAVAIL
}

fact_reuse_needs_ts() {
    small_range; sc net.ipv4.tcp_tw_reuse 1; sc net.ipv4.tcp_rfc1337 1
    [ -e /proc/sys/net/ipv4/tcp_tw_reuse_delay ] && sc net.ipv4.tcp_tw_reuse_delay 1
    local out
    sc net.ipv4.tcp_timestamps 0
    out=$("$LOAD" --connect 127.0.0.1:9001 --count 150 --rate 100 --time 10)
    eq "tcp_tw_reuse=1, tcp_timestamps=0: no reuse, exactly the range" "$(kv ok "$out")" 100
    eq "then" "$(kv first_errno "$out")" EADDRNOTAVAIL
    sc net.ipv4.tcp_timestamps 1
    out=$("$LOAD" --connect 127.0.0.1:9002 --count 150 --rate 100 --time 10)
    eq "tcp_timestamps=1 (new destination): all connects succeed" "$(kv ok "$out")" 150
}

fact_ts_off_keeps_old() {
    # tcp_twsk_unique() looks at the TIME_WAIT's recorded stamp, not at the
    # sysctl: turning tcp_timestamps off leaves today's TIME_WAIT reusable.
    # twkit must show that as a bound, not as "reuse impossible".
    small_range; sc net.ipv4.tcp_tw_reuse 1; sc net.ipv4.tcp_rfc1337 1
    local out r0 j
    out=$("$LOAD" --connect 127.0.0.1:9001 --count 100)
    eq "100 connects with timestamps on" "$(kv ok "$out")" 100
    sc net.ipv4.tcp_timestamps 0
    sleep 1.2
    j=$("$TWKIT" stat --json)
    eq "twkit: reuse applies to the destination" \
        "$(jq -r '.namespaces[0].port_pressure.destinations[0].reuse_applies' <<<"$j")" true
    eq "twkit: up to 100 reclaimable (a bound)" \
        "$(jq -r '.namespaces[0].port_pressure.destinations[0] | "\(.reclaimable)/\(.reclaimable_max)"' <<<"$j")" 0/100
    eq "twkit: pressure still counts them held" \
        "$(jq -r '.namespaces[0].port_pressure.destinations[0].percent' <<<"$j")" 100
    check "twkit stat labels the bound and says why" \
        sh -c "'$TWKIT' stat | tr -s ' \n' ' ' | grep -q 'only the TIME_WAIT of connections made before it was set'"
    check "doctor: reuse is lost for new connections, not for all" \
        sh -c "'$TWKIT' doctor --json | jq -r '.findings[] | select(.id == \"timestamps-off\") | .summary' | grep -q 'made from now on'"
    r0=$(ctr TcpExt TWRecycled)
    out=$("$LOAD" --connect 127.0.0.1:9001 --count 50)
    eq "kernel: with tcp_timestamps=0, 50 connects take over old TIME_WAIT" "$(kv ok "$out")" 50
    eq "kernel: TWRecycled +50" $(( $(ctr TcpExt TWRecycled) - r0 )) 50
}

fact_overflow() {
    sc net.ipv4.tcp_max_tw_buckets 10; sc net.ipv4.tcp_rfc1337 1
    local o0 t0 d0=-1 out
    command -v dmesg >/dev/null && d0=$(dmesg 2>/dev/null | grep -c "time wait bucket")
    o0=$(ctr TcpExt TCPTimeWaitOverflow); t0=$(ctr TcpExt TW)
    out=$("$LOAD" --connect 127.0.0.1:9001 --count 50)
    eq "connects" "$(kv ok "$out")" 50
    eq "TCPTimeWaitOverflow delta" $(( $(ctr TcpExt TCPTimeWaitOverflow) - o0 )) 40
    eq "TcpExt TW delta" $(( $(ctr TcpExt TW) - t0 )) 10
    eq "sockstat tw" "$(awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "tw") print $(i + 1) }' /proc/net/sockstat)" 10
    eq "TIME_WAIT sockets" "$(tw_count)" 10
    if [ "$d0" -ge 0 ]; then
        eq "no kernel log line about the overflow" "$(dmesg 2>/dev/null | grep -c "time wait bucket")" "$d0"
    fi
}

fact_bind_no_port() {
    small_range; sc net.ipv4.tcp_tw_reuse 0; sc net.ipv4.tcp_rfc1337 1
    local out
    out=$("$LOAD" --connect 127.0.0.1:9001 --count 101)
    eq "connect() x101 to :9001" "$(kv ok "$out")/$(kv first_errno "$out")" "100/EADDRNOTAVAIL"
    out=$("$LOAD" --connect 127.0.0.1:9002 --count 100)
    eq "100 more to :9002 (same ports, other destination)" "$(kv ok "$out")" 100
    out=$("$LOAD" --connect 127.0.0.1:9003 --bind0 --count 5)
    eq "bind(0)+connect to a fresh :9003" "$(kv ok "$out")/$(kv first_errno "$out")/$(kv bind_fail "$out")" "0/EADDRINUSE/1"
    out=$("$LOAD" --connect 127.0.0.1:9003 --no-port --count 100)
    eq "IP_BIND_ADDRESS_NO_PORT+bind(0)+connect to :9003" "$(kv ok "$out")" 100
}

fact_parity() {
    # Same-parity ends: each connect() scan covers 10 of the 11 ports
    # (remaining &= ~1U); the skipped port depends on the scan's start, which
    # moves after every connect, so a run gets 10 or 11 (kernel-facts.md says
    # "10, 44000 never used": that is one run, not a rule).  Different-parity
    # ends: every port, every time.
    sc net.ipv4.tcp_tw_reuse 0; sc net.ipv4.tcp_rfc1337 1
    local out i n10=0 bad=0
    for i in 1 2 3 4; do
        sc net.ipv4.ip_local_port_range "44000 44010"
        out=$("$LOAD" --connect 127.0.0.1:$((9100 + i)) --count 12)
        case $(kv ok "$out") in 10) n10=$((n10 + 1)) ;; 11) ;; *) bad=1 ;; esac
    done
    eq "44000-44010 (11 ports): every run gets 10 or 11" "$bad" 0
    sc net.ipv4.ip_local_port_range "45000 45011"
    for i in 1 2 3; do
        out=$("$LOAD" --connect 127.0.0.1:$((9200 + i)) --count 13)
        eq "45000-45011 (12 ports, different parity), run $i" "$(kv ok "$out")" 12
    done
    echo "  (same-parity runs that lost a port: $n10 of 4)"
}

fact_rfc1337() {
    local v T out
    for v in 0 1; do
        sc net.ipv4.tcp_rfc1337 $v
        T=$(mktemp -u)
        out=$("$LOAD" --connect 127.0.0.1:$((9000 + v)) --count 20 --probe-when /proc/self --ports "$T" --hold 0.3)
        rm -f "$T"
        eq "rfc1337=$v: probes sent" "$(kv probed "$out")" 20
        sleep 0.2
        local left; left=$(ss -tanH state time-wait "( dport = :$((9000 + v)) )" | wc -l)
        if [ $v = 0 ]; then eq "tcp_rfc1337=0: RSTs killed every TIME_WAIT" "$left" 0
        else eq "tcp_rfc1337=1: every TIME_WAIT survived" "$left" 20; fi
    done
}

fact_linger0() {
    local a0 e0 out
    a0=$(ctr TcpExt TCPAbortOnData); e0=$(ctr Tcp EstabResets)
    out=$("$LOAD" --connect 127.0.0.1:9001 --count 10 --linger0)
    eq "connects" "$(kv ok "$out")" 10
    eq "TIME_WAIT after SO_LINGER {1,0}" "$(tw_count)" 0
    eq "TCPAbortOnData delta" $(( $(ctr TcpExt TCPAbortOnData) - a0 )) 10
    eq "EstabResets delta (both ends here)" $(( $(ctr Tcp EstabResets) - e0 )) 20
}

. tests/helpers/peer_ns.sh # peer_ns, in_peer, wait_listen

fact_reuse_needs_peer_ts() {
    peer_ns
    trap 'kill $PEER 2>/dev/null' EXIT
    small_range; sc net.ipv4.tcp_tw_reuse 1; sc net.ipv4.tcp_rfc1337 1
    local out ts
    for ts in 0 1; do
        in_peer sysctl -qw net.ipv4.tcp_timestamps=$ts
        in_peer "$LOAD" --connect 198.18.0.2:$((9100 + ts)) --count 0 --hold 5 --time 15 >/dev/null &
        local srv=$!
        wait_listen $((9100 + ts)) in_peer
        out=$("$LOAD" --connect 198.18.0.2:$((9100 + ts)) --no-server --count 100)
        eq "peer tcp_timestamps=$ts: the range (100)" "$(kv ok "$out")" 100
        sleep 1.5   # every TIME_WAIT older than the 1 s tcp_tw_reuse_delay
        out=$("$LOAD" --connect 198.18.0.2:$((9100 + ts)) --no-server --count 20 --keep-going)
        if [ $ts = 0 ]; then
            eq "peer without timestamps: no reuse, every connect fails" "$(kv fail "$out")/$(kv first_errno "$out")" "20/EADDRNOTAVAIL"
        else
            eq "peer with timestamps: reuse, every connect succeeds" "$(kv ok "$out")" 20
        fi
        wait $srv # the server leaves once its --hold is over
    done
}

fact_peer_ts_tshark() {
    command -v tshark >/dev/null || { skip_case "peer_ts_tshark" "needs tshark"; return; }
    peer_ns
    trap 'kill $PEER 2>/dev/null' EXIT
    local ts out
    for ts in 1 0; do
        in_peer sysctl -qw net.ipv4.tcp_timestamps=$ts
        in_peer "$LOAD" --connect 198.18.0.2:$((9001 + ts)) --count 0 --hold 5 --time 15 >/dev/null &
        local srv=$!
        wait_listen $((9001 + ts)) in_peer
        # the command doctor prints (port-pressure), while a connection is made
        timeout 20 tshark -ni any -c 1 -f "src host 198.18.0.2 and src port $((9001 + ts))" \
            -T fields -e tcp.options.timestamp.tsval >"$T/ts" 2>/dev/null &
        local tsh=$!
        for _ in $(seq 40); do "$LOAD" --connect 198.18.0.2:$((9001 + ts)) --no-server --count 1 >/dev/null
            kill -0 $tsh 2>/dev/null || break; sleep 0.1; done
        wait $tsh
        out=$(cat "$T/ts")
        if [ $ts = 1 ]; then check "peer sends timestamps: tshark prints a TSval ($out)" grep -qE '^[0-9]+$' "$T/ts"
        else eq "peer sends none: tshark prints an empty line" "$out" ""; fi
        check "tshark saw a packet" test -s "$T/ts"
        wait $srv # the server leaves once its --hold is over
    done
}

fact_bind_pool() {
    sc net.ipv4.tcp_tw_reuse 0; sc net.ipv4.tcp_rfc1337 1
    local out a b
    lports() { ss -tanH state time-wait "( dport = :$1 )" | awk '{n = split($3, p, ":"); print p[n]}' | sort; }
    # IP_BIND_ADDRESS_NO_PORT: the port is chosen at connect(), per destination
    sc net.ipv4.ip_local_port_range "40000 40099"
    out=$("$LOAD" --connect 127.0.0.1:9003 --no-port --count 60)
    eq "IP_BIND_ADDRESS_NO_PORT x60 to :9003" "$(kv ok "$out")" 60
    out=$("$LOAD" --connect 127.0.0.1:9004 --no-port --count 60)
    eq "and x60 to :9004 over the same 100 ports" "$(kv ok "$out")" 60
    check "the two destinations share local ports" test "$(comm -12 <(lports 9003) <(lports 9004) | grep -c .)" -gt 0
    # bind(0): one pool for the host
    sc net.ipv4.ip_local_port_range "41000 41099"
    out=$("$LOAD" --connect 127.0.0.1:9001 --bind0 --count 50)
    eq "bind(0)+connect x50 to :9001" "$(kv ok "$out")" 50
    out=$("$LOAD" --connect 127.0.0.1:9002 --bind0 --count 60)
    eq "then to :9002: 50 more, then bind() fails" "$(kv ok "$out")/$(kv first_errno "$out")/$(kv bind_fail "$out")" "50/EADDRINUSE/1"
    eq "the two destinations share no local port" "$(comm -12 <(lports 9001) <(lports 9002) | grep -c .)" 0
}

fact_syn_takeover() {
    local v n p0 out
    for v in 0 1; do
        sc net.ipv4.ip_local_port_range "40000 40009"; sc net.ipv4.tcp_rfc1337 $v
        "$LOAD" --connect 127.0.0.1:$((9200 + v)) --count 10 --server-close >/dev/null
        "$LOAD" --connect 127.0.0.1:$((9200 + v)) --count 0 --hold 5 --time 15 >/dev/null &
        local srv=$!
        wait_listen $((9200 + v))
        n=$(ss -tanH state time-wait "( sport = :$((9200 + v)) )" | wc -l)
        check "tcp_rfc1337=$v: server-side TIME_WAIT ($n)" test "$n" -ge 3
        p0=$(ctr Tcp PassiveOpens)
        out=$("$LOAD" --connect 127.0.0.1:$((9200 + v)) --no-server --count 10)
        eq "tcp_rfc1337=$v: 10 connects from the same 10 ports" "$(kv ok "$out")" 10
        sleep 0.2
        eq "tcp_rfc1337=$v: every server-side TIME_WAIT taken over" \
            "$(ss -tanH state time-wait "( sport = :$((9200 + v)) )" | wc -l)" 0
        eq "tcp_rfc1337=$v: PassiveOpens counts each new connection" $(( $(ctr Tcp PassiveOpens) - p0 )) 10
        wait $srv # the server leaves once its --hold is over
    done
}

fact_listener_port() {
    sc net.ipv4.tcp_tw_reuse 0; sc net.ipv4.tcp_rfc1337 1
    sc net.ipv4.ip_local_port_range "3300 3311"
    local out
    out=$("$LOAD" --connect 127.0.0.1:9001 --count 12 --ports "$T/ports")
    eq "12 connects over 3300-3311" "$(kv ok "$out")" 12
    check "one took the service port 3306" grep -qx 3306 "$T/ports"
    "$HELPERS/sockgen" listen 0.0.0.0 3306 >/dev/null 2>"$T/err"; local rc=$?
    eq "the service cannot bind 3306 after the clients closed (SO_REUSEADDR)" "$rc" 1
    check "EADDRINUSE" grep -q "Address already in use" "$T/err"
    sc net.ipv4.ip_local_port_range "3400 3411"
    sc net.ipv4.ip_local_reserved_ports 3406
    out=$("$LOAD" --connect 127.0.0.1:9002 --count 12 --ports "$T/ports2")
    eq "with 3406 reserved: 11 connects" "$(kv ok "$out")/$(kv first_errno "$out")" "11/EADDRNOTAVAIL"
    check "none on 3406" bash -c "! grep -qx 3406 '$T/ports2'"
    "$HELPERS/sockgen" listen 0.0.0.0 3406 >/dev/null 2>&1
    eq "the service binds 3406" "$?" 0
    printf '' >/proc/sys/net/ipv4/ip_local_reserved_ports
    eq "an empty write leaves the list" "$(sysctl -n net.ipv4.ip_local_reserved_ports)" 3406
    printf '\n' >/proc/sys/net/ipv4/ip_local_reserved_ports
    eq "a newline clears it" "$(sysctl -n net.ipv4.ip_local_reserved_ports)" ""
}

fact_sock_destroy() {
    sc net.ipv4.tcp_rfc1337 1
    "$LOAD" --connect 127.0.0.1:9001 --count 20 >/dev/null
    eq "TIME_WAIT" "$(tw_count)" 20
    local k0 r0; k0=$(ctr TcpExt TWKilled); r0=$(ctr TcpExt TWRecycled)
    ss -K state time-wait >/dev/null 2>&1
    eq "ss -K state time-wait ends them all" "$(tw_count)" 0
    eq "TWKilled unchanged" "$(ctr TcpExt TWKilled)" "$k0"
    eq "TWRecycled unchanged" "$(ctr TcpExt TWRecycled)" "$r0"
}

fact_tw_buckets_default() {
    local e m
    e=$(unshare --net sysctl -n net.ipv4.tcp_ehash_entries)
    m=$(unshare --net sysctl -n net.ipv4.tcp_max_tw_buckets)
    e=${e#-}
    eq "new namespace: tcp_max_tw_buckets = |tcp_ehash_entries| / 2" "$m" $((e / 2))
    sc net.ipv4.tcp_child_ehash_entries 1000
    e=$(unshare --net sysctl -n net.ipv4.tcp_ehash_entries)
    m=$(unshare --net sysctl -n net.ipv4.tcp_max_tw_buckets)
    eq "child hash of 1000: tcp_ehash_entries" "$e" 1024
    eq "and tcp_max_tw_buckets" "$m" 512
}

if [ -n "${TW_FACT:-}" ]; then
    ip link set lo up
    T=$(mktemp -d)
    "fact_$TW_FACT"
    rm -rf "$T"
    finish
    exit
fi
failed=()
for f in ${TW_FACTS:-timewait_len reuse2_loopback reuse_needs_ts ts_off_keeps_old overflow bind_no_port parity rfc1337 linger0
         reuse_needs_peer_ts peer_ts_tshark bind_pool syn_takeover listener_port sock_destroy
         tw_buckets_default}; do
    echo "== $f"
    TW_FACT=$f unshare --net -- bash "$0" || failed+=("$f")
done
[ ${#failed[@]} -eq 0 ] || { echo "failed facts: ${failed[*]}"; exit 1; }
echo "all doctor facts hold on $(uname -r)"
