#!/bin/bash
# --netns NAME, --netns PID and --netns all, and their errors: a namespace
# that does not exist, and no permission to enter one.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq ip
NS=twkit-t-$$-stat
cleanup() {
    stop_sockgen
    ip netns del "$NS" 2>/dev/null
    rm -f "${TMPJ:-}"
}
trap cleanup EXIT
ip netns add "$NS" || skip "ip netns add failed"
ip -n "$NS" link set lo up
TMPJ=$(mktemp)

fifo=$(mktemp -u); mkfifo "$fifo"
ip netns exec "$NS" "$HELPERS/sockgen" listen 127.0.0.1 7000 twc any 127.0.0.1 7000 9 \
    estab any 127.0.0.1 7000 1 hold >"$fifo" &
SOCKGEN_PID=$!
timeout 20 head -n1 "$fifo" >/dev/null; rm -f "$fifo"

"$TWKIT" stat --netns "$NS" --json > "$TMPJ"; eq "--netns NAME exit" $? 0
eq "--netns NAME time-wait" "$(jq -r '.namespaces[0].time_wait.total' "$TMPJ")" 9
eq "--netns NAME label" "$(jq -r '.namespaces[0].netns.label' "$TMPJ")" "$NS"
inode=$(stat -L -c %i "/run/netns/$NS")
eq "--netns NAME inode" "$(jq -r '.namespaces[0].netns.inode' "$TMPJ")" "$inode"

"$TWKIT" stat --netns "$SOCKGEN_PID" --json > "$TMPJ"; eq "--netns PID exit" $? 0
eq "--netns PID time-wait" "$(jq -r '.namespaces[0].time_wait.total' "$TMPJ")" 9
eq "--netns PID established" "$(jq -r '.namespaces[0].states.all.established' "$TMPJ")" 2

"$TWKIT" stat --netns all --json > "$TMPJ"; eq "--netns all exit" $? 0
eq "--netns all has ours, by name" \
    "$(jq -r --argjson i "$inode" '.namespaces[] | select(.netns.inode==$i) | "\(.netns.label) \(.time_wait.total)"' "$TMPJ")" "$NS 9"
eq "--netns all: each namespace once" \
    "$(jq -r '[.namespaces[].netns.inode] | length == (unique | length)' "$TMPJ")" true
eq "--netns all: host namespace first" "$(jq -r '.namespaces[0].netns.label' "$TMPJ")" host
"$TWKIT" stat --netns all > "$TMPJ"; eq "--netns all table exit" $? 0
check "--netns all table has ours" grep -q "^twkit stat  netns $NS (net:\[$inode\])" "$TMPJ"
eq "--netns all: each namespace one table" "$(grep '^twkit stat  netns' "$TMPJ" | sort | uniq -d | wc -l)" 0
"$TWKIT" stat --netns "$NS" --prom > "$TMPJ"
check "prom carries the netns label" grep -q "twkit_time_wait_sockets{netns=\"$NS\",side=\"client\"} 9" "$TMPJ"
# the kernel counters are the namespace's own: 9 entered TIME_WAIT there (the
# host's count is another number), 10 connect()s
eq "prom: the namespace's TcpExt TW counter" \
    "$(grep "^twkit_netstat_tcpext_tw_total{netns=\"$NS\"} " "$TMPJ" | awk '{ print $2 }')" 9
eq "prom: the namespace's Tcp ActiveOpens counter" \
    "$(grep "^twkit_netstat_tcp_active_opens_total{netns=\"$NS\"} " "$TMPJ" | awk '{ print $2 }')" 10

echo "errors"
out=$("$TWKIT" stat --netns twkit-no-such-ns-$$ 2>&1); rc=$?
eq "missing namespace exit" $rc 1
check "missing namespace message" grep -q "no network namespace 'twkit-no-such-ns-$$'" <<<"$out"
out=$("$TWKIT" stat --netns 999999999 2>&1); rc=$?
eq "missing PID exit" $rc 1
if command -v setpriv >/dev/null; then
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
        "$TWKIT" stat --netns "$NS" 2>&1); rc=$?
    eq "unprivileged setns exit" $rc 1
    check "unprivileged setns names the capability" grep -q "needs CAP_SYS_ADMIN" <<<"$out"
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
        "$TWKIT" stat --json 2>&1); rc=$?
    eq "unprivileged stat of its own namespace works" $rc 0
else
    fail "setpriv missing (util-linux)"
fi
finish
