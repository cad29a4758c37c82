#!/bin/bash
# Bad input to twkit watch gets a clear message and the documented exit
# status, never a crash: usage errors (a bad interval, --json without
# --batch, no terminal without --batch, conflicting options) exit 2;
# runtime errors (a namespace that does not exist, a terminal too small or
# unknown to curses, a missing or malformed recording) exit 1.  Also: a
# namespace label that carries a process name is escaped in the text view,
# and --record then --fixture replays the same samples.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need jq
T=$(mktemp -d)
PIDS=()
SOCK=twkit-watch-bad-$$
cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

usage() { # usage NAME PATTERN ARGS...: exit 2, the pattern on stderr, nothing on stdout
    local name=$1 pat=$2
    shift 2
    "$TWKIT" "$@" </dev/null >"$T/out" 2>"$T/err"
    local rc=$?
    eq "$name: exit" $rc 2
    check "$name: message '$pat'" grep -q -- "$pat" "$T/err"
    check "$name: nothing on stdout" test ! -s "$T/out"
}
usage "no terminal, no --batch" "needs a terminal.*use --batch" watch
usage "--interval 0" "'0' is not a decimal number from 0.1 to 3600" watch -b --interval 0
usage "--interval 3601" "from 0.1 to 3600" watch -b -i 3601
usage "--interval -1" "from 0.1 to 3600" watch -b -i -1
usage "--interval abc" "from 0.1 to 3600" watch -b -i abc
usage "--interval 1e3" "from 0.1 to 3600" watch -b -i 1e3
usage "--count 0" "count" watch -b -n 0
usage "--json without --batch" "give --batch too" watch --json
usage "--rows without --batch" "--rows is for the --batch text" watch --rows 5
usage "--fixture and --netns" "exclude each other" watch -b --fixture "$T" --netns x
usage "--fixture and --record" "exclude each other" watch -b --fixture "$T" --record "$T/r"
usage "--record with --netns all" "one namespace" watch -b --record "$T/r" --netns all
usage "--dport junk" "not a port" watch -b --dport junk
usage "unknown option" "unknown option" watch -b --frobnicate
"$TWKIT" watch --help >"$T/out"
eq "--help exit" $? 0
check "--help has examples" grep -q "^Examples:" "$T/out"
check "--help names the keys" grep -q "p pause, s sort, o freeze order" "$T/out"

runtime() { # runtime NAME PATTERN ARGS...: exit 1 and the pattern in the message
    local name=$1 pat=$2
    shift 2
    "$TWKIT" "$@" </dev/null >"$T/out" 2>"$T/err"
    local rc=$?
    eq "$name: exit" $rc 1
    check "$name: message '$pat'" grep -q -- "$pat" "$T/err"
}
runtime "--netns that does not exist" "no network namespace 'twkit-no-such-ns'" \
    watch -b -n 1 --netns twkit-no-such-ns
runtime "--netns PID that does not exist" "no network namespace '999999999'" \
    watch -b -n 1 --netns 999999999
runtime "--fixture missing" "fixture $T/missing" watch -b -n 1 --fixture "$T/missing"
mkdir -p "$T/empty"
runtime "--fixture with no recording" "no recording in it" watch -b -n 1 --fixture "$T/empty"
runtime "--fixture truncated netlink" "truncated" watch -b -n 1 --fixture tests/fixtures/stat/bad-nl-trunc
runtime "--fixture malformed /proc" "line" watch -b -n 1 --fixture tests/fixtures/stat/bad-proc-line

# a value wider than the screen is wrapped, never cut
long="$T/$(printf 'x%.0s' $(seq 120))"
mkdir -p "$long" && cp -r tests/fixtures/stat/recorded-nl/. "$long/"
"$TWKIT" watch -b -n 1 --fixture "$long" >"$T/out" 2>"$T/err"
eq "a 130-column fixture path: exit" $? 0
check "a 130-column fixture path: nothing wider than 80 columns" test "$(LC_ALL=C.UTF-8 wc -L <"$T/out")" -le 80
check "a 130-column fixture path: all of it is there, wrapped" \
    bash -c "tr -d '\n ' <'$T/out' | grep -qF -- '$(tr -d ' ' <<<"$long")'"

# two long IPv6 ends: the --batch text breaks the destination after its '>',
# whole, within 80 columns
"$TWKIT" watch -b -n 1 --fixture tests/fixtures/stat/long-ipv6 >"$T/out" 2>"$T/err"
eq "long IPv6 destination, --batch: exit" $? 0
check "long IPv6 destination, --batch: nothing wider than 80 columns" \
    test "$(LC_ALL=C.UTF-8 wc -L <"$T/out")" -le 80
check "long IPv6 destination, --batch: the local end whole, then the remote end" \
    bash -c "grep -A1 -xF '[2001:db8:aaaa:bbbb:cccc:dddd:eeee:1111]>' '$T/out' |
             grep -qxF '  [2001:db8:ffff:eeee:dddd:cccc:bbbb:aaaa]:65535'"

