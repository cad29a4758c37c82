#!/bin/bash
# `twkit doctor` as a command: --help on stdout (exit 0), usage errors on
# stderr (exit 2), runtime errors (exit 1, or 3 with --exit-code), the JSON
# schema against docs/doctor-json.md, every option in the man page, and the
# 80-column human view.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need jq
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT

"$TWKIT" doctor --help >"$T/h" 2>"$T/e"; rc=$?
eq "--help exit" "$rc" 0
check "--help has Usage and Examples" grep -q "^Examples:" "$T/h"
eq "--help writes nothing on stderr" "$(wc -c <"$T/e")" 0
"$TWKIT" doctor -h >/dev/null; eq "-h exit" "$?" 0

usage() { # usage NAME ARGS...: exit 2, message on stderr, nothing on stdout
    local name=$1; shift
    "$TWKIT" doctor "$@" >"$T/o" 2>"$T/e"; local rc=$?
    eq "$name: exit" "$rc" 2
    check "$name: message on stderr" grep -q "twkit: " "$T/e"
    eq "$name: nothing on stdout" "$(wc -c <"$T/o")" 0
}
usage "unknown option" --bogus
usage "--sample abc" --sample abc
usage "--sample 61" --sample 61
usage "--sample -1" --sample -1
usage "--sample missing" --sample
usage "--rollback with --apply" --rollback --apply
usage "--quiet without --exit-code" -q
usage "--root relative" --root etc
usage "--root that does not exist" --root /nonexistent-twkit-$$
usage "--root that is a file" --root /etc/hostname
check "--root names the problem" grep -q "'/nonexistent-twkit-$$' is not a directory" <("$TWKIT" doctor --root /nonexistent-twkit-$$ 2>&1)
usage "--fixture with --apply" --fixture tests/fixtures/doctor/golden/healthy --apply
usage "--fixture with --sample" --fixture tests/fixtures/doctor/golden/healthy --sample 1
usage "stray argument" extra
check "--sample message is clear" grep -q "'99' is not a decimal number from 0 to 60" <("$TWKIT" doctor --sample 99 2>&1)

for opt in $("$TWKIT" doctor --help | grep -oE -- '--[a-z0-9-]+' | sort -u); do
    check "doctor $opt in twkit-doctor.1.scd" grep -q -- "\*$opt\*" docs/twkit-doctor.1.scd
done
# The rule ids come from the engine itself (--list-rules), never from its source.
"$TWKIT" doctor --list-rules >"$T/rules"; rc=$?
eq "--list-rules exit" "$rc" 0
ids=$(awk '{print $1}' "$T/rules")
check "--list-rules lists the rules (got $(wc -l <"$T/rules"))" test "$(wc -l <"$T/rules")" -ge 16
eq "--list-rules ids are unique" "$(sort "$T/rules" | awk '{print $1}' | uniq -d | wc -l)" 0
eq "--list-rules fits 80 columns" "$(awk 'length > 80' "$T/rules" | wc -l)" 0
eq "--list-rules --json has the same ids" "$("$TWKIT" doctor --list-rules --json | jq -r '.[].id' | tr "\n" " ")" "$(tr "\n" " " <<<"$ids")"
for id in $ids; do
    check "rule $id in the man page" grep -q -- "\*$id\*" docs/twkit-doctor.1.scd
    check "rule $id in doctor-json.md" grep -q -- "^| \`$id\` |" docs/doctor-json.md
done
# and the other way round: the docs name no rule the engine does not have
for id in $(sed -n '/^# RULES/,/^# /p' docs/twkit-doctor.1.scd | grep -oE '^\*[a-z][a-z0-9-]*\*(, \*[a-z][a-z0-9-]*\*)*' | grep -oE '[a-z][a-z0-9-]*'); do
    check "man page rule $id exists in the engine" grep -qx -- "$id" <<<"$ids"
done
for id in $(sed -n '/^## Rule ids/,/^## /s/^| `\([a-z0-9-]*\)` | .*/\1/p' docs/doctor-json.md); do
    check "doctor-json.md rule $id exists in the engine" grep -qx -- "$id" <<<"$ids"
done
usage "--list-rules with --apply" --list-rules --apply

