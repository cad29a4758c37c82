#!/bin/bash
# `twkit doctor --write-sysctl / --apply / --rollback`, for real, inside
# private PID, mount and network namespaces (a container: its PID 1 is this
# script, so its network namespace is "the host's" for doctor): tmpfs over
# /etc/sysctl.d, /var/lib and /run there, so the real host's /etc and
# sysctls are never touched (checked at the end).  Cases: apply then
# rollback restores every value exactly and the previous drop-in byte for
# byte; after --apply the view is measured again and ends with the exact
# rollback command (--root included); an all-clear host (info findings
# only) gets nothing applied; a second apply is refused; rollback with
# nothing to roll back; --apply without root; an apply interrupted while
# writing the drop-in (RLIMIT_FSIZE: SIGXFSZ) leaves no half-written file
# and can be rolled back; --write-sysctl output parses back.  And for
# another namespace (issue 9 item 5): --netns X --apply sets the values in X
# only and writes nothing the host loads at boot, --rollback with the same
# --netns restores them, --write-sysctl refuses a boot path, and an apply
# run from inside a namespace (no --netns) is live-only too.
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
    TW_IN_MNTNS=1 unshare --mount --net --pid --fork --mount-proc --propagation private -- bash "$0"
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
mount -t tmpfs twkit-test /run || skip "cannot mount tmpfs over /run"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
DROPIN=/etc/sysctl.d/90-twkit.conf
STATE=/var/lib/twkit/doctor-rollback

eq "this namespace is the host's for doctor (PID 1's)" "$(readlink /proc/1/ns/net)" "$(readlink /proc/self/ns/net)"

# An all-clear host: a same-parity range is only an info finding, whose
# suggested value --apply must not set (issue 9 item 20)
sysctl -qw net.ipv4.ip_local_port_range="40000 40100" net.ipv4.tcp_rfc1337=1
"$TWKIT" doctor --sample 0 --apply --json >"$T/j" 2>"$T/err"; rc=$?
eq "--apply on an all-clear host: exit" "$rc" 0
eq "worst is info" "$(jq -r .worst "$T/j")" info
eq "the info finding keeps its suggestion" "$(jq -r '.findings[] | select(.id=="port-range-parity") | .sysctl.value' "$T/j")" "40000 40101"
eq "nothing applied" "$(jq -r .applied "$T/j")" false
eq "range unchanged" "$(sysctl -n net.ipv4.ip_local_port_range | tr '\t' ' ')" "40000 40100"
check "no drop-in" test ! -e "$DROPIN"
check "no state" test ! -e "$STATE"

# A load that justifies a change: non-loopback pressure with tcp_tw_reuse=2
# (-> tcp_tw_reuse = 1), and the same-parity range (info: suggested only).
ip addr add 198.18.0.1/32 dev lo
"$LOAD" --connect 198.18.0.1:9001 --count 60 >/dev/null
before=$(snap)

# --write-sysctl: dry run, file parses back, nothing applied
"$TWKIT" doctor --sample 0.3 --write-sysctl "$T/out.conf" >/dev/null 2>"$T/err"; rc=$?
eq "--write-sysctl exit" "$rc" 0
eq "--write-sysctl changed nothing" "$(snap)" "$before"
check "no drop-in written by a dry run" test ! -e "$DROPIN"
eq "settings in the file (warn and crit only)" "$(grep -v '^#' "$T/out.conf" | grep -c .)" 1
check "tcp_tw_reuse line" grep -qx 'net.ipv4.tcp_tw_reuse = 1' "$T/out.conf"
check "the info finding's range is not in it" bash -c "! grep -q ip_local_port_range '$T/out.conf'"
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
eq "port range unchanged (info)" "$(sysctl -n net.ipv4.ip_local_port_range | tr '\t' ' ')" "40000 40100"
check "drop-in has the change" grep -qx 'net.ipv4.tcp_tw_reuse = 1' "$DROPIN"
# the view after --apply is measured again (issue 9 item 20)
eq "scope" "$(jq -r .apply.scope "$T/j")" host
eq "the drop-in written" "$(jq -r .apply.dropin "$T/j")" "$DROPIN"
eq "findings measured after the change" "$(jq -r .apply.findings_after "$T/j")" true
eq "applied change, with the value before" "$(jq -c '.apply.changes[] | [.key, .value, .previous, .finding]' "$T/j")" \
    '["net.ipv4.tcp_tw_reuse","1","2","tw-reuse-loopback-only"]'
