#!/usr/bin/env bash
# bench/export.sh — what a scrape of `twkit export` costs, against the floor
# (bench/floor: one bare netlink dump of the TIME_WAIT sockets that only
# counts them), in the same run.  Run by `make bench` with OUT=<build dir>.
#
#   1. N TIME_WAIT sockets (BENCH_EXPORT_N, default 1000000), in a private
#      namespace made with `unshare -n` (it and its sockets vanish with it),
#      with the exporter serving that namespace at --min-interval 0 (every
#      scrape that does not share a collection makes one).  Interleaved
#      rounds of: the floor; one scrape (bench/scrape -c 1); ten scrapes at
#      the same moment (bench/scrape -c 10).  Each is a process timed by
#      bench/runmed from fork to exit, inside the 60 s TIME_WAIT lifetime.
#      Targets: one scrape <= 1.3x the floor; ten at once <= 1.3x one.
#   2. 10,000 destinations (BENCH_EXPORT_DESTS), one TIME_WAIT each, in a
#      second namespace: the number of series on the page with the default
#      --top 20.  Target: under 300.
#
# Exit: 0 measured (missed targets are reported, not failed), 1 on a real
# error (generation failed, a scrape failed, the page disagreed with the
# floor).  Without root it prints SKIP and exits 0.
set -u -o pipefail
export LC_ALL=C

OUT=${OUT:-.build}
BIN=$OUT/bench
TWKIT=$OUT/twkit
N=${BENCH_EXPORT_N:-1000000}
NDEST=${BENCH_EXPORT_DESTS:-10000}
ROUNDS=${BENCH_ROUNDS:-9}
LIFETIME=60
MARGIN=5

msg() { printf '%s\n' "$*"; }
die() { printf 'bench/export.sh: %s\n' "$*" >&2; exit 1; }
now() { printf '%s' "$EPOCHREALTIME"; }
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { if (!NR) exit; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
sockstat_tw() { awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "tw") print $(i + 1) }' /proc/net/sockstat; }

EXP=
inner_cleanup() { [[ -n $EXP ]] && kill "$EXP" 2>/dev/null && wait "$EXP" 2>/dev/null; EXP=; }

# Start the exporter on 127.0.0.1:<free port> in this namespace; sets EXP, PORT.
start_exporter() {
    local err=$WORK/export.err.$BASHPID
    : > "$err"
    "$TWKIT" export -l 127.0.0.1:0 --min-interval 0 "$@" 2> "$err" &
    EXP=$!
    local i
    for i in $(seq 100); do grep -q 'serving' "$err" && break; sleep 0.05; done
    PORT=$(sed -n 's|.*serving http://127.0.0.1:\([0-9]*\)/metrics|\1|p' "$err")
    [[ -n $PORT ]] || die "the exporter did not start: $(cat "$err")"
}

# measure NAME CMD...: one timed run into TIMES[NAME]
declare -A TIMES
measure() {
    local name=$1 t rss st; shift
    "$BIN/runmed" -t 60 -- "$@" > "$WORK/runmed.out" || die "runmed failed for $name"
    read -r t rss st < "$WORK/runmed.out"
    [[ $st == 0 ]] || die "$name exited $st"
    TIMES[$name]+=" $t"
}

