#!/bin/bash
# The lab's numbers against the kernel's (issue 9, items 9, 10, 13, 14), on
# the real kernel in the lab's own namespaces:
#   9   rates are per second of the load: tw-reuse over 1,000 ports at 4,000/s
#       offered sustains what tcp_tw_reuse_delay (1 s) allows, 1,000/s, and
#       the lab must not show more (it showed 1,596 when it divided by the
#       time of the last success);
#   10  each row of the series is one moment: the TIME_WAIT a row counts were
#       counted before its connections, so no row has more client TIME_WAIT
#       than connections (a row one sample out of step showed 390 beside 0);
#   13  the TIME_WAIT the lab counts on a host agrees with the kernel's TW
#       counter delta (nginx runs counted the readiness probe's: 25 vs 24);
#   14  beside each rate, the capacity the physics predicts (ports / 60 s,
#       ports / tcp_tw_reuse_delay, x sources, x destinations), and whether
#       the offered load exceeds it, in the JSON and in the table.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq
dir=$(mktemp -d /tmp/twkit-lab-numbers.XXXXXX)
trap 'rm -rf "$dir"' EXIT
out=$dir/r.json

"$TWKIT" lab short tw-reuse more-sources nginx --sources 3 -p 40000-40999 -d 2 -C 64 --json >"$out"
eq "lab exit status" $? 0
jq -c '.runs[] | {name, d: .duration_s, rows: (.series | length), c: .connections, e: .errors_total, cap: .capacity.conn_per_s, tw: [.hosts[] | [.tw_end, .counters.TW, .counters.TWRecycled]]}' "$out"

T='.runs[] | select(.name=="tw-reuse")'
# item 9
jcheck "tw-reuse: the load lasted --duration (2 s)" "$out" "$T | (.duration_s - 2) | fabs < 0.05"
jcheck "tw-reuse: per_s is connections / duration" "$out" \
    "$T | (.connections.per_s - .connections.ok / .duration_s) | fabs < 1"
jcheck "tw-reuse: no more than the kernel allows (1000 ports / 1 s, +5%)" "$out" \
    "$T | .connections.per_s <= 1050"
jcheck "tw-reuse: and close to it (the ports are reused after 1 s)" "$out" \
    "$T | .connections.per_s >= 800"
jcheck "tw-reuse: the offered rest failed, with EADDRNOTAVAIL" "$out" \
    "$T | .errors.EADDRNOTAVAIL > 0 and .errors_total == .errors.EADDRNOTAVAIL"
S='.runs[] | select(.name=="short")'
jcheck "short: the load ended at the first EADDRNOTAVAIL" "$out" \
    "$S | (.duration_s - .first_eaddrnotavail.t_s) | fabs < 0.01"
jcheck "short: per_s = connections / the time until exhaustion" "$out" \
    "$S | (.connections.per_s - .connections.ok / .duration_s) | fabs < 1"

# item 10
for r in short tw-reuse more-sources nginx nginx-keepalive; do
    R=".runs[] | select(.name==\"$r\")"
    jcheck "$r: no row counts more client TIME_WAIT than connections" "$out" \
        "[$R | .series[] | select(.tw.client > .connections)] | length == 0"
    jcheck "$r: every row pairs a sample with the load's answer (skew measured)" "$out" \
        "[$R | .series[:-1][] | select(.skew_ms == null or .skew_ms < 0)] | length == 0"
    jcheck "$r: rows in time order" "$out" "[$R | .series[].t] | . == sort"
done
jcheck "tw-reuse: a row every 100 ms or so over the 2 s" "$out" "$T | .series | length >= 10"
# ... and no fewer than it can: connections still open (at most -C 64) and
# those made during the row's own measured skew at the offered 4000/s
jcheck "short: before exhaustion TIME_WAIT trails connections by at most what is in flight" "$out" \
    "[$S | .series[:-1][] | select(.errors == 0 and (.connections - .tw.client) > 64 + 4000 * .skew_ms / 1000 + 10)] | length == 0"

