#!/bin/bash
# The curses view of `twkit watch --source live` (src/watch/live_tui.c),
# driven in tmux (send-keys, capture-pane) in a private network namespace:
#   - closer makes exactly N TIME_WAIT toward 198.18.0.2:5101 while the view
#     runs: its row shows N TIME_WAIT (what ss counts), and the header's
#     totals by state equal ss's;
#   - r reconciles at once: the header shows one more reconciliation, drift 0;
#   - 24 more destinations (one TIME_WAIT each toward 198.18.0.3:6000-6023)
#     overflow an 80x24 screen: End, Home, PgDn scroll; t, n, a sort;
#     p pauses; ? shows the keys;
#   - a resize to 60x20 says the terminal is too small, 20x5 does not crash,
#     back to 100x30 redraws; q ends it with status 0 and nothing on stderr;
#   - --netns with a path whose name holds an ESC (a bind mount of this
#     namespace): the label is shown escaped, the view still counts;
#   - without the table (TWKIT_LIVE_FAIL=load, as a verifier rejection)
#     each sample walks: the header says so and why, the counts stay exact;
#   - -n 3 ends by itself with status 0.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
. tests/live.sh
need_root
need tmux ss jq
in_private_netns
need_live_table
# RFC 1337 on, so that exactly N TIME_WAIT stay: on loopback the server's ACK
# of the client's FIN now and then arrives after its own FIN (1 connection in
# ~500 here); the client's TIME_WAIT answers it with an ACK, the server, closed
# by then, with a RST, and with tcp_rfc1337 = 0 that RST kills the TIME_WAIT
# (seen in a capture: TcpExtTW 37, 36 left, TcpOutRsts 1)
sysctl -qw net.ipv4.tcp_rfc1337=1

N=37
tmp=$(mktemp -d)
SOCK=twkit-live-tui-$$
PIDS=()
ODD=
cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null
    live_stop_pids
    [ -n "$ODD" ] && umount "$ODD" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
ip addr add 198.18.0.2/32 dev lo
ip addr add 198.18.0.3/32 dev lo

mkfifo "$tmp/fifo"
"$HELPERS/closer" server 198.18.0.2 5101 wait >"$tmp/fifo" &
PIDS+=($!)
timeout 10 head -n1 "$tmp/fifo" | grep -q ready || { echo "closer server did not start"; exit 1; }
for b in 0 1 2; do # a backend listens on at most 8 addresses
    listen=()
    for p in $(seq $((6000 + b * 8)) $((6007 + b * 8))); do listen+=(--listen "198.18.0.3:$p"); done
    "$TWKIT" lab backend "${listen[@]}" -t 1 >"$tmp/backend$b" 2>&1 &
    PIDS+=($!)
done
for _ in $(seq 100); do grep -q ':1787 ' /proc/net/tcp && break; sleep 0.05; done # 6023

