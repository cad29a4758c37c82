#!/bin/bash
# End to end with the real thing: Debian's Prometheus server (started here,
# in a private network namespace, with a generated config, never the system
# service) scrapes `twkit export` every second and evaluates the shipped
# alert rules, while the lab's load generator makes short connections to
# one destination through a 600-port range (tcp_tw_reuse 0) until the first
# EADDRNOTAVAIL.  Through Prometheus' HTTP API: the target is up (the
# OpenMetrics page parses), the destination's series are there and reach
# full pressure, every dashboard query evaluates, and PortExhaustionSoon
# fires before the load generator's first EADDRNOTAVAIL.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
. tests/lib_export.sh
need_root
not_sanitized "a real Prometheus server scraping twkit export for half a minute (the pages it reads are checked under the sanitizers by export_http, export_contrib and export_security); make test runs it"
need prometheus curl jq
in_private_netns "$@"

T=$(mktemp -d)
BE= PROM= POLL=
cleanup() {
    for p in "$POLL" "$PROM" "$BE" "${EXP_PID:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT
ip addr add 198.18.0.1/32 dev lo
ip addr add 198.18.0.2/32 dev lo
sysctl -qw net.ipv4.ip_local_port_range="40000 40599" net.ipv4.tcp_tw_reuse=0

"$TWKIT" lab backend -l 198.18.0.2:8080 -t 1 > "$T/backend" &
BE=$!
for i in $(seq 50); do grep -q ready "$T/backend" && break; sleep 0.1; done
start_export --min-interval 0
engine=1
grep -q 'built without the rate engine' "$EXP_ERR" && engine=0

PPORT=19090
API=http://127.0.0.1:$PPORT/api/v1
cat > "$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/contrib/prometheus/twkit-alerts.yml
scrape_configs:
  - job_name: twkit
    static_configs:
      - targets: ['127.0.0.1:$EXP_PORT']
EOF
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/data" \
    --web.listen-address="127.0.0.1:$PPORT" --log.level=warn > "$T/prom.log" 2>&1 &
PROM=$!
up=
for i in $(seq 100); do
    up=$(curl -s "$API/targets" | jq -r '.data.activeTargets[0].health // empty' 2>/dev/null)
    [ "$up" = up ] && break
    sleep 0.2
done
eq "Prometheus scrapes the exporter" "$up" up
q() { curl -s --get --data-urlencode "query=$1" "$API/query"; }

# When PortExhaustionSoon first fires (wall clock), polled four times a second.
( while :; do
      if curl -s "$API/alerts" | jq -e '.data.alerts[] | select(.labels.alertname == "PortExhaustionSoon" and .state == "firing")' >/dev/null 2>&1; then
          date +%s.%N > "$T/fired"; exit 0
      fi
      sleep 0.25
  done ) &
POLL=$!

echo "== load: 20 short connections/s to 198.18.0.2:8080 through 600 ports"
secs=45
[ "$engine" = 1 ] || secs=6 # no forecast to wait for: just enough for the series
t0=$(date +%s.%N)
"$TWKIT" lab load -c 198.18.0.2:8080 -s 198.18.0.1 -r 20 -C 8 -d "$secs" --stop-on-exhaustion \
    --json > "$T/load.json"
eq "load generator exit" $? 0
sleep 2 # the last scrapes
fe=$(jq -r '.first_eaddrnotavail.t_s // empty' "$T/load.json")
echo "load: $(jq -c '{ok: .connections.ok, errors, first_eaddrnotavail}' "$T/load.json")"

target=$(curl -s "$API/targets" | jq -c '.data.activeTargets[0] | {health, lastError}')
eq "the target stayed up, no scrape error" "$target" '{"health":"up","lastError":""}'
D='dst="198.18.0.2",dport="8080",src="198.18.0.1"'
n=$(q "twkit_destination_ports_in_use{$D,state=\"time_wait\"}" | jq '.data.result | length')
eq "the destination's TIME_WAIT series" "$n" 1
tw=$(q "max_over_time(twkit_destination_ports_in_use{$D,state=\"time_wait\"}[2m])" | jq -r '.data.result[0].value[1]')
check "its TIME_WAIT grew ($tw)" test "${tw:-0}" -ge 100
for m in twkit_destination_port_pressure_ratio twkit_destination_reclaimable_at_most_sockets \
         twkit_netstat_tcpext_tw_total twkit_exporter_dumps_total; do
    check "series in Prometheus: $m" bash -c "curl -s --get --data-urlencode 'query=$m' '$API/query' | jq -e '.data.result | length > 0' >/dev/null"
done
eq "ExporterDown is quiet" "$(curl -s "$API/alerts" | jq '[.data.alerts[] | select(.labels.alertname == "ExporterDown")] | length')" 0

echo "== every dashboard query evaluates"
jq -r '.panels[].targets[]?.expr' contrib/grafana/twkit-dashboard.json |
    sed -e 's/\$__rate_interval/1m/g; s/\$instance/.*/g; s/\$netns/.*/g' > "$T/exprs"
bad=0
while IFS= read -r e; do
    st=$(q "$e" | jq -r .status)
    [ "$st" = success ] || { bad=$((bad + 1)); echo "    query failed: $e"; }
done < "$T/exprs"
eq "dashboard queries that Prometheus refused" "$bad" 0

echo "== PortExhaustionSoon fires before the first EADDRNOTAVAIL"
if [ "$engine" = 1 ]; then
    check "the load generator reached EADDRNOTAVAIL" test -n "$fe"
    pr=$(q "max_over_time(twkit_destination_port_pressure_ratio{$D}[2m])" | jq -r '.data.result[0].value[1]')
    check "full pressure at the end ($pr)" awk -v p="${pr:-0}" 'BEGIN { exit !(p >= 0.9) }'
    if [ -s "$T/fired" ] && [ -n "$fe" ]; then
        lead=$(awk -v f="$(cat "$T/fired")" -v t0="$t0" -v fe="$fe" 'BEGIN { printf "%.1f", (t0 + fe) - f }')
        echo "fired $(awk -v f="$(cat "$T/fired")" -v t0="$t0" 'BEGIN { printf "%.1f", f - t0 }') s into the load; first EADDRNOTAVAIL at $fe s"
        check "PortExhaustionSoon fired $lead s before the first EADDRNOTAVAIL" awk -v l="$lead" 'BEGIN { exit !(l > 0) }'
    else
        fail "PortExhaustionSoon never fired (EADDRNOTAVAIL at ${fe:-never} s)"
    fi
else
    skip_case "PortExhaustionSoon fires before the first EADDRNOTAVAIL" \
        "twkit was built without the rate engine (include/twkit/rate.h, issue 11): no twkit_destination_exhaustion_seconds to alert on"
fi
kill "$POLL" 2>/dev/null; wait "$POLL" 2>/dev/null; POLL=
stop_export
finish
