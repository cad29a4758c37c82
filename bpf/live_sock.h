/*
 * bpf/live_sock.h — the live table's full sockets (included once, by
 * bpf/live.bpf.c, after its maps and count helpers): each socket's entry in
 * socket-local storage, moved between counts by its state changes, and
 * connect()s counted as pending until the kernel hashes them.
 */
#ifndef TWKIT_BPF_LIVE_SOCK_H
#define TWKIT_BPF_LIVE_SOCK_H

/* A full socket's entry lives in the socket (socket-local storage, freed
 * with it): found from the socket in a few loads, where a hash map of
 * sockets cost a hashed lookup on every state change and an insert and a
 * delete per connection.  k.state 0: not tracked. */
struct sock_ent {
    struct live_key k; /* its destination and state when last counted */
    __u32 idx;
};

struct {
    __uint(type, BPF_MAP_TYPE_SK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct sock_ent);
} socks SEC(".maps");

/* connect()s counted as LIVE_PENDING, by socket address: the destination's
 * index, and whether the retransmit timer has moved the count to SYN_SENT
 * (the timer event cannot reach the socket's own entry) */
struct pend {
    __u32 idx;
    __u8 armed;
    __u8 pad[3];
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __uint(max_entries, 1 << 16);
    __type(key, __u64);
    __type(value, struct pend);
} pending SEC(".maps");

/* the events set_state() follows: a TCP socket of the namespace followed
 * (tested before the twins' bookkeeping, which then costs nothing for the
 * other namespaces' and protocols' changes) */
static __always_inline bool followed(const struct sock *sk)
{
    return sk->sk_protocol == IPPROTO_TCP && sk->__sk_common.skc_net.net->ns.inum == cfg_netns;
}

/* An entry counted as LIVE_PENDING is leaving that state: if the
 * retransmit timer already moved its count to SYN_SENT, the entry says so
 * from now on; either way the pending record goes. */
static __always_inline void pending_end(struct sock *sk, struct sock_ent *v)
{
    if (v->k.state != LIVE_PENDING)
        return;
    __u64 id = (unsigned long)sk;
    struct pend *p = bpf_map_lookup_elem(&pending, &id);
    if (p && p->armed)
        v->k.state = S_SYN_SENT;
    if (p)
        bpf_map_delete_elem(&pending, &id);
}

/*
 * A full socket's entry.  Its state changes and the seed walk's visit are
 * serialized by the socket's lock (tcp_set_state() runs under it, the
 * iter/tcp walk holds it while it shows a socket), so the entry needs no
 * atomic claim.
 */
static __always_inline void sock_untrack(struct sock *sk)
{
    if (seeding)
        tombstone((unsigned long)sk);
    struct sock_ent *v = bpf_sk_storage_get(&socks, sk, 0, 0);
    if (!v || !v->k.state)
        return;
    pending_end(sk, v);
    count_add(v->idx, v->k.state, -1, false);
    v->k.state = 0;
}

/* enter (or move) the socket under k; v is its entry (created) */
static __always_inline void sock_track(struct sock_ent *v, const struct live_key *k)
{
    if (v->k.state) {
        if (same_dest(&v->k, k)) {
            if (v->k.state != k->state)
                count_move(v->idx, v->k.state, k->state, false);
            v->k.state = k->state;
            return;
        }
        count_add(v->idx, v->k.state, -1, false); /* its addresses changed */
        v->k.state = 0;
    }
    __u32 idx;
    if (!dest_idx(k, &idx)) {
        stat_inc(LIVE_ST_LOST);
        return;
    }
    v->k = *k;
    v->idx = idx;
    count_add(idx, k->state, 1, false);
}

static __always_inline int set_state(struct sock *sk, int newstate)
{
    if (!counted(newstate)) {
        if (newstate == S_CLOSE && cfg_skip_close > 0 &&
            __sync_fetch_and_add(&cfg_skip_close, -1) > 0)
            return 0;
        sock_untrack(sk);
        return 0;
    }
    if (newstate == S_LISTEN)
        listen_note(sk->__sk_common.skc_num);
    struct sock_ent *v = bpf_sk_storage_get(&socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (!v) {
        stat_inc(LIVE_ST_LOST);
        return 0;
    }
    pending_end(sk, v);
    struct live_key k = {};
    key_of(&sk->__sk_common, newstate, &k);
    if (newstate != S_SYN_SENT) {
        sock_track(v, &k);
        return 0;
    }
    /* connect(): the socket is hashed only after its port search */
    k.state = LIVE_PENDING;
    sock_track(v, &k);
    if (v->k.state != LIVE_PENDING)
        return 0; /* (not entered: counted as lost) */
    __u64 id = (unsigned long)sk;
    struct pend p = {.idx = v->idx};
    if (bpf_map_update_elem(&pending, &id, &p, BPF_ANY))
        stat_inc(LIVE_ST_LOST);
    return 0;
}

/* The socket of a retransmit timer, if it is a connect() of the namespace
 * followed, still SYN_SENT (tcp_connect() arms the timer once the socket
 * is hashed; a data socket's re-arms cost these loads and nothing more). */
static __always_inline const struct sock *syn_timer_sock(struct timer_list *timer)
{
    if (!(void *)&tcp_write_timer || (void *)timer->function != (void *)&tcp_write_timer)
        return NULL;
    const struct sock *sk = bpf_rdonly_cast(
        (void *)((unsigned long)timer -
                 bpf_core_field_offset(struct inet_connection_sock, icsk_retransmit_timer)),
        bpf_core_type_id_kernel(struct sock));
    if (sk->__sk_common.skc_state != S_SYN_SENT || !followed(sk))
        return NULL;
    return sk;
}

/* its count moves from LIVE_PENDING to SYN_SENT (once) */
static __always_inline int syn_hashed(const struct sock *sk)
{
    __u64 id = (unsigned long)sk;
    struct pend *p = bpf_map_lookup_elem(&pending, &id);
    if (!p || p->armed)
        return 0;
    p->armed = 1;
    count_move(p->idx, LIVE_PENDING, S_SYN_SENT, false);
    return 0;
}

#endif /* TWKIT_BPF_LIVE_SOCK_H */
