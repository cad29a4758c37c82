#!/usr/bin/env bash
# bench/bpfsrc.sh — what `--source bpf` (the iter/tcp walk, issue 14) costs
# against the netlink floor, measured in the same run on the same sockets.
# Run by `make bench` with OUT=<build dir>.
#
# For each size N (BENCH_SIZES, default "100000 1000000") it re-runs itself
# under `unshare -n`, makes N client-side TIME_WAIT sockets with bench/twgen
# (tcp_tw_reuse 0, as bench/stat.sh), then, inside the 60 s lifetime, times
# in interleaved rounds:
#   floor            bench/floor: one bare netlink dump that only counts
#   stat netlink     twkit stat --source netlink (fork+exec to exit)
#   stat bpf         twkit stat --source bpf (includes loading the program)
# and in-process (bench/srcwalk: one open, medians of 5 dumps, a callback
# that only counts) the two sources' TIME_WAIT dumps, and their walks with
# a mask that selects nothing ("close"): the walk alone, the least an
# in-kernel fold could cost.  It prints medians, ratios to the floor, the
# program load time, and a correctness line (every count equals sockstat).
#
# A size that this machine cannot generate within 45 s is reported as SKIP.
# Exit: 0 measured, 1 real error.  Without root, or when this build or host
# cannot load BPF, it prints SKIP and exits 0.
set -u -o pipefail
export LC_ALL=C
OUT=${OUT:-.build}
BIN=$OUT/bench
TWKIT=$OUT/twkit
ROUNDS=${BENCH_ROUNDS:-7}
DEADLINE_S=54   # stop timing this long after generation began (expiry at 60 s)

msg() { printf '%s\n' "$*"; }
die() { printf 'bench/bpfsrc.sh: %s\n' "$*" >&2; exit 1; }
now() { printf '%s' "$EPOCHREALTIME"; }
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { if (!NR) exit; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
sockstat_tw() { awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "tw") print $(i + 1) }' /proc/net/sockstat; }

