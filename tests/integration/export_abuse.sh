#!/bin/bash
# twkit export under load: 1,000 idle connections (from five addresses, 200
# each, within the default per-address limit) held open while 200 scrapes a
# second arrive for 30 s, each on a new connection, with --min-interval 0
# (a collection for every scrape that does not share one).  Every scrape
# must be a whole 200 page within 1 s, no idle connection may be dropped,
# and the exporter's memory and thread count must stay flat (sampled from
# /proc every half second).  Then the page must still pass promtool.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
. tests/lib_export.sh
need_root
need curl promtool
in_private_netns "$@"

T=$(mktemp -d)
trap '[ -n "${EXP_PID:-}" ] && kill "$EXP_PID" 2>/dev/null; [ -n "${MON:-}" ] && kill "$MON" 2>/dev/null; rm -rf "$T"' EXIT
for i in 2 3 4 5 6; do ip addr add 127.0.0.$i/8 dev lo 2>/dev/null; done
# a socket set to dump: 50 destinations' worth of TIME_WAIT
args=()
for d in $(seq 50); do args+=(listen 127.1.0.$d 80 twc any 127.1.0.$d 80 20); done
start_sockgen "${args[@]}"
trap 'stop_sockgen; [ -n "${EXP_PID:-}" ] && kill "$EXP_PID" 2>/dev/null; [ -n "${MON:-}" ] && kill "$MON" 2>/dev/null; rm -rf "$T"' EXIT

# Under make check (ASan): no quarantine of freed memory, which would hold
# up to 256 MiB by design, and room for ASan's own shadow and allocator.
rss_cap=65536
if [ -n "${TW_SANITIZED:-}" ]; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
    rss_cap=262144
fi
# --idle-timeout 60: the idle connections must outlive the run (the deadline
# itself is export_security.sh's business)
start_export --min-interval 0 --idle-timeout 60
scrape "before" "$T/page"
( while kill -0 "$EXP_PID" 2>/dev/null; do
      awk '/^VmRSS:/ { r = $2 } /^Threads:/ { t = $2 } END { print r, t }' "/proc/$EXP_PID/status"
      sleep 0.5
  done ) > "$T/mon" 2>/dev/null &
MON=$!
"$HELPERS/httpprobe" load 127.0.0.1 "$EXP_PORT" /metrics 1000 200 30 \
    127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6 > "$T/load"
echo "load: $(cat "$T/load")"
v() { awk -v k="$1" '{ for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }' "$T/load"; }
scrape "after" "$T/page"
kill "$MON"; wait "$MON" 2>/dev/null; MON=

check "at least 5400 of the 6000 scrapes made ($(v scrapes))" test "$(v scrapes)" -ge 5400
eq "failed scrapes" "$(v failed)" 0
check "every scrape within 1 s (slowest $(v max_ms) ms, p99 $(v p99_ms) ms)" \
    awk -v m="$(v max_ms)" 'BEGIN { exit !(m < 1000) }'
eq "idle connections held all along" "$(v idle_min)" 1000
eq "idle connections dropped" "$(v reopened)" 0
dumps=$(metric "$T/page" twkit_exporter_dumps_total)
check "no more dumps than scrapes ($dumps)" test "$dumps" -le "$(( $(v scrapes) + 2 ))"
# memory and threads: the first 2 s are start-up; after that flat
read -r rss0 thr0 < <(sed -n 5p "$T/mon")
read -r rssmax thrmax < <(awk 'NR >= 5 { if ($1 > r) r = $1; if ($2 > t) t = $2 } END { print r, t }' "$T/mon")
echo "RSS after 2 s ${rss0} KiB, peak ${rssmax} KiB; threads ${thr0}, peak ${thrmax}; $(wc -l < "$T/mon") samples"
check "RSS stays under $((rss_cap / 1024)) MiB (peak $rssmax KiB)" test "$rssmax" -lt "$rss_cap"
check "RSS flat: peak within 8 MiB of the level at 2 s" test $((rssmax - rss0)) -lt 8192
check "threads bounded: at most 5 (peak $thrmax)" test "$thrmax" -le 5
eq "threads constant" "$thrmax" "$thr0"
stop_export
finish
