#!/bin/bash
# twkit lab: the mitigations, each on a 200-port range, with the physics
# each one must show:
#   tw-reuse      at 100 conn/s (below range / tcp_tw_reuse_delay = 200/s):
#                 more connections than the range, no EADDRNOTAVAIL,
#                 TWRecycled counts the reuses
#   wide-range    1024-65535: 1000 connections, no EADDRNOTAVAIL, and more
#                 client TIME_WAIT than the small range could hold
#   keepalive     a few connections carry every request: TIME_WAIT <= them
#   pool          the same through tw_pool
#   server-close  the TIME_WAIT is on the server host (kernel TW counter =
#                 connections), none on the client
#   rst           no TIME_WAIT anywhere; the server sees one reset per
#                 connection (EstabResets and the backend's ECONNRESET)
set -uo pipefail
cd "$(dirname "$0")/../.."
TW=${OUT:-.build}/twkit
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
unshare -n true 2>/dev/null || { echo "SKIP: cannot create network namespaces"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
fail=0
check() {
    if jq -e "$2" "$out" >/dev/null; then echo "ok: $1"; else echo "FAIL: $1 ($2)"; fail=1; fi
}
out=$(mktemp); trap 'rm -f "$out"' EXIT

"$TW" lab tw-reuse -p 40000-40199 -r 100 -d 4 -C 32 --json >"$out" || { echo "FAIL: lab tw-reuse"; exit 1; }
R='.runs[] | select(.name=="tw-reuse")'
jq -c "$R | {c: .connections.ok, e: .errors, rec: .hosts.client.counters.TWRecycled, tw: .hosts.client.tw_peak}" "$out"
check "tw-reuse: more connections than ports" "$R | .connections.ok >= 300"
check "tw-reuse: never EADDRNOTAVAIL" "$R | .errors.EADDRNOTAVAIL == 0 and .first_eaddrnotavail == null"
check "tw-reuse: TWRecycled counts reuses" "$R | .hosts.client.counters.TWRecycled >= 100"
check "tw-reuse: TIME_WAIT bounded by the range" "$R | .hosts.client.tw_peak <= 200"

"$TW" lab wide-range keepalive pool server-close rst -p 40000-40199 -r 500 -d 2 -C 16 --json >"$out" \
    || { echo "FAIL: lab fixes"; jq -c '.runs[] | {name,status,reason}' "$out"; exit 1; }
jq -c '.runs[] | {name, status, c: .connections.ok, r: .requests.ok, e: .errors_total, tw: [.hosts[].tw_peak], twc: [.hosts[].counters.TW], be: .backend.resets}' "$out"
W='.runs[] | select(.name=="wide-range")'
check "wide-range: 1000 connections, no EADDRNOTAVAIL" "$W | .connections.ok >= 900 and .errors.EADDRNOTAVAIL == 0"
check "wide-range: more client TIME_WAIT than 200 ports hold" "$W | .hosts.client.tw_peak >= 800"
check "wide-range: range recorded" "$W | .config.client_port_range == [1024,65535]"
K='.runs[] | select(.name=="keepalive")'
check "keepalive: all requests served, never EADDRNOTAVAIL" "$K | .requests.ok >= 900 and .errors_total == 0"
check "keepalive: at most 16 connections" "$K | .connections.ok <= 16"
check "keepalive: TIME_WAIT <= connections" "$K | .hosts.client.tw_peak <= .connections.ok"
P='.runs[] | select(.name=="pool")'
check "pool: all requests served" "$P | .status==\"ok\" and .requests.ok >= 900 and .errors_total == 0"
check "pool: at most 16 connections, TIME_WAIT <= them" "$P | .connections.ok <= 16 and .hosts.client.tw_peak <= .connections.ok"
S='.runs[] | select(.name=="server-close")'
check "server-close: no errors" "$S | .errors_total == 0 and .connections.ok >= 900"
check "server-close: no client TIME_WAIT" "$S | .hosts.client.tw_peak == 0 and .hosts.client.counters.TW == 0"
check "server-close: every close made a server TIME_WAIT" "$S | (.hosts.server.counters.TW - .connections.ok) | fabs <= 5"
check "server-close: TIME_WAIT sockets on the server" "$S | .hosts.server.tw_peak >= 50"
X='.runs[] | select(.name=="rst")'
check "rst: no TIME_WAIT anywhere" "$X | .hosts.client.tw_peak == 0 and .hosts.server.tw_peak == 0 and .hosts.client.counters.TW == 0"
check "rst: one client RST per connection" "$X | (.hosts.client.counters.OutRsts - .connections.ok) | fabs <= 5"
check "rst: the server counts the resets" "$X | (((.hosts.server.counters.EstabResets - .connections.ok) | fabs) <= 5) and (((.backend.resets - .connections.ok) | fabs) <= 5)"
exit $fail
