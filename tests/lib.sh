# tests/lib.sh — shared helpers for the integration scripts (sourced).
#   need_root            SKIP (exit 77) unless root with unshare available
#   in_private_netns     re-exec this script inside `unshare --net` once
#   ok / fail / check    assertions; a script ends with `finish`
#   eq NAME GOT WANT     exact equality check
#   jcheck NAME FILE EXPR  a jq expression that must be true on FILE
#   skip_case NAME WHY   one case cannot run here: counted as skipped, with WHY
# tests/run counts the "  ok: ", "  FAIL: " and "  SKIP: " lines.
# Every script runs with `set -u`; $OUT is the build directory.

set -u
OUT=${OUT:-.build}
TWKIT=${TWKIT:-$OUT/twkit}
HELPERS=$OUT/helpers
_fails=0
_checks=0

skip() { echo "SKIP: $*"; exit 77; }
# A script whose minutes go to waiting on the kernel, not to twkit's code
# (which other scripts run under the sanitizers too), is not run again by
# `make check`: it says so as a SKIP with the reason (CI's 30 minutes).
not_sanitized() { [ -z "${TW_SANITIZED:-}" ] || skip "not run under the sanitizers: $*"; }

need_root() {
    [ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, sysctls)"
    command -v unshare >/dev/null || skip "needs unshare (util-linux)"
    unshare --net true 2>/dev/null || skip "cannot create a network namespace here"
}

need() { for c in "$@"; do command -v "$c" >/dev/null || skip "needs $c"; done; }

# Re-run the calling script in a private network namespace (loopback up).
in_private_netns() {
    if [ -z "${TW_IN_NETNS:-}" ]; then
        TW_IN_NETNS=1 exec unshare --net -- bash "$0" "$@"
    fi
    ip link set lo up
}

_skips=0
ok() { _checks=$((_checks + 1)); echo "  ok: $*"; }
skip_case() { _skips=$((_skips + 1)); echo "  SKIP: $1: $2"; }
fail() { _checks=$((_checks + 1)); _fails=$((_fails + 1)); echo "  FAIL: $*"; }

# eq NAME GOT WANT
eq() {
    if [ "$2" = "$3" ]; then ok "$1 = $3"; else fail "$1: got '$2', want '$3'"; fi
}

# check NAME COMMAND...: passes when the command succeeds
check() {
    local name=$1; shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}

# jcheck NAME FILE JQ-EXPR: passes when the jq expression is true on FILE
jcheck() {
    if jq -e "$3" "$2" >/dev/null 2>&1; then ok "$1"; else fail "$1 ($3)"; fi
}

finish() {
    echo "$_checks checks, $_fails failed, $_skips skipped"
    [ "$_fails" -eq 0 ]
}

# Start sockgen with steps; waits for "ready".  Sets SOCKGEN_PID.
start_sockgen() {
    local fifo
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    "$HELPERS/sockgen" "$@" hold >"$fifo" &
    SOCKGEN_PID=$!
    if ! timeout 30 head -n1 "$fifo" | grep -q ready; then
        rm -f "$fifo"
        echo "sockgen did not get ready"; kill "$SOCKGEN_PID" 2>/dev/null; exit 1
    fi
    rm -f "$fifo"
}

stop_sockgen() {
    [ -n "${SOCKGEN_PID:-}" ] && kill "$SOCKGEN_PID" 2>/dev/null && wait "$SOCKGEN_PID" 2>/dev/null
    SOCKGEN_PID=
    return 0
}

# ---- the curses views in tmux (watch_tui.sh, watch_live_tui.sh) ---------------
# The caller sets SOCK (its tmux -L socket), S (the session) and tmp (a
# directory for the captured screen, $tmp/screen).
cap() { tmux -L "$SOCK" capture-pane -p -t "$S"; }
keys() { tmux -L "$SOCK" send-keys -t "$S" "$@"; }
# waitfor WHAT REGEX [SECONDS]: until the screen matches (grep -E); 10 s by
# default (a loaded machine may be slow to draw; a match returns at once)
waitfor() {
    local i
    for i in $(seq $((${3:-10} * 10))); do
        cap >"$tmp/screen"
        grep -qE -- "$2" "$tmp/screen" && { ok "$1"; return 0; }
        sleep 0.1
    done
    fail "$1: /$2/ not on the screen:"
    sed 's/^/    | /' "$tmp/screen"
    return 1
}
