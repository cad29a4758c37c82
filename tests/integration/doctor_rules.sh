#!/bin/bash
# One real case per doctor rule.  Each case runs in its own private network
# namespace (this script re-runs itself there with the case name), creates
# the rule's condition for real (sysctls set in the namespace, the load made
# by tests/helpers/doctor_load), runs `twkit doctor --json` and checks the
# finding and its evidence.  A clean namespace must give no warning.  Small
# port ranges keep every case to a few seconds.  Host sysctl files are kept
# out with --root (an empty directory) except where the case writes its own.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq
LOAD=$HELPERS/doctor_load
[ -x "$LOAD" ] || skip "needs $LOAD (make all)"

# ---- helpers used inside a case ---------------------------------------------
sc() { sysctl -qw "$1=$2"; }
EMPTY=
doctor() { "$TWKIT" doctor --root "$EMPTY" --json "$@"; }
# f JSON ID JQ-EXPR: evaluate EXPR on the first finding with ID ("null" if none)
f() { jq -r --arg id "$2" "[.findings[] | select(.id==\$id)][0] | $3" <<<"$1"; }
# has JSON ID: 1 if a finding with ID exists
has() { jq -r --arg id "$2" '[.findings[] | select(.id==$id)] | length' <<<"$1"; }
small_range() { sc net.ipv4.ip_local_port_range "40000 40099"; }
nonloop_addr() { ip addr add 198.18.0.1/32 dev lo; } # a local address outside 127/8
jqe() { jq -e "$@" >/dev/null; }
wait_file() { for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
. tests/helpers/peer_ns.sh # peer_ns, in_peer, wait_listen
kv() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

case_clean() {
    local j rc
    j=$(doctor --sample 1); rc=$?
    eq "doctor exit" "$rc" 0
    eq "no warn/crit finding" "$(jq '[.findings[] | select(.severity=="warn" or .severity=="crit")] | length' <<<"$j")" 0
    eq "worst" "$(jq -r .worst <<<"$j")" ok
    eq "no change justified" "$(jq '.sysctl_changes | length' <<<"$j")" 0
    "$TWKIT" doctor --root "$EMPTY" --sample 0.5 --exit-code >"$T/out"; rc=$?
    eq "--exit-code on a clean namespace" "$rc" 0
    check "text says all clear" grep -q "All clear" "$T/out"
    eq "all-clear text is short" "$(wc -l <"$T/out")" 2
}

case_port_pressure() {
    small_range; sc net.ipv4.tcp_tw_reuse 0; sc net.ipv4.tcp_rfc1337 1
    "$LOAD" --connect 127.0.0.1:9001 --count 60 >/dev/null
    local j; j=$(doctor --sample 0)
    eq "no load in the window: warn" "$(f "$j" port-pressure .severity)" warn
    eq "no rate: no time to exhaustion" "$(f "$j" port-pressure '.evidence.time_to_exhaustion_s | startswith("n/a")')" true
    "$LOAD" --connect 127.0.0.1:9002 --count 25 --rate 10 --time 5 >/dev/null &
    local bg=$!
    sleep 0.2
    j=$(doctor --sample 2)
    wait $bg
    eq "port-pressure found" "$(has "$j" port-pressure)" 1
    eq "destination" "$(f "$j" port-pressure .evidence.destination)" "127.0.0.1 -> 127.0.0.1:9001"
    eq "in_use" "$(f "$j" port-pressure .evidence.in_use)" 60
    eq "time_wait" "$(f "$j" port-pressure .evidence.time_wait)" 60
    eq "effective_range" "$(f "$j" port-pressure .evidence.effective_range)" 100
    eq "free_ports" "$(f "$j" port-pressure .evidence.free_ports)" 40
    eq "exhausted in seconds at this rate: crit" "$(f "$j" port-pressure .severity)" crit
    check "connect rate measured (~10/s)" jqe '.rates.active_opens_per_s >= 4 and .rates.active_opens_per_s <= 16' <<<"$j"
    eq "forecast: exhausted" "$(f "$j" port-pressure .evidence.forecast)" at
    check "time to exhaustion (fresh TIME_WAIT: free / rate)" jqe '[.findings[] | select(.id=="port-pressure")][0].evidence | (.time_to_exhaustion_s - .free_ports / .connect_rate | fabs) < 0.2' <<<"$j"
    eq "sustainable rate (100 / 60 s)" "$(f "$j" port-pressure .evidence.sustainable_rate)" 1.7
    # the same load justifies tcp_tw_reuse (loopback: 2) and a wider range
    eq "tw-reuse-off" "$(f "$j" tw-reuse-off .severity)" warn
    eq "tw-reuse-off proposes" "$(f "$j" tw-reuse-off .sysctl.value)" 2
    eq "port-range-narrow" "$(f "$j" port-range-narrow .severity)" warn
    eq "port-range-narrow proposes" "$(f "$j" port-range-narrow .sysctl.value)" "40000 65535"
    # pushed to 95 of 100 ports: critical, and --exit-code says 2
    "$LOAD" --connect 127.0.0.1:9001 --count 35 >/dev/null
    local rc
    "$TWKIT" doctor --root "$EMPTY" --sample 0 --exit-code -q; rc=$?
    eq "--exit-code at 95%" "$rc" 2
    j=$(doctor --sample 0)
    eq "crit at 95%" "$(f "$j" port-pressure .severity)" crit
    eq "in_use at 95%" "$(f "$j" port-pressure .evidence.in_use)" 95
}

case_reuse_loopback_only() {
    small_range; nonloop_addr; sc net.ipv4.tcp_rfc1337 1
    "$LOAD" --connect 198.18.0.1:9001 --count 60 >/dev/null
    local j; j=$(doctor --sample 0.5)
    eq "tw-reuse-loopback-only" "$(f "$j" tw-reuse-loopback-only .severity)" warn
    eq "hot_non_loopback" "$(f "$j" tw-reuse-loopback-only .evidence.hot_non_loopback)" 1
    eq "busiest" "$(f "$j" tw-reuse-loopback-only .evidence.busiest)" "198.18.0.1 -> 198.18.0.1:9001"
    eq "proposes tcp_tw_reuse" "$(f "$j" tw-reuse-loopback-only .sysctl.value)" 1
    eq "pressure is not reclaimable" "$(f "$j" port-pressure .evidence.reclaimable)" 0
}

case_reuse_loopback_is_fine() {
    small_range; sc net.ipv4.tcp_rfc1337 1
    # the load first, with the longest delay (60 s: nothing is reused even if
    # the load takes more than a second on a busy machine), then a 1 ms
    # delay: every TIME_WAIT is old enough for reuse
    [ -e /proc/sys/net/ipv4/tcp_tw_reuse_delay ] && sc net.ipv4.tcp_tw_reuse_delay 60000
    "$LOAD" --connect 127.0.0.1:9001 --count 60 >/dev/null
    [ -e /proc/sys/net/ipv4/tcp_tw_reuse_delay ] && sc net.ipv4.tcp_tw_reuse_delay 1
    sleep 1.1
    local j; j=$(doctor --sample 0.5)
    eq "no tw-reuse-loopback-only for loopback" "$(has "$j" tw-reuse-loopback-only)" 0
    # sock_diag cannot show whether the peer sent timestamps: the 60 TIME_WAIT
    # reuse may reclaim are a bound, never subtracted from the pressure
    eq "port-pressure at 60%, not lowered by unverified reuse" "$(f "$j" port-pressure .evidence.pressure_pct)" 60
    eq "reclaimable (verified)" "$(f "$j" port-pressure .evidence.reclaimable)" 0
    eq "reclaimable_max (the bound)" "$(f "$j" port-pressure .evidence.reclaimable_max)" 60
    eq "pressure_pct_min (if every peer sent timestamps)" "$(f "$j" port-pressure .evidence.pressure_pct_min)" 0
    check "the summary labels the bound" jqe '[.findings[] | select(.id=="port-pressure")][0].summary | test("up to 60 .*if the peer sent timestamps")' <<<"$j"
}

# issue 9 item 1: tcp_tw_reuse=1 and a peer at tcp_timestamps=0: nothing is
# reclaimable although every TIME_WAIT is older than the delay
case_reuse_peer_without_timestamps() {
    peer_ns
    small_range; sc net.ipv4.tcp_tw_reuse 1; sc net.ipv4.tcp_rfc1337 1
    in_peer sysctl -qw net.ipv4.tcp_timestamps=0
    in_peer "$LOAD" --connect 198.18.0.2:9001 --count 0 --hold 10 --time 20 >/dev/null &
    local srv=$!
    wait_listen 9001 in_peer
    local out j
    out=$("$LOAD" --connect 198.18.0.2:9001 --no-server --count 100)
    eq "100 client-closed connections" "$(kv ok "$out")" 100
    sleep 2
    j=$(doctor --sample 0)
    eq "port-pressure reported" "$(has "$j" port-pressure)" 1
    eq "crit" "$(f "$j" port-pressure .severity)" crit
    eq "pressure_pct" "$(f "$j" port-pressure .evidence.pressure_pct)" 100
    eq "reclaimable (verified)" "$(f "$j" port-pressure .evidence.reclaimable)" 0
    eq "reclaimable_max (bound)" "$(f "$j" port-pressure .evidence.reclaimable_max)" 100
    eq "pressure_pct_min" "$(f "$j" port-pressure .evidence.pressure_pct_min)" 0
    eq "sustainable rate without unverified reuse (100 / 60 s)" "$(f "$j" port-pressure .evidence.sustainable_rate)" 1.7
    eq "with reuse, at most (100 / 1 s)" "$(f "$j" port-pressure .evidence.sustainable_rate_max)" 100
    check "summary: up to 100 if the peer sent timestamps" jqe '[.findings[] | select(.id=="port-pressure")][0].summary | test("up to 100 .*if the peer sent timestamps")' <<<"$j"
    check "fix: how to see whether the peer sends timestamps" jqe '[.findings[] | select(.id=="port-pressure")][0].fix | test("tshark .*src host 198.18.0.2 and src port 9001")' <<<"$j"
    out=$("$LOAD" --connect 198.18.0.2:9001 --no-server --count 20 --keep-going)
    eq "and indeed the next 20 connects fail" "$(kv fail "$out")/$(kv first_errno "$out")" "20/EADDRNOTAVAIL"
    wait $srv # the server leaves once its --hold is over
}

# issue 9 item 2: bind() before connect() draws every port from one host-wide
# pool; each destination shows half of the range, the host all of it
case_bind_before_connect() {
    small_range; sc net.ipv4.tcp_rfc1337 1
    ip addr add 198.18.2.1/32 dev lo; ip addr add 198.18.2.2/32 dev lo
    "$TWKIT" lab backend -l 198.18.2.2:80 -l 198.18.2.2:8081 -t 1 >"$T/be" &
    local be=$! j
    wait_file "$T/be"
    "$TWKIT" lab load -c 198.18.2.2:80 -c 198.18.2.2:8081 -s 198.18.2.1 --bind port -n 150 -C 4 -t 1 \
        --json >"$T/load"
    kill $be; wait $be
    eq "lab load: 50 bind() failures" "$(jq -r '.errors.EADDRINUSE' "$T/load")" 50
    j=$(doctor --sample 0)
    eq "bind-before-connect" "$(f "$j" bind-before-connect .severity)" crit
    eq "host_ports_in_use" "$(f "$j" bind-before-connect .evidence.host_ports_in_use)" 100
    eq "host_pct" "$(f "$j" bind-before-connect .evidence.host_pct)" 100
    eq "destinations" "$(f "$j" bind-before-connect .evidence.destinations)" 2
    eq "ports shared between destinations" "$(f "$j" bind-before-connect .evidence.shared_ports)" 0
    eq "busiest destination alone" "$(f "$j" bind-before-connect .evidence.busiest_pct)" 50
    check "the fix is IP_BIND_ADDRESS_NO_PORT" jqe '[.findings[] | select(.id=="bind-before-connect")][0].fix | test("IP_BIND_ADDRESS_NO_PORT")' <<<"$j"
    eq "ranked first" "$(jq -r '.findings[0].id' <<<"$j")" bind-before-connect
}

# the same two destinations with plain connect(): ports are shared, no finding
case_plain_connect_shares_ports() {
    small_range; sc net.ipv4.tcp_rfc1337 1
    "$LOAD" --connect 127.0.0.1:9001 --count 60 >/dev/null
    "$LOAD" --connect 127.0.0.1:9002 --count 60 >/dev/null
    local j; j=$(doctor --sample 0)
    eq "no bind-before-connect finding" "$(has "$j" bind-before-connect)" 0
    eq "two destinations at 60%" "$(jq '[.findings[] | select(.id=="port-pressure")] | length' <<<"$j")" 2
}

case_timestamps_off() {
    sc net.ipv4.tcp_timestamps 0
    local j; j=$(doctor --sample 0.5)
    eq "timestamps-off" "$(f "$j" timestamps-off .severity)" warn
    eq "evidence tcp_timestamps" "$(f "$j" timestamps-off .evidence.tcp_timestamps)" 0
    eq "proposes" "$(f "$j" timestamps-off .sysctl.value)" 1
}

case_reuse_delay() {
    [ -e /proc/sys/net/ipv4/tcp_tw_reuse_delay ] || { ok "kernel without tcp_tw_reuse_delay: rule silent"; return; }
    small_range; sc net.ipv4.tcp_tw_reuse_delay 60000; sc net.ipv4.tcp_rfc1337 1
    "$LOAD" --connect 127.0.0.1:9001 --count 60 >/dev/null
    "$LOAD" --connect 127.0.0.1:9002 --count 25 --rate 10 --time 5 >/dev/null &
    local bg=$!
    sleep 0.2
    local j; j=$(doctor --sample 2)
    wait $bg
    eq "tw-reuse-delay" "$(f "$j" tw-reuse-delay .severity)" warn
    eq "cap = 100 ports / 60 s" "$(f "$j" tw-reuse-delay .evidence.reuse_cap_per_s)" 1.7
    eq "delay evidence" "$(f "$j" tw-reuse-delay .evidence.tcp_tw_reuse_delay_ms)" 60000
    check "proposes a delay for twice the rate" jqe '[.findings[] | select(.id=="tw-reuse-delay")][0] | (.sysctl.value | tonumber) as $d | $d >= 3000 and $d <= 12500' <<<"$j"
}

case_tw_buckets() {
    sc net.ipv4.tcp_max_tw_buckets 10; sc net.ipv4.tcp_rfc1337 1
    doctor --sample 2.5 >"$T/j" &
    local d=$!
    sleep 0.7
    "$LOAD" --connect 127.0.0.1:9001 --count 50 >/dev/null
    wait $d
    local j; j=$(cat "$T/j")
    eq "tw-buckets" "$(f "$j" tw-buckets .severity)" warn
    eq "overflow in the window" "$(f "$j" tw-buckets .evidence.overflow_in_window)" 40
    eq "sockstat tw" "$(f "$j" tw-buckets .evidence.sockstat_tw)" 10
    # never below what the kernel gives a new namespace (issue 9 item 20)
    local dflt; dflt=$(unshare --net sysctl -n net.ipv4.tcp_max_tw_buckets)
    eq "proposes the default of a new namespace" "$(f "$j" tw-buckets .sysctl.value)" "$dflt"
    eq "default_max_tw_buckets evidence" "$(f "$j" tw-buckets .evidence.default_max_tw_buckets)" "$dflt"
    check "says no log line" jqe '[.findings[] | select(.id=="tw-buckets")][0].explanation | test("log nothing")' <<<"$j"
}

case_fin_timeout() {
    sc net.ipv4.tcp_fin_timeout 5
    local j; j=$(doctor --sample 0.5)
    eq "fin-timeout-myth" "$(f "$j" fin-timeout-myth .severity)" info
    eq "evidence" "$(f "$j" fin-timeout-myth .evidence.tcp_fin_timeout)" 5
    eq "no sysctl proposed" "$(f "$j" fin-timeout-myth .sysctl)" null
}

case_recycle_config() {
    mkdir -p "$T/root/etc/sysctl.d"
    printf '# tuning guide\nnet.ipv4.tcp_tw_reuse = 1\nnet.ipv4.tcp_tw_recycle = 1\n' >"$T/root/etc/sysctl.d/50-tuning.conf"
    local j; j=$("$TWKIT" doctor --root "$T/root" --json --sample 0.5)
    eq "tw-recycle-config" "$(f "$j" tw-recycle-config .severity)" warn
    eq "file" "$(f "$j" tw-recycle-config .evidence.file)" "$T/root/etc/sysctl.d/50-tuning.conf"
    eq "line" "$(f "$j" tw-recycle-config .evidence.line)" 3
    eq "kernel has it" "$(f "$j" tw-recycle-config .evidence.kernel_has_it)" no
    eq "never proposed" "$(jq '[.sysctl_changes[] | select(.key=="net.ipv4.tcp_tw_recycle")] | length' <<<"$j")" 0
}

case_port_range_parity() {
    sc net.ipv4.ip_local_port_range "40000 40100"
    local j; j=$(doctor --sample 0.5)
    eq "port-range-parity" "$(f "$j" port-range-parity .severity)" info
    eq "proposes" "$(f "$j" port-range-parity .sysctl.value)" "40000 40101"
}

case_port_range_listeners() {
    small_range; sc net.ipv4.ip_local_reserved_ports 40010
    start_sockgen listen 127.0.0.1 40050 listen 0.0.0.0 40060 listen 127.0.0.1 40010
    local j; j=$(doctor --sample 0.5)
    stop_sockgen
    # issue 9 item 19: a hazard, not a note: outgoing connections can take the
    # port while the service is down, and it then cannot bind it
    eq "port-range-listeners" "$(f "$j" port-range-listeners .severity)" warn
    eq "listeners_in_range (40010 is reserved)" "$(f "$j" port-range-listeners .evidence.listeners_in_range)" 2
    eq "ports" "$(f "$j" port-range-listeners .evidence.ports)" "40050,40060"
    eq "effective_range" "$(f "$j" port-range-listeners .evidence.effective_range)" 97
    check "the exact line, keeping the reserved port" jqe '[.findings[] | select(.id=="port-range-listeners")][0].fix | test("sysctl -w net.ipv4.ip_local_reserved_ports=40010,40050,40060")' <<<"$j"
    eq "justified change" "$(jq -r '.sysctl_changes[] | select(.key=="net.ipv4.ip_local_reserved_ports") | .value' <<<"$j")" "40010,40050,40060"
    # and the line works: the kernel takes it
    sc net.ipv4.ip_local_reserved_ports "$(f "$j" port-range-listeners .sysctl.value)"
    eq "the kernel took it" "$(sysctl -n net.ipv4.ip_local_reserved_ports)" "40010,40050,40060"
}

case_port_range_reserved() {
    small_range; sc net.ipv4.ip_local_reserved_ports 40000-40059
    local j; j=$(doctor --sample 0.5)
    eq "port-range-reserved" "$(f "$j" port-range-reserved .severity)" warn
    eq "reserved_in_range" "$(f "$j" port-range-reserved .evidence.reserved_in_range)" 60
    eq "effective_range" "$(f "$j" port-range-reserved .evidence.effective_range)" 40
}

case_server_tw() {
    sc net.ipv4.tcp_rfc1337 1
    "$LOAD" --connect 127.0.0.1:9001 --count 150 --server-close --ports "$T/ports" --hold 3 >/dev/null &
    local l=$!
    wait_file "$T/ports"
    local j; j=$(doctor --sample 0.5)
    wait $l
    eq "server-tw" "$(f "$j" server-tw .severity)" info
    eq "tw_server" "$(f "$j" server-tw .evidence.tw_server)" 150
    eq "tw_client" "$(f "$j" server-tw .evidence.tw_client)" 0
    local per; per=$(f "$j" server-tw .evidence.bytes_per_tw)
    eq "memory = count x slab object" "$(f "$j" server-tw .evidence.memory_bytes)" $((150 * per))
    eq "no port pressure from server-side TIME_WAIT" "$(has "$j" port-pressure)" 0
}

case_rst_close() {
    doctor --sample 2.5 >"$T/j" &
    local d=$!
    sleep 0.7
    "$LOAD" --connect 127.0.0.1:9001 --count 20 --linger0 >/dev/null
    wait $d
    local j; j=$(cat "$T/j")
    eq "rst-close" "$(f "$j" rst-close .severity)" warn
    eq "abort_on_data" "$(f "$j" rst-close .evidence.abort_on_data)" 20
    check "estab_resets >= 20 (client and server ends)" jqe '[.findings[] | select(.id=="rst-close")][0].evidence.estab_resets >= 20' <<<"$j"
}

case_rfc1337() {
    local v=$1 # 0: assassination happens and is reported; 1: ignored
    sc net.ipv4.tcp_rfc1337 "$v"
    "$LOAD" --connect 127.0.0.1:9001 --count 30 --probe-when "$T/go" --ports "$T/ports" --time 20 >"$T/load" &
    local l=$!
    wait_file "$T/ports"
    local before; before=$(ss -tanH state time-wait | wc -l)
    doctor --sample 3 >"$T/j" &
    local d=$!
    sleep 1
    touch "$T/go"
    wait $l; wait $d
    local j; j=$(cat "$T/j")
    check "helper probed every TIME_WAIT" grep -q "probed=30 " "$T/load"
    if [ "$v" = 0 ]; then
        eq "rfc1337 finding" "$(f "$j" rfc1337 .severity)" warn
        eq "client side, none reused: killed = followed" "$(f "$j" rfc1337 .evidence.tw_killed_min)" "$(f "$j" rfc1337 .evidence.tw_followed)"
        eq "none server side" "$(f "$j" rfc1337 .evidence.tw_ended_early_server)" 0
        check "followed the TIME_WAIT present at the start ($before)" \
            jqe --argjson b "$before" '[.findings[] | select(.id=="rfc1337")][0].evidence.tw_followed == $b and $b >= 20' <<<"$j"
        eq "proposes" "$(f "$j" rfc1337 .sysctl.value)" 1
        eq "TIME_WAIT left" "$(ss -tanH state time-wait | wc -l)" 0
    else
        eq "no rfc1337 finding" "$(has "$j" rfc1337)" 0
        eq "TIME_WAIT survived the RSTs" "$(ss -tanH state time-wait | wc -l)" 30
    fi
}

# issue 9 item 4: server-side TIME_WAIT taken over by new SYNs on the same
# 4-tuple (RFC 6191), whose connections the client then closes: they vanish
# with no RST at all, whatever tcp_rfc1337 is
case_rfc1337_syn_takeover() {
    local v=$1 n
    sc net.ipv4.ip_local_port_range "40000 40009"; sc net.ipv4.tcp_rfc1337 "$v"
    # server-side TIME_WAIT (the server closes first); over 10 ports some are
    # already taken over by the load's own later SYNs: count what is left
    "$LOAD" --connect 127.0.0.1:9001 --count 10 --server-close >/dev/null
    "$LOAD" --connect 127.0.0.1:9001 --count 0 --hold 8 --time 20 >/dev/null & # the listener again
    local srv=$!
    wait_listen 9001
    n=$(ss -tanH state time-wait '( sport = :9001 )' | wc -l)
    check "server-side TIME_WAIT to follow ($n)" test "$n" -ge 3
    doctor --sample 3 >"$T/j" &
    local d=$!
    sleep 1
    # 10 connects over the 10 ports, client closing first: each SYN on a
    # server-side TIME_WAIT's 4-tuple takes it over
    local out; out=$("$LOAD" --connect 127.0.0.1:9001 --no-server --count 10)
    eq "10 connects from the same ports" "$(kv ok "$out")" 10
    wait $d; wait $srv
    local j; j=$(cat "$T/j")
    eq "the server-side TIME_WAIT are gone" "$(ss -tanH state time-wait '( sport = :9001 )' | wc -l)" 0
    if [ "$v" = 0 ]; then
        eq "not blamed on RSTs: info" "$(f "$j" rfc1337 .severity)" info
        eq "tw_ended_early_server" "$(f "$j" rfc1337 .evidence.tw_ended_early_server)" "$n"
        eq "tw_ended_early_client" "$(f "$j" rfc1337 .evidence.tw_ended_early_client)" 0
        eq "tw_killed_min (proven)" "$(f "$j" rfc1337 .evidence.tw_killed_min)" 0
        check "passive_opens explain them" jqe --argjson n "$n" '[.findings[] | select(.id=="rfc1337")][0].evidence.passive_opens >= $n' <<<"$j"
        eq "no tcp_rfc1337 change proposed" "$(f "$j" rfc1337 .sysctl)" null
        check "says it cannot tell" jqe '[.findings[] | select(.id=="rfc1337")][0].summary | test("cannot tell")' <<<"$j"
    else
        eq "tcp_rfc1337=1: no finding" "$(has "$j" rfc1337)" 0
    fi
}

case_sysctl_conf() {
    mkdir -p "$T/root/etc/sysctl.d"
    printf 'net.ipv4.tcp_tw_reuse = 3\nthis line is broken\nnet.ipv4.ip_local_port_range = 61000 1024\n' >"$T/root/etc/sysctl.d/60-bad.conf"
    ln -s /nonexistent-twkit-target "$T/root/etc/sysctl.d/70-dangling.conf"
    local j; j=$("$TWKIT" doctor --root "$T/root" --json --sample 0.5 2>"$T/err")
    eq "sysctl-conf findings" "$(jq '[.findings[] | select(.id=="sysctl-conf")] | length' <<<"$j")" 4
    check "malformed line with its number" jqe '[.findings[] | select(.id=="sysctl-conf" and (.summary | test("60-bad.conf:2: no .=. in line")))] | length == 1' <<<"$j"
    check "out-of-range tcp_tw_reuse" jqe '[.findings[] | select(.id=="sysctl-conf" and .evidence.key=="net.ipv4.tcp_tw_reuse" and .evidence.value=="3")] | length == 1' <<<"$j"
    check "reversed port range" jqe '[.findings[] | select(.id=="sysctl-conf" and .evidence.line==3)] | length == 1' <<<"$j"
    check "unreadable file named on stderr" grep -q "70-dangling.conf: cannot read" "$T/err"
}

# ---- dispatch ----------------------------------------------------------------
if [ -n "${TW_DOCTOR_CASE:-}" ]; then
    ip link set lo up
    T=$(mktemp -d)
    trap 'rm -rf "$T"; [ -n "$PEER" ] && kill "$PEER" 2>/dev/null' EXIT
    EMPTY=$T/empty-root # keeps the host's sysctl files out: one empty file
    mkdir -p "$EMPTY/etc"
    : >"$EMPTY/etc/sysctl.conf"
    # shellcheck disable=SC2086
    case_$TW_DOCTOR_CASE ${TW_DOCTOR_ARG:-}
    finish
    exit
fi

cases=${TW_DOCTOR_CASES:-"clean port_pressure reuse_loopback_only reuse_loopback_is_fine reuse_peer_without_timestamps
       bind_before_connect plain_connect_shares_ports timestamps_off reuse_delay
       tw_buckets fin_timeout recycle_config port_range_parity port_range_listeners
       port_range_reserved server_tw rst_close rfc1337:0 rfc1337:1 rfc1337_syn_takeover:0
       rfc1337_syn_takeover:1 sysctl_conf"}
failed=()
for c in $cases; do
    name=${c%%:*} arg=
    [[ $c == *:* ]] && arg=${c#*:}
    echo "== $c"
    if ! TW_DOCTOR_CASE=$name TW_DOCTOR_ARG=$arg unshare --net -- bash "$0"; then
        failed+=("$c")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed cases: ${failed[*]}"
    exit 1
fi
echo "all doctor rule cases passed"
