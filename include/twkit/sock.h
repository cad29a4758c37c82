/*
 * twkit/sock.h — TCP sockets as libtwkit sees them, the query that selects
 * them, and the sources that yield them.
 *
 * A *source* yields sockets one at a time to a callback (streaming: nothing
 * is buffered).  Four kinds exist:
 *
 *   - netlink: NETLINK_SOCK_DIAG, IPv4 and IPv6 in one kernel walk, with the
 *     state mask and port/address filters run inside the kernel;
 *   - proc:    /proc/net/tcp and /proc/net/tcp6 of the calling thread's
 *     network namespace (or of a proc root given for tests);
 *   - fixture: a directory holding a recorded dump: `sock_diag.bin` (raw
 *     netlink messages as the kernel sent them) or `net/tcp` + `net/tcp6`;
 *   - bpf:     an eBPF iterator over the TCP socket table (iter/tcp), the
 *     same walk as netlink, which also reads what sock_diag hides and gives
 *     every TIME_WAIT socket its exact reuse verdict (TW_SOCK_F_REUSE_KNOWN).
 *     Needs a twkit built with BPF, kernel BTF and CAP_BPF + CAP_PERFMON
 *     (or root); never chosen by TW_SOURCE_AUTO.
 *
 * All sources give the same sockets for the same namespace, so the report
 * built from them is the same.  A source is bound to the network namespace
 * that was current when it was opened (see twkit/netns.h).
 *
 * Thread-safety: a source is used by one thread at a time.
 */
#ifndef TWKIT_SOCK_H
#define TWKIT_SOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <twkit/common.h>

TW_BEGIN_DECLS

/* TCP states, numbered as the kernel numbers them (include/net/tcp_states.h). */
enum tw_tcp_state {
    TW_ESTABLISHED = 1,
    TW_SYN_SENT,
    TW_SYN_RECV,
    TW_FIN_WAIT1,
    TW_FIN_WAIT2,
    TW_TIME_WAIT,
    TW_CLOSE,
    TW_CLOSE_WAIT,
    TW_LAST_ACK,
    TW_LISTEN,
    TW_CLOSING,
    TW_NEW_SYN_RECV,
    TW_STATE_MAX /* one past the last state */
};

#define TW_STATES_ALL 0x1ffeu                /* every state 1..12 */
#define TW_STATE_BIT(s) (1u << (s))

/* Canonical upper-case name ("TIME_WAIT") or NULL for an unknown state. */
TW_EXTERN const char *tw_state_name(int state);
/* Lower-case, hyphenated name as ss spells it ("time-wait"); NULL if unknown. */
TW_EXTERN const char *tw_state_slug(int state);
/*
 * Parse a state name (either spelling, case-insensitive, or "all",
 * "connected", "synchronized" as in ss(8)) into a state bit mask.
 * Returns 0 and sets *mask, or TW_EBADOPT.
 */
TW_EXTERN int tw_state_parse(const char *name, unsigned *mask);

/* An IPv4 or IPv6 address; IPv4 is stored in the first 4 bytes. */
struct tw_addr {
    uint8_t family;    /* AF_INET or AF_INET6 */
    uint8_t pad[3];
    union {
        uint8_t b[16];
        uint32_t w[4]; /* network byte order */
    } u;
};

/* One socket, as every source yields it. */
struct tw_sock {
    uint8_t state;       /* enum tw_tcp_state */
    uint8_t timer;       /* 0 none, 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 probe */
    uint16_t lport;      /* local port, host order */
    uint16_t rport;      /* remote port, host order */
    uint8_t flags;       /* TW_SOCK_F_*: what the source could see beyond sock_diag */
    uint8_t pad;
    uint32_t ifindex;    /* bound device (1 = lo), 0 if unbound */
    uint32_t expires_ms; /* time left on the timer, ms (TIME_WAIT: until expiry) */
    uint32_t uid;
    uint64_t inode;      /* 0 for TIME_WAIT and orphaned sockets */
    struct tw_addr laddr;
    struct tw_addr raddr;
};

/*
 * tw_sock.flags.  sock_diag and /proc cannot see whether connect() may take
 * over a TIME_WAIT socket (that needs the peer's timestamp,
 * tw_ts_recent_stamp, and the exact time it entered TIME_WAIT); a source
 * that can (the BPF iterator) sets TW_SOCK_F_REUSE_KNOWN and, when the
 * kernel's own test in tcp_twsk_unique() passes now, TW_SOCK_F_REUSABLE.
 * 0 means "unknown", never "not reusable".
 */
