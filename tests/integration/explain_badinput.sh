#!/bin/bash
# twkit explain on bad input and where it cannot run: a clear message and
# the documented exit status (2 usage, 1 runtime, 4 cannot run here),
# never a crash; --list needs no privilege; and the command runs without
# root where unprivileged user namespaces and a usable tun device allow.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need setpriv
dir=$(mktemp -d /tmp/twkit-explain-bad.XXXXXX)
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT
bin=$dir/twkit
cp "$OUT/twkit" "$bin"
chmod 755 "$bin"

# expect NAME STATUS PATTERN CMD...: the status, and PATTERN on stderr
expect() {
    local name=$1 want=$2 pat=$3
    shift 3
    "$@" >"$dir/out" 2>"$dir/err"
    eq "$name: exit status" "$?" "$want"
    if grep -qE -- "$pat" "$dir/err"; then ok "$name: says why"
    else fail "$name: stderr lacks /$pat/: $(head -3 "$dir/err")"; fi
}
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

expect "unknown scenario" 2 "unknown scenario 'nope' \(try 'twkit explain --list'\)" \
    "$bin" explain nope
expect "unknown variant" 2 "scenario close has no variant 'sideways'" \
    "$bin" explain close:sideways
expect "unknown option" 2 "Try 'twkit explain --help'" "$bin" explain --frobnicate
expect "-4 and -6 together" 2 "exclude each other" "$bin" explain -4 -6
expect "a control character in a name is escaped" 2 "unknown scenario 'x\\\\x1b\[2J'" \
    "$bin" explain $'x\033[2J'
# options that make no sense together are refused, never ignored
expect "--list with --json" 2 "--list and --json exclude each other" "$bin" explain --list --json
expect "--list with --wait" 2 "--list and --wait exclude each other" "$bin" explain --list --wait
expect "--list with --ascii" 2 "--list and --ascii exclude each other" \
    "$bin" explain --list --ascii
expect "--list with --check" 2 "--list and --check exclude each other" \
    "$bin" explain --list --check
expect "--list with a scenario" 2 "--list lists every scenario: it takes no scenario" \
    "$bin" explain --list close
expect "--ascii with --json" 2 "--json and --ascii exclude each other" \
    "$bin" explain --json --ascii close
expect "--wait without close:with-time-wait" 2 "--wait applies to close:with-time-wait only" \
    "$bin" explain --wait lost-ack close:without-time-wait
expect "--svg into a missing directory" 1 "cannot write the SVG file .*No such file" \
    "$bin" explain --svg /nonexistent/dir/x.svg
expect "--pcap onto a directory" 1 "cannot write the pcapng file .*Is a directory" \
    "$bin" explain --pcap "$dir"
expect "standard output on a full device" 1 "writing output: No space left" \
    sh -c "'$bin' explain close:without-time-wait >/dev/full"

as_nobody "$bin" explain --list >"$dir/list" 2>"$dir/err"
eq "--list without privileges: exit status" "$?" 0
eq "--list names six scenarios" "$(grep -c '^[a-z]' "$dir/list")" 6
eq "--list names every variant" "$(grep -c '^    [a-z-]*:' "$dir/list")" 17
eq "--list fits 80 columns" "$(awk 'length($0) > 80' "$dir/list" | head -3)" ""
eq "--list keeps every title whole (wrapped, not cut)" \
    "$(tr -s ' \n' '  ' <"$dir/list" | grep -c 'reused after tcp_tw_reuse_delay')" 1

expect "root without CAP_SYS_ADMIN" 4 "needs CAP_SYS_ADMIN" \
    setpriv --bounding-set=-sys_admin "$bin" explain close
# no tun support: a mount namespace where /dev/net has no tun node
expect "no tun device" 4 "no tun support" \
    unshare -m sh -c "mount -t tmpfs none /dev/net && exec '$bin' explain close"
if as_nobody unshare --user true 2>/dev/null; then
    # a tun node only root may open
    expect "a tun device this user may not open" 4 "/dev/net/tun: Permission denied" \
        unshare -m sh -c "mount -t tmpfs none /dev/net && mknod -m 600 /dev/net/tun c 10 200 &&
                          exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
                          '$bin' explain close"
    # without root: its own user namespace, and a tun node open to all (as
    # most distributions have it)
    unshare -m sh -c "mount -t tmpfs none /dev/net && mknod -m 666 /dev/net/tun c 10 200 &&
                      exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
                      '$bin' explain --check --json close lost-ack" >"$dir/unpriv.json" 2>"$dir/err"
    eq "without root: explain --check close lost-ack exit status" "$?" 0
    eq "without root: every expectation holds" \
        "$(jq '[.runs[].expectations[] | select(.ok | not)] | length' "$dir/unpriv.json")" 0
    eq "without root: SOCK_DESTROY works in its own namespaces" \
        "$(jq -r '.runs[] | select(.variant == "without-time-wait") | .events[] |
                  select(.what == "SOCK_DESTROY") | .result' "$dir/unpriv.json" | sort -u)" 0
else
    skip_case "a tun device this user may not open" "unprivileged user namespaces are disabled here"
    skip_case "without root" "unprivileged user namespaces are disabled here"
    # where they are disabled, a user gets the capability named
    expect "without root or user namespaces" 4 "needs root \(CAP_SYS_ADMIN" \
        as_nobody "$bin" explain close
fi
finish