# item 13: no expiry (60 s) in a 2 s run, so TIME_WAIT left = created - reused
for r in short nginx nginx-keepalive; do
    R=".runs[] | select(.name==\"$r\")"
    jcheck "$r: client TIME_WAIT = the kernel's TW delta" "$out" \
        "$R | .hosts.client.tw_end == (.hosts.client.counters.TW - .hosts.client.counters.TWRecycled)"
    jcheck "$r: client connections = the kernel's ActiveOpens delta" "$out" \
        "$R | .connections.attempted - .errors.EADDRNOTAVAIL == .hosts.client.counters.ActiveOpens"
done
jcheck "nginx: proxy TIME_WAIT = the kernel's TW delta" "$out" \
    ".runs[] | select(.name==\"nginx\") | .hosts.proxy.tw_end == (.hosts.proxy.counters.TW - .hosts.proxy.counters.TWRecycled)"
jcheck "tw-reuse: TIME_WAIT = TW created - TWRecycled" "$out" \
    "$T | .hosts.client.tw_end == (.hosts.client.counters.TW - .hosts.client.counters.TWRecycled)"

# item 14
jcheck "short: 1000 ports / 60 s" "$out" \
    "$S | .capacity | .ports == 1000 and .pools == 1 and .hold_s == 60 and (.conn_per_s - 16.7 | fabs) < 0.05"
jcheck "short: the offered 4000/s exceeds it; ports run out after 0.25 s" "$out" \
    "$S | .capacity | .exceeded and .offered_conn_per_s == 4000 and (.ports_run_out_s - 0.25 | fabs) < 0.001"
jcheck "short: and they did (first EADDRNOTAVAIL after 1000 connections, less those still connecting)" "$out" \
    "$S | .first_eaddrnotavail.after_connections >= 1000 - 64 and .first_eaddrnotavail.after_connections <= 1000"
jcheck "tw-reuse: 1000 ports / tcp_tw_reuse_delay 1 s = 1000/s, exceeded" "$out" \
    "$T | .capacity | .conn_per_s == 1000 and .hold_s == 1 and .exceeded and (.why | test(\"tcp_tw_reuse_delay\"))"
jcheck "tw-reuse: the measured rate agrees with the physics (within 5%)" "$out" \
    "$T | (.connections.per_s / .capacity.conn_per_s) | . > 0.8 and . <= 1.05"
M='.runs[] | select(.name=="more-sources")'
jcheck "more-sources: x 3 sources: 3000 at once" "$out" \
    "$M | .capacity | .pools == 3 and .burst == 3000 and (.conn_per_s - 50 | fabs) < 0.05"
jcheck "more-sources: and the kernel agrees (first EADDRNOTAVAIL after 3000, less those connecting)" "$out" \
    "$M | .first_eaddrnotavail.after_connections >= 3000 - 64 and .first_eaddrnotavail.after_connections <= 3000"
jcheck "nginx: the proxy's 28232 ports x 2 backends / 60 s = 941/s, exceeded at 4000/s" "$out" \
    ".runs[] | select(.name==\"nginx\") | .capacity | .ports == 28232 and .pools == 2 and (.conn_per_s - 941.07 | fabs) < 0.1 and .exceeded and (.ports_run_out_s - 14.116 | fabs) < 0.01"
jcheck "nginx-keepalive: no limit from TIME_WAIT" "$out" \
    ".runs[] | select(.name==\"nginx-keepalive\") | .capacity.conn_per_s == null and .capacity.exceeded == false"

"$TWKIT" lab --from "$out" >"$dir/table"
eq "the table from these results" $? 0
check "the table shows LIMIT/S beside CONN/S" grep -q '^RUN .*CONN/S  *LIMIT/S' "$dir/table"
check "tw-reuse: 1000/s limit in its row" grep -qE '^tw-reuse +[0-9]+ +1000 ' "$dir/table"
check "the notes say the offered load exceeds it" grep -q 'The offered 4000/s exceeds it' "$dir/table"
finish
