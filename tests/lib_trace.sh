# tests/lib_trace.sh — helpers for the integration tests of `twkit trace`
# (sourced after tests/lib.sh).
#   need_trace              SKIP unless this twkit has its BPF programs
#   trace_start FILE ARGS   start `twkit trace --json ARGS` writing FILE (run
#                           through the command in TRACE_WRAP, if any); wait
#                           until its "start" line says the programs are
#                           attached.  Sets TRACE_PID.
#   trace_stop              SIGINT, wait; sets TRACE_RC
#   total FILE JQ           evaluate JQ on the "total" line of FILE
#   births FILE PID KIND PORT [ADDR]   TIME_WAIT births (both substates) of
#                           process PID for that destination
#   closes FILE PID FIELD KIND PORT [ADDR]   one close counter of that row
#   tcpext_tw               TcpExtTW of this namespace, now

need_trace() {
    local out rc
    out=$("$TWKIT" trace --duration 0.1 --interval 0.1 --json 2>&1 >/dev/null)
    rc=$?
    [ $rc -eq 3 ] && skip "trace unavailable in this build: $out"
    return 0
}

trace_start() {
    local f=$1; shift
    ${TRACE_WRAP:-} "$TWKIT" trace --json "$@" >"$f" 2>"$f.err" &
    TRACE_PID=$!
    for _ in $(seq 200); do
        grep -q '"type":"start"' "$f" 2>/dev/null && return 0
        kill -0 "$TRACE_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "trace did not start:"; cat "$f.err"
    return 1
}

trace_stop() {
    kill -INT "$TRACE_PID" 2>/dev/null
    wait "$TRACE_PID"
    TRACE_RC=$?
}

total() { jq -r "select(.type == \"total\") | $2" "$1"; }

# rows of process $2 whose destination is kind $3, port $4 (and address $5)
_rows() {
    local sel=".pid == $2 and .destination.kind == \"$3\" and .destination.port == $4"
    [ -n "${5:-}" ] && sel="$sel and .destination.address == \"$5\""
    echo "[.closes[] | select($sel)]"
}

births() {
    total "$1" "$(_rows "$@") | map(.time_wait + .fin_wait2) | add // 0"
}

closes() {
    local f=$1 pid=$2 field=$3; shift 3
    total "$f" "$(_rows "$f" "$pid" "$@") | map(.$field) | add // 0"
}

tcpext_tw() {
    awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "TW") c = i; h = 1 }
                      else print $c }' /proc/net/netstat
}

# documented FILE: every key of every line of FILE is in docs/trace-json.md
# (inside a code span)
documented() {
    local words key missing=
    words=$(grep -oE '`[^`]+`' docs/trace-json.md | tr -c 'A-Za-z0-9_\n' '\n' | sort -u)
    for key in $(jq -r '[paths | .[] | select(type == "string")] | .[]' "$1" | sort -u); do
        grep -qx -- "$key" <<<"$words" || missing="$missing $key"
    done
    eq "every JSON field is in docs/trace-json.md" "${missing:-none}" none
}
