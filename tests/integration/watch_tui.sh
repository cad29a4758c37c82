#!/bin/bash
# The curses view of twkit watch, driven for real in tmux (send-keys,
# capture-pane) at 80x24 and 132x43, on live sockets in a private network
# namespace: two destinations loaded at different rates by twkit lab load
# (198.18.0.1 -> 198.18.0.2:80 at 40/s, 127.0.0.1 -> 127.0.0.1:8080 at
# 10/s; later 198.18.0.1 -> 198.18.0.2:81 at 80/s).  Each key is asserted on
# the captured screen: rows, sort, pause, filter, expand, freeze (a new
# destination goes last), help, resize (bigger, too small, back), quit.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_root
need tmux jq
in_private_netns

sysctl -qw net.ipv4.ip_local_port_range="40000 43999"
ip addr add 198.18.0.1/32 dev lo
ip addr add 198.18.0.2/32 dev lo
tmp=$(mktemp -d)
SOCK=twkit-watch-tui-$$
PIDS=()
cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

"$TWKIT" lab backend --listen 127.0.0.1:8080 --listen 198.18.0.2:80 --listen 198.18.0.2:81 \
    -t 1 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
"$TWKIT" lab load -c 198.18.0.2:80 -s 198.18.0.1 -r 40 -d 120 -C 8 -t 1 >/dev/null 2>&1 &
PIDS+=($!)
"$TWKIT" lab load -c 127.0.0.1:8080 -r 10 -d 120 -C 8 -t 1 >/dev/null 2>&1 &
PIDS+=($!)
sleep 2

A='127.0.0.1>127.0.0.1:8080'
B='198.18.0.1>198.18.0.2:80'
S=w0 # the current session: each start() makes a new one; a session that
     # lives throughout keeps the server up (a server that is going away
     # makes new-session fail)
tmux -L "$SOCK" new-session -d -s keep "sleep 600" || { echo "tmux would not start"; exit 1; }
# line number of the first line matching a fixed string (0: none)
lineof() { grep -nF -- "$1" "$tmp/screen" | head -n 1 | cut -d: -f1; }
first_is() { # NAME FIRST SECOND [SECONDS]: FIRST's row is above SECOND's (within SECONDS)
    local a b i
    for i in $(seq $((${4:-0} * 10 + 1))); do
        cap >"$tmp/screen"
        a=$(lineof "$2") b=$(lineof "$3")
        if [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]; then ok "$1"; return; fi
        sleep 0.1
    done
    fail "$1 (lines ${a:-none} and ${b:-none})"
    sed 's/^/    | /' "$tmp/screen"
}
widest() { LC_ALL=C.UTF-8 wc -L <"$tmp/screen"; } # display columns

