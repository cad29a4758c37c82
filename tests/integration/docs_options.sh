#!/bin/bash
# Docs and code agree: every long option that `twkit stat --help` prints is
# documented in its man page, and every JSON top-level field of a namespace
# is in docs/stat-json.md.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need jq
for opt in $("$TWKIT" stat --help | grep -oE -- '--[a-z0-9-]+' | sort -u); do
    check "stat $opt in twkit-stat.1.scd" grep -q -- "\*$opt\*" docs/twkit-stat.1.scd
done
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
mkdir -p "$T/net" "$T/sys/net/ipv4"
echo "32768 60999" > "$T/sys/net/ipv4/ip_local_port_range"
printf 'TCP: inuse 0 orphan 0 tw 0 alloc 0 mem 0\n' > "$T/net/sockstat"
printf '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n' > "$T/net/tcp"
for k in $("$TWKIT" stat --json --fixture "$T" | jq -r '.namespaces[0] | paths(scalars) | map(tostring) | join(".")' | \
           sed -E 's/\.[0-9]+(\.|$)/\1/g' | awk -F. '{print $NF}' | sort -u); do
    check "JSON field '$k' documented" grep -q -- "$k" docs/stat-json.md
done
finish