inner() {
    local n=$1 idx=$2 t0 tw i line
    ip link set lo up || die "cannot bring lo up"
    echo $(( 2 * n > 2097152 ? 2 * n : 2097152 )) > /proc/sys/net/ipv4/tcp_max_tw_buckets
    echo 0 > /proc/sys/net/ipv4/tcp_tw_reuse
    echo 65535 > /proc/sys/net/core/somaxconn
    msg ""
    msg "== N = $n TIME_WAIT sockets =="
    t0=$(now)
    if ! "$BIN/twgen" -n "$n" -j 2 -s "$(( 20 + idx ))" -t 45 | sed 's/^twgen: /generated: /'; then
        msg "SKIP N = $n: this machine could not make $n TIME_WAIT sockets within 45 s (see twgen above)"
        return 0
    fi
    for i in $(seq 50); do tw=$(sockstat_tw); (( tw >= n )) && break; sleep 0.1; done
    local -a F SN SB
    local wn wb cn cb open_b cnt_n cnt_b cnt_f rounds=0 tw_before=$tw
    declare -A W=()
    # in-process walks first (5 dumps each), then whole commands in rounds
    read -r _ wn cnt_n < <("$BIN/srcwalk" netlink time-wait 5) || die "srcwalk netlink failed"
    read -r open_b wb cnt_b < <("$BIN/srcwalk" bpf time-wait 5) || die "srcwalk bpf failed"
    read -r _ cn _ < <("$BIN/srcwalk" netlink close 5) || die "srcwalk netlink failed"
    read -r _ cb _ < <("$BIN/srcwalk" bpf close 5) || die "srcwalk bpf failed"
    cnt_f=$("$BIN/floor") || die "floor failed"
    local out_n out_b
    out_n=$("$TWKIT" stat --source netlink --json | jq -r '.namespaces[0].time_wait.total')
    out_b=$("$TWKIT" stat --source bpf --json | jq -r '.namespaces[0].time_wait.total')
    while (( rounds < ROUNDS )); do
        if awk -v a="$(now)" -v s="$t0" -v d="$DEADLINE_S" 'BEGIN { exit !(a - s > d) }'; then break; fi
        read -r line _ < <("$BIN/runmed" -t 60 -- "$BIN/floor"); F+=("$line")
        read -r line _ < <("$BIN/runmed" -t 60 -- "$TWKIT" stat --source netlink); SN+=("$line")
        read -r line _ < <("$BIN/runmed" -t 60 -- "$TWKIT" stat --source bpf); SB+=("$line")
        rounds=$(( rounds + 1 ))
    done
    local mf msn msb
    mf=$(median <<< "${F[*]}"); msn=$(median <<< "${SN[*]}"); msb=$(median <<< "${SB[*]}")
    printf '%-44s %10s %8s\n' "command ($rounds rounds; in-process: 5 dumps)" "median s" "x floor"
    printf '%-44s %10.4f %8s\n' "floor (1 netlink dump, count only)" "$mf" 1.00
    printf '%-44s %10.4f %8s\n' "twkit stat --source netlink" "$msn" "$(ratio "$msn" "$mf")"
    printf '%-44s %10.4f %8s\n' "twkit stat --source bpf" "$msb" "$(ratio "$msb" "$mf")"
    printf '%-44s %10.4f %8s\n' "  in-process: netlink TIME_WAIT dump" "$wn" "$(ratio "$wn" "$mf")"
    printf '%-44s %10.4f %8s\n' "  in-process: bpf TIME_WAIT walk (records)" "$wb" "$(ratio "$wb" "$mf")"
    printf '%-44s %10.4f %8s\n' "  in-process: netlink walk, nothing selected" "$cn" "$(ratio "$cn" "$mf")"
    printf '%-44s %10.4f %8s\n' "  in-process: bpf walk, nothing selected" "$cb" "$(ratio "$cb" "$mf")"
    printf '%-44s %10.4f\n' "  bpf program open+load+attach (once)" "$open_b"
    msg "bpf/floor: walk $(ratio "$wb" "$mf"), whole stat $(ratio "$msb" "$mf"); bpf/netlink stat $(ratio "$msb" "$msn")"
    local ok=equal
    for i in "$cnt_n" "$cnt_b" "$cnt_f" "$out_n" "$out_b"; do [[ $i == "$tw_before" ]] || ok=MISMATCH; done
    msg "correct: sockstat tw $tw_before, floor $cnt_f, netlink $cnt_n, bpf $cnt_b, stat netlink $out_n, stat bpf $out_b: $ok"
}

outer() {
    local sizes=${BENCH_SIZES:-"100000 1000000"} n idx=0 why
    [[ $(id -u) == 0 ]] || { msg "bench/bpfsrc.sh: SKIP: needs root"; exit 0; }
    for n in floor twgen runmed srcwalk; do
        [[ -x $BIN/$n ]] || die "$BIN/$n is missing: run 'make bench'"
    done
    command -v jq > /dev/null || die "jq is not installed"
    if ! why=$("$TWKIT" stat --source bpf --state listen 2>&1 > /dev/null); then
        msg "bench/bpfsrc.sh: SKIP: --source bpf cannot run here: $why"
        exit 0
    fi
    msg "twkit --source bpf benchmark: $(uname -r), $(nproc) CPUs, sizes: $sizes"
    for n in $sizes; do
        [[ $n =~ ^[1-9][0-9]*$ ]] && (( n >= 1000 && n <= 3000000 )) || die "BENCH_SIZES: bad '$n'"
        unshare -n -- bash "$0" --inner "$n" "$idx" || die "size $n failed"
        idx=$(( idx + 1 ))
        # the namespace's TIME_WAIT are purged once its last process exits
        sleep 2
    done
}

if [[ ${1:-} == --inner ]]; then inner "$2" "$3"; else outer; fi
