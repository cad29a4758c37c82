# tests/ss_rows.awk — `ss -tanH state all` as the live table's rows: lines
# "src dst dport state count" (SYN-RECV left out), for the checks that
# compare the table with ss (tests/integration/live_table.sh,
# bench/live_soak.sh).  Server-side connections are folded as the table
# folds them (twkit/live.h): a local port that listens, or one outside the
# ephemeral range (-v lo=, -v hi=: ip_local_port_range) below an
# unprivileged remote port, gives dport 0, one row per client address.
# Listeners: dst 0.0.0.0 or ::, dport 0.
function host(a) { sub(/:[^:]*$/, "", a); gsub(/[][]/, "", a); if (a == "*") a = "0.0.0.0"; return a }
function port(a) { sub(/.*:/, "", a); return a == "*" ? 0 : a + 0 }
BEGIN {
    m["ESTAB"] = "established"; m["SYN-SENT"] = "syn_sent"; m["FIN-WAIT-1"] = "fin_wait1"
    m["FIN-WAIT-2"] = "fin_wait2"; m["TIME-WAIT"] = "time_wait"; m["CLOSE-WAIT"] = "close_wait"
    m["LAST-ACK"] = "last_ack"; m["LISTEN"] = "listen"; m["CLOSING"] = "closing"
}
$1 in m { n++; st[n] = m[$1]; la[n] = $4; ra[n] = $5; if ($1 == "LISTEN") listening[port($4)] = 1 }
END {
    for (i = 1; i <= n; i++) {
        s = st[i]; d = host(ra[i]); p = port(ra[i]); lp = port(la[i])
        if (s == "listen") {
            p = 0; d = (index(la[i], "[") || index(la[i], "*:")) && host(la[i]) != "0.0.0.0" ? "::" : "0.0.0.0"
        } else if ((lp in listening) || ((lp < lo || lp > hi) && p >= 1024 && p > lp)) {
            p = 0
        }
        c[host(la[i]) " " d " " p " " s]++
    }
    for (k in c) print k, c[k]
}
