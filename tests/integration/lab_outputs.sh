#!/bin/bash
# twkit lab's output files (issue 9, items 11 and 12):
#   11  every output path is checked before the first run (an unwritable
#       --plot or --csv, a directory as --plot, no gnuplot in PATH: exit 1 at
#       once, nothing on stdout); when gnuplot fails, its own message is
#       shown; the image never reaches stdout, so --json stays JSON;
#   12  the plot can be read: one panel per host with TIME_WAIT and one for
#       failures, titles in words without gnuplot's markup (TIME_WAIT, not
#       TIME with a subscript W), log scales, and one colour + dash + mark per
#       run, the same in every panel and different from every other run's.
# The plot checks read a recorded result (--from), so they need no root; the
# live checks run short scenarios in the lab's namespaces.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need jq gnuplot
dir=$(mktemp -d /tmp/twkit-lab-outputs.XXXXXX)
trap 'chmod -R u+w "$dir"; rm -rf "$dir"' EXIT
REC=tests/fixtures/lab/results.json

# ---- item 11: before the first run --------------------------------------------
quick() { # NAME WANT-IN-STDERR COMMAND...: exit 1 in under 2 s, empty stdout
    local name=$1 want=$2; shift 2
    local t0 rc
    t0=$(date +%s%N)
    "$@" >"$dir/out" 2>"$dir/err"; rc=$?
    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    eq "$name: exit status" "$rc" 1
    check "$name: says '$want'" grep -q -- "$want" "$dir/err"
    check "$name: nothing on stdout" test ! -s "$dir/out"
    check "$name: refused before any run (${ms} ms)" test "$ms" -lt 2000
}
quick "--plot in a missing directory" "cannot write there" \
    "$TWKIT" lab short -d 1 --json --plot "$dir/no/such/dir/p.png"
mkdir "$dir/ro" && chmod 555 "$dir/ro"
if [ "$(id -u)" -eq 0 ]; then
    # root writes through mode bits: make a read-only mount instead
    if unshare -m true 2>/dev/null; then
        unshare -m bash -c "mount -t tmpfs -o ro none '$dir/ro' && \
            '$TWKIT' lab short -d 1 --json --plot '$dir/ro/p.png' >'$dir/out' 2>'$dir/err'; echo \$? >'$dir/rc'"
        eq "--plot on a read-only mount: exit status" "$(cat "$dir/rc")" 1
        check "--plot on a read-only mount: says why" grep -q "Read-only file system" "$dir/err"
        check "--plot on a read-only mount: nothing on stdout" test ! -s "$dir/out"
    else
        skip_case "--plot on a read-only mount" "cannot make a mount namespace here"
    fi
else
    quick "--plot in a read-only directory" "cannot write there" "$TWKIT" lab short -d 1 --plot "$dir/ro/p.png"
fi
mkdir -p "$dir/adir.png"
quick "--plot naming a directory" "is a directory" "$TWKIT" lab short -d 1 --plot "$dir/adir.png"
quick "--csv under a file" "cannot create the directory" "$TWKIT" lab short -d 1 --csv "$REC/x"
quick "--plot without gnuplot in PATH" "needs gnuplot" \
    env PATH=/nonexistent "$TWKIT" lab short -d 1 --plot "$dir/p.png"

# gnuplot's own message when it fails (a gnuplot that refuses our terminal)
mkdir -p "$dir/bin"
cat >"$dir/bin/gnuplot" <<'SH'
#!/bin/sh
exec /usr/bin/gnuplot -e 'set terminal no_such_terminal_type' -
SH
chmod +x "$dir/bin/gnuplot"
PATH=$dir/bin:$PATH "$TWKIT" lab --from "$REC" --plot "$dir/g.png" >"$dir/out" 2>"$dir/err"
eq "gnuplot failing: exit status" $? 1
check "gnuplot failing: its own message is shown" grep -q "unknown or ambiguous terminal type" "$dir/err"
check "gnuplot failing: no image left behind" test ! -e "$dir/g.png"
check "gnuplot failing: no temporary file left" test -z "$(ls -A "$dir" | grep twkit-plot)"
check "gnuplot failing: the table was still printed" grep -q '^RUN ' "$dir/out"

# ---- item 12: a plot a person can read -----------------------------------------
"$TWKIT" lab --from "$REC" --plot "$dir/p.svg" >/dev/null
eq "--from --plot svg" $? 0
check "svg is well-formed" xmllint --noout "$dir/p.svg"
check "titles in words, no markup: TIME_WAIT on the client host" \
    grep -q '<text>TIME_WAIT sockets on the client host</text>' "$dir/p.svg"
