#!/usr/bin/env bash
# bench/stat.sh — how fast `twkit stat` reads a namespace full of TIME_WAIT
# sockets, against the floor (one bare netlink dump that only counts) and
# the ss / netstat pipelines people use instead.  Run by `make bench` with
# OUT=<build dir>; see docs/bench.md for what each line means.
#
# For each size N (BENCH_SIZES, default "100000 1000000") it re-runs itself
# under `unshare -n`, so the namespace and its sockets vanish with it, makes
# N client-side TIME_WAIT sockets with bench/twgen, checks the count in
# /proc/net/sockstat, then times every command in interleaved rounds, all
# inside the 60 s TIME_WAIT lifetime, and prints medians, ratios to the
# floor, peak RSS, the target checks and a correctness line.
#
# Exit: 0 measured (missed targets are reported, not failed), 1 real error
# (generation failed, a reference command failed, bad BENCH_SIZES).
# Without root it prints SKIP and exits 0.

set -u -o pipefail
export LC_ALL=C   # the same, fastest, sort for everyone (see docs/bench.md)

OUT=${OUT:-.build}
BIN=$OUT/bench
TWKIT=$OUT/twkit
LIFETIME=60                     # TCP_TIMEWAIT_LEN, seconds
MARGIN=4                        # stop measuring this long before the first expiry
GEN_LIMIT=45                    # twgen gives up after this many seconds
FAST_MAX=${BENCH_ROUNDS:-11}    # rounds of floor / twkit stat / twkit stat --json
SLOW_MAX=${BENCH_SLOW_ROUNDS:-5} # rounds of the ss / netstat pipelines
JQ_TW=${BENCH_JQ_TW:-'.namespaces[0].time_wait.total'}

# The pipelines, as the seed article and perf-notes.md write them.  With a
# single state filter ss drops its State column, so the local address is $3.
P_SSWC='ss -tan state time-wait | wc -l'
P_SSAWK="ss -tanH state time-wait | awk '{print \$3}' | cut -d: -f2 | sort | uniq -c | sort -nr | head -10"
P_NETSTAT="netstat -ant | grep TIME_WAIT | awk '{print \$4}' | cut -d: -f2 | sort | uniq -c | sort -nr | head -10"

FAST=(floor twkit json)
SLOW=(sswc ssawk netstat)
declare -A LABEL=(
    [floor]="floor (1 dump, count only)"
    [twkit]="twkit stat"
    [json]="twkit stat --json"
    [sswc]="ss -tan state time-wait | wc -l"
    [ssawk]="ss | awk | sort | uniq -c (port)"
    [netstat]="netstat | grep | awk | sort | uniq -c"
)

msg() { printf '%s\n' "$*"; }
die() { printf 'bench/stat.sh: %s\n' "$*" >&2; exit 1; }

# ---- inside the private namespace ------------------------------------------

KIDS=()
inner_cleanup() {
    local p
    for p in "${KIDS[@]}"; do [[ -n $p ]] && kill "$p" 2>/dev/null; done
    for p in "${KIDS[@]}"; do [[ -n $p ]] && wait "$p" 2>/dev/null; done
    KIDS=()
}

# Run in the background and wait, so a TERM from the outer script is
# handled at once; $! is remembered for the cleanup.
bg_wait() {
    "$@" &
    local pid=$!
    KIDS+=("$pid")
    wait "$pid"
    local rc=$?
    KIDS=("${KIDS[@]/$pid}")
    # Killed by Ctrl-C / TERM (they reach the children directly): stop quietly.
    if (( rc == 130 || rc == 143 )); then
        exit "$rc"
    fi
    return $rc
}

sockstat_tw() { awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "tw") print $(i + 1) }' /proc/net/sockstat; }

# "Name value" for the named TcpExt / Tcp counters.
counters() {
    awk -v want=" $* " '
        $1 == "TcpExt:" || $1 == "Tcp:" {
            if (!(($1) in seen)) { for (i = 2; i <= NF; i++) key[$1, i] = $i; seen[$1] = 1; next }
            for (i = 2; i <= NF; i++) if (index(want, " " key[$1, i] " ")) printf "%s %s, ", key[$1, i], $i
        }' /proc/net/netstat /proc/net/snmp | sed 's/, $//'
}

