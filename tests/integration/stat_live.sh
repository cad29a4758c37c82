#!/bin/bash
# twkit stat on a live private network namespace holding a known socket
# set: exact counts per state, per side, per port, per destination and per
# address, port pressure, and agreement with ss, /proc/net/sockstat and the
# /proc source.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq ss
in_private_netns "$@"

ip addr add 198.18.0.1/32 dev lo
ip addr add 198.18.0.2/32 dev lo
sysctl -qw net.ipv4.tcp_tw_reuse=2
# no TIME_WAIT becomes reclaimable while the test runs (tested apart, in stat_pressure)
[ -e /proc/sys/net/ipv4/tcp_tw_reuse_delay ] && sysctl -qw net.ipv4.tcp_tw_reuse_delay=60000

start_sockgen \
    listen 198.18.0.2 80 listen 198.18.0.2 81 listen ::1 8080 listen 127.0.0.1 9000 \
    twc 198.18.0.1 198.18.0.2 80 30 \
    twc 198.18.0.1 198.18.0.2 81 20 \
    twc any ::1 8080 15 \
    tws 198.18.0.1 198.18.0.2 80 10 \
    estab any 127.0.0.1 9000 5 \
    fw2 any 127.0.0.1 9000 3
trap stop_sockgen EXIT

J=$(mktemp); JP=$(mktemp)
trap 'stop_sockgen; rm -f "$J" "$JP"' EXIT
"$TWKIT" stat --json --top 20 > "$J"; eq "exit status" $? 0
q() { jq -r "$1" "$J"; }

echo "states"
eq "schema" "$(q .schema)" "twkit.stat.v1"
eq "source" "$(q '.namespaces[0].source')" netlink
eq "time-wait" "$(q '.namespaces[0].states.all["time-wait"]')" 75
eq "time-wait ipv6" "$(q '.namespaces[0].states.ipv6["time-wait"]')" 15
eq "listen" "$(q '.namespaces[0].states.all.listen')" 4
eq "established" "$(q '.namespaces[0].states.all.established')" 10
eq "fin-wait-2" "$(q '.namespaces[0].states.all["fin-wait-2"]')" 3
eq "close-wait" "$(q '.namespaces[0].states.all["close-wait"]')" 3
eq "total" "$(q '.namespaces[0].states.total')" 95

echo "time_wait"
eq "client side" "$(q '.namespaces[0].time_wait.client_side')" 65
eq "server side" "$(q '.namespaces[0].time_wait.server_side')" 10
eq "fw2 minisocks" "$(q '.namespaces[0].time_wait.fin_wait2_minisocks')" 3
eq "expiry sums to total" "$(q '[.namespaces[0].time_wait.expiry[].count]|add')" 75
eq "all expire in 50-60 s" "$(q '[.namespaces[0].time_wait.expiry[] | select(.from_s>=50) | .count]|add')" 75
eq "freed in 10 s" "$(q '.namespaces[0].time_wait.freed_next_10s')" 0
eq "sockstat agrees" "$(q '.namespaces[0].time_wait.sockstat_check.agrees')" true
eq "sockstat after" "$(q '.namespaces[0].time_wait.sockstat_check.sockstat_after')" 78
slab=$(cat /sys/kernel/slab/tw_sock_TCP/slab_size 2>/dev/null || echo 256)
eq "slab bytes" "$(q '.namespaces[0].time_wait.memory.slab_bytes')" $(( 78 * slab ))
eq "max_tw_buckets used" "$(q '.namespaces[0].time_wait.max_tw_buckets.used')" 78

echo "top tables"
eq "port 80 server side" "$(q '.namespaces[0].time_wait.top.local_port.rows[] | select(.port==80) | "\(.side) \(.count)"')" "server 10"
eq "dest :80" "$(q '.namespaces[0].time_wait.top.destination.rows[] | select(.remote_port==80) | "\(.local_address) \(.remote_address) \(.count)"')" "198.18.0.1 198.18.0.2 30"
eq "dest :81" "$(q '.namespaces[0].time_wait.top.destination.rows[] | select(.remote_port==81) | .count')" 20
eq "dest ::1:8080" "$(q '.namespaces[0].time_wait.top.destination.rows[] | select(.remote_port==8080) | "\(.local_address) \(.count)"')" "::1 15"
eq "dest server-side row" "$(q '.namespaces[0].time_wait.top.destination.rows[] | select(.side=="server") | "\(.local_address) \(.remote_address) \(.count)"')" "198.18.0.2 198.18.0.1 10"
eq "first destination" "$(q '.namespaces[0].time_wait.top.destination.rows[0].count')" 30
eq "remote 198.18.0.2" "$(q '.namespaces[0].time_wait.top.remote_address.rows[] | select(.address=="198.18.0.2") | .count')" 50
eq "remote 198.18.0.1" "$(q '.namespaces[0].time_wait.top.remote_address.rows[] | select(.address=="198.18.0.1") | .count')" 10
eq "remote ::1" "$(q '.namespaces[0].time_wait.top.remote_address.rows[] | select(.address=="::1") | .count')" 15
eq "local 198.18.0.1" "$(q '.namespaces[0].time_wait.top.local_address.rows[] | select(.address=="198.18.0.1") | .count')" 50
eq "local 198.18.0.2" "$(q '.namespaces[0].time_wait.top.local_address.rows[] | select(.address=="198.18.0.2") | .count')" 10
eq "other is 0 with --top 20" "$(q '.namespaces[0].time_wait.top.destination.other')" 0

