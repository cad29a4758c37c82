#!/bin/bash
# Golden tests of doctor's views on recorded states (tests/fixtures/doctor/
# golden/*/, built by mkfixtures.sh there): the text view, with and without
# -v, and the JSON view (without its time and version) must be exactly the
# expected files.  Every text line fits 80 columns, and the long values of
# the fixtures (IPv6 destinations, 7-digit counts, a long sysctl file path)
# appear whole: a value broken across lines must read back the same with the
# line breaks removed, and in JSON it must be exact.  A file name carrying a
# terminal escape is printed escaped.
#
# To accept a deliberate change of the output: TW_GOLDEN_UPDATE=1 tests/run
# integration doctor_golden, then read `git diff tests/fixtures/doctor/golden`.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need jq diff
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
G=tests/fixtures/doctor/golden
n=0

# flat FILE: the text with every line break and the indent after it removed
flat() { awk '{ sub(/^ +/, ""); printf "%s", $0 }' "$1"; }

for dir in "$G"/*/; do
    d=${dir%/}
    name=$(basename "$d")
    [ -f "$d/spec.txt" ] || continue
    n=$((n + 1))
    for v in "" "-v"; do
        exp=$d/expected$v.txt
        "$TWKIT" doctor --fixture "$d" --color never $v >"$T/out" 2>"$T/err"; rc=$?
        eq "$name$v: exit" "$rc" 0
        if [ -n "${TW_GOLDEN_UPDATE:-}" ]; then cp "$T/out" "$exp"; fi
        if diff -u "$exp" "$T/out" >"$T/diff"; then ok "$name$v: text as expected"
        else fail "$name$v: text differs from $exp"; cat "$T/diff"; fi
        eq "$name$v: lines over 80 columns" "$(awk 'length > 80' "$T/out" | wc -l)" 0
        eq "$name$v: nothing on stderr" "$(cat "$T/err")" ""
    done
    "$TWKIT" doctor --fixture "$d" --json | jq -S 'del(.time, .twkit_version)' >"$T/json"
    if [ -n "${TW_GOLDEN_UPDATE:-}" ]; then cp "$T/json" "$d/expected.json"; fi
    if diff -u "$d/expected.json" "$T/json" >"$T/diff"; then ok "$name: JSON as expected"
    else fail "$name: JSON differs from $d/expected.json"; cat "$T/diff"; fi
    # every evidence value and summary of the JSON is whole in the -v text view
    "$TWKIT" doctor --fixture "$d" -v >"$T/out"
    flat "$T/out" | tr -d ' ' >"$T/flat"
    while IFS= read -r val; do
        check "$name: '$val' whole in the text view" grep -qF -- "$(tr -d ' ' <<<"$val")" "$T/flat"
    done < <(jq -r '.findings[] | (.summary, (.evidence | to_entries[] | "\(.key)=\(.value)"))' "$T/json")
done
check "golden fixtures found ($n)" test "$n" -ge 2

# the long values themselves, exactly, in JSON
j=$("$TWKIT" doctor --fixture "$G/ipv6-long" --json)
eq "IPv6 destination whole" "$(jq -r '[.findings[] | select(.id=="port-pressure")][0].evidence.destination' <<<"$j")" \
    "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1 -> [2001:db8:ffff:eeee:dddd:cccc:bbbb:aaaa]:65535"
eq "7-digit overflow count" "$(jq -r '[.findings[] | select(.id=="tw-buckets")][0].evidence.overflow_in_window' <<<"$j")" 1234567
eq "7-digit connect rate" "$(jq -r '.rates.active_opens_per_s' <<<"$j")" 1234567
long=$G/ipv6-long/root/etc/sysctl.d/99-left-by-an-old-tuning-guide-for-very-busy-web-servers-do-not-edit.conf
eq "long path whole" "$(jq -r '[.findings[] | select(.id=="tw-recycle-config")][0].evidence.file' <<<"$j")" "$long"

# a file name with a terminal escape and a newline is escaped in the text view
cp -r "$G/healthy" "$T/esc"
mkdir -p "$T/esc/root/etc/sysctl.d"
printf 'this line is broken\n' >"$T/esc/root/etc/sysctl.d/"$'x\e[2J\nok.conf'
"$TWKIT" doctor --fixture "$T/esc" --color never >"$T/out" 2>&1
check "no raw ESC byte in the view" bash -c "! grep -q $'\e' '$T/out'"
check "the escape is shown as \\x1b" grep -qF 'x\x1b[2J\x0aok.conf:1' "$T/out"
finish
