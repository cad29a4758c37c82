#!/bin/bash
# twkit lab: the scenarios that run until the ports are exhausted, with a
# 200-port range so that exhaustion comes in well under a second.
#   short         EADDRNOTAVAIL after ~200 connections, ~200 client TIME_WAIT
#   more-sources  3 client addresses: ~3x the connections of `short`
#   bind-no-port  bind(addr,0): EADDRINUSE after ~200 (host-wide pool), even
#                 with two server ports; with IP_BIND_ADDRESS_NO_PORT:
#                 EADDRNOTAVAIL after ~400 (200 per destination)
set -uo pipefail
cd "$(dirname "$0")/../.."
TW=${OUT:-.build}/twkit
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
unshare -n true 2>/dev/null || { echo "SKIP: cannot create network namespaces"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
fail=0
check() { # description, jq expression that must be true
    if jq -e "$2" "$out" >/dev/null; then echo "ok: $1"; else echo "FAIL: $1 ($2)"; fail=1; fi
}
out=$(mktemp); trap 'rm -f "$out"' EXIT

"$TW" lab short more-sources bind-no-port --sources 3 -p 40000-40199 -r 1000 -d 5 -C 32 --json >"$out"
rc=$?
[ $rc -eq 0 ] || { echo "FAIL: twkit lab exited $rc"; cat "$out"; exit 1; }
jq -c '.runs[] | {name, c: .connections.ok, e: .errors_total, fe: .first_eaddrnotavail, fi: .first_eaddrinuse, tw: [.hosts[].tw_peak]}' "$out"

R='.runs[] | select(.name=="short")'
check "short: status ok" "$R | .status==\"ok\""
check "short: EADDRNOTAVAIL after 200+-20 connections" "$R | .first_eaddrnotavail.after_connections >= 180 and .first_eaddrnotavail.after_connections <= 220"
check "short: ~200 client TIME_WAIT" "$R | .hosts.client.tw_peak >= 180 and .hosts.client.tw_peak <= 205"
check "short: kernel TW counter counted them" "$R | .hosts.client.counters.TW >= 180"
check "short: no TIME_WAIT on the server" "$R | .hosts.server.tw_peak == 0"
check "short: connections ~ ActiveOpens" "$R | (.hosts.client.counters.ActiveOpens - .connections.ok) | fabs <= 20"

M='.runs[] | select(.name=="more-sources")'
check "more-sources: EADDRNOTAVAIL after 600+-60" "$M | .first_eaddrnotavail.after_connections >= 540 and .first_eaddrnotavail.after_connections <= 660"
check "more-sources: 3x the capacity of short (+-10%)" \
    "([$M][0].first_eaddrnotavail.after_connections / ([$R][0].first_eaddrnotavail.after_connections)) as \$x | \$x >= 2.7 and \$x <= 3.3"
check "more-sources: ~600 client TIME_WAIT" "$M | .hosts.client.tw_peak >= 540"

B='.runs[] | select(.name=="bind-port")'
check "bind-port: EADDRINUSE after 200+-20 although there are 2 server ports" \
    "$B | .first_eaddrinuse.after_connections >= 180 and .first_eaddrinuse.after_connections <= 220"
check "bind-port: bind fails, not connect (no EADDRNOTAVAIL)" "$B | .errors.EADDRNOTAVAIL == 0 and .errors.EADDRINUSE >= 1"
N='.runs[] | select(.name=="bind-no-port")'
check "bind-no-port: EADDRNOTAVAIL after 400+-40 (200 per destination)" \
    "$N | .first_eaddrnotavail.after_connections >= 360 and .first_eaddrnotavail.after_connections <= 440"
check "bind-no-port: no EADDRINUSE" "$N | .errors.EADDRINUSE == 0"
exit $fail
