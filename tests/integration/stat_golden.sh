#!/bin/bash
# The human view of `twkit stat` on recorded and crafted fixtures, held
# against golden files (tests/fixtures/stat/golden/), and the rules every
# human view keeps, checked apart so that a golden regenerated carelessly
# cannot hide a break:
#   - it fits 80 columns;
#   - no value is cut: every address, destination and count that the JSON
#     report holds appears whole in the table (long IPv6 addresses, 7-digit
#     counts);
#   - a missing sysctl is "absent", never -1;
#   - "1 socket", not "1 sockets"; no thousands comma inside a list that
#     commas separate;
#   - outside strings (a fixture path here; namespace and process names in
#     stat_hostile.sh) are escaped: no raw control byte reaches the terminal.
# Also JSON and Prometheus goldens of the crafted fixture, and `stat
# --help` within 80 columns.  UPDATE_GOLDEN=1 rewrites the goldens.
# Needs no root: everything reads fixtures.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need jq
S=tests/fixtures/stat
G=$S/golden
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# The million-socket fixture is made here: 88 MB is too large to commit.
cp -r "$S/million-kernel" "$T/million"
"$HELPERS/mkdiag" -n "$S/specs/million.spec" "$T/million" || fail "mkdiag million"
# the same dump with tcp_max_tw_buckets full: the longest bucket line
cp -r "$S/million-kernel" "$T/million-full"
ln -s "$T/million/sock_diag.bin" "$T/million-full/sock_diag.bin"
echo 1000000 >"$T/million-full/sys/net/ipv4/tcp_max_tw_buckets"

