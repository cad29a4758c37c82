#!/bin/bash
# twkit watch --batch --json on a recorded series (no root needed): one JSON
# object per sample and line, the schema's fixed parts, the series replayed
# at its recorded times, and every field the output has documented in
# docs/watch-json.md.  The --batch text of the same series fits 80 columns.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need jq
T=$(mktemp -d)
jqe() { jq -e "$@" >/dev/null; }
trap 'rm -rf "$T"' EXIT
FIX=tests/fixtures/watch/reuse-fits

"$TWKIT" watch -b -j --fixture "$FIX" >"$T/out" 2>"$T/err"
eq "exit" $? 0
n=$(ls -d "$FIX"/t* | wc -l)
eq "one line per recorded sample" "$(wc -l <"$T/out")" "$n"
check "every line is one JSON object" jqe -s "length == $n and all(type == \"object\")" "$T/out"
eq "schema" "$(jq -r .schema "$T/out" | sort -u)" twkit.watch.v1
eq "ticks numbered from 1" "$(jq -c .tick "$T/out" | tr '\n' ' ')" "$(seq -s ' ' 1 "$n") "
eq "t_ms: the recorded times" "$(jq -c .t_ms "$T/out" | tr '\n' ' ')" \
    "$(ls "$FIX" | grep '^t' | sed 's/^t0*//; s/^$/0/' | tr '\n' ' ')"
eq "rates are null before the second sample" "$(head -n 1 "$T/out" | jq -c .namespaces[0].rates.TW)" "[null,null,null]"
check "... and numbers after" jqe -s '.[1].namespaces[0].rates.TW | all(type == "number")' "$T/out"
check "history: 60 entries" jqe -s 'all(.namespaces[0].destinations[] | (.history | length) == 60 and (.expiry | length) == 60)' "$T/out"
check "unverified reuse gives a bound" jqe -s '.[-1].namespaces[0].destinations[0] | .reuse == "unverified" and .exhaustion.bound.state == "never"' "$T/out"

# every key that appears anywhere is documented
for k in $(jq -r '[paths | map(select(type == "string")) | .[]] | unique | .[]' "$T/out" | sort -u); do
    if grep -qE -- "\`([a-z_]+\.)?$k[\`.,]|\`rates\.[A-Za-z]+\`.*\`$k\`|\"$k\"" docs/watch-json.md; then
        ok "JSON field '$k' documented"
    else
        fail "JSON field '$k' not in docs/watch-json.md"
    fi
done

"$TWKIT" watch -b --fixture "$FIX" >"$T/text" 2>"$T/err"
eq "text: exit" $? 0
check "text: nothing wider than 80 columns" test "$(LC_ALL=C.UTF-8 wc -L <"$T/text")" -le 80
check "text: the destination and its bound" grep -qE '^127\.0\.0\.1>127\.0\.0\.1:8080 .* [0-9.]+s\+$' "$T/text"
finish
