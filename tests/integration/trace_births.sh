#!/bin/bash
# twkit trace charges every TIME_WAIT birth to the process that closed
# first, per destination, exactly: known workloads in a private namespace
# (C clients and bash /dev/tcp loops to IPv4 and IPv6 destinations, servers
# that close first, shutdown-then-RST, a client that closes at exit after a
# delay), checked against each workload's own count and against the
# namespace's TcpExtTW delta.  Run twice: exact births (timer_start) and
# the approximate method; then once without CAP_SYSLOG, where trace must
# fall back to the approximate method by itself and say so.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
. tests/lib_trace.sh
need_root
need jq setpriv
in_private_netns "$@"
need_trace

CL=$HELPERS/closer
D=$(mktemp -d)
SPIDS=()
cleanup() { for p in "${SPIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; [ -n "${KEEP:-}" ] && [ "${KEEP}" = all -o "$_fails" -gt 0 ] && cp -r "$D" /tmp/trace-keep; rm -rf "$D"; }
trap cleanup EXIT

# server ADDR PORT MODE: start one, wait for "ready"; its pid goes in $SP
server() {
    mkfifo "$D/fifo.$2"
    "$CL" server "$1" "$2" "$3" >"$D/fifo.$2" &
    SP=$!
    SPIDS+=("$SP")
    timeout 10 head -n1 "$D/fifo.$2" | grep -q ready || { echo "server $1 $2 did not start"; exit 1; }
}
server 127.0.0.1 5101 wait;  S_WAIT4=$SP
server ::1 5102 wait;        S_WAIT6=$SP
server 127.0.0.1 5103 first; S_FIRST4=$SP
server ::1 5105 first;       S_FIRST6=$SP
server 127.0.0.1 5104 rst;   S_RST=$SP

# client ADDR PORT N MODE: run one to the end; pid in $CP, its own count in $CN
client() {
    "$CL" client "$@" >"$D/client.out" &
    CP=$!
    wait "$CP" || { echo "client $* failed"; exit 1; }
    CN=$(awk '/^done/ {print $2}' "$D/client.out")
}
# devtcp HOST PORT N: a bash loop opening and closing /dev/tcp; pid in $CP,
# the opens that worked in $CN
devtcp() {
    bash -c 'n=0; for i in $(seq '"$3"'); do
                 exec 3<>/dev/tcp/'"$1"'/'"$2"' && n=$((n + 1)); exec 3<&-; done; echo "done $n"' \
        >"$D/client.out" &
    CP=$!
    wait "$CP"
    CN=$(awk '/^done/ {print $2}' "$D/client.out")
}

run() {   # run LABEL TRACE-ARGS...: the whole workload under one trace
    local label=$1; shift
    local T=$D/trace.$label.json
    trace_start "$T" --interval 60 --prog-stats "$@" || { fail "$label: trace started"; return; }
    local tw0 expect=0
    tw0=$(tcpext_tw)

    client 127.0.0.1 5101 40 close;  local c4=$CP n4=$CN
    client ::1 5102 30 close;        local c6=$CP n6=$CN
    devtcp 127.0.0.1 5101 20;        local b4=$CP nb4=$CN
    devtcp ::1 5102 10;              local b6=$CP nb6=$CN
    client 127.0.0.1 5103 25 wait;   local w4=$CP nw4=$CN
    client ::1 5105 10 wait;         local w6=$CP nw6=$CN
    client 127.0.0.1 5104 10 shutrst; local r=$CP nr=$CN
    client 127.0.0.1 5101 15 delay;  local dl=$CP nd=$CN
    sleep 1   # the servers close their ends
    local tw1; tw1=$(tcpext_tw)
    trace_stop
    eq "$label: trace exit status" "$TRACE_RC" 0
    [ -n "${EXPECT_WARN:-}" ] && check "$label: says why births are approximate" \
        grep -q "$EXPECT_WARN" "$T.err"

    expect=$((n4 + n6 + nb4 + nb6 + nw4 + nw6 + nd))
    eq "$label: births = the workloads' own count" "$(total "$T" .births.total)" "$expect"
    eq "$label: births = TcpExtTW delta" "$(total "$T" .births.total)" "$((tw1 - tw0))"
    eq "$label: trace's own cross-check" "$(total "$T" .cross_check.equal)" true
    eq "$label: C client, IPv4" "$(births "$T" "$c4" remote 5101 127.0.0.1)" "$n4"
    eq "$label: C client, IPv6" "$(births "$T" "$c6" remote 5102 ::1)" "$n6"
    eq "$label: bash /dev/tcp, IPv4" "$(births "$T" "$b4" remote 5101 127.0.0.1)" "$nb4"
    eq "$label: bash /dev/tcp, IPv6" "$(births "$T" "$b6" remote 5102 ::1)" "$nb6"
    eq "$label: bash's process name" \
        "$(total "$T" "[.closes[] | select(.pid == $b4)][0].comm")" bash
    eq "$label: server closes first, IPv4 (local port)" "$(births "$T" "$S_FIRST4" local 5103)" "$nw4"
    eq "$label: server closes first, IPv6 (local port)" "$(births "$T" "$S_FIRST6" local 5105)" "$nw6"
    eq "$label: ... and its clients closed passively" "$(closes "$T" "$w4" passive remote 5103)" "$nw4"
    eq "$label: ... holding no TIME_WAIT" "$(births "$T" "$w4" remote 5103)" 0
    eq "$label: delayed close at exit" "$(births "$T" "$dl" remote 5101 127.0.0.1)" "$nd"
    eq "$label: shutdown then RST: no birth" "$(births "$T" "$r" remote 5104)" 0
    eq "$label: shutdown then RST: client's resets" "$(closes "$T" "$r" rst remote 5104)" "$nr"
    eq "$label: shutdown then RST: client closed first" "$(closes "$T" "$r" active remote 5104)" "$nr"
    eq "$label: shutdown then RST: server's resets" "$(closes "$T" "$S_RST" rst local 5104)" "$nr"
    eq "$label: client's active closes" "$(closes "$T" "$c4" active remote 5101)" "$n4"
    eq "$label: server's passive closes" \
        "$(closes "$T" "$S_WAIT4" passive local 5101)" "$((n4 + nb4 + nd))"
    eq "$label: server's passive closes, IPv6" \
        "$(closes "$T" "$S_WAIT6" passive local 5102)" "$((n6 + nb6))"
    documented "$T"
    eq "$label: every birth has its process" "$(total "$T" '[.closes[] | select(.pid == null)] | length')" 0
    eq "$label: nothing lost" "$(total "$T" '.lost.rows + .lost.pending')" 0
    eq "$label: every birth is in a row" \
        "$(total "$T" '[.closes[] | .time_wait + .fin_wait2] | add')" "$expect"
}

echo "exact (timer_start on tw_timer_handler)"
run exact --method exact
eq "exact: method" "$(jq -r 'select(.type == "start") | .method' "$D/trace.exact.json")" exact

echo "approximate (CLOSE transitions)"
run approx --method approximate
eq "approx: method" "$(jq -r 'select(.type == "start") | .method' "$D/trace.approx.json")" approximate

echo "without CAP_SYSLOG: the address is hidden, auto falls back"
if [ "$(cat /proc/sys/kernel/kptr_restrict)" = 0 ] && [ "$(cat /proc/sys/kernel/perf_event_paranoid)" -le 1 ]; then
    skip_case "no CAP_SYSLOG" "kptr_restrict=0 and perf_event_paranoid<=1 show kallsyms to everyone"
else
    TRACE_WRAP="setpriv --bounding-set=-syslog --" EXPECT_WARN="CAP_SYSLOG" run nosyslog
    eq "nosyslog: method" "$(jq -r 'select(.type == "start") | .method' "$D/trace.nosyslog.json")" approximate
    out=$(setpriv --bounding-set=-syslog -- "$TWKIT" trace --method exact -d 0.1 2>&1)
    eq "--method exact without CAP_SYSLOG: exit status" $? 4
    check "--method exact without CAP_SYSLOG: names CAP_SYSLOG" grep -q CAP_SYSLOG <<<"$out"
fi
finish
