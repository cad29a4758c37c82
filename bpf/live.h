/*
 * bpf/live.h — what bpf/live.bpf.c (the live table) and lib/live.c share:
 * the key of a destination, its counts per state, and the indices of the
 * program's counters.  Fixed-size types only, no implicit padding.
 */
#ifndef TWKIT_BPF_LIVE_H
#define TWKIT_BPF_LIVE_H

/* A destination in one state: local address, remote address and port.
 * state is the one sock_diag reports (tw_substate for minisocks). */
struct live_key {
    __u8 family;    /* AF_INET (2) or AF_INET6 (10) */
    __u8 state;
    __u16 rport;    /* host order; 0 for listeners and server-side keys */
    __u8 server;    /* 1: server side (see live_server() in live.bpf.c) */
    __u8 pad[3];
    __u32 laddr[4]; /* AF_INET: laddr[0] only, the rest 0 */
    __u32 raddr[4];
};

/* the listening-port bitmap (live.bpf.c's listen_bits, read by user space) */
#define LIVE_LISTEN_WORDS (65536 / 64)

/*
 * Is a connection with these ports server-side?  twkit stat's rule: its
 * local port listens (here: listened while the table lived), or is outside
 * the ephemeral range [lo, hi] below an unprivileged remote port; a
 * connect() before it has its port (lport 0) is client-side.  One
 * definition for the kernel half and the reconciliation walk, which must
 * classify alike.
 */
static inline int live_side_server(int listens, unsigned lport, unsigned rport, unsigned lo,
                                   unsigned hi)
{
    if (!lport)
        return 0;
    if (listens)
        return 1;
    return (lport < lo || lport > hi) && rport >= 1024 && rport > lport;
}

/* A destination's counts (map `counts`, indexed by the value of `dests`,
 * whose key is a struct live_key with state 0): one per TCP state. */
#define LIVE_STATES 16
/* the count of a state no socket has: a connect() that is SYN_SENT but not
 * hashed yet (its port search), which sock_diag cannot show; counted here,
 * never as a row, until tcp_connect() arms its retransmit timer */
#define LIVE_PENDING 14
/* not a state: the events that changed the destination's counts so far
 * (count_add and count_move add 1 after their change).  A reconciliation
 * reads it before and after its walk: a row the walk sees differ by no
 * more than the events between the reads may be sockets born and gone, or
 * moved, during the walk, not drift (lib/live.c, tw__live_compare) */
#define LIVE_EVENTS 15
struct live_counts {
    __s64 n[LIVE_STATES];
};

/* the table's totals (map `totals`: one entry, per CPU): n[s] for s <
 * LIVE_STATES, the full sockets in state s; n[LIVE_TOT_TW], the timewait
 * minisocks; the rest unused */
#define LIVE_TOT_TW LIVE_STATES
struct live_totals {
    __s64 n[2 * LIVE_STATES];
};

/* A tracked minisock (map `tws`): its destination's index and its state. */
struct live_ent {
    __u32 idx;
    __u8 state;
    __u8 pad[3];
};

/* counters (array `stats`), all cumulative */
enum {
    LIVE_ST_LOST,      /* an update that a map refused (full, busy): the table is wrong */
    LIVE_ST_TW_BORN,   /* TIME_WAIT/FIN_WAIT2 timers tracked by an event */
    LIVE_ST_TW_DIED,   /* tracked timers cancelled or expired */
    LIVE_ST_SEEDED,    /* sockets entered by the seed walk */
    LIVE_ST_DEL_FAILED, /* deletes refused (counted in LOST too) */
    LIVE_ST_TW_SUBSTATE, /* FIN_WAIT2 minisocks seen becoming TIME_WAIT by a segment */
    LIVE_ST_MAX
};

#endif /* TWKIT_BPF_LIVE_H */
