#!/usr/bin/env bash
# bench/watch.sh — what `twkit watch` costs, against the floor (bench/floor:
# one bare netlink dump of the TIME_WAIT sockets that only counts them),
# measured in the same run.  Run by `make bench` with OUT=<build dir>.
#
#   1. N = BENCH_WATCH_BIG (default 1000000) TIME_WAIT: one sample (`twkit
#      watch --batch -n 1`, the whole process, as bench/stat.sh times stat)
#      against the floor, interleaved rounds, medians and their ratio
#      (target <= 1.2); the in-process cost of each sample (tick_seconds)
#      against the floor too; and a 1 s interval held: 6 samples, none
#      late, starts 1 s apart.
#   2. N = BENCH_WATCH_STEADY (default 100000) TIME_WAIT held steady (twgen
#      paced at N/60 per second, measured once the first ones expire): the
#      curses view at 1 s in tmux (or --batch without tmux) for
#      BENCH_WATCH_SECONDS (default 60): its CPU time over the window as a
#      percentage of one core (target <= 5%) and its RSS every 5 s (flat:
#      the last within 1 MiB of the first).
#
# Each part runs under `unshare -n`, so the namespace and its sockets vanish
# with it.  BENCH_WATCH_PARTS="big steady" picks the parts (default both).  Exit: 0 measured (missed targets are reported, not failed), 1 a
# real error.  Without root it prints SKIP and exits 0.
set -u -o pipefail
export LC_ALL=C

OUT=${OUT:-.build}
BIN=$OUT/bench
TWKIT=$OUT/twkit
BIG=${BENCH_WATCH_BIG:-1000000}
STEADY=${BENCH_WATCH_STEADY:-100000}
SECONDS_CPU=${BENCH_WATCH_SECONDS:-60}
ROUNDS=${BENCH_ROUNDS:-9}
PARTS=${BENCH_WATCH_PARTS:-"big steady"} # which parts to run

msg() { printf '%s\n' "$*"; }
die() { printf 'bench/watch.sh: %s\n' "$*" >&2; exit 1; }
now() { printf '%s' "$EPOCHREALTIME"; }
sockstat_tw() { awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "tw") print $(i + 1) }' /proc/net/sockstat; }
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { if (!NR) exit; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = op == "le" ? v <= t : v >= t; print ok ? "met" : "NOT met" }'; }

namespace_setup() {
    ip link set lo up || die "cannot bring lo up"
    echo 2200000 >/proc/sys/net/ipv4/tcp_max_tw_buckets &&
        echo 0 >/proc/sys/net/ipv4/tcp_tw_reuse &&
        echo 65535 >/proc/sys/net/core/somaxconn || die "cannot set the namespace's sysctls"
}

KIDS=()
inner_cleanup() {
    local p
    [[ -n ${TMUXSOCK:-} ]] && tmux -L "$TMUXSOCK" kill-server 2>/dev/null
    for p in "${KIDS[@]}"; do [[ -n $p ]] && kill "$p" 2>/dev/null; done
    wait 2>/dev/null
}

# ---- part 1: one sample at BIG, and the interval held ---------------------------------

