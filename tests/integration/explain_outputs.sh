#!/bin/bash
# twkit explain's outputs, from real runs: the SVG is well-formed and uses
# only the SVG subset of tests/fixtures/explain/svg-subset.rng (nothing
# outside the file); the pcapng reads back in tshark without a warning and
# holds exactly the captures the JSON describes (each segment on its
# sender's interface when it left and on its receiver's when it arrived);
# the terminal diagram fits 80 columns in UTF-8 and in ASCII, has colour
# only when asked, and matches the golden diagrams in
# tests/fixtures/explain/ladder/ with times masked (UPDATE_GOLDEN=1
# rewrites them).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need jq xmllint tshark perl
dir=$(mktemp -d /tmp/twkit-explain-out.XXXXXX)
trap 'rm -rf "$dir"' EXIT
golden=tests/fixtures/explain/ladder

"$TWKIT" explain --json --svg "$dir/all.svg" --pcap "$dir/all.pcapng" >"$dir/all.json" 2>"$dir/err"
eq "explain --json --svg --pcap exit status" "$?" 0

# ---- every JSON field is documented (counter and sysctl names are values
# listed there, not fields)
undocumented=$(jq -r '[paths(scalars, arrays) | map(select(type == "string")) |
        select(index("counters") == null and index("sysctls") == null) | .[-1]] |
        unique[]' "$dir/all.json" | while read -r k; do
            grep -qF "\`$k\`" docs/explain-json.md || echo "$k"; done)
check "every JSON field is in docs/explain-json.md" test -z "$undocumented"
[ -z "$undocumented" ] || echo "undocumented: $undocumented"

# ---- SVG
check "the SVG is well-formed XML" xmllint --noout "$dir/all.svg"
check "the SVG uses only the SVG 1.1 subset of svg-subset.rng" \
    xmllint --noout --relaxng tests/fixtures/explain/svg-subset.rng "$dir/all.svg"
check "the SVG refers to nothing outside itself" \
    sh -c "! grep -Eq 'href|<script|<image|url\\((http|file|data)' '$dir/all.svg'"
eq "the SVG has one title per run" "$(grep -c 'class="title"' "$dir/all.svg")" \
    "$(jq '.runs | length' "$dir/all.json")"

# ---- pcapng against the JSON
tshark -r "$dir/all.pcapng" -q >/dev/null 2>"$dir/tshark.err"
eq "tshark reads the pcapng (exit status)" "$?" 0
grep -v '^Running as user "root"' "$dir/tshark.err" >"$dir/tshark.warn"
check "tshark prints no warning" test ! -s "$dir/tshark.warn"
cat "$dir/tshark.warn"
tshark -r "$dir/all.pcapng" -T fields -E separator=, -e frame.interface_id -e tcp.flags \
    -e tcp.seq_raw -e tcp.ack_raw -e tcp.len 2>/dev/null |
    while IFS=, read -r ifc fl seq ack len; do echo "$ifc,$((fl)),$seq,$ack,$len"; done \
    >"$dir/pcap.csv"
