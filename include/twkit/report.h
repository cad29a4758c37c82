/*
 * twkit/report.h — the one-pass report behind `twkit stat`.
 *
 * A report folds sockets as a source streams them (tw_report_add is a
 * tw_sock_cb) and keeps no per-socket list: per-state counts, TIME_WAIT
 * tables by local port / remote address / destination / local address, the
 * expiry histogram, client- vs server-side TIME_WAIT, kernel memory held, and
 * ephemeral-port pressure per destination.
 *
 * Words, as PRODUCT.md defines them:
 *   destination      (local IP, remote IP, remote port) in one namespace.
 *   client-side TW   local port is not a listening port (an outgoing
 *                    connection closed first by this host); server-side:
 *                    the local port is a listening port, or (listener
 *                    gone) lies outside ip_local_port_range while the
 *                    remote port is higher and >= 1024.
 *   effective range  ip_local_port_range minus ip_local_reserved_ports,
 *                    minus ports held by listeners, minus the one port lost
 *                    when both range ends have the same parity.
 *   port pressure    client-side sockets of a destination whose local port
 *                    lies in the range (every state), less the TIME_WAIT
 *                    sockets known to be reclaimable, over the effective
 *                    range.  A bound never lowers it.
 *   reclaimable      TIME_WAIT that connect() may take over now: tcp_tw_reuse
 *                    is 1 (or 2 and the destination is loopback), timestamps
 *                    are on here, the socket is older than
 *                    tcp_tw_reuse_delay (1000 ms before 6.14), and the peer
 *                    sent timestamps (tw_ts_recent_stamp != 0).  sock_diag
 *                    and /proc do not show the last condition, so with those
 *                    sources twkit knows only an upper bound
 *                    (reclaimable_max: "up to N if the peer sent
 *                    timestamps"); a source that reads it (TW_SOCK_F_REUSE_KNOWN)
 *                    gives the exact count (reclaimable).
 *   host-wide ports  distinct local ports in the range held by client-side
 *                    sockets of any destination: the pool that bind()
 *                    before connect() draws from (without
 *                    IP_BIND_ADDRESS_NO_PORT a bound port cannot be shared
 *                    with another destination).
 *
 * Lifecycle: tw_report_new -> tw_report_set_kernel -> (listeners first, then
 * the other sockets through tw_report_add) -> tw_report_finish -> read the
 * public fields -> tw_report_free.  tw_report_collect does all of it for one
 * namespace.  A report is used by one thread at a time.
 */
#ifndef TWKIT_REPORT_H
#define TWKIT_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <twkit/common.h>
#include <twkit/kernel.h>
#include <twkit/sock.h>

TW_BEGIN_DECLS

#define TW_TIMEWAIT_LEN_MS 60000u /* TCP_TIMEWAIT_LEN, include/net/tcp.h */
#define TW_EXPIRY_BUCKETS 12      /* 5 s each over 0-60 s (re-armed ones in the last) */
#define TW_EXPIRY_BUCKET_MS 5000u
#define TW_PRESSURE_HIGH 50.0     /* destinations above this % are listed first */
#define TW_EXPIRY_SECONDS 60      /* per-destination expiry histogram: 1 s buckets */

enum tw_top_kind {
    TW_TOP_LPORT = 0, /* TIME_WAIT by local port */
    TW_TOP_RADDR,     /* by remote address */
    TW_TOP_DEST,      /* by (local ip, remote ip, remote port) */
    TW_TOP_LADDR,     /* by local address */
    TW_TOP_MAX
};

struct tw_top_row {
    struct tw_addr laddr;  /* LADDR, DEST */
    struct tw_addr raddr;  /* RADDR, DEST */
    uint16_t lport;        /* LPORT */
    uint16_t rport;        /* DEST; 0 = server side (the clients' ports) */
    bool server_side;      /* DEST, LPORT: the local port is a listening port */
    uint64_t count;
};

struct tw_top {
    size_t n;                 /* rows used, <= top_n */
    struct tw_top_row *rows;  /* largest first; ties by key */
    uint64_t distinct;        /* distinct keys in all */
    uint64_t other;           /* sockets not in the rows */
};

/* Ephemeral-port pressure of one destination. */
struct tw_pressure {
    struct tw_addr laddr, raddr;
    uint16_t rport;
    bool loopback;            /* tcp_tw_reuse=2 treats it as loopback */
    bool reuse_applies;       /* tcp_tw_reuse can reclaim its TIME_WAIT at all (with
                                 tcp_timestamps=0 only those of connections made
                                 before it was set: tw_forecast_* count none) */
    uint64_t in_use;          /* client-side ports in range, every state */
    uint64_t time_wait;       /* of which TIME_WAIT */
    uint64_t reclaimable;     /* of those, known reclaimable now (exact; 0 unless the
                                 source saw the peer's timestamp) */
    uint64_t reclaimable_max; /* upper bound: reclaimable if every peer whose timestamp
                                 the source could not see sent them (>= reclaimable) */
    uint64_t established;     /* of which ESTABLISHED */
    uint64_t other;           /* of which other states (SYN_SENT, FIN_WAIT*...) */
    uint64_t tw_young;        /* TIME_WAIT younger than tw_report_opts.young_ms (by
                                 idiag_expires; a re-armed timer looks young) */
    uint32_t tw_expiry[TW_EXPIRY_SECONDS]; /* TIME_WAIT in range by seconds left:
                                 [i] expire in [i, i+1) s (re-armed ones in the last) */
    double pct;               /* (in_use - reclaimable) / effective_range * 100 */
    double pct_min;           /* (in_use - reclaimable_max) / effective_range * 100: the
                                 pressure if every unverified TIME_WAIT were reusable */
};

