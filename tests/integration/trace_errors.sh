#!/bin/bash
# twkit trace counts failed connect() and bind() calls by errno, per process
# and destination, exactly: the lab's load generator in the `short`
# scenario's setting (short connections, the client closes first) over a
# 200-port range, whose own EADDRNOTAVAIL count trace must equal; the same
# with bind() before connect (EADDRINUSE from bind); non-blocking connects
# refused later (SO_ERROR) against the load generator's ECONNREFUSED; and
# blocking connects from bash refused at once.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
. tests/lib_trace.sh
need_root
need jq
in_private_netns "$@"
need_trace

D=$(mktemp -d)
BE=
cleanup() { [ -n "$BE" ] && kill "$BE" 2>/dev/null; wait 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT
sysctl -qw net.ipv4.ip_local_port_range="40000 40199"

"$TWKIT" lab backend --listen 127.0.0.1:8080 >"$D/backend.out" 2>&1 &
BE=$!
for _ in $(seq 100); do
    bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080' 2>/dev/null && break
    sleep 0.05
done

T=$D/trace.json
trace_start "$T" --interval 60 || { fail "trace started"; finish; exit 1; }

# load LABEL ARGS...: run the load generator; pid in $LP, its JSON in $D/LABEL.json
load() {
    local label=$1; shift
    "$TWKIT" lab load "$@" --json >"$D/$label.json" 2>"$D/$label.err" &
    LP=$!
    wait "$LP"
}
load short -c 127.0.0.1:8080 -C 8 -n 600 -d 20;  P_SHORT=$LP
load bind -c 127.0.0.1:8080 -s 127.0.0.2 --bind port -C 8 -n 600 -d 20; P_BIND=$LP
# fresh ports: the ones above are held by TIME_WAIT and by bind()
sysctl -qw net.ipv4.ip_local_port_range="40200 40399"
load refused -c 127.0.0.1:9 -C 4 -n 40 -d 20;     P_REF=$LP
bash -c 'n=0; for i in $(seq 7); do exec 3<>/dev/tcp/127.0.0.1/9 || n=$((n + 1)); done
         echo "refused $n"' >"$D/bash.out" 2>/dev/null &
P_BASH=$!
wait "$P_BASH"
trace_stop
eq "trace exit status" "$TRACE_RC" 0

# fail PID CALL ERRNO FIELD: trace's count for that process, call and errno
fails() {
    total "$T" "[.failures[] | select(.pid == $1 and .call == \"$2\" and .errno == \"$3\")
                | .$4] | add // 0"
}
lg() { jq -r ".errors.$2 // 0" "$D/$1.json"; }

n=$(lg short EADDRNOTAVAIL)
check "the load generator met EADDRNOTAVAIL ($n times)" test "$n" -gt 0
eq "EADDRNOTAVAIL from connect() = the load generator's count" \
    "$(fails "$P_SHORT" connect EADDRNOTAVAIL now)" "$n"
eq "... to its destination" "$(total "$T" "[.failures[] | select(.pid == $P_SHORT)][0].destination |
    \"\(.address):\(.port)\"")" 127.0.0.1:8080
eq "... none of them later" "$(fails "$P_SHORT" connect EADDRNOTAVAIL later)" 0

n=$(lg bind EADDRINUSE)
check "bind() before connect met EADDRINUSE ($n times)" test "$n" -gt 0
eq "EADDRINUSE from bind() = the load generator's count" "$(fails "$P_BIND" bind EADDRINUSE now)" "$n"
eq "... at the address it asked for" "$(total "$T" "[.failures[] | select(.pid == $P_BIND and
    .call == \"bind\")][0].destination | \"\(.kind) \(.address):\(.port)\"")" "bind 127.0.0.2:0"
eq "no EADDRINUSE from its connect()" "$(fails "$P_BIND" connect EADDRINUSE now)" 0

n=$(lg refused ECONNREFUSED)
check "non-blocking connects were refused ($n times)" test "$n" -gt 0
eq "ECONNREFUSED later (SO_ERROR) = the load generator's count" \
    "$(fails "$P_REF" connect ECONNREFUSED later)" "$n"
eq "... and none returned by connect() itself" "$(fails "$P_REF" connect ECONNREFUSED now)" 0

n=$(awk '/^refused/ {print $2}' "$D/bash.out")
eq "bash: blocking connects refused" "$n" 7
eq "ECONNREFUSED from bash's connect() at once" "$(fails "$P_BASH" connect ECONNREFUSED now)" "$n"
eq "nothing lost" "$(total "$T" '.lost.rows + .lost.pending')" 0
documented "$T"
finish