now() { printf '%s' "$EPOCHREALTIME"; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
fgt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { if (!NR) exit; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A TIMES PEAK RUNS EST
ACTIVE=""   # commands still being measured

cmd_of() {
    case $1 in
        floor) CMDV=("$BIN/floor") ;;
        twkit) CMDV=("$TWKIT" stat) ;;
        json) CMDV=("$TWKIT" stat --json) ;;
        sswc) CMDV=(sh -c "$P_SSWC") ;;
        ssawk) CMDV=(sh -c "$P_SSAWK") ;;
        netstat) CMDV=(sh -c "$P_NETSTAT") ;;
    esac
}

# measure NAME [OUTFILE]: one timed run (updates EST, the largest time seen); returns the child's status.
measure() {
    local name=$1 out=${2:-/dev/null} t rss st
    cmd_of "$name"
    bg_wait "$BIN/runmed" -t 120 -o "$out" -- "${CMDV[@]}" > "$WORK/runmed.out" ||
        die "runmed failed for ${LABEL[$name]}"
    read -r t rss st < "$WORK/runmed.out"
    EST[$name]=$(awk -v a="${EST[$name]:-0}" -v b="$t" 'BEGIN { print (b > a) ? b : a }')
    if [[ $st != 0 ]]; then
        return "$st"
    fi
    TIMES[$name]+=" $t"
    RUNS[$name]=$(( ${RUNS[$name]:-0} + 1 ))
    if (( rss > ${PEAK[$name]:-0} )); then PEAK[$name]=$rss; fi
    return 0
}

# run_set "floor twkit json" DEADLINE: time each active command of the set
# once, skipping any whose estimate would end past the deadline; returns 1
# if one was skipped.
run_set() {
    local set=$1 deadline=$2 n st rc=0
    for n in $set; do
        [[ " $ACTIVE " == *" $n "* ]] || continue
        if fgt "$(awk -v a="$(now)" -v b="${EST[$n]:-0}" 'BEGIN { printf "%.6f", a + b * 1.15 + 0.05 }')" "$deadline"; then
            rc=1
            continue
        fi
        measure "$n"
        st=$?
        if (( st != 0 )); then
            case $n in
                twkit | json)
                    msg "  ${LABEL[$n]} exited $st during timing: dropped from the table"
                    ACTIVE=${ACTIVE/ $n / }
                    TIMES[$n]=""
                    ;;
                *) die "${LABEL[$n]} exited $st" ;;
            esac
        fi
    done
    return $rc
}

