#!/bin/bash
# twkit export --trace on the real kernel: known workloads in a namespace of
# their own (so that the scrapes' own connections are not in it), run one
# after the other so that the order in which their process names are first
# seen is known, with --top 2:
#   closer (C client, closes first)  30 TIME_WAIT           own series
#   bash /dev/tcp                    20 TIME_WAIT, 7 refused own series
#   capthree (a copy of closer)      15 TIME_WAIT           folded
#   twkit lab load, 200-port range   TIME_WAIT until EADDRNOTAVAIL, folded
# The page must say exactly that: each own series equals its workload's own
# count, comm="other" holds the folded ones, the sum of
# twkit_timewait_created_total equals the namespace's TcpExtTW delta (nstat),
# EADDRNOTAVAIL equals the load generator's own count, no series for a
# folded name, and every scrape passes promtool.  Also: the privilege
# message without root, and --trace with --fixture refused.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
. tests/lib_export.sh
. tests/lib_trace.sh
need_root
need curl jq promtool ip nstat setpriv
in_private_netns "$@"

out=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all -- \
    "$TWKIT" export --trace -l 127.0.0.1:0 2>&1)
rc=$?
if [ $rc -eq 5 ]; then
    skip "trace unavailable in this build: $out"
fi
eq "unprivileged --trace: exit status" "$rc" 4
check "unprivileged --trace: names root, CAP_BPF and CAP_PERFMON" \
    bash -c 'grep -q "root, or CAP_BPF and CAP_PERFMON" <<<"$1"' _ "$out"
check "unprivileged --trace: no memlock advice" bash -c '! grep -qi memlock <<<"$1"' _ "$out"
"$TWKIT" export --trace --fixture tests/fixtures >/dev/null 2>&1
eq "--trace with --fixture: usage error" "$?" 2
need_trace

T=$(mktemp -d)
NS=twkit-expt-$$
SP= BE=
cleanup() {
    [ -n "${EXP_PID:-}" ] && kill "$EXP_PID" 2>/dev/null && wait "$EXP_PID" 2>/dev/null
    for p in "$SP" "$BE"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
ip netns add "$NS" || exit 1
X() { ip netns exec "$NS" "$@"; }
X ip link set lo up
X sysctl -qw net.ipv4.ip_local_port_range="40000 40199" net.ipv4.tcp_tw_reuse=0
tw() { X nstat -asz TcpExtTW | awk '$1 == "TcpExtTW" { print $2 }'; }

mkfifo "$T/fifo"
# started with ip netns exec itself, not through X: a function run in the
# background is a subshell, and killing its pid would leave the server
ip netns exec "$NS" "$HELPERS/closer" server 127.0.0.1 5101 wait >"$T/fifo" &
SP=$!
timeout 10 head -n1 "$T/fifo" | grep -q ready || { echo "closer server did not start"; exit 1; }
ip netns exec "$NS" "$TWKIT" lab backend --listen 127.0.0.1:8080 -t 1 >"$T/backend" 2>&1 &
BE=$!
for _ in $(seq 100); do grep -q ready "$T/backend" && break; sleep 0.05; done

start_export --netns "$NS" --trace --top 2 --min-interval 0 || exit 1
P=$T/page
scrape "before the workloads" "$P"
tw0=$(tw)
eq "no process yet" "$(grep -c '^twkit_timewait_created_total' "$P")" 0

done_n() { awk '/^done/ {print $2}' "$1"; }
X "$HELPERS/closer" client 127.0.0.1 5101 30 close >"$T/c1"
scrape "after closer" "$P"   # a collection between workloads: the order is kept
X bash -c 'n=0; for i in $(seq 20); do exec 3<>/dev/tcp/127.0.0.1/5101 && n=$((n + 1));
           exec 3<&-; done; echo "done $n"' >"$T/b1"
X bash -c 'n=0; for i in $(seq 7); do exec 3<>/dev/tcp/127.0.0.1/9 || n=$((n + 1)); done
           echo "refused $n"' >"$T/b2" 2>/dev/null
scrape "after bash" "$P"
cp "$HELPERS/closer" "$T/capthree"
X "$T/capthree" client 127.0.0.1 5101 15 close >"$T/c3"
X "$TWKIT" lab load -c 127.0.0.1:8080 -C 8 -n 600 -d 20 --json >"$T/lg.json" 2>"$T/lg.err"
sleep 1   # the servers close their ends: the last births
tw1=$(tw)
scrape "after the workloads" "$P"


L="netns=\"$NS\""
c() { metric "$P" "twkit_timewait_created_total{$L,comm=\"$1\"}"; }
e() { metric "$P" "twkit_connect_errors_total{$L,comm=\"$1\",errno=\"$2\"}"; }
eq "closer: TIME_WAIT made = its own count" "$(c closer)" "$(done_n "$T/c1")"
eq "bash: TIME_WAIT made = its own count" "$(c bash)" "$(done_n "$T/b1")"
nref=$(awk '/^refused/ {print $2}' "$T/b2")
check "bash was refused ($nref times)" test "$nref" -gt 0
eq "bash: ECONNREFUSED = its own count" "$(e bash ECONNREFUSED)" "$nref"
sum=$(awk '/^twkit_timewait_created_total\{/ { s += $NF } END { print s + 0 }' "$P")
check "TIME_WAIT were made (TcpExtTW +$((tw1 - tw0)))" test $((tw1 - tw0)) -gt 65
eq "sum of twkit_timewait_created_total = TcpExtTW delta (nstat)" "$sum" "$((tw1 - tw0))"
eq "comm=\"other\" = the rest (capthree and the load generator)" "$(c other)" \
    "$((tw1 - tw0 - $(done_n "$T/c1") - $(done_n "$T/b1")))"
check "... capthree's 15 among them" test "$(c other)" -ge "$(done_n "$T/c3")"
n=$(jq -r '.errors.EADDRNOTAVAIL // 0' "$T/lg.json")
check "the load generator met EADDRNOTAVAIL ($n times)" test "$n" -gt 0
eq "EADDRNOTAVAIL (folded into other) = the load generator's own count" \
    "$(e other EADDRNOTAVAIL)" "$n"
eq "cap: two names have their own series, two are folded" \
    "$(metric "$P" "twkit_trace_processes_folded{$L}")" 2
eq "cap: no series for a folded name" "$(grep -cE 'comm="(twkit|capthree)"' "$P")" 0
eq "cap: comm values on the page" \
    "$(grep -oE 'comm="[^"]*"' "$P" | sort -u | tr '\n' ' ')" 'comm="bash" comm="closer" comm="other" '

# counters only grow: another scrape, nothing new, the same values
cp "$P" "$T/prev"
scrape "again" "$P"
eq "the counters stay" "$(grep -E '^twkit_(timewait_created|connect_errors)_total' "$P")" \
    "$(grep -E '^twkit_(timewait_created|connect_errors)_total' "$T/prev")"
code=$(curl -s -o "$T/om" -w '%{http_code}' -H 'Accept: application/openmetrics-text; version=1.0.0' "$EXP_URL")
eq "OpenMetrics: HTTP status" "$code" 200
check "OpenMetrics: the counter family without _total" grep -q '^# TYPE twkit_timewait_created counter' "$T/om"
stop_export
finish
