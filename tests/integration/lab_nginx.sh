#!/bin/bash
# twkit lab nginx: client -> nginx (article section 5.4 configuration) ->
# two backends.  Without upstream keepalive every request leaves a
# TIME_WAIT on the nginx->backend leg (on the proxy host); with
# `keepalive 32` almost none.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq
[ -x /usr/sbin/nginx ] || skip "nginx not installed (scripts/install-deps)"
out=$(mktemp); trap 'rm -f "$out"' EXIT
"$TWKIT" lab nginx -r 500 -d 2 -C 16 --json >"$out"
rc=$?
eq "lab nginx: exit status" $rc 0
[ $rc -eq 0 ] || jq -c '.runs[] | {name,status,reason}' "$out"
jq -c '.runs[] | {name, status, r: .requests.ok, e: .errors_total, tw: [.hosts[].tw_peak], leg: .hosts.proxy.tw_backend_leg_peak}' "$out"
A='.runs[] | select(.name=="nginx")'
B='.runs[] | select(.name=="nginx-keepalive")'
jcheck "nginx: all requests through nginx, no errors" "$out" "$A | .requests.ok >= 900 and .errors_total == 0"
jcheck "nginx: ~1 backend-leg TIME_WAIT per request" "$out" "$A | .hosts.proxy.tw_backend_leg_peak >= (.requests.ok * 0.8)"
jcheck "nginx: nginx closes first (none on the backends)" "$out" "$A | .hosts.server.tw_peak <= 2"
jcheck "nginx: 500/s fits the proxy's 941/s" "$out" "$A | .capacity.exceeded == false and .capacity.offered_conn_per_s == 500"
jcheck "nginx keepalive 32: no errors" "$out" "$B | .requests.ok >= 900 and .errors_total == 0"
jcheck "nginx keepalive 32: near-zero backend-leg TIME_WAIT" "$out" "$B | .hosts.proxy.tw_backend_leg_peak <= 40"
jcheck "nginx keepalive 32: >= 20x fewer than without" "$out" "([$A][0].hosts.proxy.tw_backend_leg_peak) >= 20 * (([$B][0].hosts.proxy.tw_backend_leg_peak) + 1)"
finish