TWKIT=$(cd "$(dirname "$TWKIT")" && pwd)/$(basename "$TWKIT")
# 1234567 -> 1,234,567
commas() { sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$1"; }

# mask what changes from run to run: the dump's duration
mask() { sed -E 's/dump in [0-9]+\.[0-9]+ s/dump in X s/'; }

# golden NAME FILE: compare (or rewrite with UPDATE_GOLDEN=1)
golden() {
    if [ -n "${UPDATE_GOLDEN:-}" ]; then
        cp "$2" "$G/$1"
        ok "golden $1 rewritten"
    elif diff -u "$G/$1" "$2" >"$T/diff"; then
        ok "golden $1"
    else
        fail "golden $1 differs:"; head -40 "$T/diff"
    fi
}

# view_rules NAME TEXT JSON: the rules above, from the report's own JSON
view_rules() {
    local name=$1 txt=$2 json=$3 v missing=0 w
    w=$(awk '{ if (length > m) m = length } END { print m + 0 }' "$txt")
    if [ "$w" -le 80 ]; then ok "$name: fits 80 columns (widest $w)"
    else fail "$name: $w columns:"; awk 'length > 80' "$txt" | head -5; fi
    # every address and destination whole
    while IFS= read -r v; do
        grep -qF -- "$v" "$txt" || { fail "$name: '$v' is not shown whole"; missing=1; }
    done < <(jq -r '.namespaces[0] |
        (.time_wait.top | .remote_address.rows[], .local_address.rows[] | .address),
        (.time_wait.top.destination.rows[] | .local_address,
            if .remote_port == null then .remote_address
            elif (.remote_address | test(":")) then "[\(.remote_address)]:\(.remote_port)"
            else "\(.remote_address):\(.remote_port)" end),
        (.port_pressure.destinations[] | .local_address,
            if (.remote_address | test(":")) then "[\(.remote_address)]:\(.remote_port)"
            else "\(.remote_address):\(.remote_port)" end)' "$json" | sort -u)
    [ $missing = 0 ] && ok "$name: every address and destination whole"
    # every count whole, with its thousands separators
    missing=0
    while IFS= read -r v; do
        v=$(commas "$v")
        grep -qF -- "$v" "$txt" || { fail "$name: count $v is not shown whole"; missing=1; }
    done < <(LC_ALL=C jq -r '.namespaces[0] | .states.total, .time_wait.total,
        .time_wait.client_side, .time_wait.server_side,
        (.time_wait.top[].rows[].count), (.port_pressure.destinations[] | .in_use, .time_wait)' \
        "$json" | sort -u)
    [ $missing = 0 ] && ok "$name: every count whole"
    check "$name: no sysctl shown as -1" bash -c "! grep -nE '=-1|: -1' '$txt'"
    check "$name: plurals ('1 socket', not '1 sockets')" \
        bash -c "! grep -nE '(^|[^0-9,.])1 (sockets|destinations|minisocks|ports)\\b' '$txt'"
    check "$name: no thousands comma in a comma-separated list" \
        bash -c "! grep -nE '[0-9],[0-9]{3}, |, [^,()]* [0-9]{1,3},[0-9]{3}' '$txt'"
    check "$name: no control byte" bash -c "! LC_ALL=C grep -naP '[\\x00-\\x08\\x0b-\\x1f\\x7f]' '$txt'"
}

for f in crafted-nl recorded-nl recorded-proc long-ipv6 sysctl-missing million million-full; do
    dir=$S/$f
    [ $f = million ] && dir=$T/million
    [ $f = million-full ] && dir=$T/million-full
    "$TWKIT" stat --color never --fixture "$dir" >"$T/$f.raw" 2>"$T/err"
    eq "$f: exit status" $? 0
    "$TWKIT" stat --json --fixture "$dir" >"$T/$f.json"
    # the label names the fixture directory: the same text wherever it was made
    mask <"$T/$f.raw" | sed "s|fixture $T/|fixture |" >"$T/$f.txt"
    view_rules "$f" "$T/$f.txt" "$T/$f.json"
    golden "$f.txt" "$T/$f.txt"
done

echo "specific cases"
grep -q "tcp_tw_reuse absent" "$T/sysctl-missing.txt" &&
    grep -q "tcp_timestamps absent" "$T/sysctl-missing.txt"
eq "sysctl-missing: absent sysctls are named absent" $? 0
check "million: 7-digit total" grep -qF "1,000,000 sockets" "$T/million.txt"
check "million-full: the bucket line says FULL, whole" \
    bash -c "tr -s ' \n' '  ' <'$T/million-full.txt' | grep -qF 'tcp_max_tw_buckets 1,000,000: 100.0% used - FULL: new TIME_WAIT sockets are dropped'"
check "long-ipv6: the server-side clients row" \
    grep -qF "2001:db8:1234:5678:9abc:def0:1234:5678 (clients)" "$T/long-ipv6.txt"

echo "JSON and Prometheus goldens"
jq 'del(.time) | .namespaces[] |= del(.dump_seconds)' "$T/crafted-nl.json" >"$T/crafted-nl.json.g"
golden crafted-nl.json "$T/crafted-nl.json.g"
jq 'del(.time) | .namespaces[] |= del(.dump_seconds)' "$T/long-ipv6.json" >"$T/long-ipv6.json.g"
golden long-ipv6.json "$T/long-ipv6.json.g"
"$TWKIT" stat --prom --fixture $S/crafted-nl |
    sed -E 's/^(twkit_dump_duration_seconds\{.*\}) .*/\1 X/' >"$T/crafted-nl.prom"
golden crafted-nl.prom "$T/crafted-nl.prom"

echo "a hostile fixture path"
name=$'x\e[2J\e[31mok\nfake'
ln -s "$PWD/$S/crafted-nl" "$T/$name"
(cd "$T" && "$TWKIT" stat --color never --fixture "$name") >"$T/hostile.txt" 2>&1
eq "hostile path: exit status" $? 0
check "hostile path: no escape byte reaches the terminal" bash -c "! grep -q $'\\e' '$T/hostile.txt'"
eq "hostile path: the header is one line, escaped" "$(head -n1 "$T/hostile.txt")" \
    'twkit stat  netns fixture x\x1b[2J\x1b[31mok\x0afake (net:[0])'
(cd "$T" && "$TWKIT" stat --fixture "$name/nonexistent") >"$T/hostile.err" 2>&1
check "hostile path in an error: escaped" bash -c "! grep -q $'\\e' '$T/hostile.err' && grep -qF 'x\\x1b[2J' '$T/hostile.err'"

echo "--help"
"$TWKIT" stat --help >"$T/help"
w=$(awk '{ if (length > m) m = length } END { print m + 0 }' "$T/help")
if [ "$w" -le 80 ]; then ok "stat --help fits 80 columns (widest $w)"
else fail "stat --help: $w columns"; awk 'length > 80' "$T/help"; fi
finish