jq -r '.runs | to_entries[] | .key as $i | .value as $r |
    ($r.segments | map({(.id | tostring): .}) | add) as $seg |
    $r.events[] | select(.kind == "send" or .kind == "deliver") | $seg[.segment | tostring] as $s |
    [(2 * $i + (if .host == "client" then 0 else 1 end)),
     ($s.flags | split(",") | map({"FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16}[.]) | add),
     (if .kind == "deliver" then ($s.seq + $s.moved_seq + 4294967296) % 4294967296 else $s.seq end),
     (if .kind == "deliver" then ($s.ack + $s.moved_ack + 4294967296) % 4294967296 else $s.ack end),
     $s.len] | map(tostring) | join(",")' "$dir/all.json" >"$dir/json.csv"
eq "captures in the pcapng" "$(wc -l <"$dir/pcap.csv")" "$(wc -l <"$dir/json.csv")"
if cmp -s "$dir/pcap.csv" "$dir/json.csv"; then
    ok "the pcapng holds exactly the JSON's segments, interface by interface, in order"
else
    fail "the pcapng and the JSON differ"
    diff "$dir/json.csv" "$dir/pcap.csv" | head -10
fi
eq "interfaces: two per run" \
    "$(tshark -r "$dir/all.pcapng" -T fields -e frame.interface_id 2>/dev/null | sort -un | wc -l)" \
    "$(jq '.runs | length * 2' "$dir/all.json")"
check "the wire's doings are in packet comments" \
    sh -c "tshark -r '$dir/all.pcapng' -T fields -e frame.comment 2>/dev/null | grep -q 'twkit wire: dropped'"
check "a moved old duplicate arrives with its new sequence number" \
    sh -c "tshark -r '$dir/all.pcapng' -T fields -e frame.comment 2>/dev/null | grep -q 'sequence number moved'"

# ---- the terminal diagram
"$TWKIT" explain >"$dir/ladder.txt" 2>"$dir/err"
eq "explain exit status" "$?" 0
wide=$(perl -CSD -ne 'print "$.: $_" if length($_) > 81' "$dir/ladder.txt")
check "every line fits 80 columns" test -z "$wide"
[ -z "$wide" ] || echo "$wide" | head -5
check "no colour when standard output is not a terminal" \
    sh -c "! grep -q \$'\\033' '$dir/ladder.txt'"
"$TWKIT" explain close:without-time-wait --color always >"$dir/color.txt"
check "colour with --color always" grep -q $'\033\[' "$dir/color.txt"
"$TWKIT" explain --ascii -6 >"$dir/ascii.txt"
eq "explain --ascii -6 exit status" "$?" 0
check "--ascii writes ASCII only" sh -c "! LC_ALL=C grep -q '[^ -~]' '$dir/ascii.txt'"
wide=$(awk 'length($0) > 80' "$dir/ascii.txt" | head -3)
check "every ASCII line fits 80 columns" test -z "$wide"
for mark in "X dropped" "held" "seq moved"; do
    check "the ASCII diagram marks '$mark'" grep -q -- "$mark" "$dir/ascii.txt"
done

# Golden diagrams, one per scenario variant, with the times masked: the
# time column, and every number below the diagram (measured milliseconds,
# timer values, sequence distances); wrapped paragraphs are joined first so
# a number's width cannot move a line break.
mask() {
    perl -CSD -e '
        my ($foot, @out, @isfoot) = (0);
        while (<STDIN>) {
            chomp;
            if (/^━━/) { $foot = 0; push @out, $_; push @isfoot, 0; next; }
            if (!$foot) {
                $foot = 1 if /^$/ && @out > 3;
                s/^(.{4}) *\d+\.\d{3}/$1 . (" " x 8) . "T"/e;
                push @out, $_; push @isfoot, 0; next;
            }
            if (/^     \S/ && @out && $isfoot[-1]) { s/^\s+//; $out[-1] .= " $_"; next; }
            push @out, $_; push @isfoot, 1;
        }
        for my $k (0 .. $#out) {
            $out[$k] =~ s/(?<![\w.])\d+(\.\d+)?(?![\w.])/N/g if $isfoot[$k];
        }
        print "$_\n" for @out;'
}
split_runs() { # ladder file -> one file per run in $1.d/
    mkdir -p "$1.d"
    awk -v d="$1.d" '/^━━ /{ n++; f = sprintf("%s/%02d", d, n) } n { print > f }' "$1"
}
split_runs "$dir/ladder.txt"
mkdir -p "$dir/masked"
i=0
while IFS= read -r name; do
    i=$((i + 1))
    f=$(printf '%s/%02d' "$dir/ladder.txt.d" "$i")
    [ -f "$f" ] || { fail "no diagram for $name"; continue; }
    mask <"$f" >"$dir/masked/$name.txt"
    if [ -n "${UPDATE_GOLDEN:-}" ]; then
        mkdir -p "$golden"
        cp "$dir/masked/$name.txt" "$golden/$name.txt"
    fi
    if cmp -s "$dir/masked/$name.txt" "$golden/$name.txt"; then
        ok "$name: the diagram matches its golden (times masked)"
    else
        fail "$name: the diagram differs from $golden/$name.txt"
        diff "$golden/$name.txt" "$dir/masked/$name.txt" | head -20
    fi
done < <(jq -r '.runs[] | .scenario + "." + .variant' "$dir/all.json")
finish
