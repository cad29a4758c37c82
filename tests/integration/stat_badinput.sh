#!/bin/bash
# Bad input to twkit stat: usage errors exit 2 with a message; bad data
# (malformed /proc lines, unknown states, missing files, truncated or
# garbage netlink recordings) exit 1 with a message naming the problem;
# never a crash.  Also: --record then --fixture reproduces the report.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need jq
T=$(mktemp -d)
trap 'stop_sockgen; rm -rf "$T"' EXIT

usage() { # usage NAME ARGS... : exit 2, message on stderr, nothing on stdout
    local name=$1; shift
    "$TWKIT" "$@" >"$T/out" 2>"$T/err"; local rc=$?
    eq "$name: exit" $rc 2
    check "$name: message" grep -q "twkit: " "$T/err"
    check "$name: nothing on stdout" test ! -s "$T/out"
}
usage "--top x" stat --top x
usage "--top 10001" stat --top 10001
usage "--top 0" stat --top 0
usage "--state bogus" stat --state bogus
usage "--dport 70000" stat --dport 70000
usage "--dport 9-1" stat --dport 9-1
usage "--sport empty" stat --sport ""
usage "--src /40" stat --src 198.18.0.1/40
usage "--dst junk" stat --dst not-an-address
usage "-4 -6" stat -4 -6
usage "--source foo" stat --source foo
usage "--color maybe" stat --color maybe
usage "unknown option" stat --frobnicate
usage "missing value" stat --top
usage "extra argument" stat extra
usage "unknown command" nosuchcommand
usage "--fixture with --netns" stat --fixture "$T" --netns x
"$TWKIT" stat --help >"$T/out"; eq "--help exit" $? 0
check "--help has examples" grep -q "^Examples:" "$T/out"
check "--help has exit status" grep -q "Exit status" "$T/out"
"$TWKIT" --help >"$T/out"; eq "twkit --help exit" $? 0

data_err() { # data_err NAME PATTERN ARGS...: exit 1 and the pattern in the message
    local name=$1 pat=$2; shift 2
    "$TWKIT" "$@" >"$T/out" 2>"$T/err"; local rc=$?
    eq "$name: exit" $rc 1
    check "$name: message '$pat'" grep -q -- "$pat" "$T/err"
}

# a real recording to start from (root: in a private namespace with sockets)
if [ "$(id -u)" -eq 0 ] && unshare --net true 2>/dev/null; then
    unshare --net -- bash -c "
        ip link set lo up
        '$HELPERS/sockgen' listen 127.0.0.1 7000 twc any 127.0.0.1 7000 6 estab any 127.0.0.1 7000 2 hold > '$T/ready' &
        pid=\$!
        for i in \$(seq 100); do grep -q ready '$T/ready' && break; sleep 0.05; done
        '$TWKIT' stat --json --record '$T/nl' > '$T/live.json'
        '$TWKIT' stat --json --source proc --record '$T/proc' > '$T/live-proc.json'
        kill \$pid"
    eq "recorded netlink fixture replays" "$("$TWKIT" stat --json --fixture "$T/nl" | jq -c '.namespaces[0].states.all')" \
        "$(jq -c '.namespaces[0].states.all' "$T/live.json")"
    eq "recorded proc fixture replays" "$("$TWKIT" stat --json --fixture "$T/proc" | jq -c '.namespaces[0].time_wait.total')" 6
    eq "fixture source name" "$("$TWKIT" stat --json --fixture "$T/nl" | jq -r '.namespaces[0].source')" fixture

    cp -r "$T/nl" "$T/trunc"
    size=$(stat -c %s "$T/trunc/sock_diag.bin")
    truncate -s $((size - 30)) "$T/trunc/sock_diag.bin"
    data_err "truncated netlink recording" "truncated" stat --fixture "$T/trunc"
    cp -r "$T/nl" "$T/garbage"
    head -c 4096 /dev/urandom > "$T/garbage/sock_diag.bin"
    "$TWKIT" stat --fixture "$T/garbage" >"$T/out" 2>"$T/err"; rc=$?
    check "garbage netlink recording: exit 1 (no crash)" test $rc -eq 1
    cp -r "$T/nl" "$T/nodone"
    : > "$T/nodone/sock_diag.bin"
    data_err "empty netlink recording" "without NLMSG_DONE" stat --fixture "$T/nodone"
    base="$T/proc"
