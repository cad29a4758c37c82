/*
 * sample.c — TIME_WAIT counts and kernel counters of one network namespace
 * at one instant (twx/sample.h).
 *
 * The netlink socket is created inside the namespace (setns there and
 * back), because a netlink socket answers for the namespace it was created
 * in; the settings are read then too, since /proc/sys/net shows the
 * namespace of the reader.  The counters are read through /proc/PID/net,
 * which shows the namespace of PID, so no setns() is needed afterwards.
 */
#include "twx/sample.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <twkit/error.h>

#include "twx/clock.h"
#include "twx/msg.h"

struct count_arg {
    uint32_t tw, leg;
    uint16_t lo, hi;
};

static int count_cb(const struct tw_sock *s, void *arg)
{
    struct count_arg *a = arg;
    if (s->state != TW_TIME_WAIT)
        return 0;
    a->tw++;
    if (s->rport >= a->lo && s->rport <= a->hi)
        a->leg++;
    return 0;
}

int twx_sampler_open(struct twx_sampler *s, int netns_fd, pid_t pid, uint16_t leg_lo,
                     uint16_t leg_hi, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->leg_lo = leg_lo;
    s->leg_hi = leg_hi;
    if (leg_lo == 0 && leg_hi == 0)
        s->leg_lo = 1; /* lo > hi: no leg */
    if (pid > 0)
        snprintf(s->proc_root, sizeof(s->proc_root), "/proc/%d", (int)pid);
    else
        snprintf(s->proc_root, sizeof(s->proc_root), "/proc/self");
    s->kernel = calloc(1, sizeof(*s->kernel));
    if (!s->kernel) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int home = -1, e = 0;
    if (netns_fd >= 0) {
        home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (home < 0) {
            e = -errno;
            snprintf(err, errlen, "cannot open this thread's network namespace: %s",
                     strerror(errno));
            goto fail;
        }
        if (setns(netns_fd, CLONE_NEWNET) < 0) {
            e = -errno;
            snprintf(err, errlen, "cannot enter the network namespace: %s%s", strerror(errno),
                     errno == EPERM ? " (needs CAP_SYS_ADMIN)" : "");
            close(home);
            goto fail;
        }
    }
    char why[256] = "";
    e = tw_source_open(TW_SOURCE_NETLINK, NULL, &s->src);
    if (e < 0)
        snprintf(err, errlen, "cannot open a NETLINK_SOCK_DIAG socket: %s", tw_strerror(e));
    else if ((e = tw_kernel_read(s->kernel, NULL, why, sizeof(why))) < 0)
        snprintf(err, errlen, "cannot read the TCP settings: %s", why[0] ? why : tw_strerror(e));
    if (home >= 0) {
        if (setns(home, CLONE_NEWNET) < 0) {
            /* Staying in the wrong namespace would make every later
             * socket of the caller lie; there is no safe way on. */
            twx_err("cannot return to the original network namespace: %s", strerror(errno));
            abort();
        }
        close(home);
    }
    if (e < 0)
        goto fail;
    return 0;
fail:
    twx_sampler_close(s);
    return e;
}

int twx_sampler_take(struct twx_sampler *s, struct twx_sample *out)
{
    memset(out, 0, sizeof(*out));
    struct tw_query q;
    tw_query_init(&q);
    q.states = TW_STATE_BIT(TW_TIME_WAIT);
    struct count_arg a = {0, 0, s->leg_lo, s->leg_hi};
    out->t_ns = twx_now_ns();
    int e = tw_source_dump(s->src, &q, count_cb, &a);
    if (e < 0)
        return e;
    e = tw_counters_read(&out->c, s->proc_root);
    out->span_ns = twx_now_ns() - out->t_ns;
    if (e < 0)
        return e;
    out->tw = a.tw;
    out->tw_leg = a.leg;
    return 0;
}

void twx_sampler_close(struct twx_sampler *s)
{
    tw_source_close(s->src);
    free(s->kernel);
    s->src = NULL;
    s->kernel = NULL;
}