inner() {
    local n=$1 idx=$2 twb gen_start deadline tw tw_before tw_after floor_n twkit_msg="" json_tw=""
    local json_ok=0 st i stopped=0 ehash fcost scost w

    trap 'inner_cleanup; exit 143' TERM
    trap 'inner_cleanup; exit 130' INT
    trap inner_cleanup EXIT

    ip link set lo up || die "cannot bring lo up in the namespace"
    twb=$(( 2 * n > 2097152 ? 2 * n : 2097152 ))
    if ! { echo "$twb" > /proc/sys/net/ipv4/tcp_max_tw_buckets &&
        echo 0 > /proc/sys/net/ipv4/tcp_tw_reuse &&
        echo 65535 > /proc/sys/net/core/somaxconn; }; then
        die "cannot set the namespace's sysctls"
    fi
    ehash=$(cat /proc/sys/net/ipv4/tcp_ehash_entries 2>/dev/null || echo '?')

    # Preflight on the empty namespace: the floor must see 0; is twkit usable?
    floor_n=$("$BIN/floor") || die "floor failed on an empty namespace"
    [[ $floor_n == 0 ]] || die "floor counts $floor_n TIME_WAIT in a new namespace (expected 0)"
    ACTIVE=" floor sswc ssawk netstat "
    if [[ ! -x $TWKIT ]]; then
        twkit_msg="SKIP twkit lines: $TWKIT is not built (make $TWKIT)"
    elif "$TWKIT" stat > /dev/null 2> "$WORK/twkit.err"; st=$?; (( st != 0 )); then
        twkit_msg="SKIP twkit lines: '$TWKIT stat' failed (exit $st): $(head -n 1 "$WORK/twkit.err")"
    else
        ACTIVE+="twkit "
        if "$TWKIT" stat --json > "$WORK/j0" 2> "$WORK/twkit.err"; then
            ACTIVE+="json "
            if command -v jq > /dev/null && [[ $(jq -r "$JQ_TW" "$WORK/j0" 2>/dev/null) == 0 ]]; then
                json_ok=1
            else
                twkit_msg="note: no TIME_WAIT total at '$JQ_TW' in twkit's JSON (set BENCH_JQ_TW);"
                twkit_msg+=" top-level keys: $(jq -r 'keys | join(",")' "$WORK/j0" 2>/dev/null || echo '?')"
            fi
        else
            twkit_msg="SKIP twkit stat --json: exit $?: $(head -n 1 "$WORK/twkit.err")"
        fi
    fi

    # Generate.
    msg ""
    msg "== N = $n TIME_WAIT sockets =="
    gen_start=$(now)
    bg_wait "$BIN/twgen" -n "$n" -j 2 -s "$(( 10 + idx ))" -t "$GEN_LIMIT" > "$WORK/twgen.out" ||
        die "generation failed (see twgen's message above)"
    sed 's/^twgen: /generated: /' "$WORK/twgen.out"
    for i in $(seq 50); do
        tw=$(sockstat_tw)
        (( tw >= n )) && break
        sleep 0.1
    done
    msg "kernel: sockstat tw $tw, $(counters TWRecycled TCPTimeWaitOverflow ListenOverflows OutRsts)"
    msg "        tcp_max_tw_buckets $twb, tcp_tw_reuse 0, tcp_ehash_entries $ehash (negative: shared)"
    if (( tw < n - n / 1000 )); then
        die "sockstat shows $tw TIME_WAIT, expected $n"
    elif (( tw != n )); then
        msg "WARNING: sockstat shows $tw TIME_WAIT, not $n (some were destroyed early); measuring anyway"
    fi
    deadline=$(awk -v a="$gen_start" -v l="$LIFETIME" -v m="$MARGIN" 'BEGIN { printf "%.3f", a + l - m }')
    [[ -n $twkit_msg ]] && msg "$twkit_msg"

    # Untimed warm-up run of the fast commands, keeping their output for the
    # correctness line.
    tw_before=$(sockstat_tw)
    measure floor "$WORK/floor.out" || die "floor failed"
    floor_n=$(cat "$WORK/floor.out")
    if [[ " $ACTIVE " == *" twkit "* ]] && ! measure twkit; then
        msg "SKIP twkit lines: twkit stat failed with $n TIME_WAIT sockets"
        ACTIVE=${ACTIVE/ twkit / }
    fi
    if [[ " $ACTIVE " == *" json "* ]]; then
        if measure json "$WORK/json.out"; then
            (( json_ok )) && json_tw=$(jq -r "$JQ_TW" "$WORK/json.out" 2>/dev/null)
        else
            msg "SKIP twkit stat --json: it failed with $n TIME_WAIT sockets"
            ACTIVE=${ACTIVE/ json / }
        fi
    fi
    for i in floor twkit json; do TIMES[$i]=""; RUNS[$i]=0; PEAK[$i]=0; done
    # Until they have run once, guess the pipelines from the floor's time
    # (they cost 5-16x the floor here and in perf-notes.md).
    EST[sswc]=$(awk -v f="${EST[floor]}" 'BEGIN { print f * 8 }')
    EST[ssawk]=$(awk -v f="${EST[floor]}" 'BEGIN { print f * 9 }')
    EST[netstat]=$(awk -v f="${EST[floor]}" 'BEGIN { print f * 16 }')

    # Round 1: everything.  Then plan how many rounds fit before the deadline.
    run_set "${FAST[*]}" "$deadline" || stopped=1
    run_set "${SLOW[*]}" "$deadline" || stopped=1
    fcost=0; scost=0
    for i in "${FAST[@]}"; do [[ " $ACTIVE " == *" $i "* ]] && fcost=$(awk -v a="$fcost" -v b="${EST[$i]:-0}" 'BEGIN { print a + b }'); done
    for i in "${SLOW[@]}"; do scost=$(awk -v a="$scost" -v b="${EST[$i]:-0}" 'BEGIN { print a + b }'); done
    w=$(fsub "$deadline" "$(now)")
    local nf=$FAST_MAX ns=$SLOW_MAX
    fits() { awk -v nf="$1" -v ns="$2" -v f="$fcost" -v s="$scost" -v w="$w" \
        'BEGIN { exit !((nf - 1) * f * 1.15 + (ns - 1) * s * 1.15 <= w) }'; }
    while ! fits "$nf" "$ns"; do
        if (( nf > 5 )); then nf=$(( nf - 1 ))
        elif (( ns > 3 )); then ns=$(( ns - 1 ))
        elif (( nf > 3 )); then nf=$(( nf - 1 ))
        elif (( ns > 1 )); then ns=$(( ns - 1 ))
        elif (( nf > 1 )); then nf=$(( nf - 1 ))
        else break
        fi
    done
    (( ns > nf )) && ns=$nf
    [[ -n ${BENCH_DEBUG:-} ]] &&
        msg "plan: window $w s after round 1, fast set ~$fcost s, slow set ~$scost s: $nf fast rounds, $ns slow"
    # Spread the slow rounds evenly over the fast ones (round 1 had both).
    declare -A slow_at=()
    if (( ns > 1 )); then
        for (( i = 1; i < ns; i++ )); do slow_at[$(( 1 + i * (nf - 1) / (ns - 1) ))]=1; done
    fi
    for (( i = 2; i <= nf; i++ )); do
        run_set "${FAST[*]}" "$deadline" || stopped=1
        if [[ -n ${slow_at[$i]:-} ]]; then
            run_set "${SLOW[*]}" "$deadline" || stopped=1
        fi
    done
    # Time left over (the estimates are cautious): more rounds of the fast set.
    while (( ${RUNS[floor]:-0} < FAST_MAX )) && run_set "${FAST[*]}" "$deadline"; do :; done
    tw_after=$(sockstat_tw)
    local t_end
    t_end=$(fsub "$(now)" "$gen_start")

    report "$n" "$tw_before" "$tw_after" "$floor_n" "$json_tw" "$json_ok" "$t_end" "$stopped"
    [[ $floor_n == "$tw_before" || $tw_before != "$tw_after" ]] ||
        die "the floor counted $floor_n TIME_WAIT but sockstat shows $tw_before"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

report() {
    local n=$1 before=$2 after=$3 floor_n=$4 json_tw=$5 json_ok=$6 t_end=$7 stopped=$8
    local name med fmed r line
    declare -A MED
    msg ""
    printf '%-38s %4s %10s %8s %10s\n' "command" "runs" "median s" "x floor" "peak RSS"
    for name in "${FAST[@]}" "${SLOW[@]}"; do
        MED[$name]=$(median <<< "${TIMES[$name]:-}")
    done
    fmed=${MED[floor]}
    for name in "${FAST[@]}" "${SLOW[@]}"; do
        med=${MED[$name]}
        if [[ -z $med ]]; then
            case $name in
                twkit | json) printf '%-38s %s\n' "${LABEL[$name]}" "(skipped: see above)" ;;
                *) printf '%-38s %s\n' "${LABEL[$name]}" "(no time left before expiry)" ;;
            esac
            continue
        fi
        r=$(awk -v a="$med" -v b="$fmed" 'BEGIN { printf "%.2f", a / b }')
        printf '%-38s %4d %10.4f %8s %10s\n' "${LABEL[$name]}" "${RUNS[$name]}" "$med" "$r" "$(mib "${PEAK[$name]}")"
    done
    msg ""
    if [[ -n ${MED[twkit]} ]]; then
        local ratio1 ratio2 rss=${PEAK[twkit]}
        ratio1=$(awk -v a="${MED[twkit]}" -v b="$fmed" 'BEGIN { printf "%.2f", a / b }')
        line="target: twkit stat / floor = $ratio1 (<= 1.2)"
        printf '%-58s %s\n' "$line" "$(awk -v r="$ratio1" 'BEGIN { print (r <= 1.2) ? "met" : "NOT met" }')"
        if [[ -n ${MED[ssawk]} ]]; then
            ratio2=$(awk -v a="${MED[ssawk]}" -v b="${MED[twkit]}" 'BEGIN { printf "%.2f", a / b }')
            line="target: ss|awk breakdown / twkit stat = $ratio2 (>= 5)"
            printf '%-58s %s\n' "$line" "$(awk -v r="$ratio2" 'BEGIN { print (r >= 5) ? "met" : "NOT met" }')"
        fi
        line="target: twkit stat peak RSS $(mib "$rss") (< 32 MiB)"
        printf '%-58s %s\n' "$line" "$( (( rss < 32768 )) && echo met || echo 'NOT met')"
        msg "peak RSS: twkit stat $(mib "$rss"), twkit stat --json $( [[ -n ${MED[json]} ]] && mib "${PEAK[json]}" || echo 'n/a')"
        (( n != 1000000 )) && msg "(the targets are set for N = 1000000)"
    else
        msg "targets: not checked, twkit stat was not measured"
    fi
    line="correct: sockstat tw $before, floor $floor_n"
    local ok=1
    [[ $floor_n == "$before" ]] || ok=0
    if (( json_ok )) && [[ -n $json_tw ]]; then
        line+=", twkit --json $json_tw"
        [[ $json_tw == "$before" ]] || ok=0
    else
        line+=", twkit --json n/a"
    fi
    printf '%-58s %s\n' "$line" "$( (( ok )) && echo equal || echo MISMATCH)"
    if [[ $before == "$after" ]]; then
        msg "TIME_WAIT before measuring $before, after $after: unchanged"
    else
        msg "TIME_WAIT before measuring $before, after $after: CHANGED (sockets expired or were destroyed while measuring)"
    fi
    msg "measuring ended ${t_end} s after generation began (first expiry at >= ${LIFETIME} s)$( (( stopped )) && echo '; some rounds skipped to stay inside it')"
}