struct tw_report_opts {
    unsigned top_n;           /* rows per top table; 0 = 10 */
    uint32_t young_ms;        /* count TIME_WAIT younger than this per destination
                                 (tw_pressure.tw_young); 0 = 1000 */
    struct tw_query query;    /* what the dump selects (set by tw_report_collect) */
};

struct tw__report_priv;

struct tw_report {
    /* ---- counts ---- */
    uint64_t states[2][TW_STATE_MAX]; /* [0] IPv4, [1] IPv6; index = state */
    uint64_t total;
    uint64_t fw2_minisocks;   /* orphaned FIN_WAIT2 timewait minisocks */
    bool filtered;            /* a port/address filter was applied */
    unsigned state_mask;      /* states that were asked for */

    /* ---- TIME_WAIT ---- */
    uint64_t tw_total, tw_client, tw_server;
    uint64_t tw_expiry[TW_EXPIRY_BUCKETS]; /* by time left */
    uint64_t tw_expiry_s[TW_EXPIRY_SECONDS]; /* every TIME_WAIT (client and server side) by
                                 seconds left: [i] expire in [i, i+1) s, re-armed ones in the
                                 last (what tcp_max_tw_buckets counts, minus FIN_WAIT2) */
    uint64_t tw_freed_10s;    /* client-side TIME_WAIT expiring within 10 s */
    struct tw_top top[TW_TOP_MAX];

    /* ---- memory (bytes) ---- */
    uint64_t tw_slab_bytes;   /* TIME_WAIT (+FW2 minisocks) x slab object size */
    uint64_t tw_slab_objects[2]; /* those slab objects: [0] tw_sock_TCP (IPv4),
                                    [1] tw_sock_TCPv6 */
    uint64_t bind_bytes;      /* bind buckets pinned by client-side TIME_WAIT ports (lower bound) */
    uint64_t tw_lports;       /* distinct client-side local ports held by TIME_WAIT */
    bool slab_measured;       /* slab sizes read from the kernel, not assumed */

    /* ---- port pressure ---- */
    uint32_t range_size;      /* ip_local_port_range size */
    uint32_t range_reserved;  /* reserved ports inside it */
    uint32_t range_listeners; /* listening ports inside it (not reserved) */
    uint32_t range_parity;    /* 1 when both ends have the same parity: each connect()
                                 scan skips the low or the high end, and a failed
                                 scan does not move the next one's start, so only
                                 size - 1 ports are sure to be reachable (measured:
                                 the 11th of 44000-44010 found in 7 runs of 8) */
    uint32_t effective_range;
    size_t n_pressure;
    struct tw_pressure *pressure; /* > TW_PRESSURE_HIGH first, then by pct */
    uint64_t host_ports_in_use; /* distinct local ports in range held by client-side
                                   sockets of every destination (bind() draws from these) */
    double host_pct;          /* host_ports_in_use / effective_range * 100 */
    bool reuse_exact;         /* every TIME_WAIT came with a reuse verdict */
    uint64_t listen_ports;    /* distinct listening ports */

    /* ---- kernel readings ---- */
    struct tw_kernel kernel;  /* sysctls and sockstat (read after the dump) */
    long sockstat_tw_before;  /* sockstat tw just before the dump */
    bool sockstat_checked;    /* unfiltered dump of TIME_WAIT+FIN_WAIT2: compared */
    bool sockstat_agrees;     /* dump count within the before/after readings */
    double max_tw_pct;        /* sockstat tw / tcp_max_tw_buckets * 100 */

    /* ---- where it came from ---- */
    enum tw_source_kind source;
    double dump_seconds;

    struct tw__report_priv *priv;
};

/* Allocate an empty report.  Returns 0 or -ENOMEM / TW_EBADOPT. */
TW_EXTERN int tw_report_new(const struct tw_report_opts *o, struct tw_report **out);
/* Give the kernel readings (needed before adding sockets: range, reuse). */
TW_EXTERN void tw_report_set_kernel(struct tw_report *r, const struct tw_kernel *k);
/* Fold one socket in.  A tw_sock_cb: arg is the report.  Returns 0 or -ENOMEM. */
TW_EXTERN int tw_report_add(const struct tw_sock *s, void *report);
/* Compute top tables, pressure, memory.  Returns 0 or -ENOMEM. */
TW_EXTERN int tw_report_finish(struct tw_report *r);
TW_EXTERN void tw_report_free(struct tw_report *r);

/*
 * Build a full report of the current namespace from src: read the kernel
 * (proc_root, NULL = /proc), dump the listeners, dump the rest with o->query
 * (or everything if o is NULL), check against sockstat, finish.
 * Returns 0 or a negative error; errbuf gets a one-line reason.
 */
TW_EXTERN int tw_report_collect(struct tw_source *src, const struct tw_report_opts *o,
                                const char *proc_root, struct tw_report **out,
                                char *errbuf, size_t errlen);

TW_END_DECLS

#endif /* TWKIT_REPORT_H */
