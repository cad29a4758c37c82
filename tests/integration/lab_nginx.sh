#!/bin/bash
# twkit lab nginx: client -> nginx (article section 5.4 configuration) ->
# two backends.  Without upstream keepalive every request leaves a
# TIME_WAIT on the nginx->backend leg (on the proxy host); with
# `keepalive 32` almost none.
set -uo pipefail
cd "$(dirname "$0")/../.."
TW=${OUT:-.build}/twkit
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
unshare -n true 2>/dev/null || { echo "SKIP: cannot create network namespaces"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
[ -x /usr/sbin/nginx ] || { echo "SKIP: nginx not installed (scripts/install-deps)"; exit 77; }
fail=0
check() {
    if jq -e "$2" "$out" >/dev/null; then echo "ok: $1"; else echo "FAIL: $1 ($2)"; fail=1; fi
}
out=$(mktemp); trap 'rm -f "$out"' EXIT
"$TW" lab nginx -r 500 -d 2 -C 16 --json >"$out" || { echo "FAIL: lab nginx"; jq -c '.runs[] | {name,status,reason}' "$out"; exit 1; }
jq -c '.runs[] | {name, status, r: .requests.ok, e: .errors_total, tw: [.hosts[].tw_peak], leg: .hosts.proxy.tw_backend_leg_peak}' "$out"
A='.runs[] | select(.name=="nginx")'
B='.runs[] | select(.name=="nginx-keepalive")'
check "nginx: all requests through nginx, no errors" "$A | .requests.ok >= 900 and .errors_total == 0"
check "nginx: ~1 backend-leg TIME_WAIT per request" "$A | .hosts.proxy.tw_backend_leg_peak >= (.requests.ok * 0.8)"
check "nginx: nginx closes first (none on the backends)" "$A | .hosts.server.tw_peak <= 2"
check "nginx keepalive 32: no errors" "$B | .requests.ok >= 900 and .errors_total == 0"
check "nginx keepalive 32: near-zero backend-leg TIME_WAIT" "$B | .hosts.proxy.tw_backend_leg_peak <= 40"
check "nginx keepalive 32: >= 20x fewer than without" "([$A][0].hosts.proxy.tw_backend_leg_peak) >= 20 * (([$B][0].hosts.proxy.tw_backend_leg_peak) + 1)"
exit $fail