else
    skip_case "recorded fixtures replay; truncated, garbage and empty recordings" \
        "needs root (a private network namespace to record)"
    base="$T/proc"; mkdir -p "$base/net" "$base/sys/net/ipv4"
fi
echo x >"$T/afile"
data_err "--fixture that is a file" "fixture $T/afile: Not a directory" stat --fixture "$T/afile"
data_err "--fixture that does not exist" "fixture $T/none: No such file or directory" \
    stat --fixture "$T/none"

# a minimal /proc-style fixture, written here so it does not depend on root
mk() {
    local d="$T/$1"; rm -rf "$d"; mkdir -p "$d/net" "$d/sys/net/ipv4"
    echo "32768	60999" > "$d/sys/net/ipv4/ip_local_port_range"
    echo 2 > "$d/sys/net/ipv4/tcp_tw_reuse"; echo 1 > "$d/sys/net/ipv4/tcp_timestamps"
    echo 4096 > "$d/sys/net/ipv4/tcp_max_tw_buckets"
    printf 'sockets: used 3\nTCP: inuse 1 orphan 0 tw 1 alloc 2 mem 1\n' > "$d/net/sockstat"
    printf '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n' > "$d/net/tcp"
    printf '   0: 0100007F:1B58 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n' >> "$d/net/tcp"
    printf '   1: 0100007F:A000 0100007F:1B58 06 00000000:00000000 03:000014B2 00000000     0        0 0 3 0000000000000000\n' >> "$d/net/tcp"
}
mk good
"$TWKIT" stat --json --fixture "$T/good" > "$T/out"; eq "hand-made fixture exit" $? 0
eq "hand-made fixture: 1 TIME_WAIT" "$(jq -r '.namespaces[0].time_wait.total' "$T/out")" 1
eq "hand-made fixture: expiry 52.98 s -> 50-55 bucket" "$(jq -r '.namespaces[0].time_wait.expiry[10].count' "$T/out")" 1
mk badline; sed -i '3s/0100007F:A000/01Z0007F:A000/' "$T/badline/net/tcp"
data_err "malformed /proc line" "net/tcp line 3: malformed" stat --fixture "$T/badline"
mk badstate; sed -i '3s/ 06 / 0E /' "$T/badstate/net/tcp"
data_err "unknown state" "line 3: unknown TCP state" stat --fixture "$T/badstate"
mk short; sed -i '3s/ 0 3 0000000000000000//; 3s/00000000     0        0 0$//' "$T/short/net/tcp"
data_err "short /proc line" "line 3" stat --fixture "$T/short"
mk header; sed -i '1d' "$T/header/net/tcp"
data_err "missing header" "header" stat --fixture "$T/header"
mk nosockstat; rm "$T/nosockstat/net/sockstat"
data_err "missing sockstat" "sockstat" stat --fixture "$T/nosockstat"
mk badsockstat; echo "TCP: inuse x" > "$T/badsockstat/net/sockstat"
data_err "malformed sockstat" "sockstat" stat --fixture "$T/badsockstat"
mk badrange; echo "60999 1024" > "$T/badrange/sys/net/ipv4/ip_local_port_range"
data_err "malformed port range" "ip_local_port_range" stat --fixture "$T/badrange"
mk nofile; rm "$T/nofile/net/tcp"
data_err "no dump in fixture" "expected sock_diag.bin or net/tcp" stat --fixture "$T/nofile"
data_err "fixture dir missing" "fixture" stat --fixture "$T/does-not-exist"
finish
