#!/usr/bin/env bash
# bench/live.sh — what the live table (`--source live`, issue 14) costs and
# saves, measured in the same run.  Run by `make bench` with OUT=<build dir>.
#
# 1. A tick.  For each size N (BENCH_LIVE_SIZES, default "100000 1000000"),
#    under `unshare -n`: N client-side TIME_WAIT from bench/twgen, then
#      floor (process)   bench/floor via runmed: one bare netlink dump that
#                        only counts, fork+exec included (bench/stat.sh's floor)
#      floor (in-proc)   bench/srcwalk netlink time-wait: the same dump in a
#                        running process, median of 5
#      live read         bench/livetick read: one read of the table's counts
#                        (a watch tick's or an export scrape's source cost),
#                        median of 21; and the sock_diag walk folded into the
#                        same rows (what --source live replaces)
#    It prints the medians, read / floor, the load+seed time, and whether the
#    table's TIME_WAIT equal the walk's and sockstat's.
# 2. The kernel side's cost.  Under `unshare -n`: a lab backend and `twkit
#    lab load` (short connections, the client closes, closed loop, 64 at
#    once, BENCH_LIVE_RUN_S seconds, default 3) run BENCH_LIVE_PAIRS times
#    (default 3) without and with a live table attached (bench/livetick
#    hold), alternating; it prints the connection rates, their medians and
#    the ratio with/without, the events the table lost, and the kernel time
#    spent in the table's event programs (their BPF run-time statistics,
#    enabled by livetick for its own lifetime) per connection: the direct
#    cost, which the rates on a loaded 2-CPU machine are too noisy to show;
#    and per program: runs and run time per connection.
#    The rate runs have the statistics off (two clock reads per program
#    run, on every timer of the machine); each is followed by a run with
#    them on, for the programs' cost.
#    BENCH_LIVE_OLD=<another bench/livetick> (e.g. built from main) adds its
#    table as an arm of the same alternation, BENCH_LIVE_PREALLOC=1 an arm
#    with this table's socket maps preallocated, so that a change is
#    measured against the old programs under the same machine load;
#    BENCH_LIVE_ARMS="label[:livetick][,VAR=VALUE...] ..." lists the arms.
#    BENCH_LIVE_SIZES=none skips part 1.
# A size this machine cannot generate within 45 s is a SKIP with the reason.
# Exit: 0 measured (targets are reported, not enforced), 1 a real error.
# Without root, or where the table cannot be loaded, it prints SKIP, exits 0.
set -u -o pipefail
export LC_ALL=C
OUT=${OUT:-.build}
BIN=$OUT/bench
TWKIT=$OUT/twkit

msg() { printf '%s\n' "$*"; }
die() { printf 'bench/live.sh: %s\n' "$*" >&2; exit 1; }
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { if (!NR) exit; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.4f", a / b; else print "?" }'; }
sockstat_tw() { awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "tw") print $(i + 1) }' /proc/net/sockstat; }