#define TW_SOCK_F_REUSE_KNOWN 0x01
#define TW_SOCK_F_REUSABLE    0x02

/* True when s is a timewait minisock in FIN_WAIT2 (orphaned, peer never closed). */
static inline bool tw_sock_is_fw2_minisock(const struct tw_sock *s)
{
    return s->state == TW_FIN_WAIT2 && s->timer == 3 && s->inode == 0;
}

/* ---- query: which sockets ---------------------------------------------- */

#define TW_QUERY_MAX_CIDR 8

struct tw_cidr {
    struct tw_addr addr;
    uint8_t prefix;      /* bits */
};

/*
 * What to select.  Zero-initialise, then tw_query_init() sets the defaults:
 * every state, both families, no port or address filter.  Ports are
 * inclusive ranges in host order; lo = 0 and hi = 65535 means any.
 * Several CIDRs in one list are alternatives (OR); different fields combine
 * with AND.
 */
struct tw_query {
    unsigned states;      /* state bit mask (TW_STATE_BIT) */
    bool want_v4, want_v6;
    uint16_t sport_lo, sport_hi;
    uint16_t dport_lo, dport_hi;
    unsigned n_src, n_dst;
    struct tw_cidr src[TW_QUERY_MAX_CIDR];
    struct tw_cidr dst[TW_QUERY_MAX_CIDR];
};

TW_EXTERN void tw_query_init(struct tw_query *q);
/* True when the query has any port or address filter. */
TW_EXTERN bool tw_query_filters(const struct tw_query *q);
/* True when s is selected by q (the filter run in user space). */
TW_EXTERN bool tw_query_match(const struct tw_query *q, const struct tw_sock *s);

/*
 * Parsers for command-line values.  All return 0 or TW_EBADOPT and never
 * accept trailing garbage.
 *   tw_parse_port_range: "80", "1024-2048", ":80" (ss style)
 *   tw_parse_cidr:       "198.18.0.0/15", "10.0.0.1", "::1", "2001:db8::/32"
 *   tw_parse_addr:       "198.18.0.1", "::1"
 *   tw_parse_u64:        decimal, whole string, within [min, max]
 */
TW_EXTERN int tw_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi);
TW_EXTERN int tw_parse_cidr(const char *s, struct tw_cidr *out);
TW_EXTERN int tw_parse_addr(const char *s, struct tw_addr *out);
TW_EXTERN int tw_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Format an address ("198.18.0.1", "::1"); returns buf.  buflen >= 46. */
TW_EXTERN const char *tw_addr_str(const struct tw_addr *a, char *buf, size_t buflen);
/* True for 127/8, ::1 and ::ffff:127.0.0.0/104 (what tcp_tw_reuse=2 calls loopback). */
TW_EXTERN bool tw_addr_is_loopback(const struct tw_addr *a);

/* ---- sources ------------------------------------------------------------ */

enum tw_source_kind {
    TW_SOURCE_AUTO = 0, /* netlink, falling back to proc if netlink is unavailable */
    TW_SOURCE_NETLINK,
    TW_SOURCE_PROC,
    TW_SOURCE_FIXTURE,
    TW_SOURCE_BPF,      /* eBPF iterator: exact reuse verdicts (privileged) */
};

struct tw_source;

/*
 * Called once per socket.  Return 0 to go on, non-zero to stop the dump
 * (tw_source_dump then returns that value).
 */
typedef int (*tw_sock_cb)(const struct tw_sock *s, void *arg);

/*
 * Open a source in the calling thread's current network namespace.
 *   kind    TW_SOURCE_AUTO tries netlink first and falls back to proc.
 *   path    proc: a proc root to read instead of /proc (NULL = /proc);
 *           fixture: the fixture directory (required); otherwise ignored.
 * Returns 0 and sets *out, or a negative error (-ENOENT for a missing
 * fixture/proc file, -ENOTDIR for a fixture path that is a file,
 * -EPROTONOSUPPORT / -EACCES for netlink, TW_EBADOPT;
 * for bpf see tw_source_bpf_why).
 */
