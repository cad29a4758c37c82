#!/bin/bash
# Benchmark of `twkit trace`'s kernel-side cost: the lab's load generator
# (short connections, the client closes first) against the lab's backend on
# loopback in a private namespace, alternating runs without and with
# `twkit trace` attached; the ratio of the medians of connections per
# second must be >= 0.95.  Then one more run with --prog-stats prints each
# BPF program's events and run time per event (BPF_ENABLE_STATS).
# Needs root.  Env: OUT (build dir), REPS (default 5), SECS (default 3),
# CONC (load generator connections at once, default 32), BENCH_TRACE_OLD
# (another twkit binary, e.g. built from main: its trace runs as a third arm
# of the same alternation, so that a change is measured against the old
# programs under the same machine load, and its programs' costs are printed
# too).
set -uo pipefail
cd "$(dirname "$0")/.."
TW=$(realpath "${OUT:-.build}/twkit")
OLD=${BENCH_TRACE_OLD:+$(realpath "$BENCH_TRACE_OLD")}
REPS=${REPS:-5} SECS=${SECS:-3} CONC=${CONC:-32}
[ "$(id -u)" -eq 0 ] || { echo "bench trace: SKIP (needs root)"; exit 0; }
command -v jq >/dev/null || { echo "bench trace: SKIP (jq not installed)"; exit 0; }
if [ -z "${TW_BENCH_NETNS:-}" ]; then
    TW_BENCH_NETNS=1 exec unshare --net -- bash "$0" "$@"
fi
ip link set lo up
# no port exhaustion: the load must measure the kernel's work, not EADDRNOTAVAIL
sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65535"
out=$("$TW" trace -d 0.1 -i 0.1 --json 2>&1 >/dev/null)
case $? in 3|4) echo "bench trace: SKIP ($out)"; exit 0 ;; esac

dir=$(mktemp -d /tmp/twkit-bench-trace.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$dir"; }
trap cleanup EXIT
"$TW" lab backend --listen 127.0.0.1:8080 -t 1 >/dev/null 2>&1 &
BE=$!
pids+=($BE)
for _ in $(seq 100); do bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080' 2>/dev/null && break; sleep 0.05; done

# load: one run; prints "CONN/S CPU-µs-PER-CONNECTION" (the load generator's
# and the backend's CPU time, user and system, softirq work included: on
# loopback it runs in their context)
bcpu() { awk '{print $14 + $15}' "/proc/$BE/stat"; }
load() {
    local b0 b1 n r cpu
    b0=$(bcpu)
    /usr/bin/time -o "$dir/time" -f '%U %S' \
        "$TW" lab load -c 127.0.0.1:8080 -t 1 -C "$CONC" -k 1 -d "$SECS" --json >"$dir/lg.json"
    b1=$(bcpu)
    n=$(jq '.connections.ok' "$dir/lg.json"); r=$(jq '.connections.per_s' "$dir/lg.json")
    cpu=$(awk -v u="$(cat "$dir/time")" -v b=$((b1 - b0)) -v hz="$(getconf CLK_TCK)" -v n="$n" \
        'BEGIN { split(u, a, " "); if (n > 0) printf "%.1f", (a[1] + a[2] + b / hz) * 1e6 / n }')
    echo "$r $cpu"
}
# traced ARGS...: one load run with trace attached (started, attached, stopped),
# that of $TRACER (default: this build's twkit)
traced() {
    "${TRACER:-$TW}" trace --json -i 60 "$@" >"$dir/t.json" 2>"$dir/t.err" &
    local t=$!
    for _ in $(seq 200); do grep -q '"type":"start"' "$dir/t.json" && break; sleep 0.05; done
    grep -q '"type":"start"' "$dir/t.json" || { echo "bench trace: trace did not start"; cat "$dir/t.err"; exit 1; }
    load
    kill -INT "$t"; wait "$t"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

load >/dev/null   # warm up
declare -a A B CA CB O CO
for i in $(seq "$REPS"); do
    read -r r c < <(load); A+=("$r"); CA+=("$c")
    read -r r c < <(traced); B+=("$r"); CB+=("$c")
    if [ -n "$OLD" ]; then read -r r c < <(TRACER=$OLD traced); O+=("$r"); CO+=("$c"); fi
done
m() { printf '%s\n' "$@" | median; }
ma=$(m "${A[@]}"); mb=$(m "${B[@]}"); mca=$(m "${CA[@]}"); mcb=$(m "${CB[@]}")
# each traced run against the untraced run just before it: a shared machine's
# load moves both alike
pr=$(for i in "${!A[@]}"; do awk -v a="${B[$i]}" -v b="${A[$i]}" 'BEGIN { if (b > 0) print a / b }'; done | median)
q() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }'; }
echo "bench trace ($REPS alternating pairs of ${SECS} s runs, loopback, $CONC connections at once)"
printf '  short connections: without trace %6.0f conn/s, with trace %6.0f (medians): ratio %s\n' \
    "$ma" "$mb" "$(q "$mb" "$ma")"
printf '  median of the pairs'"'"' rate ratios: %.3f (target >= 0.95)\n' "$pr"
printf '  CPU per connection (load generator + backend): without %.1f us, with %.1f us:\n' "$mca" "$mcb"
printf '    rate a CPU-bound run can keep: %s of it (target >= 0.95)\n' "$(q "$mca" "$mcb")"
echo "  runs without: ${A[*]} conn/s; ${CA[*]} us/conn"
echo "  runs with:    ${B[*]} conn/s; ${CB[*]} us/conn"
if [ -n "$OLD" ]; then
    mo=$(m "${O[@]}"); mco=$(m "${CO[@]}")
    po=$(for i in "${!A[@]}"; do awk -v a="${O[$i]}" -v b="${A[$i]}" 'BEGIN { if (b > 0) print a / b }'; done | median)
    printf '  with the trace of %s (third arm): %6.0f conn/s: ratio %s, pairs %.3f;\n' "$OLD" "$mo" "$(q "$mo" "$ma")" "$po"
    printf '    CPU per connection %.1f us: rate a CPU-bound run can keep %s\n' "$mco" "$(q "$mca" "$mco")"
    echo "  runs with it: ${O[*]} conn/s; ${CO[*]} us/conn"
fi

progs() {
jq -r 'select(.type == "total") | "  births in the --prog-stats run: \(.births.total) (TcpExtTW +\(.cross_check.tcpext_tw), equal: \(.cross_check.equal))",
    "  BPF program              events      ns/event  (every event on the machine, not only this namespace)",
    (.programs[] | "  \(.name | . + " " * (22 - length)) \(.events | tostring | " " * (10 - length) + .)  \(.ns_per_event // 0 | floor | tostring | " " * (10 - length) + .)")' \
    "$dir/t.json"
}
traced --prog-stats >/dev/null
progs
if [ -n "$OLD" ]; then
    echo "  the same with the trace of $OLD:"
    TRACER=$OLD traced --prog-stats >/dev/null
    progs
fi