tick() {
    local n=$1 idx=$2 tw i
    ip link set lo up || die "cannot bring lo up"
    echo $(( 2 * n > 2097152 ? 2 * n : 2097152 )) > /proc/sys/net/ipv4/tcp_max_tw_buckets
    echo 0 > /proc/sys/net/ipv4/tcp_tw_reuse
    echo 65535 > /proc/sys/net/core/somaxconn
    msg ""
    msg "== tick at N = $n TIME_WAIT sockets =="
    if ! "$BIN/twgen" -n "$n" -j 2 -s "$(( 40 + idx ))" -t 45 | sed 's/^twgen: /generated: /'; then
        msg "SKIP N = $n: this machine could not make $n TIME_WAIT sockets within 45 s (see twgen above)"
        return 0
    fi
    for i in $(seq 50); do tw=$(sockstat_tw); (( tw >= n )) && break; sleep 0.1; done
    local fp fi open seed rd wk rows ttw wtw line
    read -r fp _ < <("$BIN/runmed" -k 5 -t 60 -- "$BIN/floor") || die "floor failed"
    read -r _ fi _ < <("$BIN/srcwalk" netlink time-wait 5) || die "srcwalk failed"
    read -r open seed rd wk rows ttw wtw < <("$BIN/livetick" read 21) || die "livetick failed"
    printf '%-48s %12s %10s\n' "" "median s" "x floor"
    printf '%-48s %12.6f %10s\n' "floor (1 netlink dump, process)" "$fp" 1
    printf '%-48s %12.6f %10s\n' "floor (1 netlink dump, in-process)" "$fi" "$(ratio "$fi" "$fp")"
    printf '%-48s %12.6f %10s\n' "live: one read of the table ($rows rows)" "$rd" "$(ratio "$rd" "$fp")"
    printf '%-48s %12.6f %10s\n' "sock_diag walk folded into the same rows" "$wk" "$(ratio "$wk" "$fp")"
    printf '%-48s %12.6f\n' "live: open+load+attach+seed (once)" "$open"
    printf '%-48s %12.6f\n' "  of which the seed walk" "$seed"
    msg "live read / floor: $(ratio "$rd" "$fp") (process floor), $(ratio "$rd" "$fi") (in-process floor); target <= 0.05"
    local ok=equal
    [[ $ttw == "$wtw" && $ttw == "$tw" ]] || ok=MISMATCH
    msg "correct: sockstat tw $tw, table TIME_WAIT $ttw, walk TIME_WAIT $wtw: $ok"
}

rate_once() {
    "$TWKIT" lab load -t 1 -c 198.18.0.2:80 -s 198.18.0.1 -C 64 -d "$RUN_S" --json 2>/dev/null |
        jq -r '.connections.per_s'
}

# Arms of the rate runs: "label[:livetick path][,VAR=VALUE...]" (the
# default path is this build's livetick; the variables are set for it).
arms_list() {
    local a=(new)
    [[ -n ${BENCH_LIVE_OLD:-} ]] && a+=("old:$BENCH_LIVE_OLD")
    [[ ${BENCH_LIVE_PREALLOC:-0} == 1 ]] && a+=("prealloc,TWKIT_LIVE_PREALLOC=1")
    [[ -n ${BENCH_LIVE_ARMS:-} ]] && a=($BENCH_LIVE_ARMS)
    printf '%s\n' "${a[@]}"
}