start() { # COLS LINES [ARGS]
    local c=$1 l=$2
    shift 2
    [ "$S" != w0 ] && tmux -L "$SOCK" kill-session -t "$S" 2>/dev/null
    S=w$((${S#w} + 1))
    rm -f "$tmp/exit"
    tmux -L "$SOCK" new-session -d -s "$S" -x "$c" -y "$l" \
        "env TERM=screen-256color LC_ALL=C.UTF-8 ${ENVX:-} $TWKIT watch $* 2>$tmp/err; echo \$? >$tmp/exit; sleep 60" \
        2>"$tmp/tmux.err" || { echo "tmux would not start: $(cat "$tmp/tmux.err")"; exit 1; }
}

# ---- 80x24 --------------------------------------------------------------------
start 80 24
waitfor "80x24: the header" '^twkit watch  '
waitfor "80x24: the column names" '^DESTINATION +USED +TW +RECL +PRESS +NEW/S +TREND 60 S +EXHAUST'
waitfor "80x24: a second sample" '^1s +[0-9]' 5
cap >"$tmp/screen"
grep -qF -- "$A" "$tmp/screen" && grep -qF -- "$B" "$tmp/screen" &&
    ok "80x24: both destinations shown whole" || fail "80x24: a destination is missing"
check "80x24: nothing wider than 80 columns" test "$(widest)" -le 80
first_is "80x24: worst first (40/s before 10/s)" "$B" "$A"
waitfor "80x24: the sparkline has cells" "$B .*[▁▂▃▄▅▆▇█]+ "
waitfor "80x24: the status line shows the sort and the keys" 'sort exhaustion.*q quit'
tmux -L "$SOCK" capture-pane -e -p -t "$S" >"$tmp/attr"
check "80x24: the selected (first) row is in reverse video" \
    bash -c "grep -F -- '$B' '$tmp/attr' | grep -q \$'\\e\\[[0-9;]*7m'"

keys s
waitfor "s: sort by pressure" 'sort pressure'
keys s s s s
waitfor "s x5: sort by destination" 'sort destination'
first_is "sort destination: 127.0.0.1 before 198.18.0.1" "$A" "$B"
keys s
waitfor "s x6: back to exhaustion" 'sort exhaustion'
first_is "sort exhaustion: the 40/s destination first again" "$B" "$A"

keys p
waitfor "p: paused" '^\[PAUSED\]'
cap >"$tmp/p1"
sleep 2.5
cap >"$tmp/p2"
check "paused: nothing is sampled for 2.5 s (the screen is unchanged)" cmp -s "$tmp/p1" "$tmp/p2"
keys p
waitfor "p again: sampling resumes" '^sort exhaustion'
sleep 1.5
cap >"$tmp/p3"
check "resumed: the screen changes" bash -c "! cmp -s '$tmp/p1' '$tmp/p3'"

keys / 1 9 8 . 1 8 . 0 . 2 Enter
waitfor "/198.18.0.2: the filter is on" 'filter 198\.18\.0\.2'
cap >"$tmp/screen"
grep -qF -- "$B" "$tmp/screen" && ! grep -qF -- "$A" "$tmp/screen" &&
    ok "filter 198.18.0.2: only that destination" || fail "filter 198.18.0.2 shows the wrong rows"
keys / C-u : 8 0 8 0 Enter
waitfor "/:8080: a port filter" 'filter :8080'
cap >"$tmp/screen"
grep -qF -- "$A" "$tmp/screen" && ! grep -qF -- "$B" "$tmp/screen" &&
    ok "filter :8080: only the 8080 destination" || fail "filter :8080 shows the wrong rows"
keys / C-u f o o Enter
waitfor "/foo: refused with a reason" "'.*foo' is not an address, CIDR or port"
keys / BSpace BSpace BSpace BSpace BSpace Enter
waitfor "an empty filter clears it" '^sort exhaustion  q quit'
cap >"$tmp/screen"
grep -qF -- "$A" "$tmp/screen" && grep -qF -- "$B" "$tmp/screen" &&
    ok "no filter: both destinations again" || fail "clearing the filter lost a row"

keys Home Enter
waitfor "Home, Enter: the first destination expands (expiry)" '^  expiry +0-9s'
waitfor "expanded: ports by state" '^  ports +established [0-9]+  time_wait'
waitfor "expanded: its forecast" '^  forecast '
waitfor "expanded: its local addresses" '^  from +198\.18\.0\.1 \('
keys Down Enter
waitfor "Down, Enter: the other one expands instead" '^  from +127\.0\.0\.1 \('
keys Enter
sleep 0.3
cap >"$tmp/screen"
check "Enter again: folded" bash -c "! grep -q '^  expiry' '$tmp/screen'"

keys o
waitfor "o: the order is frozen" 'sort exhaustion \(frozen\)'
# a new destination appears, one that will exhaust (80/s x 60 s > 4000
# ports): frozen, it goes last, not first
C='198.18.0.1>198.18.0.2:81'
"$TWKIT" lab load -c 198.18.0.2:81 -s 198.18.0.1 -r 80 -d 120 -C 8 -t 1 >/dev/null 2>&1 &
PIDS+=($!)
waitfor "frozen: the new destination appears, heading for exhaustion" "^$C .* [0-9]+s\$" 6
first_is "frozen: it stays below the frozen rows though it is the worst" "$A" "$C"
keys o
waitfor "o again: not frozen" 'sort exhaustion  '
# 80/s into 4000 ports exhausts within a minute: first once its rate is seen
first_is "not frozen: the destination that will exhaust goes first" "$C" "$B" 5

keys '?'
waitfor "?: the keys" 'twkit watch: keys'
keys x
sleep 0.3
cap >"$tmp/screen"
check "any key closes the help" bash -c "! grep -q 'twkit watch: keys' '$tmp/screen'"
keys C-l
waitfor "Ctrl-L: redrawn" '^DESTINATION'

# ---- resize ------------------------------------------------------------------------
tmux -L "$SOCK" resize-window -t "$S" -x 132 -y 43
waitfor "resized to 132x43: redrawn" '^DESTINATION'
sleep 1.2
cap >"$tmp/screen"
check "132x43: rows use the width (a wider sparkline)" test "$(widest)" -gt 80
check "132x43: nothing wider than 132" test "$(widest)" -le 132
tmux -L "$SOCK" resize-window -t "$S" -x 60 -y 20
waitfor "resized to 60x20: says the terminal is too small" 'terminal too small: 60x20, watch needs 80x24'
tmux -L "$SOCK" resize-window -t "$S" -x 80 -y 24
waitfor "back to 80x24: the view again" '^DESTINATION'

keys q
for _ in $(seq 30); do [ -s "$tmp/exit" ] && break; sleep 0.1; done
eq "q: quits with status 0" "$(cat "$tmp/exit" 2>/dev/null)" 0
eq "q: nothing on stderr" "$(cat "$tmp/err" 2>/dev/null)" ""

# ---- 132x43 from the start, monochrome -------------------------------------------------
start 132 43 --color never -i 0.5
waitfor "132x43: the header" '^twkit watch  '
waitfor "132x43: one line per destination, with the 60-cell sparkline" "^$B +[0-9,]+ .{60} "
cap >"$tmp/screen"
check "132x43: nothing wider than 132" test "$(widest)" -le 132
keys q
for _ in $(seq 30); do [ -s "$tmp/exit" ] && break; sleep 0.1; done
eq "132x43: q quits with status 0" "$(cat "$tmp/exit" 2>/dev/null)" 0

# ---- --netns all: n and N switch namespaces ---------------------------------------------------
start 80 24 --netns all
if waitfor "--netns all: the status line counts the namespaces" 'netns 1/[0-9]+'; then
    total=$(grep -oE 'netns 1/[0-9]+' "$tmp/screen" | cut -d/ -f2)
    if [ "$total" -ge 2 ]; then
        title1=$(head -n 1 "$tmp/screen" | sed 's/  every.*//')
        keys n
        waitfor "n: the next namespace" "netns 2/$total"
        title2=$(head -n 1 "$tmp/screen" | sed 's/  every.*//')
        check "n: another namespace in the title ($title2)" test "$title1" != "$title2"
        keys N
        waitfor "N: back to the first" "netns 1/$total"
        keys N
        waitfor "N from the first: the last" "netns $total/$total"
    else
        skip_case "n and N" "only one network namespace on this host"
    fi
fi
keys q
for _ in $(seq 30); do [ -s "$tmp/exit" ] && break; sleep 0.1; done
eq "--netns all: q quits with status 0" "$(cat "$tmp/exit" 2>/dev/null)" 0
"$TWKIT" watch -b -j -n 1 --netns all >"$tmp/all.ndjson" 2>"$tmp/all.err"
eq "--batch --netns all: exit" $? 0
check "--batch --netns all: every namespace in each sample" \
    test "$(jq '.namespaces | length' "$tmp/all.ndjson")" -ge 2

# ---- colour: --color always, NO_COLOR, monochrome ----------------------------------------------
colours() { tmux -L "$SOCK" capture-pane -e -p -t "$S" | grep -cE $'\e\\[([0-9;]*;)?3[0-7]m|\e\\[([0-9;]*;)?38;5;'; }
start 80 24 --color always
waitfor "--color always: the view" '^DESTINATION'
check "--color always: coloured" test "$(colours)" -gt 0
keys q
ENVX=NO_COLOR=1 start 80 24
waitfor "NO_COLOR=1: the view" '^DESTINATION'
check "NO_COLOR=1: no colour" test "$(colours)" -eq 0
tmux -L "$SOCK" capture-pane -e -p -t "$S" >"$tmp/attr"
check "NO_COLOR=1: bold and reverse still mark the title and the selection" \
    bash -c "grep -q \$'\\e\\[[0-9;]*1m' '$tmp/attr' && grep -q \$'\\e\\[[0-9;]*7m' '$tmp/attr'"
keys q
ENVX=TERM=vt100 start 80 24
waitfor "a monochrome terminal (vt100): the view" '^DESTINATION'
check "vt100: no colour" test "$(colours)" -eq 0
keys q

# ---- long IPv6 destinations and a long status line at 80x24 --------------------------------
L1='[2001:db8:aaaa:bbbb:cccc:dddd:eeee:1111]>'
L2='  [2001:db8:ffff:eeee:dddd:cccc:bbbb:aaaa]:65535'
start 80 24 --fixture tests/fixtures/stat/long-ipv6
waitfor "long IPv6: the view" '^DESTINATION'
cap >"$tmp/screen"
check "long IPv6: nothing wider than 80 columns" test "$(widest)" -le 80
check "long IPv6: the local end whole, broken after its '>'" grep -qxF -- "$L1" "$tmp/screen"
check "long IPv6: the remote end whole on the next line" grep -qxF -- "$L2" "$tmp/screen"
check "long IPv6: the sparkline's column is named for what it shows" \
    grep -qE '^DESTINATION +USED +TW +RECL +PRESS +NEW/S +TREND 60 S +EXHAUST$' "$tmp/screen"
keys p o /
tmux -L "$SOCK" send-keys -t "$S" -l '2001:db8:ffff:eeee:dddd:cccc:bbbb:aaaa/128'
keys Enter
waitfor "a long filter: shown" 'filter 2001:db8:ffff:eeee:dddd:cccc:bbbb:aaaa/128'
cap >"$tmp/screen"
check "a long status: nothing wider than 80 columns" test "$(widest)" -le 80
check "a long status: every item whole (wrapped between items)" \
    bash -c "grep -qx '\[PAUSED\] sort exhaustion (frozen)' '$tmp/screen' &&
             grep -qx 'filter 2001:db8:ffff:eeee:dddd:cccc:bbbb:aaaa/128' '$tmp/screen'"
keys / C-u
tmux -L "$SOCK" send-keys -t "$S" -l "$(printf 'y%.0s' $(seq 60))"
keys Enter
waitfor "a long bad filter: refused, the input whole" "'$(printf 'y%.0s' $(seq 60))' is not"
check "a long bad filter: nothing wider than 80 columns" test "$(widest)" -le 80
keys q

# ---- -n N ends the view by itself ---------------------------------------------------------
start 80 24 -n 2 -i 0.2
for _ in $(seq 50); do [ -s "$tmp/exit" ] && break; sleep 0.1; done
eq "-n 2: the view ends by itself with status 0" "$(cat "$tmp/exit" 2>/dev/null)" 0
finish