if [ "$(id -u)" -eq 0 ] && unshare --net true 2>/dev/null; then
    "$TWKIT" doctor --netns twkit-no-such-ns-$$ >/dev/null 2>"$T/e"; rc=$?
    eq "--netns missing: exit" "$rc" 1
    check "--netns missing: clear message" grep -q "no network namespace 'twkit-no-such-ns-$$'" "$T/e"
    "$TWKIT" doctor --exit-code --netns twkit-no-such-ns-$$ >/dev/null 2>&1; rc=$?
    eq "--netns missing with --exit-code" "$rc" 3
    # JSON of a namespace with findings of every severity kind, against the doc
    unshare --net -- bash -c '
        ip link set lo up
        sysctl -qw net.ipv4.ip_local_port_range="40000 40100" net.ipv4.tcp_tw_reuse=0 net.ipv4.tcp_fin_timeout=5 net.ipv4.tcp_rfc1337=1
        "$1" --connect 127.0.0.1:9001 --count 95 >/dev/null
        mkdir -p "$2/root"
        "$3" doctor --root "$2/root" --sample 0.3 --json >"$2/j" 2>"$2/err"
        "$3" doctor --root "$2/root" --sample 0.3 -v >"$2/txt" 2>/dev/null' _ "$HELPERS/doctor_load" "$T" "$TWKIT"
    check "an empty --root is said (issue 9 item 20)" grep -q "no sysctl file below $T/root" "$T/err"
    eq "sysctl_files in JSON" "$(jq -r .sysctl_files "$T/j")" 0
    j=$(cat "$T/j")
    eq "schema" "$(jq -r .schema <<<"$j")" twkit.doctor.v1
    eq "worst" "$(jq -r .worst <<<"$j")" crit
    eq "exit_code field" "$(jq -r .exit_code <<<"$j")" 2
    for k in $(jq -r 'keys[]' <<<"$j") $(jq -r '.kernel | keys[]' <<<"$j") $(jq -r '.rates.deltas | keys[]' <<<"$j") \
             $(jq -r '.findings[0] | keys[]' <<<"$j") $(jq -r '.findings[].evidence | keys[]' <<<"$j" | sort -u); do
        check "JSON field '$k' documented" grep -q -- "\`$k\`\|$k" docs/doctor-json.md
    done
    check "findings worst first" jq -e '[.findings[].severity | {"crit":3,"warn":2,"info":1}[.]] as $s | $s == ($s | sort | reverse)' <<<"$j" >/dev/null
    check "every finding has explanation, source and fix" jq -e 'all(.findings[]; (.explanation|length) > 40 and (.source|length) > 5 and (.fix|length) > 5)' <<<"$j" >/dev/null
    eq "human view fits 80 columns" "$(awk 'length > 80' "$T/txt" | wc -l)" 0
    check "human view lists passed checks with -v" grep -q "^Passed:" "$T/txt"
else
    echo "  (not root: namespace cases skipped)"
fi

# --write-sysctl: the true reason a path is refused or would not hold at
# boot (systemd-sysctl and procps `sysctl --system` read only *.conf files
# directly in the sysctl.d directories, and /etc/sysctl.conf)
FX=tests/fixtures/doctor/golden/healthy
wsys() { "$TWKIT" doctor --fixture "$FX" --write-sysctl "$1" >/dev/null 2>"$T/e"; }
wsys /etc/sysctl.d/91-twkit-test-$$.conf
eq "a namespace's values into /etc/sysctl.d/*.conf: exit" $? 1
check "... names what reads it at boot" grep -qF \
    "/etc/sysctl.d/91-twkit-test-$$.conf: systemd-sysctl and procps \`sysctl --system\` read every *.conf file in /etc/sysctl.d at boot" "$T/e"
check "... not written" test ! -e /etc/sysctl.d/91-twkit-test-$$.conf
wsys /etc/sysctl.conf
check "/etc/sysctl.conf: procps reads it" grep -qF "procps \`sysctl --system\` reads /etc/sysctl.conf at boot" "$T/e"
wsys /nonexistent-twkit-$$/x.conf
eq "a directory that does not exist: exit" $? 1
check "... says so, not 'loaded at boot'" \
    grep -qxF "twkit: --write-sysctl /nonexistent-twkit-$$/x.conf: No such file or directory" "$T/e"
wsys /etc/sysctl.d/twkit-no-such-dir-$$/x.conf
check "a subdirectory of /etc/sysctl.d that does not exist: says so" \
    grep -qF "x.conf: No such file or directory" "$T/e"
if [ -w /etc/sysctl.d ]; then
    f=/etc/sysctl.d/91-twkit-test-$$.txt
    wsys "$f"; rc=$?
    rm -f "$f"
    eq "a namespace's values into /etc/sysctl.d/*.txt (not read at boot): exit" $rc 0
    check "... warns that it is not read at boot" grep -qF \
        "warning: --write-sysctl $f: not read at boot: systemd-sysctl and procps \`sysctl --system\` read only the *.conf files in /etc/sysctl.d" "$T/e"
else
    skip_case "a file in /etc/sysctl.d without .conf" "/etc/sysctl.d is not writable here"
fi
finish