# ---- terminals ---------------------------------------------------------------------
if command -v tmux >/dev/null; then
    n_tui=0
    tmux -L "$SOCK" new-session -d -s keep "sleep 600" # keeps the server up
    tui() { # COLS LINES TERM: run watch in a new tmux session, wait for it to end
        n_tui=$((n_tui + 1))
        rm -f "$T/exit"
        tmux -L "$SOCK" new-session -d -s "w$n_tui" -x "$1" -y "$2" \
            "env TERM=$3 $TWKIT watch --fixture tests/fixtures/stat/recorded-nl 2>$T/err; echo \$? >$T/exit; sleep 30"
        for _ in $(seq 50); do [ -s "$T/exit" ] && break; sleep 0.1; done
    }
    tui 60 20 screen-256color
    eq "terminal 60x20: exit" "$(cat "$T/exit" 2>/dev/null)" 1
    check "terminal 60x20: message" grep -q "the terminal is 60x20; watch needs at least 80x24" "$T/err"
    tui 100 20 screen-256color
    eq "terminal 100x20 (too few lines): exit" "$(cat "$T/exit" 2>/dev/null)" 1
    tui 80 24 twkit-no-such-terminal
    eq "unknown TERM: exit" "$(cat "$T/exit" 2>/dev/null)" 1
    check "unknown TERM: message" grep -q "cannot start the terminal view (TERM=twkit-no-such-terminal: not in the terminfo database): use --batch" "$T/err"
    tui 80 24 "\$(printf 'bad\\033term')"
    eq "a TERM with an escape: exit" "$(cat "$T/exit" 2>/dev/null)" 1
    check "a TERM with an escape: escaped once in the message" \
        grep -qF "(TERM=bad\x1bterm: not in the terminfo database)" "$T/err"
else
    skip_case "terminal too small" "needs tmux"
fi

# ---- escaping, recording (root, a private namespace) --------------------------------
if [ "$(id -u)" -eq 0 ] && unshare --net true 2>/dev/null; then
    # a process in its own namespace that names itself with an escape sequence
    unshare --net -- bash -c 'printf "tw\033[2Jx" >/proc/$$/comm; sleep 30; :' &
    PIDS+=($!)
    for _ in $(seq 30); do
        grep -q '^tw' /proc/$!/comm 2>/dev/null && break
        sleep 0.1
    done
    "$TWKIT" watch -b -n 1 --netns "$!" >"$T/out" 2>"$T/err"
    eq "--netns PID: exit" $? 0
    check "an escape sequence in a process name is escaped in the text view" \
        grep -qF 'tw\x1b[2Jx' "$T/out"
    check "... and never printed raw" bash -c "! grep -q \$'\\e' '$T/out'"
    "$TWKIT" watch -b -j -n 1 --netns "$!" >"$T/out" 2>"$T/err"
    check "the JSON view escapes it its own way (\\u001b)" grep -qF 'tw\u001b[2Jx' "$T/out"

    unshare --net -- bash -c "
        ip link set lo up
        $HELPERS/sockgen listen 127.0.0.1 9000 twc any 127.0.0.1 9000 5 hold >/dev/null &
        sleep 1
        $TWKIT watch -b -j -n 3 -i 0.2 --record '$T/rec' >'$T/live.ndjson'
        kill %1" 2>"$T/err"
    check "--record: three samples recorded" test "$(ls "$T/rec" | grep -c '^t[0-9]')" -eq 3
    "$TWKIT" watch -b -j --fixture "$T/rec" >"$T/replay.ndjson" 2>"$T/err"
    eq "--fixture series: exit" $? 0
    eq "--fixture series: one sample per recording" "$(wc -l <"$T/replay.ndjson")" 3
    D='[.namespaces[0].destinations[] | {remote, port, in_use, time_wait}]'
    eq "--fixture series: the same destinations as live" \
        "$(jq -c "$D" "$T/replay.ndjson" | md5sum)" "$(jq -c "$D" "$T/live.ndjson" | md5sum)"
    eq "--fixture series: at the recorded times" \
        "$(jq -c '.t_ms' "$T/replay.ndjson" | tr '\n' ' ')" "$(ls "$T/rec" | sed 's/^t0*//; s/^$/0/' | tr '\n' ' ')"

    # --record into a directory: never among other files; an earlier
    # recording is replaced whole (a replay must not mix two series)
    mkdir -p "$T/notes" && echo keep >"$T/notes/thesis.tex"
    in_private_rec() { unshare --net -- bash -c "ip link set lo up; $TWKIT watch -b -n $1 -i 0.2 --record '$2' >/dev/null"; }
    in_private_rec 1 "$T/notes" 2>"$T/err"
    eq "--record into a directory of other files: exit" $? 1
    check "--record into a directory of other files: says why" \
        grep -qF -- "--record $T/notes: the directory holds other files ('thesis.tex')" "$T/err"
    eq "--record into a directory of other files: nothing written" "$(ls "$T/notes")" thesis.tex
    echo x >"$T/file"
    in_private_rec 1 "$T/file" 2>"$T/err"
    eq "--record onto a file: exit" $? 1
    check "--record onto a file: says why" grep -qF "exists and is not a directory" "$T/err"
    in_private_rec 1 "$T/rec" 2>"$T/err"
    eq "--record over an earlier recording: exit" $? 0
    eq "--record over an earlier recording: replaced, one sample" \
        "$(ls "$T/rec" | grep -c '^t[0-9]')" 1
else
    skip_case "escaping and --record" "needs root and network namespaces"
fi
finish
