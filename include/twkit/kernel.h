/*
 * twkit/kernel.h — the kernel readings libtwkit uses: TCP sysctls of a
 * network namespace, /proc/net/sockstat, the TcpExt and Tcp counters, and
 * the slab object sizes that give the real memory cost of TIME_WAIT.
 *
 * Everything is read from a proc root (NULL = "/proc"), so tests can point
 * it at a fixture directory laid out like /proc (net/sockstat, net/snmp,
 * net/netstat, sys/net/ipv4/..., and optionally slab/<cache>/slab_size for
 * /sys/kernel/slab).  /proc/net and /proc/sys/net show the namespace of the
 * calling thread.
 *
 * Thread-safety: the functions keep no state; each call reads afresh.
 */
#ifndef TWKIT_KERNEL_H
#define TWKIT_KERNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include <twkit/common.h>

TW_BEGIN_DECLS

/* TCP/IP sysctls and sockstat of one namespace.  -1 means "not present". */
struct tw_kernel {
    int port_lo, port_hi;        /* net.ipv4.ip_local_port_range */
    unsigned n_reserved;         /* ip_local_reserved_ports inside [port_lo, port_hi] */
    uint8_t reserved[65536 / 8]; /* ip_local_reserved_ports bitmap (all ports) */
    int tw_reuse;                /* net.ipv4.tcp_tw_reuse (0, 1, 2) */
    int tw_reuse_delay_ms;       /* net.ipv4.tcp_tw_reuse_delay (6.14+), -1 before */
    int timestamps;              /* net.ipv4.tcp_timestamps */
    long max_tw_buckets;         /* net.ipv4.tcp_max_tw_buckets */
    int fin_timeout;             /* net.ipv4.tcp_fin_timeout (FIN_WAIT2 only!) */
    int rfc1337;                 /* net.ipv4.tcp_rfc1337 */
    /* /proc/net/sockstat "TCP:" line */
    long sock_inuse, sock_orphan, sock_tw, sock_alloc, sock_mem_pages;
    /* slab sizes in bytes (0 = unknown) */
    unsigned tw_slab_v4, tw_slab_v6;   /* tw_sock_TCP, tw_sock_TCPv6 */
    unsigned bind_slab, bind2_slab;    /* tcp_bind_bucket, tcp_bind2_bucket */
    char release[65];                  /* uname -r ("" for fixtures) */
};

/*
 * Fill k from proc_root (NULL = /proc).  Missing optional files leave -1/0;
 * a missing /proc/net/sockstat or ip_local_port_range is an error (-ENOENT),
 * a malformed value TW_EMALFORMED.  errbuf (may be NULL) gets a one-line
 * description of the failing file.
 */
TW_EXTERN int tw_kernel_read(struct tw_kernel *k, const char *proc_root,
                             char *errbuf, size_t errlen);
/* Re-read only /proc/net/sockstat into k (cheap; used around a dump). */
TW_EXTERN int tw_kernel_read_sockstat(struct tw_kernel *k, const char *proc_root);

/*
 * Copy the kernel files tw_kernel_read and tw_counters_read use (sockstat,
 * snmp, netstat, the TCP sysctls, slab sizes) from root into dir, laid out
 * so that dir can be given back as a proc root (a fixture).  Returns 0 or a
 * negative error.
 */
TW_EXTERN int tw_kernel_record(const char *proc_root, const char *dir);

/* True when port p is in ip_local_reserved_ports. */
static inline bool tw_kernel_reserved(const struct tw_kernel *k, unsigned p)
{
    return (k->reserved[p >> 3] >> (p & 7)) & 1;
}

/*
 * Read one sysctl by dotted name ("net.ipv4.tcp_tw_reuse") into buf
 * (trailing newline removed).  Returns length, -ENOENT if the kernel has no
 * such sysctl, or -errno.
 */
TW_EXTERN int tw_sysctl_read(const char *proc_root, const char *name,
                             char *buf, size_t len);
/* Write one sysctl; returns 0 or -errno (-EINVAL: the kernel rejected it). */
TW_EXTERN int tw_sysctl_write(const char *proc_root, const char *name,
                              const char *value);

/* Counters from /proc/net/snmp (Tcp:) and /proc/net/netstat (TcpExt:). */
#define TW_COUNTER_MAP(X)                         \
    X(TW_C_ACTIVE_OPENS, "Tcp", "ActiveOpens")    \
    X(TW_C_PASSIVE_OPENS, "Tcp", "PassiveOpens")  \
    X(TW_C_ATTEMPT_FAILS, "Tcp", "AttemptFails")  \
    X(TW_C_ESTAB_RESETS, "Tcp", "EstabResets")    \
    X(TW_C_CURR_ESTAB, "Tcp", "CurrEstab")        \
    X(TW_C_OUT_RSTS, "Tcp", "OutRsts")            \
    X(TW_C_TW, "TcpExt", "TW")                    \
    X(TW_C_TW_RECYCLED, "TcpExt", "TWRecycled")   \
    X(TW_C_TW_KILLED, "TcpExt", "TWKilled")       \
    X(TW_C_TW_OVERFLOW, "TcpExt", "TCPTimeWaitOverflow") \
    X(TW_C_PAWS_TW, "TcpExt", "PAWSTimewait")     \
    X(TW_C_PAWS_ESTAB, "TcpExt", "PAWSEstab")     \
    X(TW_C_ABORT_ON_DATA, "TcpExt", "TCPAbortOnData")   \
    X(TW_C_ABORT_ON_CLOSE, "TcpExt", "TCPAbortOnClose") \
    X(TW_C_ABORT_ON_LINGER, "TcpExt", "TCPAbortOnLinger") \
    X(TW_C_LISTEN_OVERFLOWS, "TcpExt", "ListenOverflows") \
    X(TW_C_LISTEN_DROPS, "TcpExt", "ListenDrops")

enum tw_counter_id {
#define TW__CTR_ENUM(id, sect, name) id,
    TW_COUNTER_MAP(TW__CTR_ENUM)
#undef TW__CTR_ENUM
    TW_C_MAX
};

struct tw_counters {
    uint64_t v[TW_C_MAX];
    bool have[TW_C_MAX]; /* false: this kernel does not export it */
};

/* Read all counters; returns 0, -ENOENT or TW_EMALFORMED. */
TW_EXTERN int tw_counters_read(struct tw_counters *c, const char *proc_root);
/* "TcpExt", "Tcp"... and "TCPTimeWaitOverflow"... for id. */
TW_EXTERN const char *tw_counter_name(enum tw_counter_id id);
TW_EXTERN const char *tw_counter_section(enum tw_counter_id id);

/*
 * Parse the two-line "Section: names\nSection: values" format of
 * /proc/net/snmp and /proc/net/netstat held in buf; fills the counters of
 * that format that c knows.  Exposed for tests and fuzzing.
 */
TW_EXTERN int tw_parse_snmp(const char *buf, size_t len, struct tw_counters *c);
/* Parse /proc/net/sockstat text into k's sock_* fields. */
TW_EXTERN int tw_parse_sockstat(const char *buf, size_t len, struct tw_kernel *k);
/* Parse an ip_local_reserved_ports list ("1000-1010,2000") into k. */
TW_EXTERN int tw_parse_port_list(const char *s, struct tw_kernel *k);

TW_END_DECLS

#endif /* TWKIT_KERNEL_H */
