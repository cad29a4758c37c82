/*
 * bpf/trace.h — what bpf/trace.bpf.c and `twkit trace` (src/trace/) share:
 * the keys and values of the aggregation maps, the global counters and the
 * load-time configuration.  Included by the BPF program (after vmlinux.h)
 * and by user space (after <linux/types.h>); fixed-size types only, laid
 * out without implicit padding so that both sides agree byte for byte.
 */
#ifndef TWKIT_BPF_TRACE_H
#define TWKIT_BPF_TRACE_H

#define TRACE_COMM_LEN 16
#define TRACE_MAX_CIDR 8
#define TRACE_MAX_ROWS 8192   /* rows per interval, per table */
#define TRACE_NEWBORN_MAX 65536  /* minisock timers waiting for their socket */
#define TRACE_NEWBORN_AGE_NS 2000000000ull  /* older entries are re-arms: removed */

/* An endpoint.  IPv4 is stored IPv4-mapped (::ffff:a.b.c.d). */
struct trace_addr {
    __u8 a[16];
    __u16 port;      /* host order */
    __u8 kind;       /* enum trace_dest_kind */
    __u8 pad;
};

enum trace_dest_kind {
    TRACE_DEST_REMOTE = 0,  /* a connection this host opened: remote ip:port */
    TRACE_DEST_LOCAL = 1,   /* an accepted connection: the local ip:port (the service) */
    TRACE_DEST_BIND = 2,    /* bind(): the local address asked for */
};

/* Who: the process that closed first (or called connect/bind). */
struct trace_who {
    __u64 cgroup;            /* cgroup v2 id (inode of its directory), 0 unknown */
    __u32 tgid;              /* 0: unknown (closed before trace attached) */
    __u32 netns;             /* network namespace inode of the socket */
    char comm[TRACE_COMM_LEN]; /* the process (thread-group leader) name */
};

struct trace_close_key {
    struct trace_who who;
    struct trace_addr dst;
};

/* Per process and destination; births by substate, closes by kind. */
struct trace_close_val {
    __u64 tw;        /* TIME_WAIT births in the TIME_WAIT substate */
    __u64 fw2;       /* ... in the FIN_WAIT2 substate (orphaned, peer FIN pending) */
    __u64 active;    /* this process sent FIN first (ESTABLISHED -> FIN_WAIT1) */
    __u64 passive;   /* the peer sent FIN first; this process closed after it */
    __u64 simul;     /* both sent FIN at once (FIN_WAIT1 -> CLOSING) */
    __u64 rst;       /* ended by a reset, sent or received, or an abort */
};

enum trace_call { TRACE_CONNECT = 0, TRACE_BIND = 1 };

struct trace_fail_key {
    struct trace_who who;
    struct trace_addr dst;
    __u16 call;      /* enum trace_call */
    __u16 err;       /* errno */
    __u32 pad;
};

struct trace_fail_val {
    __u64 now;       /* returned by the call */
    __u64 later;     /* non-blocking connect: reported later (SO_ERROR) */
};

/* Births per network namespace (cumulative, never drained). */
struct trace_births {
    __u64 tw, fw2;
};

/* Global counters (a per-CPU array, cumulative). */
enum trace_stat {
    TRACE_ST_LOST_CLOSE,    /* a close/birth event found its table full */
    TRACE_ST_LOST_FAIL,     /* a failure found its table full */
    TRACE_ST_LOST_PENDING,  /* a syscall, async connect or birth join found no room */
    TRACE_ST_LOST_BIRTHS,   /* a namespace's birth counter found no room */
    TRACE_ST_UNATTRIBUTED,  /* births whose full socket closed before attach */
    TRACE_ST_RECOVERED,     /* events a *_nested program handled for its twin */
    TRACE_ST_MAX
};

struct trace_cidr {
    __u8 a[16];      /* IPv4 mapped, like trace_addr */
    __u32 bits;      /* prefix length over the 128-bit form */
};

#endif /* TWKIT_BPF_TRACE_H */
