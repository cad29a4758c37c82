# tests/lib_export.sh — what the tests of `twkit export` share (sourced after
# tests/lib.sh).
#   start_export ARGS...   run `twkit export -l 127.0.0.1:0 ARGS` in the
#                          background; sets EXP_PID, EXP_URL (…/metrics),
#                          EXP_BASE (scheme://addr:port), EXP_PORT, EXP_ERR
#   stop_export            SIGTERM it; eq-checks exit status 0
#   scrape NAME FILE [CURL-ARGS...]
#                          GET /metrics into FILE: checks HTTP 200 and that
#                          `promtool check metrics` accepts it (every scrape)
#   metric FILE 'NAME{LABELS}'   the value of one sample ("" if absent)

start_export() {
    EXP_ERR=$(mktemp)
    "$TWKIT" export -l 127.0.0.1:0 "$@" 2>"$EXP_ERR" &
    EXP_PID=$!
    local i
    for i in $(seq 200); do
        grep -q '^twkit: export: serving ' "$EXP_ERR" && break
        kill -0 "$EXP_PID" 2>/dev/null || break
        sleep 0.05
    done
    EXP_URL=$(sed -n 's/^twkit: export: serving //p' "$EXP_ERR")
    if [ -z "$EXP_URL" ]; then
        echo "twkit export did not start:"; cat "$EXP_ERR"
        return 1
    fi
    EXP_BASE=${EXP_URL%/metrics}
    EXP_PORT=${EXP_BASE##*:}
}

stop_export() {
    [ -n "${EXP_PID:-}" ] || return 0
    kill "$EXP_PID" 2>/dev/null
    wait "$EXP_PID"
    eq "export exits 0 on SIGTERM" "$?" 0
    EXP_PID=
    rm -f "$EXP_ERR"
}

scrape() {
    local name=$1 file=$2; shift 2
    local code
    code=$(curl -s -o "$file" -w '%{http_code}' "$@" "$EXP_URL")
    eq "$name: HTTP status" "$code" 200
    if promtool check metrics < "$file" >/dev/null 2>"$file.lint"; then
        ok "$name: promtool check metrics"
    else
        fail "$name: promtool check metrics: $(head -5 "$file.lint")"
    fi
    rm -f "$file.lint"
}

# metric FILE 'twkit_x{a="b"}': its value, or nothing.
metric() {
    awk -v k="$2" 'index($0, k " ") == 1 { print $NF; exit }' "$1"
}
