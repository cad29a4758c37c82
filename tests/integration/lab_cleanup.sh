#!/bin/bash
# twkit lab leaves nothing behind, however it ends: killed with SIGKILL or
# interrupted with SIGINT at several points (0.3 s: the first scenario
# exhausts its ports; 1.5 s: the middle of a run; and as soon as nginx runs
# in the proxy host).  After each, no process of the lab (run from a private copy of the
# binary, so it is recognisable by /proc/PID/exe), no nginx of the lab, no
# new network namespace, no new interface, no /run/netns entry, no tmpfs
# mount and no temporary file may remain.
#
# The lab runs from a private network namespace of this test (a holder
# process keeps it), so that the interfaces it is checked against are its
# own and not those other work on a shared machine creates meanwhile; for
# /run/netns (host-wide) the check is that no entry holds a lab namespace.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
set -o pipefail
need_root
not_sanitized "six lab runs killed at chosen moments, most of a minute of waiting for processes and namespaces to go (the lab's code runs under the sanitizers in lab_fixes, lab_numbers, lab_outputs); make test runs it"
dir=$(mktemp -d /tmp/twkit-lab-cleanup.XXXXXX)
trap 'rm -rf "$dir"' EXIT
bin=$dir/twkit-lab-cleanup
cp "$TWKIT" "$bin"
unshare -n sleep 900 &
holder=$!
trap 'kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null; rm -rf "$dir"' EXIT
mine=$(readlink /proc/self/ns/net)
for _ in $(seq 100); do
    hns=$(readlink "/proc/$holder/ns/net" 2>/dev/null)
    [ -n "$hns" ] && [ "$hns" != "$mine" ] && break; sleep 0.02
done
[ -n "$hns" ] && [ "$hns" != "$mine" ] || { echo "FAIL: cannot make the test's private namespace"; exit 1; }
in_holder() { nsenter -t "$holder" -n "$@"; }

lab_netns() { # network namespaces the lab's processes are in (not ours)
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$bin" ] || continue
        readlink "$p/ns/net" 2>/dev/null
    done | grep -vxF -e "$mine" -e "$hns" | sort -u
}
in_use() { # is any process in one of the namespaces listed in file $1?
    for p in /proc/[0-9]*; do readlink "$p/ns/net" 2>/dev/null; done | sort -u | grep -qxFf "$1"
}
leftovers() {
    local n=0
    for p in /proc/[0-9]*; do
        exe=$(readlink "$p/exe" 2>/dev/null) || continue
        if [ "$exe" = "$bin" ]; then echo "left: lab process ${p#/proc/}"; n=$((n+1)); fi
        if [ "$exe" = /usr/sbin/nginx ] && tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q twkit-nginx; then
            echo "left: nginx ${p#/proc/}"; n=$((n+1))
        fi
    done
    if grep -q twkit-lab /proc/self/mountinfo; then echo "left: tmpfs mount"; n=$((n+1)); fi
    if ls /tmp | grep -q '^twkit-nginx'; then echo "left: /tmp/twkit-nginx"; n=$((n+1)); fi
    return $n
}

links() { in_holder ip -o link | awk -F': ' '{print $2}' | sort; }
run_netns_labs() { # /run/netns entries that hold one of the namespaces in file $1
    local f
    for f in /run/netns/*; do
        [ -e "$f" ] || continue
        i=$(stat -L -c %i "$f" 2>/dev/null) || continue
        grep -qxF "net:[$i]" "$1" && echo "$f"
    done
}
before_links=$(links)

# scenario list: a quick one, a 3 s one, then nginx (if installed)
args=(short tw-reuse nginx -p 40000-40199 -r 500 -d 3 -C 16)
for sig in KILL INT; do
    for at in 0.3 1.5 nginx; do
        # (not through in_holder: $! would be the function's subshell, and
        # the signal would stop it and leave the lab running to its end;
        # nsenter execs the lab, so $! is the lab)
        nsenter -t "$holder" -n "$bin" lab "${args[@]}" >"$dir/out" 2>"$dir/err" &
        pid=$!
        if [ "$at" = nginx ]; then  # kill while nginx runs in the proxy host
            for _ in $(seq 300); do pgrep -f -- "-p /tmp/twkit-nginx" >/dev/null && break; sleep 0.05; done
        else
            sleep "$at"
        fi
        # the detector must see the live lab first, or the check below is void
        leftovers >"$dir/live"
        for _ in $(seq 100); do  # between two runs there may be no host for a moment
            lab_netns >"$dir/ns"; [ -s "$dir/ns" ] && break; sleep 0.05
        done
        check "SIG$sig at ${at}s: the detector sees the lab's namespaces" test -s "$dir/ns"
        check "SIG$sig at ${at}s: the detector sees the lab's processes" grep -q 'lab process' "$dir/live"
        if [ "$at" = nginx ]; then
            if [ -x /usr/sbin/nginx ]; then
                check "SIG$sig at ${at}s: the detector sees nginx" grep -q nginx "$dir/live"
            else
                skip_case "SIG$sig while nginx runs" "nginx is not installed"
            fi
        fi
        kill -s "$sig" "$pid" 2>/dev/null
        wait "$pid"
        rc=$?
        if [ "$sig" = INT ]; then
            # (every moment is before the runs' end: 0.3 s and 1.5 s into a
            # 3 s run, or while nginx serves the last one)
            eq "SIGINT at ${at}s: exit status (interrupted)" "$rc" 130
        fi
        # the kernel tears namespaces down asynchronously: give it a moment
        ok=0
        for _ in $(seq 50); do
            if leftovers >/dev/null && ! in_use "$dir/ns"; then ok=1; break; fi
            sleep 0.1
        done
        if [ $ok -ne 1 ]; then
            fail "SIG$sig at ${at}s left something behind"; leftovers
            in_use "$dir/ns" && echo "left: a process in one of: $(tr '\n' ' ' <"$dir/ns")"
        else
            ok "SIG$sig at ${at}s (exit $rc): nothing left"
        fi
        check "SIG$sig at ${at}s: interfaces unchanged" test "$(links)" = "$before_links"
        check "SIG$sig at ${at}s: no /run/netns entry holds a lab namespace" \
            test -z "$(run_netns_labs "$dir/ns")"
    done
done
finish
