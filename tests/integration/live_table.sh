#!/bin/bash
# The live table (issue 14 part 2): `twkit watch --batch --json --source live`
# keeps per-(destination, state) counts from eBPF events; at every
# reconciliation the table must equal a sock_diag walk (drift 0), and every
# sample taken while the namespace is quiet must equal `ss`, per
# destination and state.
#
# One private namespace, addresses 198.18.0.1-5 on lo, three lab backends
# (keep-alive on :80, and :81, :82 for the server-close and rst loads).
# Phases, each a bounded `twkit lab load`, then a reconciliation on demand
# (SIGUSR1) and a comparison with ss:
#   0. a seed: sockgen's fixed set (TIME_WAIT client and server side, IPv6,
#      ESTABLISHED, orphaned FIN_WAIT2 + CLOSE_WAIT, listeners) exists
#      before the table is seeded;
#   1. short connections, the client closes (client-side TIME_WAIT);
#   2. the server closes (server-side TIME_WAIT);
#   3. rst (SO_LINGER 0: no TIME_WAIT);
#   4. tcp_tw_reuse takeover: a 100-port range, reuse on, 1 ms delay, more
#      connections than ports (TcpExtTWRecycled must grow);
#   5. tcp_max_tw_buckets overflow (TcpExtTCPTimeWaitOverflow must grow);
#   6. natural expiry: 65 s after phase 1 its TIME_WAIT are gone by their
#      timers, and the table says so (TWKIT_LIVE_QUICK=1 skips it).
# Periodic reconciliations run during the loads too (--reconcile 2): every
# one of them must report drift 0.
# Fallbacks: a forced load failure (as a verifier rejection), a hidden
# tw_timer_handler, no CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN (capsh), and a
# TIME_WAIT map too small for the load: each sample then comes from a
# sock_diag walk with the reason, and still equals ss.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
. tests/live.sh
need_root
need jq ss nstat curl iptables
in_private_netns
need_live_table

