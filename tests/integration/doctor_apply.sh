#!/bin/bash
# `twkit doctor --write-sysctl / --apply / --rollback`, for real, inside a
# private mount and network namespace: tmpfs over /etc/sysctl.d and /var/lib
# there, so the host's /etc and sysctls are never touched (checked at the
# end).  Cases: apply then rollback restores every value exactly and the
# previous drop-in byte for byte; a second apply is refused; rollback with
# nothing to roll back; --apply without root; an apply interrupted while
# writing the drop-in (RLIMIT_FSIZE: SIGXFSZ) leaves no half-written file
# and can be rolled back; --write-sysctl output parses back.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq setpriv prlimit
LOAD=$HELPERS/doctor_load
[ -x "$LOAD" ] || skip "needs $LOAD (make all)"
unshare --mount --net true 2>/dev/null || skip "cannot create a mount namespace here"

KEYS="net.ipv4.tcp_tw_reuse net.ipv4.tcp_tw_reuse_delay net.ipv4.tcp_timestamps
      net.ipv4.tcp_max_tw_buckets net.ipv4.tcp_rfc1337 net.ipv4.ip_local_port_range
      net.ipv4.tcp_fin_timeout"
snap() { for k in $KEYS; do printf '%s=%s\n' "$k" "$(sysctl -n "$k" 2>/dev/null)"; done; }

