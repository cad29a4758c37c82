#!/bin/bash
# --record DIR (issue 9 item 7): a recording goes into a new or empty
# directory, whole; recording into a directory that holds another recording
# is refused (exit 1) and leaves it as it was, so that a replay never mixes
# the dump of one namespace with the kernel files of another.  On the real
# kernel, in two private namespaces with different sockets and sysctls.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq
T=$(mktemp -d)
trap 'stop_sockgen; rm -rf "$T"' EXIT
TWKIT=$(cd "$(dirname "$TWKIT")" && pwd)/$(basename "$TWKIT")
HELPERS=$(cd "$HELPERS" && pwd)

# rec NAME RANGE TW ARGS...: in a new namespace with TW TIME_WAIT and the
# port range RANGE, run twkit stat ARGS (json to $T/NAME.json, status to $T/NAME.rc)
rec() {
    local name=$1 range=$2 n=$3; shift 3
    unshare --net -- bash -c '
        ip link set lo up
        sysctl -qw net.ipv4.ip_local_port_range="$1"
        "$2/sockgen" listen 127.0.0.1 7000 twc any 127.0.0.1 7000 "$3" hold > "$4.ready" &
        pid=$!
        for i in $(seq 100); do grep -q ready "$4.ready" && break; sleep 0.05; done
        shift 4
        "$TWKIT" stat --json "$@"; echo $? > "$T/rc"
        kill $pid' _ "$range" "$HELPERS" "$n" "$T/$name" "$@" >"$T/$name.json" 2>"$T/$name.err"
    cat "$T/rc" >"$T/$name.rc"
}
export TWKIT T
tree() { (cd "$1" && find . -type f -exec md5sum {} + | sort); }

rec a "40000 40999" 6 --record "$T/out"
eq "first recording: exit" "$(cat "$T/a.rc")" 0
eq "first recording replays" "$("$TWKIT" stat --json --fixture "$T/out" | jq -c '.namespaces[0] | [.time_wait.total, .port_pressure.range.low]')" \
    "$(jq -c '.namespaces[0] | [.time_wait.total, .port_pressure.range.low]' "$T/a.json")"
tree "$T/out" >"$T/before"

rec b "50000 50999" 9 --source proc --record "$T/out"
eq "into a non-empty directory: exit 1" "$(cat "$T/b.rc")" 1
check "into a non-empty directory: says why" grep -q "not empty" "$T/b.err"
check "into a non-empty directory: nothing on stdout" test ! -s "$T/b.json"
tree "$T/out" >"$T/after"
check "the first recording is left as it was" cmp -s "$T/before" "$T/after"
eq "a replay is still the first namespace, whole" \
    "$("$TWKIT" stat --json --fixture "$T/out" | jq -c '.namespaces[0] | [.time_wait.total, .port_pressure.range.low, .time_wait.sockstat_check.agrees]')" \
    "[6,40000,true]"

mkdir "$T/empty"
rec c "50000 50999" 9 --source proc --record "$T/empty/"
eq "into an empty directory: exit" "$(cat "$T/c.rc")" 0
eq "into an empty directory: replays" \
    "$("$TWKIT" stat --json --fixture "$T/empty" | jq -c '.namespaces[0] | [.source, .time_wait.total, .port_pressure.range.low]')" \
    '["fixture",9,50000]'

rec d "50000 50999" 1 --record "$T/new/sub/dir"
eq "into a new nested directory: exit" "$(cat "$T/d.rc")" 0
check "into a new nested directory: sock_diag.bin" test -s "$T/new/sub/dir/sock_diag.bin"

: >"$T/file"
rec e "50000 50999" 1 --record "$T/file"
eq "onto a file: exit 1" "$(cat "$T/e.rc")" 1
check "onto a file: says why" grep -q "not a directory" "$T/e.err"

eq "no temporary directory left behind" "$(find "$T" -name '*.twkit-*' | wc -l)" 0
finish