check "no subscripts or superscripts (enhanced text)" sh -c "! grep -q '<tspan' '$dir/p.svg'"
eq "panels: client, server, proxy, failures" \
    "$(grep -cE '<text>(TIME_WAIT sockets on the|Failed connections)' "$dir/p.svg")" 4
eq "every panel on a log scale" "$(grep -c '(log scale)</text>' "$dir/p.svg")" 4
check "the panels name the runs with nothing in them" grep -q 'none in: server-close, rst' "$dir/p.svg"
# one line per key entry: run<TAB>stroke<TAB>dash<TAB>mark
awk '
    function flush() { if (title != "" && stroke != "") print title "\t" stroke "\t" dash "\t" mark }
    /<g id="/ { flush(); inplot = ($0 ~ /gnuplot_plot_/); title = ""; stroke = ""; dash = "solid"; mark = ""; path = 0 }
    /<\/svg>/ { flush(); inplot = 0 }
    !inplot { next }
    /<text>/ && !path && title == "" { t = $0; sub(/.*<text>/, "", t); sub(/<\/text>.*/, "", t); title = t }
    /<path stroke=/ && title != "" && stroke == "" {
        s = $0; sub(/.*stroke=\x27/, "", s); sub(/\x27.*/, "", s); stroke = s
        if ($0 ~ /stroke-dasharray/) { d = $0; sub(/.*stroke-dasharray=\x27/, "", d); sub(/\x27.*/, "", d); dash = d }
    }
    /<path/ { path = 1 }
    /xlink:href=\x27#gpPt/ && title != "" && mark == "" { m = $0; sub(/.*#gpPt/, "", m); sub(/\x27.*/, "", m); mark = m }
' "$dir/p.svg" | sort -u >"$dir/styles"
# the runs with something to draw (rst has no TIME_WAIT and no failure anywhere)
runs=$(jq -r '.runs[] | select(.status=="ok") |
              select([.series[] | (.tw | to_entries[].value), .errors] | max > 0) | .name' "$REC" |
       sort -u | wc -l)
check "the recording has runs to compare" test "$runs" -ge 10
eq "every run with something to draw is drawn" "$(cut -f1 "$dir/styles" | sort -u | wc -l)" "$runs"
eq "one style per run, the same in every panel" "$(wc -l <"$dir/styles")" "$runs"
eq "no two runs share a colour" "$(cut -f2 "$dir/styles" | sort -u | wc -l)" "$runs"
eq "neighbours differ in dash too" \
    "$(cut -f3 "$dir/styles" | sort -u | wc -l)" 4
"$TWKIT" lab --from "$REC" --plot "$dir/p.png" >/dev/null
eq "--from --plot png" $? 0
eq "a PNG file" "$(head -c 8 "$dir/p.png" | od -An -c | tr -d ' ')" '211PNG\r\n032\n'

# ---- live: the image never reaches stdout ----------------------------------------
if [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then
    "$TWKIT" lab short rst -p 40000-40199 -r 1000 -d 0.5 --json --plot "$dir/live.png" \
        --csv "$dir/csv" >"$dir/live.json"
    eq "live --json --plot --csv: exit status" $? 0
    check "stdout is exactly one JSON object" jq -e 'has("runs")' "$dir/live.json"
    eq "stdout has one line" "$(wc -l <"$dir/live.json")" 1
    eq "live plot is a PNG" "$(head -c 4 "$dir/live.png" | od -An -c | tr -d ' ')" '211PNG'
    check "csv header" grep -q '^t_s,attempted,connections,requests,EADDRNOTAVAIL,' "$dir/csv/short.csv"
    eq "csv: the last row has the client TIME_WAIT of the JSON" \
        "$(tail -1 "$dir/csv/short.csv" | cut -d, -f17)" "$(jq '.runs[0].hosts.client.tw_end' "$dir/live.json")"
    PATH=$dir/bin:$PATH "$TWKIT" lab short -p 40000-40199 -r 1000 -d 0.5 --json \
        --plot "$dir/live2.png" >"$dir/live2.json" 2>"$dir/err"
    eq "live, gnuplot failing: exit status" $? 1
    check "live, gnuplot failing: stdout still one JSON object" jq -e 'has("runs")' "$dir/live2.json"
    check "live, gnuplot failing: gnuplot's message" grep -q "unknown or ambiguous terminal" "$dir/err"
else
    skip_case "live --json --plot" "needs root and network namespaces"
fi
finish
