#!/bin/bash
# Where netlink sockets are forbidden (a seccomp sandbox), twkit stat falls
# back to /proc/net/tcp by itself and reports the same numbers; with
# --source netlink it says why it cannot.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq
[ "$(uname -m)" = x86_64 ] || skip "the seccomp helper filters x86_64 syscalls only"
in_private_netns "$@"
start_sockgen listen 127.0.0.1 7000 listen ::1 7001 twc any 127.0.0.1 7000 11 twc any ::1 7001 4 \
    estab any 127.0.0.1 7000 2
trap stop_sockgen EXIT
T=$(mktemp); trap 'stop_sockgen; rm -f "$T"' EXIT
"$HELPERS/nonetlink" "$TWKIT" stat --json > "$T"; eq "auto without netlink: exit" $? 0
eq "auto without netlink: source" "$(jq -r '.namespaces[0].source' "$T")" proc
eq "auto without netlink: time-wait" "$(jq -r '.namespaces[0].time_wait.total' "$T")" 15
eq "auto without netlink: established" "$(jq -r '.namespaces[0].states.all.established' "$T")" 4
eq "same as netlink" "$("$TWKIT" stat --json | jq -c '.namespaces[0].states')" "$(jq -c '.namespaces[0].states' "$T")"
out=$("$HELPERS/nonetlink" "$TWKIT" stat --source netlink 2>&1); rc=$?
eq "--source netlink without netlink: exit" $rc 1
check "--source netlink without netlink: says so" grep -q "NETLINK_SOCK_DIAG.*try --source proc" <<<"$out"
finish
