#!/bin/bash
# What ships beside `twkit export` (contrib/) and its reference page:
#   - the alert rules load (promtool check rules) and each alert fires when
#     it must and stays quiet when it must not (promtool test rules);
#   - every query of the Grafana dashboard is valid PromQL (promtool checks
#     it as a recording rule) and names only metrics the exporter serves:
#     its metric reference (--list-metrics) and a live scrape;
#   - docs/metrics.md documents exactly the families of the table's export
#     view (as --list-metrics lists them), with their types and labels;
#   - the systemd unit passes `systemd-analyze verify`, and the capabilities
#     it grants are exactly what --netns all needs: with them an unprivileged
#     user sees every namespace; without either one the exporter says which.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
. tests/lib_export.sh
need_root
need promtool jq curl
in_private_netns "$@"

T=$(mktemp -d)
chmod 755 "$T" # the unprivileged run below writes into it
NS=twkit-contrib-$$
SG=
cleanup() {
    [ -n "${EXP_PID:-}" ] && kill "$EXP_PID" 2>/dev/null && wait "$EXP_PID" 2>/dev/null
    [ -n "$SG" ] && kill "$SG" 2>/dev/null && wait "$SG" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
RULES=contrib/prometheus/twkit-alerts.yml
DASH=contrib/grafana/twkit-dashboard.json
UNIT=contrib/systemd/twkit-export.service
"$TWKIT" export --list-metrics > "$T/list"; eq "--list-metrics exit" $? 0
cut -f1 "$T/list" > "$T/names"

echo "== alert rules"
check "promtool check rules" promtool check rules "$RULES"
check "promtool test rules (every alert fires and stays quiet)" \
    bash -c "cd contrib/prometheus && promtool test rules twkit-alerts.test.yml"
for a in PortExhaustionSoon PortPressureHigh TimeWaitOverflow ExporterDown; do
    check "$a is defined and tested" bash -c \
        "grep -q '^      - alert: $a\$' '$RULES' && grep -q 'alertname: $a\$' contrib/prometheus/twkit-alerts.test.yml"
done
for m in $(grep -o 'twkit_[a-z0-9_]*' "$RULES" | sort -u); do
    check "the rules' $m is served" grep -qx "$m" "$T/names"
done

echo "== dashboard"
check "valid JSON" bash -c "jq -e .panels '$DASH' >/dev/null"
# every query: panel targets and the variables' label_values(SELECTOR, label)
jq -r '.panels[].targets[]?.expr' "$DASH" > "$T/exprs"
jq -r '.templating.list[] | select(.type == "query") | .definition' "$DASH" |
    sed -E 's/^label_values\((.*), *[a-z_]+\)$/\1/' >> "$T/exprs"
n=$(wc -l < "$T/exprs")
check "the dashboard has queries ($n)" test "$n" -ge 10
# Grafana's variables as PromQL literals, each query as a recording rule
sed -e 's/\$__rate_interval/5m/g; s/\$__interval/1m/g; s/\$instance/.*/g; s/\$netns/.*/g' "$T/exprs" |
    awk 'BEGIN { print "groups:\n  - name: dashboard\n    rules:" }
         { gsub(/\x27/, "\x27\x27"); printf "      - record: dashboard:query_%d\n        expr: \x27%s\x27\n", NR, $0 }' > "$T/dash-rules.yml"
if promtool check rules "$T/dash-rules.yml" > "$T/out" 2>&1; then ok "every dashboard query is valid PromQL"
else fail "dashboard queries: $(tail -3 "$T/out")"; fi
i=0
while IFS= read -r e; do
    i=$((i + 1))
    # the metric names: what comes before { or [ once strings are gone, and every twkit_ name
    bare=$(sed -E 's/"[^"]*"//g' <<<"$e")
    names=$( { grep -oE '[a-zA-Z_:][a-zA-Z0-9_:]*[[:space:]]*[{[]' <<<"$bare" | tr -d '{[ '
               grep -oE 'twkit_[a-z0-9_]+' <<<"$bare"; } | sort -u)
    [ -n "$names" ] || fail "query $i names no metric: $e"
    for m in $names; do
        grep -qx "$m" "$T/names" || fail "query $i uses $m, which the exporter does not serve: $e"
    done
done < "$T/exprs"
ok "every dashboard query names only metrics in the exporter's reference"

echo "== the dashboard's metrics on a live scrape"
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add 198.18.0.1/32 dev lo
ip -n "$NS" addr add 198.18.0.2/32 dev lo
SGF=$T/sgf; mkfifo "$SGF"
ip netns exec "$NS" "$HELPERS/sockgen" listen 198.18.0.2 80 twc 198.18.0.1 198.18.0.2 80 30 \
    estab 198.18.0.1 198.18.0.2 80 2 hold > "$SGF" &
SG=$!
timeout 30 head -n1 "$SGF" | grep -q ready || fail "sockgen did not start"
start_export --netns "$NS" --min-interval 0
scrape "live" "$T/page"
engine_missing=()
for m in $(grep -ohE 'twkit_[a-z0-9_]+' "$T/exprs" | sort -u); do
    if grep -q "^$m[ {]" "$T/page"; then ok "served: $m"
    elif grep -P "^\Q$m\E\t" "$T/list" | grep -q 'needs the rate engine'; then engine_missing+=("$m")
    else fail "not on a live page: $m"; fi
done
[ ${#engine_missing[@]} -eq 0 ] ||
    skip_case "served: ${engine_missing[*]}" "these need the rate engine (include/twkit/rate.h, issue 11), not in this build"
stop_export

echo "== the metric reference documents the export view of the table"
# docs/metrics.md rows: | `name` | type | labels | views | meaning |
grep -E '^\| `twkit_[a-z0-9_]+` \|' docs/metrics.md |
    awk -F'|' '{ for (i = 2; i <= 5; i++) gsub(/^ +| +$|`/, "", $i); gsub(/ /, "", $4)
                 print $2 "\t" $3 "\t" $4 "\t" $5 }' > "$T/doc"
awk -F'\t' '$4 ~ /(^|, )export(,|$)/ { print $1 }' "$T/doc" | sort > "$T/doc-export"
for m in $(cat "$T/names"); do
    check "docs/metrics.md documents $m in the export view" grep -qx "$m" "$T/doc-export"
done
for m in $(cat "$T/doc-export"); do
    check "$m (documented in the export view) is in the table" grep -qx "$m" "$T/names"
done
awk -F'\t' 'NR == FNR { n[$1]; next } $1 in n { print $1 "\t" $2 "\t" $3 }' "$T/names" "$T/doc" |
    sort > "$T/doc-tl"
cut -f1-3 "$T/list" | sort > "$T/list-tl"
if diff "$T/list-tl" "$T/doc-tl" > "$T/d"; then ok "--list-metrics and docs/metrics.md: the same types and labels"
else fail "--list-metrics and docs/metrics.md differ (< code, > docs):"; cat "$T/d"; fi

echo "== systemd unit"
if command -v systemd-analyze >/dev/null; then
    # a root where the unit's ExecStart exists; the system's own units beside it
    R=$T/root
    mkdir -p "$R/usr/local/bin" "$R/etc/systemd/system" "$R/usr/lib"
    cp "$TWKIT" "$R/usr/local/bin/twkit"
    ln -s /usr/lib/systemd "$R/usr/lib/systemd"
    verify() { systemd-analyze verify --man=no --root="$R" twkit-export.service > "$T/v" 2>&1; }
    cp "$UNIT" "$R/etc/systemd/system/twkit-export.service"
    verify; rc=$?
    eq "systemd-analyze verify" "$rc" 0
    eq "no complaint about the unit" "$(grep -c 'twkit-export.service' "$T/v")" 0
    grep 'twkit-export.service' "$T/v" | head -5
    # the check can fail: an unknown key is reported
    sed 's/^NoNewPrivileges=yes/NoNewPrivileges=yes\nNoSuchKey=1/' "$UNIT" > "$R/etc/systemd/system/twkit-export.service"
    verify
    check "a broken unit is reported (control)" grep -q "Unknown key 'NoSuchKey'" "$T/v"
else
    skip_case "systemd-analyze verify" "systemd-analyze is not installed"
fi
for k in "DynamicUser=yes" "ProtectSystem=strict" "NoNewPrivileges=yes" "ProtectHome=yes" \
         "RestrictNamespaces=net"; do
    check "the unit sets $k" grep -qx "$k" "$UNIT"
done

echo "== the unit's capabilities are what --netns all needs"
need_setpriv=$(command -v setpriv)
caps=$(sed -n 's/^AmbientCapabilities=//p' "$UNIT")
eq "bounding set = ambient set" "$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")" "$caps"
eq "the two capabilities" "$caps" "CAP_SYS_ADMIN CAP_SYS_PTRACE"
if [ -n "$need_setpriv" ]; then
    D=$T/tf; mkdir "$D"; chmod 777 "$D"
    as_nobody() { # CAPS (setpriv list: ",+sys_admin...") -> exit status; page in $D/twkit.prom
        rm -f "$D/twkit.prom"
        setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps="-all$1" \
            --ambient-caps="-all$1" --bounding-set="-all$1" \
            "$PWD/$TWKIT" export --netns all --textfile "$D" --interval 0 2> "$T/err"
    }
    set_of() { local s=""; for c in $1; do c=${c#CAP_}; s+=",+${c,,}"; done; echo "$s"; }
    as_nobody "$(set_of "$caps")"; rc=$?
    eq "unprivileged with the unit's capabilities: exit" "$rc" 0
    check "sees the test namespace" grep -q "^twkit_time_wait_sockets{netns=\"$NS\",side=\"client\"} 30$" "$D/twkit.prom"
    check "and the host's" grep -q '^twkit_destinations{netns="host"}' "$D/twkit.prom"
    eq "nothing to complain about" "$(wc -c < "$T/err")" 0
    for c in $caps; do
        rest=$(tr ' ' '\n' <<<"$caps" | grep -vx "$c" | tr '\n' ' ')
        as_nobody "$(set_of "$rest")"; rc=$?
        eq "without $c: exit" "$rc" 1
        check "without $c: the message names it" grep -q "needs $c" "$T/err"
    done
else
    skip_case "capabilities" "setpriv (util-linux) is not installed"
fi
finish
