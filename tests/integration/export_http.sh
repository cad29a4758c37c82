#!/bin/bash
# twkit export on a live network namespace holding a known socket set (a
# namespace of its own, so that the scrapes' own connections are not in
# it): what a scrape says (exact per-destination counts, the same as `twkit
# stat --json`), both formats, the top K and the folded rest, no stale
# series, --min-interval, scrapes sharing one dump, --netns NAME and all,
# --textfile, the routes and methods, and bad input.  Every /metrics scrape
# goes through `promtool check metrics`.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
. tests/lib_export.sh
need_root
need curl jq promtool ip
in_private_netns "$@"

T=$(mktemp -d)
NS0=twkit-exp-$$-0 NS1=twkit-exp-$$-a NS2=twkit-exp-$$-b
SG2= S1= S2=
cleanup() {
    [ -n "${EXP_PID:-}" ] && kill "$EXP_PID" 2>/dev/null && wait "$EXP_PID" 2>/dev/null
    for p in "$SG2" "$S1" "$S2"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    stop_sockgen
    for n in "$NS0" "$NS1" "$NS2"; do ip netns del "$n" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
ip netns add "$NS0" || exit 1
X() { ip netns exec "$NS0" "$@"; }
X ip link set lo up
X ip addr add 198.18.0.1/32 dev lo
X ip addr add 198.18.1.0/24 dev lo
X sysctl -qw net.ipv4.tcp_tw_reuse=0

# 30 destinations 198.18.0.1 -> 198.18.1.D:80 with 31 - D client-side
# TIME_WAIT each (D = 1..30), and 3 established to 198.18.1.1.
args=()
for d in $(seq 30); do args+=(listen 198.18.1.$d 80); done
for d in $(seq 30); do args+=(twc 198.18.0.1 198.18.1.$d 80 $((31 - d))); done
args+=(estab 198.18.0.1 198.18.1.1 80 3)
# sockgen in the namespace (ip netns exec execs it: the PID is sockgen's)
SGF=$(mktemp -u); mkfifo "$SGF"
ip netns exec "$NS0" "$HELPERS/sockgen" "${args[@]}" hold > "$SGF" &
SOCKGEN_PID=$!
timeout 60 head -n1 "$SGF" | grep -q ready || { echo "sockgen did not get ready"; exit 1; }
rm -f "$SGF"

echo "== a scrape"
start_export --netns "$NS0" --top 5 --min-interval 0
P=$T/page
scrape "default" "$P"
D1="netns=\"$NS0\",src=\"198.18.0.1\",dst=\"198.18.1.1\",dport=\"80\""
D5="netns=\"$NS0\",src=\"198.18.0.1\",dst=\"198.18.1.5\",dport=\"80\""
OTHER="netns=\"$NS0\",src=\"\",dst=\"other\",dport=\"\""
eq "client TIME_WAIT" "$(metric "$P" "twkit_time_wait_sockets{netns=\"$NS0\",side=\"client\"}")" 465
eq "time_wait ipv4" "$(metric "$P" "twkit_sockets{netns=\"$NS0\",family=\"ipv4\",state=\"time_wait\"}")" 465
eq "destinations" "$(metric "$P" "twkit_destinations{netns=\"$NS0\"}")" 30
eq "folded" "$(metric "$P" "twkit_destinations_folded{netns=\"$NS0\"}")" 25
eq "worst destination TIME_WAIT" "$(metric "$P" "twkit_destination_ports_in_use{$D1,state=\"time_wait\"}")" 30
eq "worst destination established" "$(metric "$P" "twkit_destination_ports_in_use{$D1,state=\"established\"}")" 3
eq "5th destination TIME_WAIT" "$(metric "$P" "twkit_destination_ports_in_use{$D5,state=\"time_wait\"}")" 26
# 6..30: 25+24+...+1 = 325
eq "other: the sum of the folded" "$(metric "$P" "twkit_destination_ports_in_use{$OTHER,state=\"time_wait\"}")" 325
eff=$(metric "$P" "twkit_ephemeral_effective_ports{netns=\"$NS0\"}")
eq "other: the worst folded ratio (25 ports)" "$(metric "$P" "twkit_destination_port_pressure_ratio{$OTHER}")" \
    "$(awk -v e="$eff" 'BEGIN { printf "%.15g", 25 / e }')"
eq "series per destination state: 5 own + other" "$(grep -c '^twkit_destination_ports_in_use{.*state="time_wait"' "$P")" 6
check "no series of a folded destination" bash -c "! grep -q 'dst=\"198.18.1.6\"' '$P'"
eq "the partition sums to the ports in use" \
    "$(awk '/^twkit_destination_ports_in_use\{/ { s += $NF } END { print s }' "$P")" 468
eq "kernel TW counter is a counter" "$(grep -c '^# TYPE twkit_netstat_tcpext_tw_total counter$' "$P")" 1
eq "scrape success" "$(metric "$P" 'twkit_exporter_scrape_success')" 1
check "build info" grep -q "^twkit_exporter_build_info{version=\"[0-9.]*\"} 1$" "$P"

echo "== the same figures as twkit stat --json"
X "$TWKIT" stat --json --top 100 > "$T/stat.json"
for d in 1 2 5 17 30; do
    want=$(jq -r ".namespaces[0].port_pressure.destinations[] | select(.remote_address==\"198.18.1.$d\") | .time_wait" "$T/stat.json")
    got=$(metric "$P" "twkit_destination_ports_in_use{netns=\"$NS0\",src=\"198.18.0.1\",dst=\"198.18.1.$d\",dport=\"80\",state=\"time_wait\"}")
    [ "$d" -gt 5 ] && got=folded
    [ "$d" -le 5 ] && eq "198.18.1.$d TIME_WAIT as stat says" "$got" "$want"
done
eq "effective range as stat says" "$eff" "$(jq -r '.namespaces[0].port_pressure.range.effective' "$T/stat.json")"

echo "== OpenMetrics when asked for"
AOM='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
curl -s -D "$T/h" -o "$T/om" -H "Accept: $AOM" "$EXP_URL"
check "OpenMetrics content type" grep -qi '^content-type: application/openmetrics-text; version=1.0.0' "$T/h"
eq "ends with # EOF" "$(tail -n1 "$T/om")" "# EOF"
check "counter family without _total" grep -q '^# TYPE twkit_netstat_tcpext_tw counter$' "$T/om"
check "info family" grep -q '^# TYPE twkit_exporter_build info$' "$T/om"
check "UNIT line" grep -q '^# UNIT twkit_dump_duration_seconds seconds$' "$T/om"
curl -s -D "$T/h" -o /dev/null "$EXP_URL"
check "text 0.0.4 by default" grep -qi '^content-type: text/plain; version=0.0.4' "$T/h"

echo "== no stale series: a new destination enters the top 5"
SGF=$(mktemp -u); mkfifo "$SGF"
ip netns exec "$NS0" "$HELPERS/sockgen" listen 198.18.1.30 81 twc 198.18.0.1 198.18.1.30 81 40 hold > "$SGF" &
SG2=$!
timeout 30 head -n1 "$SGF" | grep -q ready || fail "second sockgen did not get ready"
rm -f "$SGF"
scrape "after the new destination" "$P"
eq "the new destination has its series" \
    "$(metric "$P" "twkit_destination_ports_in_use{netns=\"$NS0\",src=\"198.18.0.1\",dst=\"198.18.1.30\",dport=\"81\",state=\"time_wait\"}")" 40
check "the destination that left the top 5 has none" bash -c "! grep -q 'dst=\"198.18.1.5\"' '$P'"
eq "destinations now" "$(metric "$P" "twkit_destinations{netns=\"$NS0\"}")" 31
eq "other takes the one that left" "$(metric "$P" "twkit_destination_ports_in_use{$OTHER,state=\"time_wait\"}")" 351
kill "$SG2"; wait "$SG2" 2>/dev/null; SG2=

echo "== routes and methods"
eq "HEAD /metrics" "$(curl -s -I -o /dev/null -w '%{http_code}' "$EXP_URL")" 200
eq "HEAD has no body" "$(curl -s -I "$EXP_URL" | grep -c twkit_)" 0
eq "GET /" "$(curl -s -o "$T/root" -w '%{http_code}' "$EXP_BASE/")" 200
check "/ links to /metrics" grep -q 'href="/metrics"' "$T/root"
eq "GET /-/healthy" "$(curl -s -w ' %{http_code}' "$EXP_BASE/-/healthy")" "twkit export is healthy
 200"
eq "GET /nothing" "$(curl -s -o /dev/null -w '%{http_code}' "$EXP_BASE/nothing")" 404
for m in POST PUT DELETE PATCH OPTIONS TRACE; do
    eq "$m /metrics" "$(curl -s -X "$m" -o /dev/null -w '%{http_code}' "$EXP_URL")" 405
done
check "405 says Allow: GET, HEAD" bash -c "curl -s -X POST -D - -o /dev/null '$EXP_URL' | grep -qi '^allow: GET, HEAD'"
eq "POST with a body" "$(curl -s -d 'x=1' -o /dev/null -w '%{http_code}' "$EXP_URL")" 405
eq "GET with a body" "$(curl -s -X GET -d 'x=1' -o /dev/null -w '%{http_code}' "$EXP_URL")" 400
eq "keep-alive: two scrapes, one connection" \
    "$(curl -s -o /dev/null -o /dev/null -w '%{num_connects}\n' "$EXP_URL" "$EXP_URL" | tr -d '\n')" "10"

echo "== --min-interval 0: one dump per scrape"
scrape "dump a" "$P"; a=$(metric "$P" twkit_exporter_dumps_total)
scrape "dump b" "$P"; b=$(metric "$P" twkit_exporter_dumps_total)
eq "a new dump for the next scrape" "$((b - a))" 1
stop_export

echo "== --min-interval 30: the page is served again"
start_export --netns "$NS0" --min-interval 30
scrape "cached a" "$P"; a=$(metric "$P" twkit_exporter_dumps_total)
scrape "cached b" "$P"; b=$(metric "$P" twkit_exporter_dumps_total)
eq "no new dump within the interval" "$b" "$a"
stop_export

echo "== concurrent scrapes share the dump in progress"
# 200000 TIME_WAIT make a dump long enough (~0.1 s) for 10 scrapes to meet it
X sysctl -qw net.ipv4.tcp_max_tw_buckets=400000
if [ -x "$OUT/bench/twgen" ] && X "$OUT/bench/twgen" -n 200000 -j 2 -s 20 -t 40 >/dev/null; then
    start_export --netns "$NS0" --min-interval 0
    scrape "before the burst" "$P"; before=$(metric "$P" twkit_exporter_dumps_total)
    cpids=()
    for i in $(seq 10); do curl -s -o "$T/c$i" "$EXP_URL" & cpids+=($!); done
    wait "${cpids[@]}"
    n_ok=0
    for i in $(seq 10); do grep -q '^twkit_exporter_dumps_total' "$T/c$i" && n_ok=$((n_ok + 1)); done
    eq "10 concurrent scrapes answered" "$n_ok" 10
    distinct=$(cat "$T"/c* | awk '/^twkit_exporter_dumps_total/ { print $2 }' | sort -u | wc -l)
    scrape "after the burst" "$P"; after=$(metric "$P" twkit_exporter_dumps_total)
    dumps=$((after - before - 1))
    check "10 concurrent scrapes took fewer than 10 dumps ($dumps, $distinct distinct pages)" \
        test "$dumps" -lt 10 -a "$distinct" -lt 10
    stop_export
else
    fail "bench/twgen could not make 200000 TIME_WAIT (make $OUT/bench/twgen)"
fi

echo "== --netns NAME and --netns all"
ip netns add "$NS1" && ip netns add "$NS2"
for n in "$NS1" "$NS2"; do ip -n "$n" link set lo up; done
ip netns exec "$NS1" "$HELPERS/sockgen" listen 127.0.0.1 7000 twc any 127.0.0.1 7000 7 hold > "$T/sg1" &
S1=$!
ip netns exec "$NS2" "$HELPERS/sockgen" listen 127.0.0.1 7000 twc any 127.0.0.1 7000 9 hold > "$T/sg2" &
S2=$!
for i in $(seq 100); do grep -q ready "$T/sg1" && grep -q ready "$T/sg2" && break; sleep 0.1; done
start_export --netns "$NS1" --min-interval 0
scrape "--netns NAME" "$P"
eq "the named namespace" "$(metric "$P" "twkit_time_wait_sockets{netns=\"$NS1\",side=\"client\"}")" 7
eq "only it" "$(grep -c '^twkit_destinations{' "$P")" 1
stop_export
start_export --netns all --min-interval 0
scrape "--netns all" "$P"
eq "namespace 1" "$(metric "$P" "twkit_time_wait_sockets{netns=\"$NS1\",side=\"client\"}")" 7
eq "namespace 2" "$(metric "$P" "twkit_time_wait_sockets{netns=\"$NS2\",side=\"client\"}")" 9
check "several namespaces on one page" test "$(grep -c '^twkit_destinations{' "$P")" -ge 2
kill "$S2"; wait "$S2" 2>/dev/null
ip netns del "$NS2"
scrape "--netns all after a namespace went" "$P"
check "its series are gone" bash -c "! grep -q 'netns=\"$NS2\"' '$P'" || grep "netns=\"$NS2\"" "$P" | head -3
eq "the other one stays" "$(metric "$P" "twkit_time_wait_sockets{netns=\"$NS1\",side=\"client\"}")" 7
stop_export
kill "$S1"; wait "$S1" 2>/dev/null

echo "== a namespace that does not exist: served, and said"
start_export --netns twkit-no-such-ns-$$ --min-interval 0
scrape "missing namespace" "$P"
eq "scrape success 0" "$(metric "$P" twkit_exporter_scrape_success)" 0
check "no namespace series" bash -c "! grep -q '^twkit_sockets{' '$P'"
check "the error is said on stderr" grep -q "twkit-no-such-ns-$$" "$EXP_ERR"
stop_export

echo "== --textfile"
"$TWKIT" export --textfile "$T" --interval 0; eq "--textfile --interval 0 exit" $? 0
check "twkit.prom written" test -s "$T/twkit.prom"
check "promtool accepts it" bash -c "promtool check metrics < '$T/twkit.prom'"
eq "mode 0644" "$(stat -c %a "$T/twkit.prom")" 644
"$TWKIT" export --textfile "$T" --interval 0.2 & TP=$!
sleep 0.1; m1=$(stat -c %Y.%y "$T/twkit.prom"); d1=$(metric "$T/twkit.prom" twkit_exporter_dumps_total)
sleep 0.7; d2=$(metric "$T/twkit.prom" twkit_exporter_dumps_total)
check "rewritten every interval ($d1 -> $d2)" test "${d2:-0}" -gt "${d1:-0}"
kill "$TP"; wait "$TP"; eq "--textfile loop exits 0 on SIGTERM" $? 0
eq "no temporary file left" "$(find "$T" -name 'twkit.prom.tmp.*' | wc -l)" 0

echo "== --fixture and --source proc"
F=tests/fixtures/stat/recorded-nl
"$TWKIT" export --fixture "$F" --textfile "$T" --interval 0; eq "--fixture exit" $? 0
check "promtool accepts the fixture's page" bash -c "promtool check metrics < '$T/twkit.prom'"
eq "the fixture's destinations, as stat says" \
    "$(metric "$T/twkit.prom" "twkit_destinations{netns=\"fixture $F\"}")" \
    "$("$TWKIT" stat --fixture "$F" --json | jq '.namespaces[0].port_pressure.destinations_total')"
eq "the fixture's client-side TIME_WAIT, as stat says" \
    "$(metric "$T/twkit.prom" "twkit_time_wait_sockets{netns=\"fixture $F\",side=\"client\"}")" \
    "$("$TWKIT" stat --fixture "$F" --json | jq '.namespaces[0].time_wait.client_side')"
X "$TWKIT" export --source proc --top 1000 --textfile "$T" --interval 0; eq "--source proc exit" $? 0
eq "/proc shows the held connections" \
    "$(metric "$T/twkit.prom" 'twkit_destination_ports_in_use{netns="current",src="198.18.0.1",dst="198.18.1.1",dport="80",state="established"}')" 3
"$TWKIT" export --fixture /nonexistent-$$ --textfile "$T" --interval 0 2>"$T/e"; eq "a missing fixture" $? 1
check "says so" grep -q "nonexistent-$$" "$T/e"

echo "== bad input"
"$TWKIT" export --listen 'nonsense' 2>"$T/e"; eq "--listen nonsense" $? 2
check "says what is wrong" grep -q "not ADDRESS:PORT" "$T/e"
"$TWKIT" export --listen '1.2.3.4:99999' 2>/dev/null; eq "--listen port out of range" $? 2
"$TWKIT" export --interval 5 2>"$T/e"; eq "--interval without --textfile" $? 2
"$TWKIT" export --textfile "$T" --listen 127.0.0.1:1 2>/dev/null; eq "--textfile with --listen" $? 2
"$TWKIT" export --textfile /nonexistent-$$ --interval 0 2>"$T/e"; eq "--textfile into nothing" $? 1
check "names the directory" grep -q "/nonexistent-$$" "$T/e"
printf 'tls_server_config:\n  cert_file: x.crt\n' > "$T/web.yml"
"$TWKIT" export --web-config "$T/web.yml" 2>"$T/e"; eq "invalid --web-config" $? 3
check "names the line" grep -q "line 2: cert_file .*x.crt" "$T/e"
"$TWKIT" export --web-config "$T" 2>"$T/e"; eq "--web-config a directory" $? 3
check "says it is a directory (not 'Invalid argument')" grep -qxF "twkit: --web-config $T: Is a directory" "$T/e"
mkdir -p "$T/pem.crt"
printf 'tls_server_config:\n  cert_file: %s/pem.crt\n  key_file: %s/pem.crt\n' "$T" "$T" > "$T/web.yml"
"$TWKIT" export --web-config "$T/web.yml" 2>"$T/e"; eq "a certificate that is a directory" $? 3
check "says it is a directory" grep -q "cert_file $T/pem.crt: Is a directory" "$T/e"
start_export
"$TWKIT" export --listen "127.0.0.1:$EXP_PORT" 2>"$T/e"; eq "a port in use" $? 1
check "says the address is in use" grep -q "Address already in use" "$T/e"
stop_export
finish
