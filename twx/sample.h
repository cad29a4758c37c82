/*
 * twx/sample.h — a small watch (internal tier; not installed): at one
 * instant, how many TIME_WAIT sockets a network namespace holds (from a
 * netlink sock_diag dump) and its kernel TCP counters (/proc/PID/net/snmp
 * and netstat), plus the namespace's TCP settings read once at open.  The
 * lab samples every host of a run with it; `watch` is the same idea over
 * time.
 *
 * One sample is a dump followed at once by a read of the counters, so
 * every socket a sample counts was created before its counters were read;
 * span_ns says how far apart the two reads were.  A sampler is bound to its
 * namespace when it is opened (the netlink socket stays in the namespace it
 * was created in), so taking samples needs no privilege and no setns().
 *
 * Not thread-safe: one sampler per thread.
 */
#ifndef TWX_SAMPLE_H
#define TWX_SAMPLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <twkit/kernel.h>
#include <twkit/sock.h>

struct twx_sampler {
    struct tw_source *src;   /* netlink, created inside the namespace (owned) */
    char proc_root[32];      /* "/proc/PID" of a process in it: the counters */
    uint16_t leg_lo, leg_hi; /* TIME_WAIT with a remote port in [lo, hi] is also
                              * counted apart (tw_leg); lo > hi: none */
    struct tw_kernel *kernel; /* its TCP settings at open (owned) */
};

struct twx_sample {
    uint64_t t_ns;           /* twx_now_ns() when the dump began */
    uint64_t span_ns;        /* from then to the end of the counter read */
    uint32_t tw;             /* TIME_WAIT sockets, IPv4 and IPv6 */
    uint32_t tw_leg;         /* of which with a remote port in [leg_lo, leg_hi] */
    struct tw_counters c;    /* the kernel's TCP counters */
};

/*
 * Open a sampler on the network namespace netns_fd (an fd of
 * /proc/PID/ns/net; -1: the calling thread's own), whose counters are read
 * from /proc/<pid>/net (pid 0: /proc/self/net, the caller's).  Entering
 * another namespace needs CAP_SYS_ADMIN over it; the calling thread is back
 * in its own namespace when this returns.  leg_lo..leg_hi as above (0, 0:
 * none).  Returns 0, or -errno / a TW_E* code with a reason in err.
 */
int twx_sampler_open(struct twx_sampler *s, int netns_fd, pid_t pid, uint16_t leg_lo,
                     uint16_t leg_hi, char *err, size_t errlen);
/* Take one sample.  Returns 0, or a negative error (the dump's or the
 * counters' read); *out is then incomplete and must not be used. */
int twx_sampler_take(struct twx_sampler *s, struct twx_sample *out);
/* Close; a zeroed or closed sampler is fine. */
void twx_sampler_close(struct twx_sampler *s);

#endif /* TWX_SAMPLE_H */
