#!/bin/bash
# Issue 9 item 6: terminal escape injection.  An unprivileged user can name
# a process "x\e[2J\e[31mok" (or put a newline in it) in a namespace of its
# own, and a namespace can be named the same way; `twkit stat --netns all`,
# run as root on a terminal, must print them escaped (\x1b, \x0a): no
# control byte reaches the terminal and each header stays one line.  JSON
# keeps the raw name (escaped as JSON), Prometheus escapes it as its format
# says.  Also stderr: an error naming such a namespace is escaped.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq ip
T=$(mktemp -d)
ESC=$'\e'
NAME1=$'x\e[2J\e[31mok'        # 12 bytes: fits the 15 of a comm
NAME2=$'a\nb\e]0;t\a'          # a newline and an OSC title sequence
NS=$'twkit-t-'$$$'-\e[2J\nns'
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

for n in "$NAME1" "$NAME2"; do
    unshare --net -- "$HELPERS/sockgen" comm "$n" hold >/dev/null &
    PIDS+=($!)
done
ip netns add "$NS" || skip "ip netns add failed"
hex() { od -An -tx1 | tr -d ' \n'; }
for i in $(seq 50); do
    [ "$(hex </proc/${PIDS[1]}/comm 2>/dev/null)" = "$(printf '%s\n' "$NAME2" | hex)" ] && break
    sleep 0.05
done
eq "process 1 carries the hostile name (hex)" "$(hex </proc/${PIDS[0]}/comm)" "$(printf '%s\n' "$NAME1" | hex)"
eq "process 2 carries the hostile name (hex)" "$(hex </proc/${PIDS[1]}/comm)" "$(printf '%s\n' "$NAME2" | hex)"

"$TWKIT" stat --netns all --color never >"$T/all.txt" 2>"$T/all.err"
eq "--netns all: exit" $? 0
check "--netns all: no ESC byte in the output" bash -c "! grep -q \$'\\e' '$T/all.txt'"
check "--netns all: no BEL byte" bash -c "! grep -q \$'\\a' '$T/all.txt'"
check "--netns all: process 1 escaped in its header" \
    grep -qxF "twkit stat  netns pid ${PIDS[0]} (x\\x1b[2J\\x1b[31mok) (net:[$(stat -L -c %i /proc/${PIDS[0]}/ns/net)])" "$T/all.txt"
check "--netns all: process 2's newline escaped, header on one line" \
    grep -qF "netns pid ${PIDS[1]} (a\\x0ab\\x1b]0;t\\x07)" "$T/all.txt"
check "--netns all: the namespace name escaped" \
    grep -qF "netns twkit-t-$$-\\x1b[2J\\x0ans (net:[" "$T/all.txt"
eq "--netns all: every header starts a line of its own" \
    "$(grep -c '^twkit stat  netns ' "$T/all.txt")" "$(grep -c 'twkit stat  netns ' "$T/all.txt")"
check "--netns all: nothing hostile on stderr either" bash -c "! grep -q \$'\\e' '$T/all.err'"

"$TWKIT" stat --netns "${PIDS[0]}" --color always >"$T/pid.txt"
check "--color always: only twkit's own colour sequences" \
    bash -c "! grep -aoP '\\e\\[(?!(0|1|2|3[123])m)' '$T/pid.txt' | grep -q ."
"$TWKIT" stat --netns "$NS" >"$T/ns.txt"
eq "--netns NAME: header escaped, one line" "$(head -n1 "$T/ns.txt")" \
    "twkit stat  netns twkit-t-$$-\\x1b[2J\\x0ans (net:[$(stat -L -c %i "/run/netns/$NS")])"

"$TWKIT" stat --netns all --json >"$T/all.json"
eq "JSON keeps the raw name" \
    "$(jq -r --arg p "pid ${PIDS[0]} ($NAME1)" '[.namespaces[] | select(.netns.label == $p)] | length' "$T/all.json")" 1
"$TWKIT" stat --netns all --prom >"$T/all.prom"
if command -v promtool >/dev/null; then
    check "Prometheus: promtool accepts the escaped labels" bash -c "promtool check metrics < '$T/all.prom'"
else
    fail "promtool missing (scripts/install-deps installs prometheus)"
fi

"$TWKIT" stat --netns $'no-such-\e[2J-ns' >/dev/null 2>"$T/err"
eq "an unknown hostile name: exit 1" $? 1
check "an unknown hostile name: the message is escaped" \
    bash -c "grep -qF 'no-such-\\x1b[2J-ns' '$T/err' && ! grep -q \$'\\e' '$T/err'"
finish
