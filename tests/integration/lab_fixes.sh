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
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq
out=$(mktemp); trap 'rm -f "$out"' EXIT

"$TWKIT" lab tw-reuse -p 40000-40199 -r 100 -d 4 -C 32 --json >"$out"
eq "lab tw-reuse: exit status" $? 0
R='.runs[] | select(.name=="tw-reuse")'
jq -c "$R | {c: .connections.ok, e: .errors, rec: .hosts.client.counters.TWRecycled, tw: .hosts.client.tw_peak}" "$out"
jcheck "tw-reuse: more connections than ports" "$out" "$R | .connections.ok >= 300"
jcheck "tw-reuse: never EADDRNOTAVAIL" "$out" "$R | .errors.EADDRNOTAVAIL == 0 and .first_eaddrnotavail == null"
jcheck "tw-reuse: TWRecycled counts reuses" "$out" "$R | .hosts.client.counters.TWRecycled >= 100"
jcheck "tw-reuse: TIME_WAIT bounded by the range" "$out" "$R | .hosts.client.tw_peak <= 200"
jcheck "tw-reuse: 100/s fits its capacity (200 ports / 1 s)" "$out" \
    "$R | .capacity.conn_per_s == 200 and .capacity.exceeded == false"

"$TWKIT" lab wide-range keepalive pool server-close rst -p 40000-40199 -r 500 -d 2 -C 16 --json >"$out"
rc=$?
eq "lab fixes: exit status" $rc 0
[ $rc -eq 0 ] || jq -c '.runs[] | {name,status,reason}' "$out"
jq -c '.runs[] | {name, status, c: .connections.ok, r: .requests.ok, e: .errors_total, tw: [.hosts[].tw_peak], twc: [.hosts[].counters.TW], be: .backend.resets}' "$out"
W='.runs[] | select(.name=="wide-range")'
jcheck "wide-range: 1000 connections, no EADDRNOTAVAIL" "$out" "$W | .connections.ok >= 900 and .errors.EADDRNOTAVAIL == 0"
jcheck "wide-range: more client TIME_WAIT than 200 ports hold" "$out" "$W | .hosts.client.tw_peak >= 800"
jcheck "wide-range: range recorded" "$out" "$W | .config.client_port_range == [1024,65535]"
jcheck "wide-range: 64512 ports / 60 s, 500/s fits" "$out" \
    "$W | .capacity.ports == 64512 and (.capacity.conn_per_s - 1075.2 | fabs) < 0.1 and .capacity.exceeded == false"
K='.runs[] | select(.name=="keepalive")'
jcheck "keepalive: all requests served, never EADDRNOTAVAIL" "$out" "$K | .requests.ok >= 900 and .errors_total == 0"
jcheck "keepalive: at most 16 connections" "$out" "$K | .connections.ok <= 16"
jcheck "keepalive: TIME_WAIT <= connections" "$out" "$K | .hosts.client.tw_peak <= .connections.ok"
P='.runs[] | select(.name=="pool")'
jcheck "pool: all requests served" "$out" "$P | .status==\"ok\" and .requests.ok >= 900 and .errors_total == 0"
jcheck "pool: at most 16 connections, TIME_WAIT <= them" "$out" "$P | .connections.ok <= 16 and .hosts.client.tw_peak <= .connections.ok"
S='.runs[] | select(.name=="server-close")'
jcheck "server-close: no errors" "$out" "$S | .errors_total == 0 and .connections.ok >= 900"
jcheck "server-close: no client TIME_WAIT" "$out" "$S | .hosts.client.tw_peak == 0 and .hosts.client.counters.TW == 0"
jcheck "server-close: every close made a server TIME_WAIT" "$out" "$S | (.hosts.server.counters.TW - .connections.ok) | fabs <= 5"
jcheck "server-close: TIME_WAIT sockets on the server" "$out" "$S | .hosts.server.tw_peak >= 50"
jcheck "server-close: no limit from TIME_WAIT" "$out" "$S | .capacity.conn_per_s == null"
X='.runs[] | select(.name=="rst")'
jcheck "rst: no TIME_WAIT anywhere" "$out" "$X | .hosts.client.tw_peak == 0 and .hosts.server.tw_peak == 0 and .hosts.client.counters.TW == 0"
jcheck "rst: one client RST per connection" "$out" "$X | (.hosts.client.counters.OutRsts - .connections.ok) | fabs <= 5"
jcheck "rst: the server counts the resets" "$out" "$X | (((.hosts.server.counters.EstabResets - .connections.ok) | fabs) <= 5) and (((.backend.resets - .connections.ok) | fabs) <= 5)"
finish