big() {
    local n=$BIG gen_start deadline tw i t st fl=() wt=()
    trap inner_cleanup EXIT
    namespace_setup
    msg ""
    msg "== one sample at N = $n TIME_WAIT =="
    gen_start=$(now)
    local short=""
    if ! "$BIN/twgen" -n "$n" -j 2 -s 20 -t 55 2>"$WORK/twgen.err" | sed 's/^twgen: /generated: /'; then
        # A busy machine (or BPF programs on every TCP timer) can make fewer
        # than N within the 60 s TIME_WAIT lifetime: measure what there is,
        # and say so.
        tw=$(sockstat_tw)
        (( tw >= n / 10 )) || { cat "$WORK/twgen.err" >&2; die "generation failed"; }
        short=$tw
        msg "NOTE: twgen made only $tw of $n in 55 s here ($(tail -n 1 "$WORK/twgen.err"));"
        msg "      measuring at N = $tw: the targets below are for $n"
    fi
    for i in $(seq 50); do tw=$(sockstat_tw); (( tw >= n )) && break; sleep 0.1; done
    [[ -n $short ]] || (( tw >= n - n / 1000 )) || die "sockstat shows $tw TIME_WAIT, expected $n"
    # The first sockets expire 60 s after generation began.  On a busy machine
    # generation itself takes most of that, so the rounds get at least 6 s
    # (the count may fall a few % by then: both commands walk the same table
    # in each round, and the counts before and after are printed).
    deadline=$(awk -v a="$gen_start" -v b="$(now)" 'BEGIN { d = a + 60 - 7; if (d < b + 6) d = b + 6; printf "%.3f", d }')
    "$BIN/floor" >/dev/null && "$TWKIT" watch -b -n 1 >/dev/null || die "warm-up failed"
    for i in $(seq "$ROUNDS"); do
        awk -v a="$(now)" -v d="$deadline" 'BEGIN { exit !(a + 1.0 < d) }' || break
        read -r t _ st < <("$BIN/runmed" -t 60 -- "$BIN/floor") && [[ $st == 0 ]] || die "floor failed"
        fl+=("$t")
        read -r t _ st < <("$BIN/runmed" -t 60 -- "$TWKIT" watch -b -n 1) && [[ $st == 0 ]] ||
            die "twkit watch -b -n 1 failed"
        wt+=("$t")
    done
    "$TWKIT" watch -b -j -n 6 -i 1 >"$WORK/big.ndjson" || die "twkit watch -b -j -n 6 failed"
    local tw_after fmed wmed ratio tick tmed tratio late gaps gmin gmax tmax
    tw_after=$(sockstat_tw)
    fmed=$(median <<<"${fl[*]}")
    wmed=$(median <<<"${wt[*]}")
    ratio=$(awk -v a="$wmed" -v b="$fmed" 'BEGIN { printf "%.2f", a / b }')
    tick=$(jq -r '.namespaces[0].tick_seconds' "$WORK/big.ndjson" | tr '\n' ' ')
    tmed=$(median <<<"$tick")
    tmax=$(tr ' ' '\n' <<<"$tick" | sort -g | tail -n 1)
    tratio=$(awk -v a="$tmed" -v b="$fmed" 'BEGIN { printf "%.2f", a / b }')
    late=$(jq -s 'map(.late_ticks) | max' "$WORK/big.ndjson")
    gaps=$(jq -s '[range(1; length) as $i | (.[$i].t_ms - .[$i - 1].t_ms)]' "$WORK/big.ndjson")
    gmin=$(jq 'min' <<<"$gaps")
    gmax=$(jq 'max' <<<"$gaps")
    msg "kernel: sockstat tw $tw before the rounds, $tw_after after them"
    msg ""
    printf '%-44s %4s %10s %8s\n' "command" "runs" "median s" "x floor"
    printf '%-44s %4d %10.4f %8s\n' "floor (1 dump, count only)" "${#fl[@]}" "$fmed" "1.00"
    printf '%-44s %4d %10.4f %8s\n' "twkit watch -b -n 1 (one sample, whole run)" "${#wt[@]}" "$wmed" "$ratio"
    printf '%-44s %4d %10.4f %8s\n' "  its sample alone (tick_seconds, in-process)" 6 "$tmed" "$tratio"
    msg ""
    printf '%-62s %s\n' "target: one sample / floor = $ratio (<= 1.2)" "$(verdict "$ratio" 1.2 le)"
    printf '%-62s %s\n' "target: 1 s interval held: starts ${gmin}-${gmax} ms apart, late $late, longest sample ${tmax} s" \
        "$( [[ $late == 0 ]] && (( gmax <= 1100 )) && awk -v t="$tmax" 'BEGIN { exit !(t < 1) }' && echo met || echo 'NOT met')"
    msg "watch's dumps saw $(jq -r '.namespaces[0].time_wait.dump' "$WORK/big.ndjson" | tr '\n' ' ')TIME_WAIT;" \
        "measuring ended $(awk -v a="$gen_start" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s after generation began"
}

# ---- part 2: steady STEADY, CPU and RSS over SECONDS_CPU ------------------------------------