eq "the kernel section shows the new value" "$(jq -r .kernel.tcp_tw_reuse "$T/j")" 1
eq "the finding it fixed is gone" "$(jq '[.findings[] | select(.id=="tw-reuse-loopback-only")] | length' "$T/j")" 0
eq "the rollback command" "$(jq -r .apply.rollback "$T/j")" "twkit doctor --rollback"
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

# with --root, the text view's undo line names it (issue 9 item 20)
mkdir -p "$T/r"
"$TWKIT" doctor --sample 0 --root "$T/r" --apply >"$T/out" 2>"$T/err"; rc=$?
eq "--apply --root exit" "$rc" 0
check "says what it did" grep -qF "Applied 1 change to this namespace and wrote $T/r$DROPIN, so that it holds after a reboot:" <(tr '\n' ' ' <"$T/out" | tr -s ' ')
check "undo line with --root" grep -qx "Undo: twkit doctor --root $T/r --rollback" "$T/out"
check "measured again" grep -q "^Measured again after the change:" "$T/out"
eq "the view after --apply fits 80 columns" "$(awk 'length > 80' "$T/out" | wc -l)" 0
check "drop-in below --root" test -s "$T/r$DROPIN"
"$TWKIT" doctor --root "$T/r" --rollback >/dev/null 2>"$T/err"; rc=$?
eq "the undo line works" "$rc" 0
eq "every value as before" "$(snap)" "$before"
check "no drop-in below --root" test ! -e "$T/r$DROPIN"
# a --root that needs quoting: the rollback command given is one a shell runs as is
mkdir -p "$T/q 'x"
"$TWKIT" doctor --sample 0 --root "$T/q 'x" --apply --json >"$T/j" 2>"$T/err"; rc=$?
eq "--apply with an odd --root" "$rc" 0
eq "its rollback command, quoted" "$(jq -r .apply.rollback "$T/j")" "twkit doctor --root '$T/q '\\''x' --rollback"
( TWKIT_BIN=$TWKIT; twkit() { "$TWKIT_BIN" "$@"; }; eval "$(jq -r .apply.rollback "$T/j")" ) >/dev/null 2>&1; rc=$?
eq "and it runs as given" "$rc" 0
eq "every value as before" "$(snap)" "$before"

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