tmux -L "$SOCK" new-session -d -s keep "sleep 600" || { echo "tmux would not start"; exit 1; }
S=w0
widest() { LC_ALL=C.UTF-8 wc -L <"$tmp/screen"; }
start() { # COLS LINES [ARGS]: a new session running the view
    local c=$1 l=$2
    shift 2
    [ "$S" != w0 ] && tmux -L "$SOCK" kill-session -t "$S" 2>/dev/null
    S=w$((${S#w} + 1))
    rm -f "$tmp/exit"
    # the arguments in a script (bash quoting: the command line of tmux
    # goes through its default shell, which may not be bash)
    { printf '%s %q watch --source live' "${ENVX:-}" "$TWKIT"; printf ' %q' "$@"
      printf ' 2>%q; echo $? >%q; sleep 60\n' "$tmp/err" "$tmp/exit"; } >"$tmp/run.sh"
    tmux -L "$SOCK" new-session -d -s "$S" -x "$c" -y "$l" \
        "env TERM=screen-256color LC_ALL=C.UTF-8 bash $tmp/run.sh" 2>"$tmp/tmux.err" ||
        { echo "tmux would not start: $(cat "$tmp/tmux.err")"; exit 1; }
}
ended() { # NAME: the view ended with status 0 and nothing on stderr
    for _ in $(seq 50); do [ -s "$tmp/exit" ] && break; sleep 0.1; done
    eq "$1: exit status" "$(cat "$tmp/exit" 2>/dev/null)" 0
    eq "$1: nothing on stderr" "$(cat "$tmp/err" 2>/dev/null)" ""
}

# ---- exactly N TIME_WAIT toward one destination ------------------------------------
start 100 30 -i 0.3 --reconcile 0
waitfor "the header" '^twkit watch --source live  netns current  every 0.3s  sample [0-9]+'
waitfor "the table's source" '^source live \(the eBPF table\)'
"$HELPERS/closer" client 198.18.0.2 5101 "$N" close >"$tmp/client" 2>"$tmp/client.err"
eq "closer: connections" "$(cat "$tmp/client")" "done $N"
# settle; if ss does not count N, say what the kernel did with them
for _ in $(seq 50); do
    [ "$(ss -tanH state time-wait dst 198.18.0.2 dport = :5101 | wc -l)" = "$N" ] && break
    sleep 0.1
done
if [ "$(ss -tanH state time-wait dst 198.18.0.2 dport = :5101 | wc -l)" != "$N" ]; then
    echo "closer's stderr: $(cat "$tmp/client.err")"
    ss -tanoH dst 198.18.0.2 | sed 's/^/  ss: /'
    nstat -asz | grep -E '^(TcpExtTW|TcpActiveOpens|TcpAttemptFails|TcpEstabResets|TcpOutRsts|TcpExtTCPAbortOn[A-Za-z]+|TcpExtTCPTimeWaitOverflow|TcpExtTWRecycled|TcpExtListen[A-Za-z]+) ' |
        sed 's/^/  nstat: /'
fi
ROW="^198\.18\.0\.2 +198\.18\.0\.2:5101 +$N +0 +0 +0 +0 +$N +"
waitfor "the destination's row: $N TIME_WAIT, nothing else" "$ROW" 5
waitfor "the column names, with the net change labelled as such" \
    '^SRC +DST:PORT +TIME_WAIT +ESTAB +FIN_WAIT2 +CLOSE_WAIT +OTHER +TOTAL +TW NET/S$'
waitfor "the note: a net change, not births" '^TW NET/S: the net change of TIME_WAIT per second since the'
waitfor "its TW NET/S settles at 0 (nothing new, nothing expired)" "$ROW +0\$" 3
eq "ss: TIME_WAIT toward 198.18.0.2:5101" \
    "$(ss -tanH state time-wait dst 198.18.0.2 dport = :5101 | wc -l)" "$N"
# totals against ss (quiet: the N TIME_WAIT live 60 s, nothing else moves)
ssn() { ss -tanH state "$1" | wc -l; }
tw=$(ssn time-wait) es=$(ssn established) f2=$(ssn fin-wait-2) cw=$(ssn close-wait)
all=$(ss -tanH state all | grep -vc '^SYN-RECV')
other=$((all - tw - es - f2 - cw))
waitfor "totals by state = ss ($all sockets)" \
    "^sockets $all: TIME_WAIT $tw  ESTAB $es  FIN_WAIT2 $f2  CLOSE_WAIT $cw  OTHER $other  in [0-9]+ destination"

# ---- r: a reconciliation now ---------------------------------------------------------
waitfor "no reconciliation before r (--reconcile 0)" 'reconciliations 0  on r only'
keys r
waitfor "r: one reconciliation" 'reconciliations 1  on r only'
waitfor "r: drift 0" '^last drift: 0 rows \(0 sockets\), 0 unsettled, at sample [0-9]+'
keys r
waitfor "r again: two" 'reconciliations 2  on r only'
check "nothing wider than 100 columns" test "$(widest)" -le 100
cp "$tmp/screen" "$tmp/screen-100x30"

# ---- more destinations than the screen holds: scrolling, sorting ----------------------
for p in $(seq 6000 6023); do
    exec 3<>"/dev/tcp/198.18.0.3/$p" && exec 3<&-
done
tmux -L "$SOCK" resize-window -t "$S" -x 80 -y 24
waitfor "80x24: 24 more destinations" 'in 2[6-9] destinations' 5
waitfor "80x24: the first rows of more" 'rows 1-[0-9]+ of 2[6-9]'
check "80x24: nothing wider than 80 columns" test "$(widest)" -le 80
waitfor "80x24: one line per destination, with the short column names" \
    '^SRC +DST:PORT +TW +ESTAB +FW2 +CW +OTHER +TOTAL +TW NET/S$'
waitfor "80x24: the short names explained" '^TW: TIME_WAIT, FW2: FIN_WAIT2, CW: CLOSE_WAIT\.'
check "80x24: the $N destination's row on one line" grep -qE "^198\.18\.0\.2 +198\.18\.0\.2:5101 +$N +0 +0 +0 +0 +$N +" "$tmp/screen"
first=$(grep -m1 -E '^198\.18\.0\.' "$tmp/screen" | awk '{print $2}')
eq "80x24: sorted by TIME_WAIT, the $N first" "$first" 198.18.0.2:5101
keys End
waitfor "End: the last rows" 'rows [0-9]+-(2[6-9]) of \1'
check "End: the first destination scrolled away" bash -c "! grep -q '198.18.0.2:5101' '$tmp/screen'"
keys Home
waitfor "Home: the first rows again" 'rows 1-[0-9]+ of'
keys NPage
waitfor "PgDn: the next page" 'rows ([2-9]|1[0-9])-[0-9]+ of'
keys Home a
waitfor "a: sort by address" 'sort address'
first=$(grep -m1 -E '^[0-9]' "$tmp/screen" | awk '{print $1, $2}') # the first row
eq "sort address: the lowest first (closer's listener)" "$first" "198.18.0.2 (listening)"
cp "$tmp/screen" "$tmp/screen-80x24"
keys n
waitfor "n: sort by total" 'sort total'
keys t
waitfor "t: sort by TIME_WAIT" 'sort TIME_WAIT'
keys p
waitfor "p: paused" '^\[PAUSED\]'
cap >"$tmp/p1"; sleep 1; cap >"$tmp/p2"
check "paused: the screen stays" cmp -s "$tmp/p1" "$tmp/p2"
keys p
# polled, not slept: a loaded machine may take longer than one interval
resumed=0
for _ in $(seq 100); do cap >"$tmp/p3"; cmp -s "$tmp/p1" "$tmp/p3" || { resumed=1; break; }; sleep 0.1; done
eq "p again: sampling resumes" "$resumed" 1
keys '?'
waitfor "?: the keys" 'twkit watch --source live: keys'
keys x
closed=0
for _ in $(seq 100); do cap >"$tmp/screen"; grep -q 'source live: keys' "$tmp/screen" || { closed=1; break; }; sleep 0.1; done
eq "any key closes the help" "$closed" 1

# ---- resize ---------------------------------------------------------------------------
tmux -L "$SOCK" resize-window -t "$S" -x 60 -y 20
waitfor "60x20: says the terminal is too small" 'terminal too small: 60x20, watch needs 80x24'
tmux -L "$SOCK" resize-window -t "$S" -x 20 -y 5
sleep 0.7
tmux -L "$SOCK" resize-window -t "$S" -x 100 -y 30
waitfor "back to 100x30: the view again" "$ROW" 3
keys q
ended "q"

# ---- a namespace label with an ESC -----------------------------------------------------
mkdir "$tmp/ns"
ODD="$tmp/ns/net"$'\e'"[31mX"
if touch "$ODD" && mount --bind /proc/self/ns/net "$ODD" 2>/dev/null; then
    start 100 30 --netns "$ODD"
    waitfor "--netns PATH with an ESC: the label escaped" \
        "netns $tmp/ns/net\\\\x1b\\[31mX  every 1s"
    waitfor "--netns PATH: the same counts" "$ROW" 3
    tmux -L "$SOCK" capture-pane -e -p -t "$S" >"$tmp/attr"
    check "--netns PATH: no red from the label" bash -c "! grep -q \$'\\e\\[31m' '$tmp/attr'"
    keys q
    ended "--netns PATH: q"
    umount "$ODD" && ODD=
else
    skip_case "a label with an ESC" "cannot bind-mount a namespace file here"
fi

# ---- no table: each sample walks, and says why ------------------------------------------
ENVX="TWKIT_LIVE_FAIL=load" start 100 30 -i 0.3
waitfor "no table: the source and the reason" '^source netlink \(a sock_diag walk every sample\): .*load'
waitfor "no table: the counts still exact (a walk)" "$ROW" 3
waitfor "no table: no seeds or reconciliations" '^table: none'
keys r
waitfor "no table: r says there is nothing to reconcile" 'no table to reconcile'
cp "$tmp/screen" "$tmp/screen-fallback"
keys q
ended "no table: q"

# ---- -n 3 ends by itself -----------------------------------------------------------------
start 80 24 -n 3 -i 0.2
ended "-n 3"
for v in 100x30 80x24 fallback; do
    echo "  the view at $v:"
    sed 's/^/    | /' "$tmp/screen-$v"
done
finish
