#!/bin/bash
# `twkit stat --prom` on fixtures: promtool accepts it; every metric it
# prints is defined once (src/metrics.c, listed by `mkdoc metrics`) with
# exactly the labels it carries, and documented in docs/metrics.md with the
# same labels, both ways; one label vocabulary (state="time_wait"); no
# label value overlaps another, so sum() adds up to the JSON's totals and
# never counts a socket twice; a sysctl the kernel lacks has no series
# (never -1); label values are escaped.  Needs no root.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need jq promtool
S=tests/fixtures/stat
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$OUT/tools/mkdoc" metrics >"$T/defs" || fail "mkdoc metrics"
[ "$(wc -l <"$T/defs")" -ge 20 ] || fail "mkdoc metrics lists $(wc -l <"$T/defs") metrics"

echo "docs/metrics.md against the definitions"
# table rows: | `name` | label, label | meaning |
grep -E '^\| `twkit_[a-z0-9_]+` \|' docs/metrics.md |
    awk -F'|' '{ gsub(/[ `]/, "", $2); gsub(/ /, "", $3); print $2 "\t" $3 }' | sort >"$T/doc"
cut -f1,3 "$T/defs" | sort >"$T/code"
if diff "$T/code" "$T/doc" >"$T/diff"; then ok "every metric documented with its labels, and no other"
else fail "docs/metrics.md and src/metrics.c differ (< code, > docs):"; cat "$T/diff"; fi

# samples_ok FILE: each sample's metric is defined, with netns + exactly its labels
samples_ok() {
    awk -F'\t' 'NR == FNR { lab[$1] = $3; next }
        /^#/ { next }
        {
            name = $0; sub(/\{.*/, "", name)
            if (!(name in lab)) { print "undefined metric " name; bad = 1; next }
            want = "netns" (lab[name] == "" ? "" : "," lab[name])
            s = $0; sub(/^[^{]*\{/, "", s); sub(/\} [^ ]+$/, "", s)
            got = ""; n = split(s, kv, /",/)
            for (i = 1; i <= n; i++) { k = kv[i]; sub(/=.*/, "", k); got = got (got == "" ? "" : ",") k }
            if (got != want) { print name ": labels " got ", defined " want; bad = 1 }
        }
        END { exit bad }' "$T/defs" "$1"
}

for f in crafted-nl recorded-nl long-ipv6 sysctl-missing; do
    "$TWKIT" stat --prom --top 20 --fixture "$S/$f" >"$T/$f.prom"
    eq "$f: exit status" $? 0
    check "$f: promtool check metrics" bash -c "promtool check metrics < '$T/$f.prom'"
    check "$f: every sample defined, with its labels" samples_ok "$T/$f.prom"
    check "$f: no -1 value" bash -c "! grep -E ' -1$' '$T/$f.prom'"
    "$TWKIT" stat --json --top 20 --fixture "$S/$f" >"$T/$f.json"
    # sums over a label: each socket once
    j() { jq -r ".namespaces[0] | $1" "$T/$f.json"; }
    p() { awk -v m="$1" '{ n = $0; sub(/\{.*/, "", n) } n == m && $0 ~ sel { s += $NF } END { print s + 0 }' sel="$2" "$T/$f.prom"; }
    eq "$f: sum(twkit_sockets) = states.total" "$(p twkit_sockets '')" "$(j .states.total)"
    eq "$f: sum(twkit_time_wait_sockets) = time_wait.total" "$(p twkit_time_wait_sockets '')" "$(j .time_wait.total)"
    eq "$f: sum(twkit_time_wait_expiring_sockets) = time_wait.total" \
        "$(p twkit_time_wait_expiring_sockets '')" "$(j .time_wait.total)"
    eq "$f: sum(twkit_destination_ports_in_use) = in_use of the destinations" \
        "$(p twkit_destination_ports_in_use '')" "$(j '[.port_pressure.destinations[].in_use] | add // 0')"
    eq "$f: effective + excluded = range" \
        "$(( $(p twkit_ephemeral_effective_ports '') + $(p twkit_ephemeral_excluded_ports '') ))" \
        "$(j .port_pressure.range.size)"
    eq "$f: reclaimable at most, a metric of its own" \
        "$(p twkit_destination_reclaimable_at_most_sockets '')" \
        "$(j '[.port_pressure.destinations[].reclaimable_max] | add // 0')"
    check "$f: one state vocabulary (time_wait, never time-wait or reclaimable)" \
        bash -c "! grep -E 'state=\"[^\"]*(-|reclaimable)[^\"]*\"' '$T/$f.prom'"
done

echo "absent sysctls"
eq "sysctl-missing: no series for absent sysctls" \
    "$(grep -c '^twkit_tcp_sysctl{' "$T/sysctl-missing.prom")" 2   # only the range ends
check "sysctl-missing: no tcp_max_tw_buckets series" bash -c "! grep -q '^twkit_tcp_max_tw_buckets{' '$T/sysctl-missing.prom'"
check "crafted-nl: tcp_tw_reuse_delay present when the kernel has it" \
    grep -q 'name="net.ipv4.tcp_tw_reuse_delay"} 500$' "$T/crafted-nl.prom"

echo "hostile label values"
name=$'we"ird\\name\nx'
ln -s "$PWD/$S/crafted-nl" "$T/$name"
(cd "$T" && "$OLDPWD/$TWKIT" stat --prom --fixture "$name") >"$T/h.prom"
eq "hostile: exit" $? 0
check "hostile: promtool check metrics" bash -c "promtool check metrics < '$T/h.prom'"
check "hostile: escaped label" grep -qF 'netns="fixture we\"ird\\name\nx"' "$T/h.prom"
finish