echo "port pressure"
eq "effective range" "$(q '.namespaces[0].port_pressure.range.effective')" 28232
eq "destinations" "$(q '.namespaces[0].port_pressure.destinations_total')" 4
eq "first destination :80 in use" "$(q '.namespaces[0].port_pressure.destinations[0] | "\(.remote_port) \(.in_use) \(.time_wait) \(.reclaimable)"')" "80 30 30 0"
eq ":80 percent" "$(q '.namespaces[0].port_pressure.destinations[0].percent')" "$(awk 'BEGIN{printf "%.2f", 3000/28232}')"
eq "127.0.0.1:9000 estab+fw2" "$(q '.namespaces[0].port_pressure.destinations[] | select(.remote_port==9000) | "\(.in_use) \(.established) \(.other) \(.loopback)"')" "8 5 3 true"
eq "non-loopback: reuse does not apply at tw_reuse=2" "$(q '.namespaces[0].port_pressure.destinations[] | select(.remote_port==80) | .reuse_applies')" false
eq "::1 loopback: reuse applies at tw_reuse=2" "$(q '.namespaces[0].port_pressure.destinations[] | select(.remote_port==8080) | .reuse_applies')" true

echo "cross-check with ss and sockstat"
eq "ss time-wait count" "$(ss -tanH state time-wait | wc -l)" "$(q '.namespaces[0].time_wait.total')"
for st in established close-wait; do
    eq "ss $st" "$(ss -tanH state $st | wc -l)" "$(q ".namespaces[0].states.all[\"$st\"]")"
done
eq "ss listening" "$(ss -tlnH | wc -l)" "$(q '.namespaces[0].states.all.listen')"
# ss reports FIN_WAIT2 minisocks too
eq "ss fin-wait-2" "$(ss -tanH state fin-wait-2 | wc -l)" 3
eq "sockstat tw" "$(awk '/^TCP:/{for(i=1;i<=NF;i++) if($i=="tw") print $(i+1)}' /proc/net/sockstat)" 78
# per destination, from ss: client side TIME_WAIT grouped by (local ip, peer)
ss_dest=$(ss -tanH state time-wait | awk '{split($3,l,":"); if (l[2]!=80) print $3" "$4}' | \
    sed -E 's/:[0-9]+ / /' | sort | uniq -c | awk '{print $1}' | sort -n | tr '\n' ' ')
tw_dest=$(q '[.namespaces[0].time_wait.top.destination.rows[] | select(.side=="client") | .count] | sort | map(tostring) | join(" ")')
eq "per-destination counts vs ss" "$ss_dest" "$tw_dest "

echo "netlink and proc sources agree"
"$TWKIT" stat --json --top 20 --source proc > "$JP"; eq "proc exit status" $? 0
norm='del(.time) | .namespaces[] |= (del(.source, .dump_seconds, .kernel.sockstat, .time_wait.sockstat_check, .time_wait.expiry, .time_wait.freed_next_10s))'
if diff <(jq -S "$norm" "$J") <(jq -S "$norm" "$JP") >/dev/null; then ok "same report from netlink and proc"
else fail "netlink and proc reports differ"; diff <(jq -S "$norm" "$J") <(jq -S "$norm" "$JP") | head -60; fi
eq "proc source used" "$(jq -r '.namespaces[0].source' "$JP")" proc

echo "human and prometheus views"
"$TWKIT" stat > "$J.txt"; eq "table exit" $? 0
eq "table fits 80 columns" "$(awk 'length > 80' "$J.txt" | wc -l)" 0
check "table shows the TIME_WAIT line" grep -q "75 sockets: client-side 65; server-side 10" "$J.txt"
check "no colour when not a terminal" bash -c "! grep -q $'\033' '$J.txt'"
"$TWKIT" stat --color always > "$J.txt"
check "colour with --color always" grep -q $'\033' "$J.txt"
rm -f "$J.txt"
if command -v promtool >/dev/null; then
    "$TWKIT" stat --prom > "$J.prom"; eq "prom exit" $? 0
    check "promtool check metrics" bash -c "promtool check metrics < '$J.prom'"
    check "prom time_wait client" grep -q 'twkit_time_wait_sockets{netns="[^"]*",side="client"} 65' "$J.prom"
    rm -f "$J.prom"
else
    fail "promtool missing (scripts/install-deps installs prometheus)"
fi
finish