# ---- another namespace: live values there only, nothing the host loads -------
unshare --net sleep 120 &
NSP=$!
for _ in $(seq 100); do [ "$(readlink /proc/$NSP/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.02; done
trap 'kill $NSP 2>/dev/null; rm -rf "$T"' EXIT
nsenter -t $NSP -n sh -c 'ip link set lo up; ip addr add 198.18.0.1/32 dev lo;
    sysctl -qw net.ipv4.ip_local_port_range="40000 40099" net.ipv4.tcp_rfc1337=1'
nsenter -t $NSP -n "$LOAD" --connect 198.18.0.1:9001 --count 60 >/dev/null
ns_snap() { nsenter -t $NSP -n bash -c "$(declare -f snap); KEYS='$KEYS'; snap"; }
ns_before=$(ns_snap)
here_before=$(snap)
rm -f "$DROPIN"
"$TWKIT" doctor --netns $NSP --sample 0 --apply --json >"$T/j" 2>"$T/err"; rc=$?
eq "--netns --apply exit" "$rc" 0
eq "scope" "$(jq -r .apply.scope "$T/j")" netns
eq "no drop-in reported" "$(jq -r .apply.dropin "$T/j")" null
check "nothing written to /etc/sysctl.d" test ! -e "$DROPIN"
eq "nothing else in /etc/sysctl.d" "$(ls -A /etc/sysctl.d | wc -l)" 0
check "no host rollback state" test ! -e "$STATE"
eq "tcp_tw_reuse set in that namespace" "$(nsenter -t $NSP -n sysctl -n net.ipv4.tcp_tw_reuse)" 1
eq "this namespace untouched" "$(snap)" "$here_before"
eq "its state under /run/twkit" "$(ls /run/twkit | grep -c '^doctor-rollback.netns-')" 1
eq "the rollback command names the namespace" "$(jq -r .apply.rollback "$T/j")" "twkit doctor --netns $NSP --rollback"
nsenter -t $NSP -n sysctl -qw net.ipv4.tcp_tw_reuse=2 # a change is justified again
"$TWKIT" doctor --netns $NSP --sample 0 --apply >/dev/null 2>"$T/err"; rc=$?
eq "a second --netns apply: refused" "$rc" 1
check "says to roll back with the same --netns" grep -q "same --netns" "$T/err"
nsenter -t $NSP -n sysctl -qw net.ipv4.tcp_tw_reuse=1
"$TWKIT" doctor --rollback >/dev/null 2>"$T/err"; rc=$?
eq "a host rollback does not touch it" "$rc" 1
eq "still set there" "$(nsenter -t $NSP -n sysctl -n net.ipv4.tcp_tw_reuse)" 1
"$TWKIT" doctor --netns $NSP --rollback >"$T/out" 2>"$T/err"; rc=$?
eq "--netns --rollback exit" "$rc" 0
eq "every value there as before" "$(ns_snap)" "$ns_before"
eq "its state removed" "$(ls /run/twkit | grep -c '^doctor-rollback.netns-')" 0
# the text view says it plainly
"$TWKIT" doctor --netns $NSP --sample 0 --apply >"$T/out" 2>"$T/err"; rc=$?
eq "--netns --apply (text) exit" "$rc" 0
check "says live, in that namespace only" grep -qF "Applied 1 change live to this namespace only; nothing written to the host's boot configuration" <(tr '\n' ' ' <"$T/out" | tr -s ' ')
check "undo line" grep -qx "Undo: twkit doctor --netns $NSP --rollback" "$T/out"
"$TWKIT" doctor --netns $NSP --rollback >/dev/null 2>&1
eq "rolled back again" "$(ns_snap)" "$ns_before"
# from inside the namespace, without --netns: live only as well
nsenter -t $NSP -n "$TWKIT" doctor --sample 0 --apply --json >"$T/j" 2>"$T/err"; rc=$?
eq "apply from inside: exit" "$rc" 0
eq "apply from inside: scope" "$(jq -r .apply.scope "$T/j")" netns
check "apply from inside: no drop-in" test ! -e "$DROPIN"
nsenter -t $NSP -n "$TWKIT" doctor --rollback >/dev/null 2>"$T/err"; rc=$?
eq "rollback from inside" "$rc" 0
eq "every value there as before" "$(ns_snap)" "$ns_before"
# --write-sysctl for a namespace: never where the host boots from
"$TWKIT" doctor --netns $NSP --sample 0 --write-sysctl /etc/sysctl.d/91-ns.conf >/dev/null 2>"$T/err"; rc=$?
eq "--netns --write-sysctl into /etc/sysctl.d: refused" "$rc" 1
check "says why" grep -q "systemd-sysctl and procps .sysctl --system. read every \*.conf file in /etc/sysctl.d at boot" "$T/err"
check "not written" test ! -e /etc/sysctl.d/91-ns.conf
"$TWKIT" doctor --netns $NSP --sample 0 --write-sysctl "$T/ns.conf" >/dev/null 2>"$T/err"; rc=$?
eq "--netns --write-sysctl elsewhere" "$rc" 0
check "the file says it is for that namespace only" grep -q "For this namespace only" "$T/ns.conf"
check "sysctl(8) accepts it there" nsenter -t $NSP -n sysctl -q -p "$T/ns.conf"
"$TWKIT" doctor --netns $NSP --rollback >/dev/null 2>&1 # nothing applied: just in case
kill $NSP
finish
