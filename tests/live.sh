# tests/live.sh — helpers for the live table's checks (sourced by the
# tests/integration/*live*.sh scripts and bench/live_soak.sh, after
# tests/lib.sh where they use it).
#   need_live_table        SKIP (exit 77) unless a table can be had here, with the reason
#   live_ss_rows [NETNS]   ss now, in NETNS (ip netns) or the current one
#   live_ndjson_rows JSON  the rows of one `twkit watch --json --source live` sample
#   need_live_netns        root, jq and ss, a private namespace (the script runs
#                          again in one) and a table, or SKIP
#   live_reconcile_now PID FILE  a reconciliation on demand: SIGUSR1 to the
#                          watch PID, then the first sample it appends to
#                          FILE that carries one (""; status 1 after 10 s)
#   live_stop_pids         stop the processes in the array PIDS (a script's cleanup)
#   live_scratch           T, a scratch directory, and PIDS=(): at exit the
#                          processes stop and T goes (for a script with no
#                          more to undo)
# Rows are "src dst dport state count" lines, sorted, folded as the table
# folds them (server-side connections per client address: tests/ss_rows.awk).

need_live_table() {
    local j
    j=$("$TWKIT" watch --batch --json --source live -n 1 2>/dev/null)
    [ "$(jq -r .source <<<"$j")" = live ] ||
        skip "the live table cannot run here: $(jq -r .fallback <<<"$j")"
}

live_ss_rows() {
    local r in=()
    [ -n "${1:-}" ] && in=(ip netns exec "$1")
    r=$("${in[@]}" sysctl -n net.ipv4.ip_local_port_range)
    "${in[@]}" ss -tanH state all |
        awk -v lo="${r%%[[:space:]]*}" -v hi="${r##*[[:space:]]}" -f tests/ss_rows.awk | sort
}

live_ndjson_rows() {
    jq -r '.destinations[] | . as $d | .states | to_entries[] | "\($d.src) \($d.dst) \($d.dport) \(.key) \(.value)"' <<<"$1" | sort
}

live_stop_pids() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
}

need_live_netns() {
    need_root
    need jq ss
    in_private_netns
    need_live_table
}

live_scratch() {
    T=$(mktemp -d)
    PIDS=()
    trap 'live_stop_pids; rm -rf "$T"' EXIT
}

live_reconcile_now() {
    local n r i
    n=$(wc -l < "$2")
    kill -USR1 "$1"
    for i in $(seq 1 100); do
        r=$(tail -n +"$((n + 1))" "$2" | jq -c 'select(.reconcile != null)' | head -n1)
        [ -n "$r" ] && { echo "$r"; return 0; }
        sleep 0.1
    done
    return 1
}