TW_EXTERN int tw_source_open(enum tw_source_kind kind, const char *path,
                             struct tw_source **out);
/* Close and free; NULL is fine. */
TW_EXTERN void tw_source_close(struct tw_source *src);
/* The kind actually in use (AUTO resolved). */
TW_EXTERN enum tw_source_kind tw_source_kind(const struct tw_source *src);
/* "netlink", "proc", "fixture" or "bpf". */
TW_EXTERN const char *tw_source_kind_name(enum tw_source_kind kind);

/*
 * Stream every socket selected by q to cb.  netlink: states and filters run
 * in the kernel (one walk for both families; the listening table only when
 * LISTEN is asked for); proc and fixture: the same filter in user space.
 * Returns 0, cb's non-zero value, or a negative error: TW_EMALFORMED /
 * TW_ETRUNCATED for bad input (see tw_source_errmsg), TW_EUNKSTATE for a
 * state the library does not know, -errno for system errors.
 */
TW_EXTERN int tw_source_dump(struct tw_source *src, const struct tw_query *q,
                             tw_sock_cb cb, void *arg);

/*
 * Why TW_SOURCE_BPF cannot be used here.  Returns 0 when it can be tried
 * (why gets ""), or a negative error with a one-line reason in why:
 * -EOPNOTSUPP (twkit built without BPF), -ENOENT (no kernel BTF or no
 * CONFIG_HZ), -EPERM (neither root nor CAP_BPF + CAP_PERFMON).  After
 * tw_source_open(TW_SOURCE_BPF) failed in this thread it gives that
 * failure's reason and error (a verifier rejection, for instance).
 */
TW_EXTERN int tw_source_bpf_why(char *why, size_t len);

/*
 * After a failed dump: a one-line description of where the input was bad
 * ("/proc/net/tcp line 7: bad local address"), or "" if none.
 */
TW_EXTERN const char *tw_source_errmsg(const struct tw_source *src);

/*
 * Record what a dump of this source reads into dir (created if missing):
 * netlink -> dir/sock_diag.bin; proc -> dir/net/tcp, dir/net/tcp6.  For
 * bug reports and test fixtures.  Returns 0 or a negative error
 * (-EOPNOTSUPP for bpf: its records are not kept).
 */
TW_EXTERN int tw_source_record(struct tw_source *src, const char *dir);

/* ---- parsers, exposed for tests and fuzzing ----------------------------- */

/*
 * Parse one /proc/net/tcp or /proc/net/tcp6 data line (not the header).
 * family is AF_INET or AF_INET6; user_hz converts tm->when to ms.
 * Returns 0, TW_EMALFORMED or TW_EUNKSTATE.
 */
TW_EXTERN int tw_parse_proc_line(const char *line, size_t len, int family,
                                 long user_hz, struct tw_sock *out);
/*
 * Decode one record of the BPF iterator (bpf/sockiter.h) from len bytes.
 * Returns the record's length (> 0), 0 when len holds less than one whole
 * record, TW_EMALFORMED (unknown family) or TW_EUNKSTATE.
 */
TW_EXTERN int tw_parse_bpf_rec(const void *buf, size_t len, struct tw_sock *out);
/*
 * Parse one SOCK_DIAG_BY_FAMILY / TCPDIAG_GETSOCK reply payload (struct
 * inet_diag_msg and its attributes), len bytes.  Returns 0, TW_ETRUNCATED,
 * TW_EMALFORMED or TW_EUNKSTATE.
 */
TW_EXTERN int tw_parse_diag_msg(const void *payload, size_t len, struct tw_sock *out);
/*
 * Walk a buffer of netlink messages as received from one or more dumps
 * (concatenated receive buffers), calling cb for each socket that q selects
 * (q may be NULL: all).  *done is set when an NLMSG_DONE was seen.
 * Returns 0, a negative error (TW_ETRUNCATED, TW_EMALFORMED, TW_EUNKSTATE,
 * TW_EDUMPINTR, or the -errno of an NLMSG_ERROR), or cb's non-zero value
 * (also stored in *cb_ret) when cb stopped the walk.
 */
TW_EXTERN int tw_parse_diag_buf(const void *buf, size_t len, const struct tw_query *q,
                                tw_sock_cb cb, void *arg, bool *done, int *cb_ret);

TW_END_DECLS

#endif /* TWKIT_SOCK_H */
