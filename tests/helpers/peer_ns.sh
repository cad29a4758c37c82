# tests/helpers/peer_ns.sh — a second network namespace for the doctor
# integration tests (sourced): the "server host" beside the one a case runs
# in, linked by a veth pair (here 198.18.0.1/30, there 198.18.0.2/30).
#   peer_ns              create it; PEER is the PID holding it (kill it at
#                        the end: the namespace and the pair go with it)
#   in_peer CMD...       run CMD there
#   wait_listen PORT [in_peer]   until a socket listens on PORT (here, or there)
PEER=
peer_ns() {
    unshare --net sleep 120 &
    PEER=$!
    for _ in $(seq 200); do
        [ "$(readlink /proc/$PEER/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break
        sleep 0.02
    done
    ip link add twc0 type veth peer name tws0 netns "$PEER"
    ip addr add 198.18.0.1/30 dev twc0
    ip link set twc0 up
    in_peer ip link set lo up
    in_peer ip addr add 198.18.0.2/30 dev tws0
    in_peer ip link set tws0 up
}
in_peer() { nsenter -t "$PEER" -n "$@"; }
wait_listen() {
    for _ in $(seq 200); do ${2:-} ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.05; done
    return 1
}
