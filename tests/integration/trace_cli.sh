#!/bin/bash
# twkit trace says exactly why it cannot run, with its own exit status:
# without privileges (exit 4, naming CAP_BPF and CAP_PERFMON), without
# CAP_PERFMON alone, and from a twkit built where clang is missing (exit 3;
# the rest of twkit builds and runs, without libbpf).  Bad option values
# are usage errors (exit 2).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need setpriv make ldd

echo "bad input"
"$TWKIT" trace --comm a-name-longer-than-15 -d 0.1 >/dev/null 2>&1
eq "--comm longer than TASK_COMM_LEN: exit status" $? 2
"$TWKIT" trace --interval 0 >/dev/null 2>&1
eq "--interval 0: exit status" $? 2
"$TWKIT" trace --dst 300.1.1.1 >/dev/null 2>&1
eq "--dst not a prefix: exit status" $? 2

echo "privileges"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all -- "$TWKIT" trace -d 0.1 2>&1)
eq "unprivileged: exit status" $? 4
check "unprivileged: names CAP_BPF and CAP_PERFMON" grep -q "CAP_BPF and CAP_PERFMON" <<<"$out"
check "unprivileged: no memlock advice" bash -c '! grep -qi memlock <<<"$1"' _ "$out"
echo "  $out"
out=$(setpriv --bounding-set=-perfmon,-sys_admin -- "$TWKIT" trace -d 0.1 2>&1)
eq "root without CAP_PERFMON: exit status" $? 4
check "root without CAP_PERFMON: names it" grep -q "lacks CAP_PERFMON" <<<"$out"

echo "--netns NAME and --netns all"
NS=twkit-trace-$$
D=$(mktemp -d)
SP=
trap '[ -n "$SP" ] && kill "$SP" 2>/dev/null; ip netns del "$NS" 2>/dev/null; rm -rf "$D"' EXIT
ip netns add "$NS" && ip -n "$NS" link set lo up
TRACE_OK=1
out=$("$TWKIT" trace -d 0.1 -i 0.1 --json 2>&1 >/dev/null) || { [ $? -eq 3 ] && TRACE_OK=; }
if [ -z "$TRACE_OK" ]; then
    skip_case "--netns" "trace unavailable in this build: $out"
else
    "$TWKIT" trace --netns "$NS" -d 4 --json >"$D/one.json" 2>"$D/one.err" &
    T1=$!
    "$TWKIT" trace --netns all -d 4 --json >"$D/all.json" 2>"$D/all.err" &
    T2=$!
    for f in one all; do
        for _ in $(seq 200); do grep -q '"type":"start"' "$D/$f.json" && break; sleep 0.05; done
    done
    ip netns exec "$NS" "$HELPERS/closer" server 127.0.0.1 5101 wait >/dev/null &
    SP=$!
    sleep 0.3
    n=$(ip netns exec "$NS" "$HELPERS/closer" client 127.0.0.1 5101 12 close | awk '{print $2}')
    wait "$T1"; eq "--netns NAME: exit status" $? 0
    wait "$T2"; eq "--netns all: exit status" $? 0
    eq "--netns NAME: births = the client's count" \
        "$(jq 'select(.type == "total") | .births.total' "$D/one.json")" "$n"
    eq "--netns NAME: cross-check" "$(jq 'select(.type == "total") | .cross_check.equal' "$D/one.json")" true
    ino=$(ip netns exec "$NS" stat -L -c %i /proc/self/ns/net)
    eq "--netns all: that namespace cross-checked apart" "$(jq "select(.type == \"total\") |
        .cross_check.namespaces[] | select(.netns == $ino) | \"\(.births) \(.tcpext_tw) \(.equal)\"" \
        "$D/all.json")" "\"$n $n true\""
fi

echo "the header: outside strings escaped, 80 columns"
if [ -z "$TRACE_OK" ]; then
    skip_case "the header" "trace unavailable in this build"
else
    # a namespace name with a terminal escape: shown as text, never sent raw
    ESCNS=$(printf 'twkit-tr\033[31m%s' $$)
    LONGNS=twkit-trace-$(printf 'n%.0s' $(seq 40))-$$
    trap '[ -n "$SP" ] && kill "$SP" 2>/dev/null; ip netns del "$NS" 2>/dev/null
          ip netns del "$ESCNS" 2>/dev/null; ip netns del "$LONGNS" 2>/dev/null; rm -rf "$D"' EXIT
    ip netns add "$ESCNS" && ip netns add "$LONGNS"
    "$TWKIT" trace --netns "$ESCNS" -d 0.5 -i 0.5 >"$D/esc.out" 2>"$D/esc.err"
    eq "a namespace name with an escape: exit status" $? 0
    check "the header shows the escape as text" \
        grep -qF "namespace twkit-tr\x1b[31m$$ (" "$D/esc.out"
    check "no control byte reaches the terminal" sh -c "! LC_ALL=C grep -q '[[:cntrl:]]' '$D/esc.out'"
    "$TWKIT" trace --netns "$LONGNS" -d 0.5 -i 0.5 >"$D/long.out" 2>"$D/long.err"
    eq "a long namespace name: exit status" $? 0
    check "a long namespace name: every line fits 80 columns" \
        awk 'length($0) > 80 { exit 1 }' "$D/long.out"
    check "a long namespace name: shown whole, with its word" grep -qF "namespace $LONGNS" "$D/long.out"
    ip netns del "$ESCNS"; ip netns del "$LONGNS"
fi

echo "a twkit built without clang"
mk=(make -s -j2 OUT="$D/b" BPF_CLANG=/nonexistent/clang)
[ -n "${TW_SANITIZED:-}" ] && mk+=(SAN=address,undefined)
"${mk[@]}" "$D/b/twkit" >"$D/log" 2>&1
rc=$?; eq "make without clang: exit status" $rc 0; [ $rc -eq 0 ] || tail -20 "$D/log"
check "the build says why" grep -q "TWKIT_BPF 0" "$D/b/bpf/twkit_bpf_config.h"
check "twkit without BPF does not link libbpf" bash -c '! ldd "$1" | grep -q libbpf' _ "$D/b/twkit"
out=$("$D/b/twkit" trace -d 0.1 2>&1)
eq "trace from that build: exit status" $? 3
check "trace explains: clang was missing" grep -q "/nonexistent/clang (clang) was not found" <<<"$out"
echo "  $out"
"$D/b/twkit" stat --state time-wait >/dev/null
eq "stat from that build runs" $? 0
"$D/b/twkit" trace --help >/dev/null
eq "trace --help from that build" $? 0
finish
