#!/bin/bash
# twkit lab's human view on recorded results (--from), against golden
# output reviewed by hand (issue 8: golden tests; issue 9 items 8 and 6):
#   results   a real run of every scenario (-p 40000-40999 -d 1)
#   long      the same with values that must not be cut: 7-digit counts, a
#             failure class this build does not know, a 73-character run
#             name, a 300-character reason, a non-ASCII name, and terminal
#             escapes in a name, a reason and a peer's HTTP reason phrase
# Also: every line fits 80 columns, every long value is shown whole, no
# control byte reaches the terminal, and a bad recording is a clear error.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need jq
F=tests/fixtures/lab
dir=$(mktemp -d /tmp/twkit-lab-golden.XXXXXX)
trap 'rm -rf "$dir"' EXIT

for g in results long; do
    "$TWKIT" lab --from "$F/$g.json" >"$dir/$g.out" 2>"$dir/$g.err"
    eq "$g: exit status" $? 0
    if cmp -s "$dir/$g.out" "$F/$g.table"; then ok "$g: the table equals $F/$g.table"
    else fail "$g: the table differs from $F/$g.table"; diff "$F/$g.table" "$dir/$g.out" | head -20; fi
    check "$g: every line fits 80 columns" awk '{ n = 0; for (i = 1; i <= length($0); i++) {
        c = substr($0, i, 1); if (c < "\200" || c >= "\300") n++ } if (n > 80) exit 1 }' "$dir/$g.out"
    check "$g: no control byte but newlines" sh -c "! LC_ALL=C grep -q '[[:cntrl:]]' '$dir/$g.out'"
done
# whole values: every count of the recording appears whole in the table
L=$dir/long.out
for v in 1234567 7654321 8999999 8998765 1234567.89 1234567/7654321/- 1234; do
    check "long: $v shown whole" grep -qw -- "$v" "$L"
done
check "long: the unknown failure class, whole" \
    grep -q 'EVERYLONGFAILURECLASSFROMANEWERTWKITTHATTHISBUILDDOESNOTKNOWATALL 1234' "$L"
check "long: the 73-character name, whole, on its own line" \
    grep -qx 'short-connections-on-a-host-with-a-run-name-much-longer-than-any-scenario' "$L"
check "long: its numbers on the next line, in the columns" \
    grep -qE '^ +1234567 +16\.7 +7654321 +8999999 ' "$L"
reason=$(jq -r '.runs[1].reason | split("\u001b")[0]' "$F/long.json")
words=$(tr '\n' ' ' <"$L" | tr -s ' ')
check "long: the 300-character reason, every word of its text" \
    sh -c 'for w in $1; do case "$2" in *"$w"*) ;; *) echo "missing: $w"; exit 1;; esac; done' _ \
    "$(tr -c 'a-zA-Z0-9 ' ' ' <<<"$reason")" "$words"
check "long: escapes in a reason shown as text" grep -q 'x1b\[2J\\x1b\[31mok\\x0asecond line' "$L"
check "long: a name's escape shown as text" grep -q '^café-wide-range\\x1b\[2J$' "$L"
check "long: the peer's HTTP reason, escaped" \
    grep -q '503 Service Unavailable \\x1b\]0;pwned\\x07' "$L"
check "long: a skipped run says why" grep -q '^tw-reuse: Skipped: nginx is not installed' "$L"
check "long: a failed run is marked in the table" grep -qE '^server-close +failed$' "$L"
check "results: the failure classes and counts of the recording" \
    grep -q "tw-reuse: Failed: EADDRNOTAVAIL $(jq '.runs[2].errors.EADDRNOTAVAIL' "$F/results.json")\." \
    "$dir/results.out"

# a recording that is not right is an error that names the field
bad() { # NAME WANT JQ-FILTER
    jq -c "$3" "$F/results.json" >"$dir/bad.json"
    "$TWKIT" lab --from "$dir/bad.json" >"$dir/bad.out" 2>"$dir/bad.err"
    eq "$1: exit status" $? 1
    check "$1: says '$2'" grep -qF -- "$2" "$dir/bad.err"
    check "$1: prints no table" test ! -s "$dir/bad.out"
}
bad "version 1" "version 1: this twkit reads version 2" '.version = 1'
bad "a missing count" "runs[2]: field 'errors_total' is missing" 'del(.runs[2].errors_total)'
bad "a count of the wrong type" "runs[0]: field 'ok' is not a count" '.runs[0].connections.ok = "12"'
bad "a negative count" "field 'tw_peak' is not a count" '.runs[1].hosts.client.tw_peak = -1'
bad "an unknown status" "status 'done' is not ok, skipped or error" '.runs[0].status = "done"'
bad "a series class not in errors" "failure class 'EWHAT' is not in 'errors'" \
    '.runs[0].series[0].error_kinds.EWHAT = 1'
printf '{"version":2,"runs":[' >"$dir/cut.json"
"$TWKIT" lab --from "$dir/cut.json" 2>"$dir/err"
eq "a cut file: exit status" $? 1
check "a cut file: says where" grep -q 'line 1, column' "$dir/err"
"$TWKIT" lab --from "$dir/none.json" 2>"$dir/err"
eq "a missing file: exit status" $? 1
check "a missing file: names it and says why" \
    grep -qF "lab: --from $dir/none.json: cannot read it: No such file or directory" "$dir/err"
long=$dir/$(printf 'd%.0s' $(seq 200))
"$TWKIT" lab --from "$long/r.json" 2>"$dir/err"
check "a missing file with a long path: the whole path and the reason" \
    grep -qF "$long/r.json: cannot read it: No such file or directory" "$dir/err"
"$TWKIT" lab --from "$dir" 2>"$dir/err"
eq "a directory: exit status" $? 1
check "a directory: says so" grep -qF "$dir: cannot read it: Is a directory" "$dir/err"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    cp "$F/results.json" "$dir/secret.json" && chmod 600 "$dir/secret.json" && chmod 755 "$dir"
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$TWKIT" lab --from "$dir/secret.json" 2>"$dir/err"
    eq "an unreadable file: exit status" $? 1
    check "an unreadable file: says why" \
        grep -qF "$dir/secret.json: cannot read it: Permission denied" "$dir/err"
else
    skip_case "an unreadable file" "needs root and setpriv to read as another user"
fi
# outside strings in messages are escaped once (\x1b, not \\x1b)
"$TWKIT" lab --from "$dir/a"$'\033'"b.json" 2>"$dir/err"
check "an escape in the path: escaped once" grep -qF "$dir/a\x1bb.json: cannot read it" "$dir/err"
"$TWKIT" lab $'x\033[2J' 2>"$dir/err"
eq "an unknown scenario: exit status" $? 2
check "an unknown scenario: its escape escaped once" \
    grep -qF "unknown scenario 'x\x1b[2J'" "$dir/err"
"$TWKIT" lab --from "$F/results.json" --csv "/proc/x"$'\033'"y" 2>"$dir/err"
check "--csv into an impossible directory: its name escaped once" \
    grep -qF -- "--csv /proc/x\x1by: cannot create" "$dir/err"
"$TWKIT" lab short --from "$F/results.json" 2>"$dir/err"
eq "--from with a scenario: usage error" $? 2
"$TWKIT" lab --from "$F/results.json" -d 3 2>"$dir/err"
eq "--from with --duration: usage error" $? 2
check "--from with --duration: says they exclude each other" grep -q 'exclude each other' "$dir/err"
finish