inner_scrape() {
    trap inner_cleanup EXIT
    ip link set lo up || die "cannot bring lo up"
    echo $(( 2 * N > 2097152 ? 2 * N : 2097152 )) > /proc/sys/net/ipv4/tcp_max_tw_buckets
    echo 0 > /proc/sys/net/ipv4/tcp_tw_reuse
    echo 65535 > /proc/sys/net/core/somaxconn
    start_exporter
    msg ""
    msg "== one scrape at N = $N TIME_WAIT sockets, against the floor =="
    local gen_start deadline tw fl page_tw i rounds=0
    gen_start=$(now)
    "$BIN/twgen" -n "$N" -j 2 -s 11 -t 45 | sed 's/^twgen: /generated: /' || die "generation failed"
    for i in $(seq 50); do tw=$(sockstat_tw); (( tw >= N )) && break; sleep 0.1; done
    (( tw >= N - N / 1000 )) || die "sockstat shows $tw TIME_WAIT, expected $N"
    deadline=$(awk -v a="$gen_start" -v l=$LIFETIME -v m=$MARGIN 'BEGIN { printf "%.3f", a + l - m }')
    # warm-up, and the page must count what the floor counts
    fl=$("$BIN/floor") || die "floor failed"
    "$BIN/scrape" -c 1 -o "$WORK/page" 127.0.0.1 "$PORT" > /dev/null || die "the first scrape failed"
    page_tw=$(awk '/^twkit_sockets\{.*state="time_wait"\}/ { s += $NF } END { print s + 0 }' "$WORK/page")
    "$BIN/scrape" -c 10 127.0.0.1 "$PORT" > /dev/null || die "ten scrapes at once failed"
    local est
    while :; do
        est=$(awk -v a="$(now)" -v t="${TIMES[one]:-0}" 'BEGIN { n = split(t, x, " "); printf "%.3f", a + (n ? x[n] * 3.5 : 5) }')
        awk -v e="$est" -v d="$deadline" 'BEGIN { exit !(e < d) }' || break
        (( rounds >= ROUNDS )) && break
        measure floor "$BIN/floor"
        measure one "$BIN/scrape" -c 1 127.0.0.1 "$PORT"
        measure ten "$BIN/scrape" -c 10 127.0.0.1 "$PORT"
        rounds=$((rounds + 1))
    done
    local end_tw dumps rss
    end_tw=$(sockstat_tw)
    "$BIN/scrape" -c 1 -o "$WORK/page2" 127.0.0.1 "$PORT" > /dev/null || die "the last scrape failed"
    dumps=$(awk '/^twkit_exporter_dumps_total / { print $2 }' "$WORK/page2")
    rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$EXP/status")
    (( rounds > 0 )) || die "no round fitted before the first TIME_WAIT expiry"
    local mf m1 m10
    mf=$(median <<< "${TIMES[floor]}")
    m1=$(median <<< "${TIMES[one]}")
    m10=$(median <<< "${TIMES[ten]}")
    msg ""
    printf '%-40s %5s %10s %9s\n' "command" "runs" "median s" "ratio"
    printf '%-40s %5d %10.4f %9s\n' "floor (1 dump, count only)" "$rounds" "$mf" "1.00"
    printf '%-40s %5d %10.4f %9.2f\n' "one scrape (GET /metrics)" "$rounds" "$m1" "$(awk -v a="$m1" -v b="$mf" 'BEGIN { print a / b }')"
    printf '%-40s %5d %10.4f %9.2f\n' "ten scrapes at once (x one scrape)" "$rounds" "$m10" "$(awk -v a="$m10" -v b="$m1" 'BEGIN { print a / b }')"
    msg ""
    local r1 r10
    r1=$(awk -v a="$m1" -v b="$mf" 'BEGIN { printf "%.2f", a / b }')
    r10=$(awk -v a="$m10" -v b="$m1" 'BEGIN { printf "%.2f", a / b }')
    printf '%-58s %s\n' "target: one scrape / floor = $r1 (<= 1.3)" "$(awk -v r="$r1" 'BEGIN { print (r <= 1.3) ? "met" : "NOT met" }')"
    printf '%-58s %s\n' "target: ten scrapes at once / one scrape = $r10 (<= 1.3)" "$(awk -v r="$r10" 'BEGIN { print (r <= 1.3) ? "met" : "NOT met" }')"
    msg "dumps: $dumps for $(( 1 + 10 + rounds * 11 + 1 )) scrapes (plus the one at start); exporter peak RSS $(awk -v k="$rss" 'BEGIN { printf "%.1f MiB", k / 1024 }')"
    local okc=MISMATCH
    [[ $page_tw == "$fl" ]] && okc=equal
    printf '%-58s %s\n' "correct: floor $fl, the page's time_wait sockets $page_tw" "$okc"
    msg "TIME_WAIT at generation $tw, after measuring $end_tw"
    [[ $okc == equal ]] || die "the page disagrees with the floor"
}

inner_cardinality() {
    trap inner_cleanup EXIT
    ip link set lo up || die "cannot bring lo up"
    echo 0 > /proc/sys/net/ipv4/tcp_tw_reuse
    msg ""
    msg "== series on the page with $NDEST destinations (default --top 20) =="
    "$BIN/twgen" -n "$NDEST" -c 1 -j 2 -s 12 -t 45 | sed 's/^twgen: /generated: /' || die "generation failed"
    start_exporter
    "$BIN/scrape" -c 1 -o "$WORK/page" 127.0.0.1 "$PORT" > /dev/null || die "the scrape failed"
    local series dests folded fam
    series=$(grep -vc '^#' "$WORK/page")
    dests=$(awk '/^twkit_destinations\{/ { print $NF }' "$WORK/page")
    folded=$(awk '/^twkit_destinations_folded\{/ { print $NF }' "$WORK/page")
    fam=$(grep -c '^# TYPE' "$WORK/page")
    msg "destinations $dests, folded into dst=\"other\" $folded; $fam families, $series series, $(wc -c < "$WORK/page") bytes"
    printf '%-58s %s\n' "target: series with $dests destinations = $series (< 300)" "$( (( series < 300 )) && echo met || echo 'NOT met')"
    grep -vh '^#' "$WORK/page" | sed -E 's/[{ ].*//' | sort | uniq -c | sort -rn | head -5 |
        awk '{ printf "  %4d %s\n", $1, $2 }'
    (( dests >= NDEST )) || die "the page shows $dests destinations, expected $NDEST"
}

case ${1:-} in
--inner-scrape) inner_scrape; exit 0 ;;
--inner-cardinality) inner_cardinality; exit 0 ;;
esac

if [[ $(id -u) != 0 ]]; then
    msg "bench/export.sh: SKIP: needs root (unshare -n, namespace sysctls)"
    exit 0
fi
for b in floor twgen runmed scrape; do
    [[ -x $BIN/$b ]] || die "$BIN/$b is missing: run 'make bench'"
done
[[ -x $TWKIT ]] || die "$TWKIT is missing"
[[ $N =~ ^[1-9][0-9]*$ && $NDEST =~ ^[1-9][0-9]*$ ]] || die "BENCH_EXPORT_N and BENCH_EXPORT_DESTS must be numbers"
WORK=$(mktemp -d /tmp/twkit-bench-export.XXXXXX) || die "mktemp failed"
export WORK N NDEST ROUNDS OUT
trap 'rm -rf -- "$WORK"' EXIT
t0=$(now)
msg "twkit export benchmark: $(uname -r), $(nproc) CPUs; timed with bench/runmed (fork+exec to exit)"
unshare -n -- bash "$0" --inner-scrape || die "the scrape run failed"
unshare -n -- bash "$0" --inner-cardinality || die "the cardinality run failed"
msg ""
msg "bench/export.sh: done in $(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') s"
