#!/bin/bash
# Kernel-side filters of twkit stat (state mask, ports, CIDRs, family) give
# exactly what ss gives for the same filter, with the netlink and the /proc
# source alike.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq ss
in_private_netns "$@"

ip addr add 198.18.0.1/32 dev lo
ip addr add 198.18.0.2/32 dev lo
ip addr add 198.18.1.7/32 dev lo
start_sockgen \
    listen 198.18.0.2 80 listen 198.18.0.2 443 listen ::1 8080 listen 198.18.1.7 80 \
    twc 198.18.0.1 198.18.0.2 80 12 \
    twc 198.18.0.1 198.18.0.2 443 7 \
    twc 198.18.0.1 198.18.1.7 80 5 \
    twc any ::1 8080 4 \
    tws 198.18.0.1 198.18.0.2 443 3 \
    estab 198.18.0.1 198.18.0.2 443 2
trap stop_sockgen EXIT

tw() { "$TWKIT" stat --json "$@" | jq -r '.namespaces[0].time_wait.total'; }
st() { "$TWKIT" stat --json "$@" | jq -r '.namespaces[0].states.total'; }
sscount() { ss -tanH "$@" | wc -l; }

for src in netlink proc; do
    echo "source $src"
    S="--source $src"
    eq "$src all time-wait" "$(tw $S)" 31
    eq "$src --dport 80" "$(tw $S --dport 80)" "$(sscount state time-wait '( dport = :80 )')"
    eq "$src --dport 80 value" "$(tw $S --dport 80)" 17
    eq "$src --dport 400-500" "$(tw $S --dport 400-500)" 7
    eq "$src --sport 443 (server side)" "$(tw $S --sport 443)" "$(sscount state time-wait '( sport = :443 )')"
    eq "$src --sport 443 value" "$(tw $S --sport 443)" 3
    eq "$src --dst 198.18.1.7" "$(tw $S --dst 198.18.1.7)" 5
    eq "$src --dst 198.18.0.0/23" "$(tw $S --dst 198.18.0.0/23)" "$(sscount state time-wait dst 198.18.0.0/23)"
    eq "$src --dst 198.18.0.0/24 --dst 198.18.1.0/24 (OR)" "$(tw $S --dst 198.18.0.0/24 --dst 198.18.1.0/24)" 27
    eq "$src --src 198.18.0.1 --dport 80 (AND)" "$(tw $S --src 198.18.0.1 --dport 80)" 17
    eq "$src --src 198.18.0.2/32" "$(tw $S --src 198.18.0.2/32)" 3
    eq "$src -6" "$(tw $S -6)" 4
    eq "$src -4" "$(tw $S -4)" 27
    eq "$src --dst ::1" "$(tw $S --dst ::1)" 4
    eq "$src --state established" "$(st $S --state established)" "$(sscount state established)"
    eq "$src --state established,listen" "$(st $S --state established,listen)" 8
    eq "$src --state time-wait total" "$(st $S --state time-wait)" 31
    eq "$src filtered flag" "$("$TWKIT" stat --json $S --dport 80 | jq -r '.namespaces[0].filter.filtered')" true
    eq "$src no sockstat check when filtered" "$("$TWKIT" stat --json $S --dport 80 | jq -r '.namespaces[0].time_wait.sockstat_check.checked')" false
done
# listeners still make server-side TIME_WAIT server side when a filter hides them
eq "server side under --sport filter" "$("$TWKIT" stat --json --sport 443 | jq -r '.namespaces[0].time_wait.server_side')" 3
finish
