#!/bin/bash
# `twkit stat --prom` on fixtures: promtool accepts it; every metric it
# prints is defined once (the table of src/metrics_emit.c, listed by
# `mkdoc metrics` for every view) with exactly the type and labels it
# carries and the stat view; docs/metrics.md documents every family of both
# views (stat and export) with its type, labels and views, both ways; one
# label vocabulary (node_exporter's state="time_wait"); no label value
# overlaps another, so sum() adds up to the JSON's totals and never counts
# a socket twice; destinations beyond the listed ones fold into dst="other"
# with their sums; a sysctl the kernel lacks has no series (never -1);
# label values are escaped.  Needs no root.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need jq promtool
S=tests/fixtures/stat
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$OUT/tools/mkdoc" metrics >"$T/defs" || fail "mkdoc metrics"
[ "$(wc -l <"$T/defs")" -ge 40 ] || fail "mkdoc metrics lists $(wc -l <"$T/defs") metrics"
for v in stat export; do
    check "mkdoc metrics: the $v view has families" grep -qP "\t([a-z]+, )?$v(, [a-z]+)?\$" "$T/defs"
done

echo "docs/metrics.md against the definitions, both views"
# table rows: | `name` | type | label, label | view, view | meaning |
grep -E '^\| `twkit_[a-z0-9_]+` \|' docs/metrics.md |
    awk -F'|' '{ for (i = 2; i <= 5; i++) { gsub(/^ +| +$/, "", $i); gsub(/`/, "", $i) }
                 gsub(/ /, "", $4); print $2 "\t" $3 "\t" $4 "\t" $5 }' | sort >"$T/doc"
sort "$T/defs" >"$T/code"
if diff "$T/code" "$T/doc" >"$T/diff"; then ok "every metric documented with its type, labels and views, and no other"
else fail "docs/metrics.md and src/metrics_emit.c differ (< code, > docs):"; cat "$T/diff"; fi
eq "docs/metrics.md: one entry per metric" \
    "$(cut -f1 "$T/doc" | sort | uniq -d | tr '\n' ' ')" ""

# samples_ok FILE: each sample's family is defined, in the stat view, with its
# type and exactly its labels (netns among them)
samples_ok() {
    awk -F'\t' 'NR == FNR { lab[$1] = $3; type[$1] = $2; views[$1] = $4; next }
        /^# TYPE / { split($0, t, " "); if (t[3] in type && t[4] != type[t[3]]) {
                         print t[3] ": type " t[4] ", defined " type[t[3]]; bad = 1 }
                     next }
        /^#/ { next }
        {
            name = $0; sub(/[{ ].*/, "", name)
            if (!(name in lab)) { print "undefined metric " name; bad = 1; next }
            if (views[name] !~ /(^|, )stat(,|$)/) { print name ": not in the stat view"; bad = 1 }
            s = $0; sub(/^[^{]*\{/, "", s); sub(/\} [^ ]+$/, "", s)
            got = ""; n = split(s, kv, /",/)
            for (i = 1; i <= n; i++) { k = kv[i]; sub(/=.*/, "", k); got = got (got == "" ? "" : ",") k }
            if (got != lab[name]) { print name ": labels " got ", defined " lab[name]; bad = 1 }
        }
        END { exit bad }' "$T/defs" "$1"
}
# node_exporter's words for TCP states (node_tcp_connection_states)
NODE_STATES='established|syn_sent|syn_recv|fin_wait1|fin_wait2|time_wait|close|close_wait|last_ack|listen|closing|new_syn_recv'

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
    eq "$f: every state of twkit_sockets is node_exporter's word" \
        "$(grep '^twkit_sockets{' "$T/$f.prom" | grep -oE 'state="[^"]*"' | grep -vcE "^state=\"($NODE_STATES)\"\$")" 0
    eq "$f: destination states are time_wait, established, other" \
        "$(grep '^twkit_destination_ports_in_use{' "$T/$f.prom" | grep -oE 'state="[^"]*"' | sort -u | tr '\n' ' ')" \
        "$( [ "$(j '.port_pressure.destinations | length')" -gt 0 ] && echo 'state="established" state="other" state="time_wait" ')"
    eq "$f: twkit_destinations = the destinations" "$(p twkit_destinations '')" \
        "$(j '.port_pressure.destinations | length')"
done

echo "destinations beyond --top fold into dst=\"other\""
# crafted-nl has 5 destinations, none above 50 %: --top 2 lists 2 and folds 3
"$TWKIT" stat --prom --top 2 --fixture "$S/crafted-nl" >"$T/fold.prom"
eq "fold: exit" $? 0
check "fold: promtool check metrics" bash -c "promtool check metrics < '$T/fold.prom'"
check "fold: every sample defined, with its labels" samples_ok "$T/fold.prom"
pf() { awk -v m="$1" '{ n = $0; sub(/\{.*/, "", n) } n == m && index($0, sel) { s += $NF } END { print s + 0 }' sel="$2" "$T/fold.prom"; }
jf() { jq -r ".namespaces[0] | $1" "$T/crafted-nl.json"; }
eq "fold: twkit_destinations_folded" "$(pf twkit_destinations_folded '')" 3
eq "fold: 2 destinations and other" \
    "$(grep -c '^twkit_destination_port_pressure_ratio{' "$T/fold.prom")" 3
eq "fold: sum(twkit_destination_ports_in_use) is still every destination's" \
    "$(pf twkit_destination_ports_in_use '')" "$(jf '[.port_pressure.destinations[].in_use] | add')"
eq "fold: other's time_wait is the folded ones' sum" \
    "$(pf twkit_destination_ports_in_use 'dst="other",dport="",state="time_wait"')" \
    "$(jf '[.port_pressure.destinations[2:][].time_wait] | add')"
eq "fold: other's pressure is the worst folded one's" \
    "$(awk '/^twkit_destination_port_pressure_ratio\{.*dst="other"/ { printf "%.4f", $NF }' "$T/fold.prom")" \
    "$(jf '[.port_pressure.destinations[2:][].percent] | max / 100' | xargs printf %.4f)"

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