# ---- outside: one namespace per size ---------------------------------------

tw_slab() { awk '$1 == "tw_sock_TCP" { print $2 }' /proc/slabinfo 2>/dev/null || echo 0; }

# A namespace's TIME_WAIT sockets are purged by the kernel after its last
# process exits; wait for that so the next size's dump does not walk them.
wait_purge() {
    local base=$1 i cur
    for i in $(seq 100); do
        cur=$(tw_slab)
        (( ${cur:-0} <= base + 2000 )) && return 0
        sleep 0.2
    done
    msg "note: $(tw_slab) tw_sock_TCP objects still allocated from the last run"
}

outer() {
    local sizes=${BENCH_SIZES:-"100000 1000000"} n idx=0 rc t0 base
    if [[ $(id -u) != 0 ]]; then
        msg "bench/stat.sh: SKIP: needs root (unshare -n, namespace sysctls)"
        exit 0
    fi
    for n in floor twgen runmed; do
        [[ -x $BIN/$n ]] || die "$BIN/$n is missing: run 'make bench' (or make $BIN/$n)"
    done
    for n in unshare ip ss netstat awk sort; do
        command -v "$n" > /dev/null || die "'$n' is not installed"
    done
    for n in $sizes; do
        if ! [[ $n =~ ^[1-9][0-9]*$ ]] || (( n < 1000 || n > 3000000 )); then
            die "BENCH_SIZES: '$n' is not a number in 1000..3000000"
        fi
    done
    command -v jq > /dev/null || msg "note: jq is not installed: twkit's JSON count is not checked"
    [[ $FAST_MAX =~ ^[0-9]+$ && $FAST_MAX -ge 1 && $SLOW_MAX =~ ^[0-9]+$ && $SLOW_MAX -ge 1 ]] ||
        die "BENCH_ROUNDS and BENCH_SLOW_ROUNDS must be positive integers"

    WORK=$(mktemp -d /tmp/twkit-bench.XXXXXX) || die "mktemp failed"
    export WORK
    CHILD=""
    trap 'rm -rf -- "$WORK"' EXIT
    trap 'stop 130' INT
    trap 'stop 143' TERM

    t0=$(now)
    msg "twkit stat benchmark: $(uname -r), $(nproc) CPUs, sizes: $sizes"
    msg "floor: $("$BIN/floor" -v 2>&1 > /dev/null | sed 's/^floor: //') (seen from the host namespace)"
    msg "timed with bench/runmed (fork+exec to exit, wall clock); LC_ALL=C; pipelines:"
    msg "  ss|wc:    $P_SSWC"
    msg "  ss|awk:   $P_SSAWK"
    msg "  netstat:  $P_NETSTAT"
    base=$(tw_slab)
    for n in $sizes; do
        wait_purge "${base:-0}"
        unshare -n -- bash "$0" --inner "$n" "$idx" &
        CHILD=$!
        wait "$CHILD"
        rc=$?
        CHILD=""
        if (( rc == 130 || rc == 143 )); then
            stop "$rc"
        fi
        (( rc == 0 )) || die "the run for N = $n failed (status $rc)"
        idx=$(( idx + 1 ))
    done
    wait_purge "${base:-0}"
    msg ""
    msg "bench/stat.sh: done in $(fsub "$(now)" "$t0") s"
}

stop() {
    if [[ -n ${CHILD:-} ]]; then
        kill -TERM "$CHILD" 2>/dev/null
        wait "$CHILD" 2>/dev/null
    fi
    msg "bench/stat.sh: interrupted"
    exit "$1"
}

if [[ ${1:-} == --inner ]]; then
    inner "$2" "$3"
    exit 0
fi
outer
