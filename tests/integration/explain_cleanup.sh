#!/bin/bash
# twkit explain leaves nothing behind, however it ends: killed with SIGKILL
# early in a run (0.2 s), in the middle of the scenarios (1.2 s: a segment
# is held on the wire) and while --wait waits for TIME_WAIT to end; stopped
# by SIGINT (at 1.2 s and during --wait) or SIGTERM (at 0.2 s).  After each: no process of the command (run
# from a private copy of the binary, so it is recognisable by
# /proc/PID/exe), no network namespace of its hosts still in use (so no
# tun device and no socket), no new interface in the namespace it ran from
# (the test runs in a private one, as other tests change the host's), and
# no file beside the --svg and --pcap outputs it had not written yet.
# SIGINT exits 130 and SIGTERM 143, with every namespace removed.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
in_private_netns "$@"
dir=$(mktemp -d /tmp/twkit-explain-cleanup.XXXXXX)
trap 'rm -rf "$dir"' EXIT
bin=$dir/twkit-explain-cleanup
cp "$OUT/twkit" "$bin"
mkdir "$dir/out"

# One find per scan: a readlink per process forks too much on a busy host.
pids() { # processes running the copy (zombies waiting to be reaped aside)
    find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$bin" -printf '%h\n' 2>/dev/null |
        while read -r d; do grep -q '^State:.*Z' "$d/status" 2>/dev/null || echo "${d#/proc/}"; done
}
its_netns() { # network namespaces the command's processes are in (not ours)
    local mine list
    mine=$(readlink /proc/self/ns/net)
    list=$(pids | sed 's|.*|/proc/&/ns/net|')
    [ -n "$list" ] || return 0
    # shellcheck disable=SC2086
    # (a process exiting as we look has an unreadable link: an empty line)
    find $list -maxdepth 0 -printf '%l\n' 2>/dev/null | grep -x 'net:\[[0-9]*\]' |
        grep -vxF "$mine" | sort -u
}
in_use() { # is any process in one of the namespaces listed in file $1?
    find /proc -mindepth 3 -maxdepth 3 -path '*/ns/net' -printf '%l\n' 2>/dev/null |
        grep -x 'net:\[[0-9]*\]' | sort -u | grep -qxFf "$1"
}
processes() { pids; }
who_uses() { # the processes in one of the namespaces listed in file $1
    find /proc -mindepth 3 -maxdepth 3 -path '*/ns/net' -printf '%h %l\n' 2>/dev/null |
        grep -Ff "$1" | while read -r d _; do
            d=${d%/ns}
            echo "${d#/proc/} $(cat "$d/comm" 2>/dev/null) $(grep '^State' "$d/status" 2>/dev/null |
                tr -s '\t ' ' ') exe=$(readlink "$d/exe" 2>/dev/null) ppid=$(awk '/^PPid/{print $2}' "$d/status" 2>/dev/null)"
        done
}
links_before=$(ip -o link | awk -F': ' '{print $2}' | sort)

for case in KILL:0.2 KILL:1.2 KILL:wait INT:1.2 INT:wait TERM:0.2; do
    sig=${case%:*} at=${case#*:}
    {
        args=(explain --svg "$dir/out/x.svg" --pcap "$dir/out/x.pcapng")
        [ "$at" = wait ] && args=(explain close:with-time-wait --wait --svg "$dir/out/x.svg")
        "$bin" "${args[@]}" >"$dir/stdout" 2>"$dir/stderr" &
        pid=$!
        sleep "$([ "$at" = wait ] && echo 1.5 || echo "$at")"
        # the detector must see the live command and its hosts first
        for _ in $(seq 20); do
            its_netns >"$dir/ns"; [ -s "$dir/ns" ] && break; sleep 0.05
        done
        if [ ! -s "$dir/ns" ]; then fail "SIG$sig at $at: no host namespace seen while running"; fi
        [ -n "$(processes)" ] || fail "SIG$sig at $at: no process seen while running"
        kill -s "$sig" "$pid" 2>/dev/null
        wait "$pid"
        rc=$?
        case $sig in
        INT) eq "SIGINT at $at: exit status" "$rc" 130 ;;
        TERM) eq "SIGTERM at $at: exit status" "$rc" 143 ;;
        KILL) eq "SIGKILL at $at: killed" "$rc" 137 ;;
        esac
        # the kernel tears namespaces down asynchronously: give it a moment
        clean=0
        for _ in $(seq 50); do
            if [ -z "$(processes)" ] && ! in_use "$dir/ns"; then clean=1; break; fi
            sleep 0.1
        done
        if [ $clean -eq 1 ]; then
            ok "SIG$sig at $at: no process and no host namespace left"
        else
            fail "SIG$sig at $at: left processes [$(processes | tr '\n' ' ')]" \
                "$(in_use "$dir/ns" && echo "and a namespace in use: $(tr '\n' ' ' <"$dir/ns")(ours: $(readlink /proc/self/ns/net), the host's: $(readlink /proc/1/ns/net)), by:" && who_uses "$dir/ns" | head -5)"
        fi
        eq "SIG$sig at $at: our interfaces" "$(ip -o link | awk -F': ' '{print $2}' | sort)" \
            "$links_before"
        eq "SIG$sig at $at: no file in the output directory" "$(ls -A "$dir/out")" ""
    }
done
finish