if [ -z "${TW_IN_MNTNS:-}" ]; then
    host_before=$(snap)
    host_etc_before=$(ls -la --time-style=+%s /etc/sysctl.d; sha256sum /etc/sysctl.d/* 2>/dev/null)
    host_state_before=$(ls -la /var/lib/twkit 2>&1)
    TW_IN_MNTNS=1 unshare --mount --net --propagation private -- bash "$0"
    rc=$?
    eq "host sysctls untouched" "$(snap)" "$host_before"
    eq "host /etc/sysctl.d untouched" "$(ls -la --time-style=+%s /etc/sysctl.d; sha256sum /etc/sysctl.d/* 2>/dev/null)" "$host_etc_before"
    eq "host /var/lib/twkit untouched" "$(ls -la /var/lib/twkit 2>&1)" "$host_state_before"
    finish || exit 1
    exit $rc
fi

# ---- inside the private namespaces ------------------------------------------
ip link set lo up
mount -t tmpfs twkit-test /etc/sysctl.d || skip "cannot mount tmpfs over /etc/sysctl.d"
mount -t tmpfs twkit-test /var/lib || skip "cannot mount tmpfs over /var/lib"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
DROPIN=/etc/sysctl.d/90-twkit.conf
STATE=/var/lib/twkit/doctor-rollback

# A load that justifies two changes: non-loopback pressure with tcp_tw_reuse=2
# (-> tcp_tw_reuse = 1) and a same-parity range (-> 40000 40101).
sysctl -qw net.ipv4.ip_local_port_range="40000 40100" net.ipv4.tcp_rfc1337=1
ip addr add 198.18.0.1/32 dev lo
"$LOAD" --connect 198.18.0.1:9001 --count 60 >/dev/null
before=$(snap)

# --write-sysctl: dry run, file parses back, nothing applied
"$TWKIT" doctor --sample 0.3 --write-sysctl "$T/out.conf" >/dev/null 2>"$T/err"; rc=$?
eq "--write-sysctl exit" "$rc" 0
eq "--write-sysctl changed nothing" "$(snap)" "$before"
check "no drop-in written by a dry run" test ! -e "$DROPIN"
eq "settings in the file" "$(grep -v '^#' "$T/out.conf" | grep -c .)" 2
check "tcp_tw_reuse line" grep -qx 'net.ipv4.tcp_tw_reuse = 1' "$T/out.conf"
check "port range line" grep -qx 'net.ipv4.ip_local_port_range = 40000 40101' "$T/out.conf"
check "sysctl(8) accepts the file" sysctl -q -p "$T/out.conf"
for k in $KEYS; do sysctl -qw "$k=$(sed -n "s/^$k=//p" <<<"$before")" 2>/dev/null; done
eq "values put back after sysctl -p" "$(snap)" "$before"

# a previous drop-in must come back byte for byte
printf '# kept by the admin\nnet.ipv4.tcp_keepalive_time = 600\n' >"$DROPIN"
cp "$DROPIN" "$T/prev"

"$TWKIT" doctor --sample 0.3 --apply --json >"$T/j" 2>"$T/err"; rc=$?
eq "--apply exit" "$rc" 0
eq "JSON says applied" "$(jq -r .applied "$T/j")" true
eq "tcp_tw_reuse now" "$(sysctl -n net.ipv4.tcp_tw_reuse)" 1
eq "port range now" "$(sysctl -n net.ipv4.ip_local_port_range | tr '\t' ' ')" "40000 40101"
check "drop-in has the change" grep -qx 'net.ipv4.tcp_tw_reuse = 1' "$DROPIN"
check "state recorded" test -s "$STATE"
check "previous drop-in saved" cmp -s "$STATE.dropin" "$T/prev"

sysctl -qw net.ipv4.tcp_tw_reuse=2  # a change is justified again
"$TWKIT" doctor --sample 0 --apply >/dev/null 2>"$T/err"; rc=$?
eq "second --apply refused" "$rc" 1
eq "refused before changing anything" "$(sysctl -n net.ipv4.tcp_tw_reuse)" 2
check "says to roll back first" grep -q "rollback" "$T/err"

"$TWKIT" doctor --rollback >/dev/null 2>"$T/err"; rc=$?
eq "--rollback exit" "$rc" 0
eq "every value as before" "$(snap)" "$before"
check "previous drop-in restored byte for byte" cmp -s "$DROPIN" "$T/prev"
check "state removed" test ! -e "$STATE" -a ! -e "$STATE.dropin"

"$TWKIT" doctor --rollback >/dev/null 2>"$T/err"; rc=$?
eq "--rollback with nothing to roll back" "$rc" 1
check "clear message" grep -q "nothing to roll back" "$T/err"

# no root: a clear message, nothing changed
rm -f "$DROPIN"
setpriv --reuid=65534 --regid=65534 --clear-groups "$TWKIT" doctor --sample 0 --root "$T" --apply >/dev/null 2>"$T/err"; rc=$?
eq "--apply as nobody" "$rc" 1
check "says root is needed" grep -q "needs root" "$T/err"
eq "nothing changed" "$(snap)" "$before"

# an apply interrupted while writing the drop-in (file size limit: the small
# state file fits in 400 bytes, the drop-in does not): SIGXFSZ kills it
rm -f "$DROPIN"
prlimit --fsize=400 -- "$TWKIT" doctor --sample 0 --apply >/dev/null 2>&1; rc=$?
check "the apply was killed (rc $rc)" test "$rc" -gt 128
check "no drop-in, not even half of one" test ! -e "$DROPIN"
eq "nothing else in /etc/sysctl.d" "$(ls -A /etc/sysctl.d | wc -l)" 0
check "state was recorded first" test -s "$STATE"
"$TWKIT" doctor --rollback >/dev/null 2>"$T/err"; rc=$?
eq "rollback after the interrupted apply" "$rc" 0
eq "every value as before" "$(snap)" "$before"
check "no drop-in after rollback" test ! -e "$DROPIN"

# malformed state file: refused with the line number
mkdir -p /var/lib/twkit
printf 'netns 1\nbogus line\n' >"$STATE"
"$TWKIT" doctor --rollback >/dev/null 2>"$T/err"; rc=$?
eq "malformed state" "$rc" 1
check "names the line" grep -q "line 2: malformed" "$T/err"
printf 'netns 1\ndropin absent /etc/sysctl.d/90-twkit.conf\nsysctl kernel.panic 1\n' >"$STATE"
"$TWKIT" doctor --rollback >/dev/null 2>"$T/err"; rc=$?
eq "state with a key doctor does not manage" "$rc" 1
check "refuses the key, names the line" grep -q "line 3: malformed" "$T/err"
rm -f "$STATE"
finish
