#!/bin/bash
# twkit export with --source live and --source bpf: what a page has, and how
# the exporter starts, when the source is eBPF.
#   - a live page has the kernel's families beside the live ones (counters,
#     sysctls, sockstat: the same values and labels as a netlink page), none
#     of a report's, and twkit_exporter_source_info says "live";
#   - twkit_live_sockets is bounded by --top: the destinations with the most
#     sockets keep their series, the rest fold into dst="other" per state,
#     and the sum is still every socket; each series has side=client|server;
#   - when the table cannot be had (no privileges), the namespace is served
#     from a sock_diag report and source_info says "netlink";
#   - an explicit --source bpf without the privileges stops at start with
#     twkit stat's reason and status 1, serving nothing and writing no
#     textfile; --source auto without them still serves.
# One private namespace; sockgen holds six destinations with 2 to 12
# client-side TIME_WAIT each.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
. tests/lib_export.sh
need_root
need curl promtool jq setpriv
in_private_netns "$@"

T=$(mktemp -d)
chmod 755 "$T"
trap 'stop_sockgen; [ -n "${EXP_PID:-}" ] && kill "$EXP_PID" 2>/dev/null; rm -rf "$T"' EXIT
args=()
for d in 1 2 3 4 5 6; do args+=(listen 127.1.0.$d 80 twc any 127.1.0.$d 80 $((2 * d))); done
start_sockgen "${args[@]}"
# as an unprivileged user (no CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)
nopriv() { setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all "$@"; }
# the series of one family, without their values, sorted
series() { grep "^$2{" "$1" | sed 's/ [^ ]*$//' | sort; }

probe=$("$TWKIT" watch --batch --json --source live -n 1 2>/dev/null | jq -r .source)
if [ "$probe" != live ]; then
    skip_case "--source live" "the live table cannot run here: $("$TWKIT" watch --batch --json \
        --source live -n 1 2>/dev/null | jq -r .fallback)"
else
    echo "== a live page: the live families and the kernel's"
    # sockgen's TIME_WAIT (the scrapes below leave some of their own)
    ntw=$(ss -Htan state time-wait | wc -l)
    start_export --source live --top 2 --min-interval 0 || exit 1
    scrape "live" "$T/live"
    stop_export
    start_export --source netlink --min-interval 0 || exit 1
    scrape "netlink" "$T/nl"
    stop_export
    eq "source_info says live" "$(metric "$T/live" 'twkit_exporter_source_info{netns="current",source="live"}')" 1
    eq "source_info says netlink on a report page" \
        "$(metric "$T/nl" 'twkit_exporter_source_info{netns="current",source="netlink"}')" 1
    for f in twkit_tcp_sysctl twkit_tcp_max_tw_buckets; do
        if [ -n "$(series "$T/live" $f)" ] && diff <(grep "^$f{" "$T/nl") <(grep "^$f{" "$T/live") > "$T/d"
        then ok "$f: as on a netlink page ($(grep -c "^$f{" "$T/live") series)"
        else fail "$f differs from a netlink page (or is absent)"; cat "$T/d"; fi
    done
    for f in twkit_sockstat_time_wait_sockets twkit_netstat_tcpext_tcp_time_wait_overflow_total \
             twkit_netstat_tcpext_tw_total twkit_netstat_tcp_curr_estab; do
        if [ -n "$(series "$T/live" $f)" ] && [ "$(series "$T/live" $f)" = "$(series "$T/nl" $f)" ]
        then ok "$f: on the live page, labelled as on a netlink page"
        else fail "$f: absent from the live page or labelled otherwise"; fi
    done
    eq "the kernel's TIME_WAIT count (sockstat) = ss" \
        "$(metric "$T/live" 'twkit_sockstat_time_wait_sockets{netns="current"}')" "$ntw"
    for f in twkit_sockets twkit_destination_port_pressure_ratio twkit_dump_duration_seconds; do
        eq "no $f (it needs a report)" "$(grep -c "^$f{" "$T/live")" 0
    done

    echo "== twkit_live_sockets: --top 2, side"
    # "src dst dport side" of each destination with its own series
    own=$(sed -n 's/^twkit_live_sockets{netns="current",src="\([^"]*\)",dst="\([^"]*\)",dport="\([^"]*\)",side="\([^"]*\)",state="[^"]*"} .*/\1 \2 \3 \4/p' "$T/live" |
          grep -v ' other ' | sort -u)
    eq "destinations with their own series" "$(wc -l <<<"$own")" 2
    eq "they are the two with the most sockets" "$(awk '{ print $2, $3 }' <<<"$own" | sort | tr '\n' ' ')" \
        "127.1.0.5 80 127.1.0.6 80 "
    check "every one with side=\"client\" (sockgen's TIME_WAIT are client-side)" \
        test "$(awk '{ print $4 }' <<<"$own" | sort -u)" = client
    eq "the others folded: dst=\"other\", time_wait" \
        "$(metric "$T/live" 'twkit_live_sockets{netns="current",src="",dst="other",dport="",side="",state="time_wait"}')" \
        "$((ntw - 22))"
    eq "the time_wait series sum to every TIME_WAIT (ss)" \
        "$(awk '/^twkit_live_sockets\{.*state="time_wait"\}/ { s += $NF } END { print s }' "$T/live")" \
        "$ntw"
    check "at most (--top + 1) series per state" \
        test "$(grep '^twkit_live_sockets{' "$T/live" | grep -o 'state="[a-z_0-9]*"' | sort | uniq -c |
                awk '$1 > 3' | wc -l)" = 0

    echo "== no table (no privileges): a sock_diag report, and the page says so"
    mkdir -m 777 "$T/fb"
    nopriv "$TWKIT" export --source live --textfile "$T/fb" --interval 0 2> "$T/fb.err"
    eq "export --source live without privileges: status" "$?" 0
    check "it says why it walks instead" grep -q 'collecting with sock_diag instead' "$T/fb.err"
    eq "source_info says netlink" \
        "$(metric "$T/fb/twkit.prom" 'twkit_exporter_source_info{netns="current",source="netlink"}')" 1
    check "and the page has a report's families" grep -q '^twkit_sockets{' "$T/fb/twkit.prom"
fi

echo "== --source bpf without privileges stops at start"
why=$(nopriv "$TWKIT" stat --source bpf 2>&1 >/dev/null)
mkdir -m 777 "$T/tf"
nopriv "$TWKIT" export --source bpf --textfile "$T/tf" --interval 0 2> "$T/bpf.err"
eq "--textfile: status (runtime error)" "$?" 1
eq "--textfile: the reason twkit stat gives" "$(cat "$T/bpf.err")" "$why"
check "--textfile: the reason names the capabilities (or what else is missing)" \
    grep -Eq 'CAP_BPF|BTF|without' "$T/bpf.err"
check "--textfile: no file written" test ! -e "$T/tf/twkit.prom"
timeout 10 setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
    "$TWKIT" export --source bpf -l 127.0.0.1:0 2> "$T/bpf.err"
eq "serving: status (runtime error, not killed by the timeout)" "$?" 1
check "serving: nothing served" bash -c "! grep -q 'serving' '$T/bpf.err'"
eq "serving: the reason twkit stat gives" "$(cat "$T/bpf.err")" "$why"
nopriv "$TWKIT" export --source auto --textfile "$T/tf" --interval 0 2> "$T/auto.err"
eq "--source auto without privileges: still writes a page (status)" "$?" 0
check "--source auto: the page" grep -q '^twkit_exporter_scrape_success 1$' "$T/tf/twkit.prom"

finish
