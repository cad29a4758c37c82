# tests/live_rows.sh — the live table's rows and ss's, in one form (sourced by
# tests/integration/live_table.sh, live_census.sh and bench/live_soak.sh):
# "src dst dport state count" lines, sorted, folded as the table folds them
# (server-side connections per client address: tests/ss_rows.awk).
#   live_ss_rows [NETNS]   ss now, in NETNS (ip netns) or the current one
#   live_ndjson_rows JSON  the rows of one `twkit watch --json --source live` sample

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