steady() {
    local n=$STEADY rate pid t0 t1 c0 c1 hz tw0 tw1 rss=() cpu first last max i
    trap inner_cleanup EXIT
    namespace_setup
    rate=$(( (n + 59) / 60 ))
    msg ""
    msg "== steady N = $n TIME_WAIT (twgen at $rate conn/s), 1 s interval, ${SECONDS_CPU} s =="
    "$BIN/twgen" -n $(( rate * (60 + SECONDS_CPU + 15) )) -r "$rate" -j 1 -s 30 -c 2000 \
        -t $(( 60 + SECONDS_CPU + 40 )) -q >"$WORK/twgen.out" 2>&1 &
    KIDS+=($!)
    msg "waiting 61 s for the population to settle (the first TIME_WAIT expire at 60 s)"
    sleep 61
    if command -v tmux >/dev/null; then
        TMUXSOCK=twkit-bench-watch-$$
        tmux -L "$TMUXSOCK" new-session -d -s b -x 80 -y 24 \
            "exec env TERM=screen-256color LC_ALL=C.UTF-8 $TWKIT watch -i 1" || die "tmux failed"
        pid=$(tmux -L "$TMUXSOCK" display-message -p -t b '#{pane_pid}')
        msg "the curses view in tmux (80x24), pid $pid"
    else
        "$TWKIT" watch -b -i 1 >/dev/null &
        pid=$!
        KIDS+=("$pid")
        msg "no tmux: --batch, pid $pid"
    fi
    sleep 2 # past start-up
    hz=$(getconf CLK_TCK)
    tw0=$(sockstat_tw)
    t0=$(now)
    c0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat") || die "watch is not running"
    # every 5 s: watch's RSS, and one run of the floor (its CPU time is the
    # anchor, taken in the same conditions: a dump walks the established hash
    # that every namespace shares, so what else runs moves both)
    local fsum=0 fn=0 f
    for (( i = 0; i <= SECONDS_CPU; i += 5 )); do
        rss+=("$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")")
        f=$( { TIMEFORMAT='%U %S'; time "$BIN/floor" >/dev/null; } 2>&1 | awk '{ print $1 + $2 }')
        fsum=$(awk -v a="$fsum" -v b="$f" 'BEGIN { print a + b }')
        fn=$((fn + 1))
        (( i + 5 <= SECONDS_CPU )) && sleep 5
    done
    c1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat") || die "watch died during the window"
    t1=$(now)
    tw1=$(sockstat_tw)
    local fcpu
    fcpu=$(awk -v a="$fsum" -v n="$fn" 'BEGIN { printf "%.4f", a / n }')
    cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.2f", (b - a) / hz / (e - s) * 100 }')
    first=${rss[0]} last=${rss[-1]}
    max=$(printf '%s\n' "${rss[@]}" | sort -n | tail -n 1)
    msg "kernel: sockstat tw $tw0 at the start, $tw1 at the end"
    msg "RSS (KiB) every 5 s: ${rss[*]}"
    msg "anchor: one floor dump cost ${fcpu} s of CPU (mean of $fn, during the window): at 1 Hz $(awk -v f="$fcpu" 'BEGIN { printf "%.2f", f * 100 }')% of a core;" \
        "watch used $(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$t0" -v e="$t1" -v f="$fcpu" 'BEGIN { printf "%.2f", (b - a) / hz / (e - s) / f }')x that"
    printf '%-62s %s\n' "target: CPU $(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }') s in $(awk -v s="$t0" -v e="$t1" 'BEGIN { printf "%.1f", e - s }') s = ${cpu}% of one core (<= 5%)" \
        "$(verdict "$cpu" 5 le)"
    printf '%-62s %s\n' "target: RSS flat: first $first KiB, max $max, last $last (last - first <= 1024)" \
        "$( (( last - first <= 1024 )) && echo met || echo 'NOT met')"
    awk -v a="$tw0" -v n="$n" 'BEGIN { exit !(a >= 0.9 * n && a <= 1.1 * n) }' ||
        msg "note: the population was $tw0, not ~$n"
}

if [[ ${1:-} == --big ]]; then big; exit; fi
if [[ ${1:-} == --steady ]]; then steady; exit; fi

if [[ $(id -u) != 0 ]]; then
    msg "bench/watch.sh: SKIP: needs root (unshare -n, namespace sysctls)"
    exit 0
fi
for b in floor twgen runmed; do
    [[ -x $BIN/$b ]] || die "$BIN/$b is missing: run 'make bench'"
done
[[ -x $TWKIT ]] || die "$TWKIT is missing: run 'make'"
command -v jq >/dev/null || die "jq is not installed"
WORK=$(mktemp -d /tmp/twkit-bench-watch.XXXXXX) || die "mktemp failed"
export WORK
trap 'rm -rf -- "$WORK"' EXIT

tw_slab() { awk '$1 == "tw_sock_TCP" { print $2 }' /proc/slabinfo 2>/dev/null || echo 0; }
wait_purge() { # the last namespace's TIME_WAIT are purged after it exits
    local base=$1 i
    for i in $(seq 150); do (( $(tw_slab) <= base + 2000 )) && return 0; sleep 0.2; done
    msg "note: $(tw_slab) tw_sock_TCP objects still allocated from the last run"
}
msg "twkit watch benchmark: $(uname -r), $(nproc) CPUs; timed with bench/runmed (fork+exec to exit)"
base=$(tw_slab)
t0=$(now)
for part in $PARTS; do
    case $part in
    big | steady) ;;
    *) die "BENCH_WATCH_PARTS: '$part' is neither big nor steady" ;;
    esac
    wait_purge "${base:-0}"
    unshare -n -- bash "$0" "--$part" || die "the $part part failed"
done
wait_purge "${base:-0}"
msg ""
msg "bench/watch.sh: done in $(awk -v s="$t0" -v e="$(now)" 'BEGIN { printf "%.0f", e - s }') s"
