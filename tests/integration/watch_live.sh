#!/bin/bash
# twkit watch against the real kernel, in a private network namespace: the
# lab's load generator (twkit lab load) makes short connections at a fixed
# rate to one destination, with a fixed port range and tcp_tw_reuse 0, and
# `watch --batch --json` must see
#   - the destination's new TIME_WAIT per second within 10% of the offered
#     rate (the 10 s window, read from one dump's TIME_WAIT ages), and the
#     1 s window too;
#   - the kernel's TW counter rate within 10% of it;
#   - a time to exhaustion that puts EADDRNOTAVAIL within 20% (or 0.1 s) of when it
#     actually appears (the generator records its first one);
#   - "now" once the range is full, and the sparkline's history filled.
# 1200 ports at 60/s run out after 20 s; watch samples from 11 s to 21 s.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq
in_private_netns

RATE=60 LO=40000 HI=41199
sysctl -qw net.ipv4.ip_local_port_range="$LO $HI"
sysctl -qw net.ipv4.tcp_tw_reuse=0
tmp=$(mktemp -d)
BK= LD=
cleanup() {
    [ -n "$LD" ] && kill "$LD" 2>/dev/null
    [ -n "$BK" ] && kill "$BK" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

"$TWKIT" lab backend --listen 127.0.0.1:8080 -t 1 >/dev/null 2>"$tmp/backend.err" &
BK=$!
for _ in $(seq 50); do
    grep -q ':1F90 ' /proc/net/tcp 2>/dev/null && break
    sleep 0.1
done
start=$(date +%s.%N)
"$TWKIT" lab load -c 127.0.0.1:8080 -r "$RATE" -d 30 -C 8 -t 1 --stop-on-exhaustion --json \
    >"$tmp/load.json" 2>"$tmp/load.err" &
LD=$!
sleep 11
"$TWKIT" watch --batch --json -n 11 -i 1 >"$tmp/watch.ndjson" 2>"$tmp/watch.err"
eq "watch exit status" "$?" 0
wait "$LD"
LD=
eq "lab load exit status" "$?" 0

fe=$(jq -r '.first_eaddrnotavail.t_s // empty' "$tmp/load.json")
if [ -z "$fe" ]; then
    fail "the load never met EADDRNOTAVAIL: $(head -c 300 "$tmp/load.json")"
    finish
    exit
fi
actual=$(awk -v s="$start" -v t="$fe" 'BEGIN { printf "%.3f", s + t }')
ok "EADDRNOTAVAIL after $fe s of load ($(jq -r .first_eaddrnotavail.after_connections "$tmp/load.json") connections)"

D='.namespaces[0].destinations[] | select(.remote == "127.0.0.1" and .port == 8080)'
n=$(wc -l <"$tmp/watch.ndjson")
eq "samples" "$n" 11
before=0
while IFS='|' read -r t state in_s r1 r10 tw10 inuse; do
    [ "$state" = now ] && continue
    before=$((before + 1))
    check "tick at +$(awk -v a="$t" -v s="$start" 'BEGIN{printf "%.1f", a-s}') s: new/s (10 s) $r10 within 10% of $RATE" \
        awk -v r="$r10" -v w="$RATE" 'BEGIN { exit !(r >= 0.9 * w && r <= 1.1 * w) }'
    check "  new/s (1 s) $r1 within 10% of $RATE" \
        awk -v r="$r1" -v w="$RATE" 'BEGIN { exit !(r >= 0.9 * w && r <= 1.1 * w) }'
    if [ "$tw10" != null ]; then # from the second sample on
        check "  TcpExt TW rate (10 s) $tw10 within 10% of $RATE" \
            awk -v r="$tw10" -v w="$RATE" 'BEGIN { exit !(r >= 0.9 * w && r <= 1.1 * w) }'
    fi
    # within 20%, or 0.1 s where that is less: a tick a few ports before
    # the end cannot be closer than the load's own spacing (1/60 s) and the
    # scheduling of two processes on a loaded machine
    check "  forecast: $state in $in_s s ($inuse in use): EADDRNOTAVAIL at $actual within 20% (or 0.1 s)" \
        awk -v t="$t" -v f="$in_s" -v a="$actual" \
        'BEGIN { left = a - t; err = t + f - a; if (err < 0) err = -err; tol = 0.2 * left; if (tol < 0.1) tol = 0.1
                 exit !(f != "" && left > 0 && err <= tol) }'
done < <(jq -r "[.time, ($D | .exhaustion.forecast.state, (.exhaustion.forecast.in_s // \"\"),
                 .new_per_s[0], .new_per_s[1]), (.namespaces[0].rates.TW[1] // "null"),
                 ($D | .in_use)] | map(tostring) | join(\"|\")" "$tmp/watch.ndjson")
[ "$before" -ge 4 ] || fail "only $before samples before exhaustion (want >= 4)"
last=$(tail -n 1 "$tmp/watch.ndjson")
eq "the last sample (after EADDRNOTAVAIL): no port left" \
    "$(jq -r "$D | .exhaustion.forecast.state" <<<"$last")" now
eq "the last sample: every port in use" "$(jq -r "$D | .in_use" <<<"$last")" $((HI - LO + 1))
hist=$(jq -r "[$D | .history[] | select(. != null)] | length" <<<"$last")
check "history: the 11 seconds watched are filled ($hist)" test "$hist" -ge 11
check "no sample started late" test "$(jq -s 'map(.late_ticks) | max' "$tmp/watch.ndjson")" -eq 0
finish