# held SPEC N STATS: one load run with that arm's table attached (bench/
# livetick hold), with or without BPF run-time statistics (STATS 1/0); sets
# R (conn/s), NS (the event programs' run time) and LINE, and keeps the
# per-program lines in $PD/LABEL.N
held() {
    local spec=$1 n=$2 stats=$3 label tick=$BIN/livetick fifo hp line
    local -a envs=("LIVETICK_STATS=$stats")
    IFS=, read -r -a parts <<< "$spec"
    label=${parts[0]%%:*}
    [[ ${parts[0]} == *:* ]] && tick=${parts[0]#*:}
    envs+=("${parts[@]:1}")
    fifo=$(mktemp -u); mkfifo "$fifo"
    env "${envs[@]}" "$tick" hold $(( RUN_S + 30 )) > "$fifo" 2> "$PD/$label.$n.$stats" &
    hp=$!
    exec 3< "$fifo"; rm -f "$fifo"
    read -r line <&3 || { kill "$BP"; die "livetick hold ($label) did not start"; }
    R=$(rate_once)
    kill -TERM "$hp"; read -r LINE <&3; exec 3<&-; wait "$hp"
    NS=$(awk '{ for (i = 1; i < NF; i++) if ($i == "run_ns") print $(i + 1) }' <<< "$LINE")
}

# the per-program lines of LABEL's runs with statistics, summed: runs and
# run time per connection (CONNS connections in those runs)
prog_table() {
    local label=$1 conns=$2
    cat "$PD/$label".*.1 | awk -v c="$conns" '$1 == "prog" { r[$2] += $4; t[$2] += $6; m[$2] += $8 }
        END { for (p in r) printf "    %-18s %8.2f runs/conn %8.0f ns/run %8.0f ns/conn  recursion misses %d\n",
                                   p, r[p] / c, r[p] ? t[p] / r[p] : 0, t[p] / c, m[p] }' | sort
}

# Each round: a run without a table, then for each arm one run with its
# table (statistics off: the rate) and one with statistics on (the
# programs' cost), in that order.
rates() {
    local pairs=${BENCH_LIVE_PAIRS:-3} i r spec label
    RUN_S=${BENCH_LIVE_RUN_S:-3}
    PD=$(mktemp -d /tmp/twkit-bench-live.XXXXXX)
    local -a arms
    mapfile -t arms < <(arms_list)
    ip link set lo up
    ip addr add 198.18.0.1/32 dev lo; ip addr add 198.18.0.2/32 dev lo
    echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse
    "$TWKIT" lab backend --listen 198.18.0.2:80 -t 1 > /dev/null 2>&1 &
    BP=$!
    sleep 0.3
    msg ""
    msg "== short-connection rate without / with the live table ($pairs rounds, ${RUN_S} s runs, alternating) =="
    msg "arms: ${arms[*]}"
    local -a A=()
    declare -A RS=() PS=() CS=() QS=() CONNS=()
    for i in $(seq "$pairs"); do
        r=$(rate_once); A+=("$r")
        local out="round $i: without $r conn/s"
        for spec in "${arms[@]}"; do
            label=${spec%%[:,]*}
            held "$spec" "$i" 0
            RS[$label]+=" $R"
            QS[$label]+=" $(ratio "$R" "$r")"
            out+="; $label $R"
            sleep 0.5
            held "$spec" "$i" 1
            PS[$label]+=" $(awk -v ns="$NS" -v r="$R" -v s="$RUN_S" 'BEGIN { if (r > 0) printf "%.0f", ns / (r * s); else print 0 }')"
            CS[$label]+=" $(awk -v ns="$NS" -v s="$RUN_S" 'BEGIN { printf "%.2f", ns / (s * 1e7) }')"
            CONNS[$label]=$(awk -v a="${CONNS[$label]:-0}" -v r="$R" -v s="$RUN_S" 'BEGIN { printf "%.0f", a + r * s }')
            out+=" (with statistics $R, ${PS[$label]##* } ns/conn; $LINE)"
            sleep 0.5
        done
        msg "$out"
    done
    kill "$BP"; wait "$BP" 2>/dev/null
    local ma mb
    ma=$(median <<< "${A[*]}")
    for spec in "${arms[@]}"; do
        label=${spec%%[:,]*}
        mb=$(median <<< "${RS[$label]}")
        msg "$label: median without $ma conn/s, with $mb conn/s: with/without $(ratio "$mb" "$ma"), median of the rounds' ratios $(median <<< "${QS[$label]}") (target >= 0.95)"
        msg "  event programs (BPF_ENABLE_STATS run time, all CPUs, runs with statistics): median $(median <<< "${PS[$label]}") ns per connection, $(median <<< "${CS[$label]}")% of one CPU; per program over all rounds:"
        prog_table "$label" "${CONNS[$label]}"
    done
    rm -rf "$PD"
}

outer() {
    local sizes=${BENCH_LIVE_SIZES:-"100000 1000000"} n idx=0 why
    [[ $(id -u) == 0 ]] || { msg "bench/live.sh: SKIP: needs root"; exit 0; }
    for n in floor twgen runmed srcwalk livetick; do
        [[ -x $BIN/$n ]] || die "$BIN/$n is missing: run 'make bench'"
    done
    command -v jq > /dev/null || die "jq is not installed"
    if ! why=$("$BIN/livetick" read 1 2>&1 > /dev/null); then
        msg "bench/live.sh: SKIP: the live table cannot run here: $why"
        exit 0
    fi
    msg "twkit live table benchmark: $(uname -r), $(nproc) CPUs, sizes: $sizes"
    [[ $sizes == none ]] && sizes=
    for n in $sizes; do
        [[ $n =~ ^[1-9][0-9]*$ ]] && (( n >= 1000 && n <= 3000000 )) || die "BENCH_LIVE_SIZES: bad '$n'"
        unshare -n -- bash "$0" --tick "$n" "$idx" || die "size $n failed"
        idx=$(( idx + 1 ))
        sleep 2
    done
    unshare -n -- bash "$0" --rates || die "the rate runs failed"
}

case ${1:-} in
--tick) tick "$2" "$3" ;;
--rates) rates ;;
*) outer ;;
esac