T=$(mktemp -d)
PIDS=()
cleanup() {
    stop_sockgen
    live_stop_pids
    [ -n "${NSN:-}" ] && ip netns del "$NSN" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
for i in 1 2 3 4 5; do ip addr add 198.18.0.$i/32 dev lo; done
sysctl -qw net.ipv4.tcp_tw_reuse=0

for spec in "80 keepalive" "81 keepalive" "82 keepalive"; do
    set -- $spec
    "$TWKIT" lab backend --listen 198.18.0.2:$1 --mode $2 -t 1 >/dev/null 2>&1 &
    PIDS+=($!)
done
start_sockgen listen ::1 8080 listen 127.0.0.1 9000 listen 198.18.0.5 7000 \
    twc 198.18.0.1 198.18.0.5 7000 20 tws 198.18.0.1 198.18.0.5 7000 7 twc any ::1 8080 9 \
    estab any 127.0.0.1 9000 4 fw2 any 127.0.0.1 9000 3
sleep 0.3

ss_rows() { live_ss_rows; }
live_rows() { live_ndjson_rows "$1"; }

# reconcile NAME: on demand, drift 0; then a quiet sample equals ss
reconcile() {
    local name=$1 n s
    if ! s=$(live_reconcile_now "$WATCH" "$T/live"); then
        fail "$name: no reconciliation within 10 s"
        return
    fi
    eq "$name: drift rows at reconciliation" "$(jq .reconcile.drift_rows <<<"$s")" 0
    [ "$(jq .reconcile.drift_rows <<<"$s")" = 0 ] || jq -c .reconcile.drift <<<"$s" | head -c 600
    # the table against ss: the next sample, and ss around it
    local a b l
    n=$(wc -l < "$T/live")
    a=$(ss_rows)
    for i in $(seq 1 50); do [ "$(wc -l < "$T/live")" -gt "$n" ] && break; sleep 0.1; done
    l=$(tail -n +"$((n + 1))" "$T/live" | head -n1)
    b=$(ss_rows)
    eq "$name: sample from the live table" "$(jq -r .source <<<"$l")" live
    if [ "$(live_rows "$l")" = "$a" ] || [ "$(live_rows "$l")" = "$b" ]; then
        ok "$name: live table = ss, per destination and state ($(wc -l <<<"$a") rows)"
    else
        fail "$name: live table and ss differ (< ss, > table)"
        diff <(echo "$a") <(live_rows "$l") | head -20
    fi
}

nst() { nstat -az "$1" | awk -v k="$1" '$1 == k { print $2 }'; }

"$TWKIT" watch --batch --json --source live -i 0.2 --reconcile 2 > "$T/live" 2> "$T/live.err" &
WATCH=$!
PIDS+=($WATCH)
for i in $(seq 1 50); do [ -s "$T/live" ] && break; sleep 0.1; done
first=$(head -n1 "$T/live")
eq "seed: source" "$(jq -r .source <<<"$first")" live
check "seed: the walk entered the existing sockets ($(jq .live.seeded <<<"$first"))" test "$(jq .live.seeded <<<"$first")" -ge 55
reconcile "0. seed"

load() { "$TWKIT" lab load -t 1 "$@" >/dev/null 2>&1; }
echo "1. short connections, the client closes"
load -c 198.18.0.2:80 -s 198.18.0.1 -C 16 -r 400 -d 2 --close client
T1=$(date +%s)
sleep 1
reconcile "1. client close"

echo "2. the server closes"
load -c 198.18.0.2:81 -s 198.18.0.1 -C 16 -r 300 -d 2 --close server
sleep 1
reconcile "2. server close"
# the server's TIME_WAIT fold into one row per client address (a row per
# client port would make the table as big as the socket table)
s=$(tail -n1 "$T/live")
eq "2. server side: one row for client 198.18.0.1 on 198.18.0.2, all its TIME_WAIT (ss: sport 81)" \
    "$(jq -c '[.destinations[] | select(.side == "server" and .src == "198.18.0.2" and .dst == "198.18.0.1") | [.dport, .states.time_wait]]' <<<"$s")" \
    "[[0,$(ss -Htan state time-wait '( sport = :81 )' | wc -l)]]"

echo "2b. the server closes 100 ms after the client (FIN_WAIT2 minisock, then TIME_WAIT)"
# each client orphan waits as a FIN_WAIT2 minisock until the server's FIN,
# which re-arms its timer; when the new expiry is in the same wheel bucket
# (often: at 60 s a bucket spans seconds) no timer event fires,
# so only the FIN itself (kfree_skb's rx_sk) tells the table (live.h); the
# others are a timer cancel and start
l2b=$(wc -l < "$T/live")
for a in 198.18.0.2 ::1; do
    "$HELPERS/closer" server "$a" 83 late > "$T/late.$a" &
    PIDS+=($!)
    for i in $(seq 1 50); do grep -q ready "$T/late.$a" && break; sleep 0.1; done
    # one at a time, so that each FIN comes 100 ms after its close (queued
    # closes would wait for each other: later FINs, more re-arms that move)
    for i in $(seq 12); do "$HELPERS/closer" client "$a" 83 1 close >/dev/null; sleep 0.15; done
done
sleep 1.5
# tw_fin of every table of the phase (a re-seed starts its count again)
fin0=$(tail -n +"$((l2b + 1))" "$T/live" | jq -s '[group_by(.live.seeds)[] | map(.live.tw_fin) | max] | add // 0')
eq "2b. ss: the late-closed connections are TIME_WAIT, none FIN_WAIT2" \
    "$(ss -Htan state fin-wait-2 '( dport = :83 )' | wc -l) $(ss -Htan state time-wait '( dport = :83 )' | wc -l)" "0 24"
if [ "$(tail -n1 "$T/live" | jq .live.tw_fin_seen)" = true ]; then
    check "2b. the table saw FIN_WAIT2 -> TIME_WAIT changes no timer showed (tw_fin $fin0 of 24)" \
        test "$fin0" -gt 0
else
    skip_case "2b. FIN_WAIT2 -> TIME_WAIT by segment" "this kernel's kfree_skb tracepoint has no rx_sk (before 6.11)"
fi
reconcile "2b. late server close"

echo "3. rst"
load -c 198.18.0.2:82 -s 198.18.0.1 -C 16 -r 300 -d 2 --close rst
sleep 1
reconcile "3. rst"

echo "4. tcp_tw_reuse takeover"
r0=$(nst TcpExtTWRecycled)
sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="40000 40099"
sysctl -qw net.ipv4.tcp_tw_reuse_delay=1 2>/dev/null
load -c 198.18.0.2:80 -s 198.18.0.3 -C 8 -r 300 -d 2 --close client
sleep 1
r1=$(nst TcpExtTWRecycled)
check "4. TIME_WAIT ports were taken over (TcpExtTWRecycled $r0 -> $r1)" test "$r1" -gt "$r0"
reconcile "4. tw_reuse"
sysctl -qw net.ipv4.tcp_tw_reuse=0 net.ipv4.ip_local_port_range="32768 60999"

echo "5. tcp_max_tw_buckets overflow"
o0=$(nst TcpExtTCPTimeWaitOverflow)
maxtw=$(sysctl -n net.ipv4.tcp_max_tw_buckets)
sysctl -qw net.ipv4.tcp_max_tw_buckets=1500
load -c 198.18.0.2:80 -s 198.18.0.4 -C 16 -r 500 -d 2 --close client
sleep 1
o1=$(nst TcpExtTCPTimeWaitOverflow)
check "5. TIME_WAIT overflowed (TcpExtTCPTimeWaitOverflow $o0 -> $o1)" test "$o1" -gt "$o0"
reconcile "5. overflow"
sysctl -qw net.ipv4.tcp_max_tw_buckets="$maxtw"

if [ "${TWKIT_LIVE_QUICK:-0}" = 1 ]; then
    skip_case "6. natural expiry" "TWKIT_LIVE_QUICK=1 (it needs 65 s)"
elif [ -n "${TW_SANITIZED:-}" ]; then
    skip_case "6. natural expiry" "not run under the sanitizers (65 s of waiting for the kernel's timers; make test runs it)"
else
    echo "6. natural expiry (waiting for phase 1's TIME_WAIT to expire)"
    left=$((T1 + 64 - $(date +%s)))
    [ "$left" -gt 0 ] && sleep "$left"
    died0=$(tail -n1 "$T/live" | jq .live.tw_died)
    sleep 2
    s=$(tail -n1 "$T/live")
    eq "6. phase 1's TIME_WAIT all expired (table)" \
        "$(jq '[.destinations[] | select(.src == "198.18.0.1" and .dport == 80) | .states.time_wait // 0] | add // 0' <<<"$s")" 0
    check "6. deaths seen by the timers" test "$(jq .live.tw_died <<<"$s")" -gt 0
    reconcile "6. natural expiry"
fi

kill "$WATCH"; wait "$WATCH" 2>/dev/null
all=$(jq -c 'select(.reconcile != null) | .reconcile.drift_rows' "$T/live" | sort -u | tr '\n' ' ')
nrec=$(jq -c 'select(.reconcile != null)' "$T/live" | wc -l)
eq "every reconciliation ($nrec, periodic and on demand) had drift 0" "$all" "0 "
jq -c 'select(.reconcile != null and .reconcile.drift_rows > 0) | {t_ms, reconcile}' "$T/live" | head -5
eq "no sample fell back" "$(jq -r 'select(.source != "live") | .fallback' "$T/live" | head -n1)" ""
eq "no event lost" "$(tail -n1 "$T/live" | jq .live.lost_events)" 0

echo "7. fallbacks"
fallback() {
    local name=$1 want=$2; shift 2
    local out a0
    a0=$(ss_rows)
    out=$("$@" 2>/dev/null | tail -n1)
    eq "$name: source" "$(jq -r .source <<<"$out")" netlink
    check "$name: the reason says '$want' ($(jq -r .fallback <<<"$out" | head -c 160))" \
        grep -q -- "$want" <<<"$(jq -r .fallback <<<"$out")"
    local a b
    a=$(ss_rows); b=$(live_rows "$out")
    if [ "$a" = "$b" ] || [ "$a0" = "$b" ]; then ok "$name: the walk's counts = ss"
    else fail "$name: counts differ from ss"; diff <(echo "$a") <(echo "$b") | head; fi
}
W=("$TWKIT" watch --batch --json --source live -n 1)
fallback "verifier rejection" "loading" env TWKIT_LIVE_FAIL=load "${W[@]}"
fallback "hidden tw_timer_handler" "tw_timer_handler" env TWKIT_LIVE_FAIL=ksym "${W[@]}"
if capsh --drop=cap_bpf,cap_perfmon,cap_sys_admin -- -c true 2>/dev/null; then
    fallback "no CAP_BPF" "CAP_BPF" capsh --drop=cap_bpf,cap_perfmon,cap_sys_admin -- -c "${W[*]}"
else
    skip_case "no CAP_BPF" "capsh cannot drop capabilities here"
fi
fallback "map too small for the seed" "did not fit in a new table" env TWKIT_LIVE_MAX_TW=8 "${W[@]}"

echo "8. a map that fills up under load: re-seed, never a wrong number"
ntw=$(ss -tanH state time-wait | wc -l)
env TWKIT_LIVE_MAX_TW=$((ntw + 200)) "$TWKIT" watch --batch --json --source live -i 0.2 -n 30 \
    --reconcile 0 > "$T/full" 2>/dev/null &
FW=$!
PIDS+=($FW)
sleep 0.5
load -c 198.18.0.2:80 -s 198.18.0.5 -C 16 -r 500 -d 2 --close client
for i in $(seq 1 100); do [ "$(wc -l < "$T/full")" -ge 29 ] && break; sleep 0.1; done
a0=$(ss_rows)
wait "$FW"
a=$(ss_rows)
check "8. the table lost events and said so" \
    test "$(jq -s '[.[] | select(.live != null) | .live.lost_events] | max' "$T/full")" -gt 0
check "8. samples after the loss were walked, with the reason" \
    grep -q "did not fit\|lost" <<<"$(jq -r 'select(.source == "netlink") | .fallback' "$T/full")"
last=$(tail -n1 "$T/full")
if [ "$(live_rows "$last")" = "$a" ] || [ "$(live_rows "$last")" = "$a0" ]; then ok "8. the last sample = ss"
else fail "8. the last sample differs from ss"; diff <(echo "$a") <(live_rows "$last") | head; fi

echo "8b. a destinations map filling with those of closed connections: a fresh table, with the reason"
nk=$(ss_rows | awk '{ print $1, $2, $3 }' | sort -u | wc -l)   # destinations (a map entry each)
# the table re-seeds when the map is 3/4 full and idle destinations
# outnumber live ones (keys > 2 x used).  Server-side connections fold per
# client address, so idle destinations come from many addresses: 64 new
# sources, each connection reset (no TIME_WAIT), make 128 (the client side
# and the server side of each), one every ~50 ms: the map of nk + 110 is
# 3/4 full with most keys idle well before it is full
srcs=()
for i in $(seq 1 64); do ip addr add 198.18.4.$i/32 dev lo; srcs+=(-s 198.18.4.$i); done
env TWKIT_LIVE_MAX_DESTS=$(( nk + 110 )) "$TWKIT" watch --batch --json --source live -i 0.1 -n 50 \
    --reconcile 0 > "$T/keys" 2>/dev/null &
KW=$!
PIDS+=($KW)
sleep 0.5
load -c 198.18.0.2:82 "${srcs[@]}" -C 1 -r 20 -d 4 --close rst
wait "$KW"
if grep -q "3/4 full" <<<"$(jq -r '.live.reseed_reason // empty' "$T/keys")"; then
    ok "8b. re-seeded because of idle destinations (at start: $nk)"
else
    fail "8b. no re-seed because of idle destinations (at start: $nk)"
    jq -c '[.source, .live.seeds, .live.lost_events, .live.reseed_reason, .fallback]' "$T/keys" | uniq -c | head
fi
eq "8b. every sample from the table" "$(jq -r 'select(.source != "live") | .fallback' "$T/keys" | head -n1)" ""
last=$(tail -n1 "$T/keys")
a=$(ss_rows)
[ "$(live_rows "$last")" = "$a" ] && ok "8b. the last sample = ss" || { fail "8b. the last sample differs from ss"; diff <(echo "$a") <(live_rows "$last") | head; }

echo "9. export --source live"
# --top 1000: every destination here has its own series, so the page is ss
# (the cap itself: export_live.sh)
"$TWKIT" export --source live --listen 127.0.0.1:0 --min-interval 0 --reconcile 0.2 --top 1000 2> "$T/exp.err" &
EP=$!
PIDS+=($EP)
url=
for i in $(seq 1 50); do url=$(grep -o 'http://[^ ]*' "$T/exp.err"); [ -n "$url" ] && break; sleep 0.1; done
if [ -z "$url" ]; then
    fail "9. export did not start: $(cat "$T/exp.err")"
else
    curl -s "$url" > /dev/null; sleep 0.5
    a0=$(ss_rows | grep '^198\.18')
    curl -s "$url" > "$T/page"
    a1=$(ss_rows | grep '^198\.18')
    check "9. reconciliations on the page" grep -q '^twkit_live_reconciliations_total{netns="current"} [1-9]' "$T/page"
    check "9. drift 0 on the page" grep -q '^twkit_live_drift_rows{netns="current"} 0$' "$T/page"
    check "9. no report families (counts only)" test "$(grep -c '^twkit_sockets{' "$T/page")" = 0
    check "9. nothing folded into dst=\"other\" (--top 1000)" test "$(grep -c '^twkit_live_sockets{.*dst="other"' "$T/page")" = 0
    check "9. kernel families on the page (no walk needed)" grep -q '^twkit_netstat_tcpext_tcp_time_wait_overflow_total{netns="current"} [1-9]' "$T/page"
    eq "9. the page says it came from the table" "$(grep -c '^twkit_exporter_source_info{netns="current",source="live"} 1$' "$T/page")" 1
    p=$(sed -n 's/^twkit_live_sockets{netns="current",src="\([^"]*\)",dst="\([^"]*\)",dport="\([^"]*\)",side="\(client\|server\|listen\)",state="\([^"]*\)"} \(.*\)$/\1 \2 :\3 \5 \6/p' "$T/page" |
        awk '{ if ($3 == ":") $3 = 0; else sub(/^:/, "", $3); print }' | grep '^198\.18' | sort)  # server side: dport ""
    if [ "$p" = "$a0" ] || [ "$p" = "$a1" ]; then ok "9. twkit_live_sockets = ss ($(wc -l <<<"$p") rows of 198.18.0.0/15)"
    else fail "9. twkit_live_sockets differ from ss"; diff <(echo "$a1") <(echo "$p") | head; fi
fi

echo "10. filters, the text view, --netns"
j=$("$TWKIT" watch --batch --json --source live -n 1 --dst 198.18.0.2/32 --state time-wait)
a=$(ss_rows | awk '$2 == "198.18.0.2" && $4 == "time_wait"')
eq "10. --dst --state: the rows ss shows for them" "$(live_rows "$j")" "$a"
j=$("$TWKIT" watch --batch --json --source live -n 1 -6)
check "10. -6: IPv6 rows only ($(jq '.destinations | length' <<<"$j") destinations)" \
    jq -e '(.destinations | length) > 0 and all(.destinations[]; .src | contains(":"))' <<<"$j"
nd=$("$TWKIT" watch --batch --json --source live -n 1 | jq '.destinations | length')
txt=$("$TWKIT" watch --batch --source live -n 1 --rows 2)
eq "10. text: --rows 2 lists two destinations" "$(grep -c '^  [^ ].* > ' <<<"$txt")" 2
check "10. text: and says how many more ($nd in all)" \
    grep -q "^  \.\.\. and $((nd - 2)) more destinations" <<<"$txt"
check "10. text: the first is the one with the most TIME_WAIT" test \
    "$(grep -m1 ' > ' <<<"$txt" | grep -o 'time_wait [0-9]*' | cut -d' ' -f2)" = \
    "$(jq '[.destinations[] | .states.time_wait // 0] | max' <<<"$("$TWKIT" watch --batch --json --source live -n 1)")"
# a connect() that waits (its SYN dropped): SYN_SENT is client-side, to its
# destination port, though the socket has no local port at its first event
# (the table is made first, so the socket is entered by its event, not the walk)
iptables -A OUTPUT -p tcp -d 198.18.0.2 --dport 9999 -j DROP
"$TWKIT" watch --batch --json --source live -i 0.2 -n 15 --state syn-sent > "$T/syn" 2>/dev/null &
SW=$!
PIDS+=($SW)
for i in $(seq 1 30); do [ -s "$T/syn" ] && break; sleep 0.1; done
timeout 4 bash -c 'exec 3<>/dev/tcp/198.18.0.2/9999' 2>/dev/null &
SYNP=$!
for i in $(seq 1 30); do ss -Htan state syn-sent | grep -q ':9999 *$' && break; sleep 0.1; done
sleep 0.5
eq "10. SYN_SENT: a client-side row to port 9999 (ss: $(ss -Htan state syn-sent | wc -l))" \
    "$(tail -n1 "$T/syn" | jq -c '[.destinations[] | [.side, .dport, .states.syn_sent]]')" '[["client",9999,1]]'
kill "$SYNP" "$SW" 2>/dev/null; wait "$SYNP" "$SW" 2>/dev/null
iptables -D OUTPUT -p tcp -d 198.18.0.2 --dport 9999 -j DROP
NSN=twkit-lt-$$
ip netns add "$NSN"
ip -n "$NSN" link set lo up
ip netns exec "$NSN" "$HELPERS/closer" server 127.0.0.1 85 first > "$T/ns.srv" &
PIDS+=($!)
for i in $(seq 1 50); do grep -q ready "$T/ns.srv" && break; sleep 0.1; done
ip netns exec "$NSN" "$HELPERS/closer" client 127.0.0.1 85 3 wait > /dev/null
j=$("$TWKIT" watch --batch --json --source live -n 1 --netns "$NSN")
eq "10. --netns NAME: labelled with it" "$(jq -r .netns <<<"$j")" "$NSN"
eq "10. --netns NAME: its TIME_WAIT, from its table (ss there: $(ip netns exec "$NSN" ss -Htan state time-wait | wc -l))" \
    "$(jq -r '.source + " " + (.totals.time_wait | tostring)' <<<"$j")" "live $(ip netns exec "$NSN" ss -Htan state time-wait | wc -l)"
"$TWKIT" watch --batch --source live -n 1 --netns all > /dev/null 2>&1
eq "10. --netns all is refused (usage)" "$?" 2
"$TWKIT" watch --batch --source live -n 1 --sport 80 > /dev/null 2>&1
eq "10. --sport is refused (usage)" "$?" 2

finish
