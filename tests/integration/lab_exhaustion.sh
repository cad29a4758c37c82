#!/bin/bash
# twkit lab: the scenarios that run until the ports are exhausted, with a
# 200-port range so that exhaustion comes in well under a second.
#   short         EADDRNOTAVAIL after ~200 connections, ~200 client TIME_WAIT
#   more-sources  3 client addresses: ~3x the connections of `short`
#   bind-no-port  bind(addr,0): EADDRINUSE after ~200 (host-wide pool), even
#                 with two server ports; with IP_BIND_ADDRESS_NO_PORT:
#                 EADDRNOTAVAIL after ~400 (200 per destination)
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq
out=$(mktemp); trap 'rm -f "$out"' EXIT

"$TWKIT" lab short more-sources bind-no-port --sources 3 -p 40000-40199 -r 1000 -d 5 -C 32 --json >"$out"
rc=$?
eq "twkit lab exit status" "$rc" 0
[ $rc -eq 0 ] || { cat "$out"; finish; exit 1; }
jq -c '.runs[] | {name, c: .connections.ok, e: .errors_total, fe: .first_eaddrnotavail, fi: .first_eaddrinuse, tw: [.hosts[].tw_peak]}' "$out"

R='.runs[] | select(.name=="short")'
jcheck "short: status ok" "$out" "$R | .status==\"ok\""
jcheck "short: EADDRNOTAVAIL after 200+-20 connections" "$out" "$R | .first_eaddrnotavail.after_connections >= 180 and .first_eaddrnotavail.after_connections <= 220"
jcheck "short: ~200 client TIME_WAIT" "$out" "$R | .hosts.client.tw_peak >= 180 and .hosts.client.tw_peak <= 205"
jcheck "short: kernel TW counter counted them" "$out" "$R | .hosts.client.counters.TW >= 180"
jcheck "short: no TIME_WAIT on the server" "$out" "$R | .hosts.server.tw_peak == 0"
jcheck "short: connections ~ ActiveOpens" "$out" "$R | (.hosts.client.counters.ActiveOpens - .connections.ok) | fabs <= 20"

M='.runs[] | select(.name=="more-sources")'
jcheck "more-sources: EADDRNOTAVAIL after 600+-60" "$out" "$M | .first_eaddrnotavail.after_connections >= 540 and .first_eaddrnotavail.after_connections <= 660"
jcheck "more-sources: 3x the capacity of short (+-10%)" "$out" \
    "([$M][0].first_eaddrnotavail.after_connections / ([$R][0].first_eaddrnotavail.after_connections)) as \$x | \$x >= 2.7 and \$x <= 3.3"
jcheck "more-sources: ~600 client TIME_WAIT" "$out" "$M | .hosts.client.tw_peak >= 540"

B='.runs[] | select(.name=="bind-port")'
jcheck "bind-port: EADDRINUSE after 200+-20 although there are 2 server ports" "$out" \
    "$B | .first_eaddrinuse.after_connections >= 180 and .first_eaddrinuse.after_connections <= 220"
jcheck "bind-port: bind fails, not connect (no EADDRNOTAVAIL)" "$out" "$B | .errors.EADDRNOTAVAIL == 0 and .errors.EADDRINUSE >= 1"
jcheck "bind-port: one pool for both destinations (capacity)" "$out" "$B | .capacity.pools == 1 and .capacity.burst == 200"
N='.runs[] | select(.name=="bind-no-port")'
jcheck "bind-no-port: EADDRNOTAVAIL after 400+-40 (200 per destination)" "$out" \
    "$N | .first_eaddrnotavail.after_connections >= 360 and .first_eaddrnotavail.after_connections <= 440"
jcheck "bind-no-port: no EADDRINUSE" "$out" "$N | .errors.EADDRINUSE == 0"
jcheck "bind-no-port: one pool per destination (capacity)" "$out" "$N | .capacity.pools == 2 and .capacity.burst == 400"
finish
